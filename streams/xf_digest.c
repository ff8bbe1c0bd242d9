/* SPDX-License-Identifier: MIT
 *
 * xf_digest: computes the digests asked for (by default SHA-256 with OpenSSL EVP and crc32 with
 * zlib; sl_xf_digest_set, want, expect) of the bytes passing through, in passing (like Redis
 * rio's update_cksum), and forwards each chunk by reference.
 *
 * SHA-256 costs about as much CPU as everything else an upload does (0.6-0.8 s per GiB with
 * SHA-NI), so it must not sit in the way of the copy. A batch of SL_XF_DIGEST_INLINE bytes or more
 * is forwarded downstream at once and, at the same time, hashed by uv_queue_work on the thread
 * pool: the sink writes the batch while a worker hashes it, and the loop thread goes on reading
 * the socket. The batch is done (the next one may come, W4) only when both halves are: its hash
 * job and its push (T2). Chunks are immutable once written, so sharing them is safe; only one
 * batch is hashed at a time, so the digest sees bytes in order. Small batches (slow clients,
 * small files) are hashed inline: a pool round trip would cost more than the hash. The digests
 * are final once the writable side is flushed (do_flush), which comes after the last batch's
 * hash, before the sink commits, so the 201 response can carry them and a mismatch stops the
 * commit. Destroy waits for a hash job in flight before freeing the hash contexts.
 */
#include "xf.h"
#include "hex.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <zlib.h>

void sl_xf_digest_update(sl_xf_digest_t *x, const void *p, size_t len)
{
    if (x->algs & SL_DIGEST_CRC32)
        x->crc32 = (uint32_t)crc32_z(x->crc32, (const Bytef *)p, len);
    if (x->md != NULL)
        EVP_DigestUpdate(x->md, p, len);
    if (x->mdx != NULL)
        EVP_DigestUpdate(x->mdx, p, len);
    x->size += len;
}

static void hash_batch(sl_xf_digest_t *x, sl_chunk_t **chunks, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        sl_xf_digest_update(x, chunks[i]->base, chunks[i]->len);
}

static void forward(sl_xf_digest_t *x, sl_chunk_t **chunks, size_t n, sl_done_cb done)
{
    int last = 1;
    size_t i;

    for (i = 0; i < n && last >= 0; i++)
        last = sl_stream_push(&x->s, chunks[i]);
    sl_stream_forward_done(&x->s, done, last);
}

/* Both halves of a batch are done: the next batch may come. */
static void batch_done(sl_xf_digest_t *x)
{
    sl_done_cb done = x->batch_done;

    x->batch_done = NULL;
    done(&x->s, x->fwd_status < 0 ? x->fwd_status : x->hash_status);
}

static void on_forwarded(sl_stream_t *s, int status)
{
    sl_xf_digest_t *x = (sl_xf_digest_t *)s;

    x->forwarding = 0;
    x->fwd_status = status;
    if (!x->hashing && x->batch_done != NULL)
        batch_done(x);
}

static void hash_work(uv_work_t *w)
{
    sl_xf_digest_t *x = w->data;
    hash_batch(x, x->batch, x->batch_n);
}

static void free_md(sl_xf_digest_t *x);

static void after_hash(uv_work_t *w, int status)
{
    sl_xf_digest_t *x = w->data;

    x->hashing = 0;
    if (x->destroy_done != NULL) {
        if (!x->forwarding && x->batch_done != NULL) {
            x->hash_status = SL_EDESTROYED;
            batch_done(x);
        }
        free_md(x);
        return;
    }
    x->hash_status = status < 0 ? status : 0;
    if (!x->forwarding)
        batch_done(x);
}

static void free_contexts(sl_xf_digest_t *x)
{
    if (!x->borrowed)
        EVP_MD_CTX_free(x->md);
    EVP_MD_CTX_free(x->mdx);
    x->md = x->mdx = NULL;
}

static void free_md(sl_xf_digest_t *x)
{
    free_contexts(x);
    x->destroy_done(&x->s, 0);
}

static void digest_write(sl_stream_t *s, sl_chunk_t **chunks, size_t n, sl_done_cb done)
{
    sl_xf_digest_t *x = (sl_xf_digest_t *)s;
    size_t i, bytes = 0;

    if (x->behind) { /* the sink hashes what it writes */
        forward(x, chunks, n, done);
        return;
    }
    for (i = 0; i < n; i++)
        bytes += chunks[i]->len;
    if (bytes < SL_XF_DIGEST_INLINE || (x->md == NULL && x->mdx == NULL)) {
        hash_batch(x, chunks, n); /* small, or crc32 alone: cheaper than a pool round trip */
        forward(x, chunks, n, done);
        return;
    }
    x->batch = chunks; /* the base keeps the batch until done (W4) */
    x->batch_n = n;
    x->batch_done = done;
    x->hash_status = x->fwd_status = 0;
    x->hashing = x->forwarding = 1;
    x->work.data = x;
    uv_queue_work(s->loop, &x->work, hash_work, after_hash);
    forward(x, chunks, n, on_forwarded); /* the sink writes while the worker hashes */
}

