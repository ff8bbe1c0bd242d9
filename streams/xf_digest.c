/* SPDX-License-Identifier: MIT
 *
 * xf_digest: computes crc32 (zlib) and SHA-256 (OpenSSL EVP) of the bytes passing through, in
 * passing (like Redis rio's update_cksum), and forwards each chunk by reference.
 *
 * SHA-256 costs about as much CPU as everything else an upload does (0.6-0.7 s per GiB with
 * SHA-NI), so a batch of SL_XF_DIGEST_INLINE bytes or more is hashed by uv_queue_work on the
 * thread pool while the loop thread goes on reading the socket; the stream base queues what
 * arrives meanwhile and hands it over as the next, larger batch (W5). Small batches (slow
 * clients, small files) are hashed inline: a pool round trip would cost more than the hash. Only
 * one batch is ever in flight (W4), so the digest sees bytes in order. The digests are final once
 * the writable side is flushed (do_flush), before the sink commits, so the 201 response can carry
 * them. Destroy waits for a batch in flight before freeing the hash context.
 */
#include "xf.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <zlib.h>

static void hash_batch(sl_xf_digest_t *x, sl_chunk_t **chunks, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        sl_chunk_t *c = chunks[i];
        x->crc32 = (uint32_t)crc32_z(x->crc32, (const Bytef *)c->base, c->len);
        EVP_DigestUpdate(x->md, c->base, c->len);
        if (x->mdx != NULL)
            EVP_DigestUpdate(x->mdx, c->base, c->len);
        x->size += c->len;
    }
}

static void forward(sl_xf_digest_t *x, sl_chunk_t **chunks, size_t n, sl_done_cb done)
{
    int last = 1;
    size_t i;

    for (i = 0; i < n && last >= 0; i++)
        last = sl_stream_push(&x->s, chunks[i]);
    sl_stream_forward_done(&x->s, done, last);
}

static void after_hash(uv_work_t *w, int status);
static void hash_work(uv_work_t *w);

static void start_hash(void *arg)
{
    sl_xf_digest_t *x = arg;

    x->work.data = x;
    if (x->destroy_done != NULL) {
        after_hash(&x->work, SL_EDESTROYED); /* destroyed before the job started */
        return;
    }
    uv_queue_work(x->s.loop, &x->work, hash_work, after_hash);
}

static void hash_work(uv_work_t *w)
{
    sl_xf_digest_t *x = w->data;
    hash_batch(x, x->batch, x->batch_n);
}

static void free_md(sl_xf_digest_t *x)
{
    EVP_MD_CTX_free(x->md);
    EVP_MD_CTX_free(x->mdx);
    x->md = x->mdx = NULL;
    x->destroy_done(&x->s, 0);
}

static void after_hash(uv_work_t *w, int status)
{
    sl_xf_digest_t *x = w->data;
    sl_done_cb done = x->batch_done;

    x->hashing = 0;
    if (x->destroy_done != NULL) {
        done(&x->s, SL_EDESTROYED);
        free_md(x);
        return;
    }
    if (status < 0) {
        done(&x->s, status);
        return;
    }
    forward(x, x->batch, x->batch_n, done);
}

static void digest_write(sl_stream_t *s, sl_chunk_t **chunks, size_t n, sl_done_cb done)
{
    sl_xf_digest_t *x = (sl_xf_digest_t *)s;
    size_t i, bytes = 0;

    for (i = 0; i < n; i++)
        bytes += chunks[i]->len;
    if (bytes < SL_XF_DIGEST_INLINE) {
        hash_batch(x, chunks, n);
        forward(x, chunks, n, done);
        return;
    }
    /* Start the job at the end of this loop turn: chunks arriving in the same turn queue in the
     * base and make the next batch bigger. */
    x->batch = chunks; /* the base keeps the batch until done (W4) */
    x->batch_n = n;
    x->batch_done = done;
    x->hashing = 1;
    sl_defer(s->loop, start_hash, x);
}

