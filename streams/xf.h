/* SPDX-License-Identifier: MIT
 *
 * Transforms of the upload chain that pass bytes through unchanged:
 *   xf_limit   fails with SL_ETOOLARGE as soon as more than `max` bytes went through (0 = none);
 *   xf_digest  computes crc32 (zlib) and SHA-256 (OpenSSL) of everything that passes, in passing.
 * Both forward each chunk by reference (no copy) and hold their done while the destination is
 * above its high-water mark (T2).
 */
#ifndef SL_STREAMS_XF_H
#define SL_STREAMS_XF_H

#include <stdint.h>

#include "stream.h"

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
    void *md; /* private: EVP_MD_CTX */
} sl_xf_digest_t;

/* `x` is borrowed (caller-allocated) until its on_close. */
void sl_xf_limit_init(sl_xf_limit_t *x, uv_loop_t *loop, uint64_t max, size_t hwm);
void sl_xf_digest_init(sl_xf_digest_t *x, uv_loop_t *loop, size_t hwm);

#endif