int sl_xf_digest_finish(sl_xf_digest_t *x)
{
    unsigned int len = 0;

    if (x->md != NULL && !x->borrowed) {
        EVP_DigestFinal_ex(x->md, x->sha256, &len);
        sl_hex(x->sha256, 32, x->sha256_hex);
    }
    if (x->mdx != NULL)
        EVP_DigestFinal_ex(x->mdx, x->sha512, &len);
    if ((x->expects & SL_DIGEST_SHA256) && memcmp(x->expect256, x->sha256, 32) != 0)
        x->failed_alg = SL_DIGEST_SHA256;
    else if ((x->expects & x->xalg) && memcmp(x->expectx, x->sha512, sl_digest_len(x->xalg)) != 0)
        x->failed_alg = x->xalg;
    else if ((x->expects & SL_DIGEST_CRC32) && x->expect_crc != x->crc32)
        x->failed_alg = SL_DIGEST_CRC32;
    return x->failed_alg ? SL_ECHECKSUM : 0;
}

static void digest_flush(sl_stream_t *s, sl_done_cb done)
{
    sl_xf_digest_t *x = (sl_xf_digest_t *)s;

    /* before the sink's commit (L3); behind, the sink finishes it before its own */
    done(s, x->behind ? 0 : sl_xf_digest_finish(x));
}

static void digest_destroy(sl_stream_t *s, int err, sl_done_cb done)
{
    sl_xf_digest_t *x = (sl_xf_digest_t *)s;

    (void)err;
    x->destroy_done = done;
    if (x->behind) { /* the sink still feeds the hash: its release frees it */
        x->orphan = 1;
        done(s, 0);
    } else if (!x->hashing) {
        free_md(x); /* else after_hash frees it once the worker is done with it */
    }
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
    x->hashing = x->forwarding = 0;
    x->batch_done = x->destroy_done = NULL;
    x->md = x->mdx = NULL;
    x->xalg = 0;
    x->algs = 0;
    x->borrowed = x->behind = x->orphan = 0;
    x->expects = x->failed_alg = 0;
    sl_xf_digest_set(x, SL_DIGEST_SHA256 | SL_DIGEST_CRC32);
}

void sl_xf_digest_behind(sl_xf_digest_t *x)
{
    x->behind = 1;
}

void sl_xf_digest_release(sl_xf_digest_t *x)
{
    x->behind = 0;
    if (x->orphan)
        free_contexts(x);
}

void sl_xf_digest_adopt(sl_xf_digest_t *x, void *md)
{
    if (x->md != NULL && !x->borrowed)
        EVP_MD_CTX_free(x->md);
    x->md = md;
    x->borrowed = 1;
    x->algs |= SL_DIGEST_SHA256;
}

void sl_xf_digest_set(sl_xf_digest_t *x, int algs)
{
    x->algs = (x->algs & ~(SL_DIGEST_SHA256 | SL_DIGEST_CRC32)) |
              (algs & (SL_DIGEST_SHA256 | SL_DIGEST_CRC32));
    if ((x->algs & SL_DIGEST_SHA256) && x->md == NULL) {
        x->md = EVP_MD_CTX_new();
        if (x->md == NULL || EVP_DigestInit_ex(x->md, EVP_sha256(), NULL) != 1)
            abort();
    } else if (!(x->algs & SL_DIGEST_SHA256) && x->md != NULL && !x->borrowed) {
        EVP_MD_CTX_free(x->md);
        x->md = NULL;
    }
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

    if (alg == SL_DIGEST_SHA256 || alg == SL_DIGEST_CRC32) {
        sl_xf_digest_set(x, x->algs | alg);
        return 0;
    }
    if (md == NULL || x->xalg == alg)
        return 0;
    if (x->xalg != 0)
        return SL_EUNSUPPORTED;
    x->mdx = EVP_MD_CTX_new();
    if (x->mdx == NULL || EVP_DigestInit_ex(x->mdx, md, NULL) != 1)
        abort();
    x->xalg = alg;
    x->algs |= alg;
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