static void digest_flush(sl_stream_t *s, sl_done_cb done)
{
    sl_xf_digest_t *x = (sl_xf_digest_t *)s;
    static const char hex[] = "0123456789abcdef";
    unsigned int len = 0;
    int i;

    EVP_DigestFinal_ex(x->md, x->sha256, &len);
    for (i = 0; i < 32; i++) {
        x->sha256_hex[2 * i] = hex[x->sha256[i] >> 4];
        x->sha256_hex[2 * i + 1] = hex[x->sha256[i] & 15];
    }
    x->sha256_hex[64] = '\0';
    if (x->mdx != NULL)
        EVP_DigestFinal_ex(x->mdx, x->sha512, &len);
    if ((x->expects & SL_DIGEST_SHA256) && memcmp(x->expect256, x->sha256, 32) != 0)
        x->failed_alg = SL_DIGEST_SHA256;
    else if ((x->expects & x->xalg) && memcmp(x->expectx, x->sha512, sl_digest_len(x->xalg)) != 0)
        x->failed_alg = x->xalg;
    else if ((x->expects & SL_DIGEST_CRC32) && x->expect_crc != x->crc32)
        x->failed_alg = SL_DIGEST_CRC32;
    done(s, x->failed_alg ? SL_ECHECKSUM : 0); /* before the sink's commit (L3) */
}

static void digest_destroy(sl_stream_t *s, int err, sl_done_cb done)
{
    sl_xf_digest_t *x = (sl_xf_digest_t *)s;

    (void)err;
    x->destroy_done = done;
    if (!x->hashing)
        free_md(x); /* else after_hash frees it once the worker is done with it */
}

static const sl_stream_type_t digest_type = {
    .name = "xf_digest",
    .do_write = digest_write,
    .do_flush = digest_flush,
    .do_destroy = digest_destroy,
};

void sl_xf_digest_init(sl_xf_digest_t *x, uv_loop_t *loop, size_t hwm)
{
    sl_stream_init(&x->s, loop, &digest_type, SL_STREAM_WRITABLE | SL_STREAM_READABLE, hwm, 0);
    x->crc32 = (uint32_t)crc32_z(0, NULL, 0);
    x->size = 0;
    x->sha256_hex[0] = '\0';
    x->hashing = 0;
    x->batch_done = x->destroy_done = NULL;
    x->mdx = NULL;
    x->xalg = 0;
    x->expects = x->failed_alg = 0;
    x->md = EVP_MD_CTX_new();
    if (x->md == NULL || EVP_DigestInit_ex(x->md, EVP_sha256(), NULL) != 1)
        abort();
}

size_t sl_digest_len(int alg)
{
    switch (alg) {
    case SL_DIGEST_SHA256:
        return 32;
    case SL_DIGEST_SHA512:
        return 64;
    case SL_DIGEST_SHA1:
        return 20;
    case SL_DIGEST_MD5:
        return 16;
    default:
        return 4;
    }
}

int sl_xf_digest_want(sl_xf_digest_t *x, int alg)
{
    const EVP_MD *md = alg == SL_DIGEST_SHA512 ? EVP_sha512()
                       : alg == SL_DIGEST_SHA1 ? EVP_sha1()
                       : alg == SL_DIGEST_MD5  ? EVP_md5()
                                               : NULL;

    if (md == NULL || x->xalg == alg)
        return 0; /* SHA-256 and crc32 always are */
    if (x->xalg != 0)
        return SL_EUNSUPPORTED;
    x->mdx = EVP_MD_CTX_new();
    if (x->mdx == NULL || EVP_DigestInit_ex(x->mdx, md, NULL) != 1)
        abort();
    x->xalg = alg;
    return 0;
}

int sl_xf_digest_expect(sl_xf_digest_t *x, int alg, const unsigned char *digest)
{
    int err = sl_xf_digest_want(x, alg);

    if (err < 0)
        return err;
    if (alg == SL_DIGEST_SHA256)
        memcpy(x->expect256, digest, 32);
    else if (alg == SL_DIGEST_CRC32)
        x->expect_crc = (uint32_t)digest[0] << 24 | (uint32_t)digest[1] << 16 |
                        (uint32_t)digest[2] << 8 | digest[3];
    else
        memcpy(x->expectx, digest, sl_digest_len(alg));
    x->expects |= alg;
    return 0;
}
