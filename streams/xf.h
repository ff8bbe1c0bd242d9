/* SPDX-License-Identifier: MIT
 *
 * Transforms of the upload chain that pass bytes through unchanged:
 *   xf_limit   fails with SL_ETOOLARGE as soon as more than `max` bytes went through (0 = none);
 *   xf_digest  computes crc32 (zlib) and SHA-256 (OpenSSL) of everything that passes, in passing;
 *              batches of SL_XF_DIGEST_INLINE bytes or more are hashed on the thread pool, so the
 *              loop thread keeps reading the socket while a worker hashes.
 * Both forward each chunk by reference (no copy) and hold their done while the destination is
 * above its high-water mark (T2).
 */
#ifndef SL_STREAMS_XF_H
#define SL_STREAMS_XF_H

#include <stdint.h>

#include "stream.h"

#define SL_XF_DIGEST_INLINE (8u << 10)

typedef struct sl_xf_limit_s {
    sl_stream_t s;
    uint64_t max;
    uint64_t seen;
} sl_xf_limit_t;

typedef struct sl_xf_digest_s {
    sl_stream_t s;
    uint32_t crc32;
    unsigned char sha256[32];
    char sha256_hex[65]; /* set once the stream finished */
    uint64_t size;
    /* private */
    void *md; /* EVP_MD_CTX */
    uv_work_t work;
    sl_chunk_t **batch;
    size_t batch_n;
    sl_done_cb batch_done, destroy_done;
    int hashing;
} sl_xf_digest_t;

/* `x` is borrowed (caller-allocated) until its on_close. */
void sl_xf_limit_init(sl_xf_limit_t *x, uv_loop_t *loop, uint64_t max, size_t hwm);
void sl_xf_digest_init(sl_xf_digest_t *x, uv_loop_t *loop, size_t hwm);

#endif
