/* SPDX-License-Identifier: MIT
 *
 * Bytes as lowercase hex: the one encoder behind every hex string sluice writes (a file's
 * SHA-256 in answers, records and metadata, a signed URL's MAC, random names, the meta path of a
 * name). Inline, so that a unit that needs nothing else of the stream layer (a fuzzer of the
 * signatures, sluice-bench) links nothing for it. sl_hexval (storage/store.h) reads it back.
 */
#ifndef SL_STREAMS_HEX_H
#define SL_STREAMS_HEX_H

#include <stddef.h>

/* n bytes at `in` (borrowed) as 2n lowercase hex digits and a NUL into `out` (2n + 1 bytes, the
 * caller's). */
static inline void sl_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

#endif
