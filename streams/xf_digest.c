/* SPDX-License-Identifier: MIT
 *
 * xf_digest: computes crc32 (zlib) and SHA-256 (OpenSSL EVP) of the bytes passing through, in
 * passing (like Redis rio's update_cksum), and forwards each chunk by reference. The digests are
 * final once the writable side has been flushed (do_flush), i.e. before the sink commits, so the
 * 201 response and the stored metadata can carry them.
 */
#include "xf.h"

#include <stdlib.h>

#include <openssl/evp.h>
#include <zlib.h>

static void digest_write(sl_stream_t *s, sl_chunk_t **chunks, size_t n, sl_done_cb done)
{
    sl_xf_digest_t *x = (sl_xf_digest_t *)s;
    int last = 1;
    size_t i;

    for (i = 0; i < n; i++) {
        sl_chunk_t *c = chunks[i];
        x->crc32 = (uint32_t)crc32_z(x->crc32, (const Bytef *)c->base, c->len);
        EVP_DigestUpdate(x->md, c->base, c->len);
        x->size += c->len;
        last = sl_stream_push(s, c);
    }
    sl_stream_forward_done(s, done, last);
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
    done(s, 0);
}

static void digest_destroy(sl_stream_t *s, int err, sl_done_cb done)
{
    sl_xf_digest_t *x = (sl_xf_digest_t *)s;
    (void)err;
    EVP_MD_CTX_free(x->md);
    x->md = NULL;
    done(s, 0);
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
    x->md = EVP_MD_CTX_new();
    if (x->md == NULL || EVP_DigestInit_ex(x->md, EVP_sha256(), NULL) != 1)
        abort();
}
