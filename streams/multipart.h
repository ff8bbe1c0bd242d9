/* SPDX-License-Identifier: MIT
 *
 * A streaming multipart/form-data parser (RFC 7578 over RFC 2046): bytes in, callbacks out. It
 * knows nothing of libuv, HTTP or disk, allocates nothing, and its memory is the struct below
 * (about 1.8 KiB): part headers are parsed as they arrive, straight into `part`, and body bytes
 * that might start a delimiter are held back as a count, since they are always a prefix of the
 * delimiter itself.
 *
 * The caller finds the boundary with sl_multipart_boundary, runs sl_multipart_init, feeds the
 * body to sl_multipart_execute in chunks of any size, and calls sl_multipart_finish at the end of
 * input. Callbacks run synchronously inside execute, in this order per part:
 *   on_part_begin (once, headers parsed), on_part_data (0..n times, never with len 0),
 *   on_part_end (once), and after the last part on_end (once, the final boundary was seen).
 * A callback returns 0 to go on, SL_MP_PAUSE to make execute return right after it (backpressure:
 * call execute again with the bytes it did not consume), or a negative code to abort the parse
 * with that code; other positive values count as 0. Callbacks must not call back into the
 * parser, and may be NULL.
 */
#ifndef SL_STREAMS_MULTIPART_H
#define SL_STREAMS_MULTIPART_H

#include <stddef.h>
#include <sys/types.h>

#define SL_MP_PAUSE 1         /* callback return: stop execute after this call */
#define SL_MP_BOUNDARY_MAX 70 /* RFC 2046 */
#define SL_MP_DEFAULT_MAX_HEADER_BYTES (8u << 10) /* per part */
#define SL_MP_DEFAULT_MAX_PARTS 1000

typedef struct sl_mp_limits_s {
    size_t max_header_bytes; /* per part, every header byte with CRLFs; 0 = default 8 KiB */
    size_t max_parts;        /* 0 = default 1000 */
} sl_mp_limits_t;

/* One part's headers. Strings are NUL-terminated; a value that does not fit its array fails the
 * parse with SL_ETOOLARGE rather than being cut. */
typedef struct sl_mp_part_s {
    char name[256];      /* Content-Disposition name (may be empty, never absent) */
    char filename[1024]; /* filename, or filename* decoded to UTF-8 (which wins); not sanitised */
    int has_filename;    /* 1 if either parameter was present, even as "" */
    char content_type[256]; /* the Content-Type value as sent, trimmed; "" if absent */
} sl_mp_part_t;

typedef struct sl_mp_callbacks_s {
    /* Headers of a part parsed. `part` is borrowed: valid until on_part_end returns. */
    int (*on_part_begin)(void *arg, const sl_mp_part_t *part);
    /* Body bytes of the current part; `data` is borrowed for the call and may point into the
     * parser itself (bytes held back from an earlier call), not into the input. May be called
     * many times; the bytes are exact (never the CRLF before the delimiter). */
    int (*on_part_data)(void *arg, const char *data, size_t len);
    /* The delimiter after the current part was seen. */
    int (*on_part_end)(void *arg);
    /* The final boundary was seen; no callback follows. */
    int (*on_end)(void *arg);
} sl_mp_callbacks_t;

typedef struct sl_multipart_s {
    sl_mp_part_t part; /* the current part: from on_part_begin until on_part_end */
    size_t parts;      /* parts begun (counted at the CRLF after their delimiter) */
    int error;         /* sticky first error, 0 if none */
    /* private */
    sl_mp_callbacks_t cbs;
    void *arg;
    sl_mp_limits_t limits;
    int state;                              /* ST_* in multipart.c */
    int sub;                                /* the state's own step */
    size_t matched;                         /* bytes held back: they are delim[0..matched) */
    size_t dlen;                            /* strlen(delim) */
    char delim[4 + SL_MP_BOUNDARY_MAX + 1]; /* "\r\n--" boundary */
    size_t hbytes;                          /* header bytes of this part so far */
    int hkind;                              /* the header being read: H_* */
    char tok[24];                           /* a header or parameter name, lower case */
    size_t tok_len;
    int cd_state, target, ext_state, ext_latin1; /* Content-Disposition value parser */
    unsigned flags; /* F_* in multipart.c: what this part's headers had */
    unsigned char ext_hi;
    size_t name_len, filename_len, ct_len, ct_trim;
} sl_multipart_t;

/* Extract the boundary from a Content-Type value (borrowed): the type must be multipart/form-data
 * (case-insensitive); the `boundary` parameter may be anywhere in the list, parameter names are
 * case-insensitive, the value is a quoted string (backslash escapes) or a token, 1..70 RFC 2046
 * characters. A duplicate boundary parameter is rejected. Writes the NUL-terminated boundary to
 * `out` (borrowed, `cap` bytes; SL_MP_BOUNDARY_MAX + 1 always suffices).
 * Returns 0 or SL_EBADREQUEST (out is then ""). */
int sl_multipart_boundary(const char *content_type, char *out, size_t cap);

/* Set up `mp` (caller-allocated, borrowed; nothing to destroy). `boundary` (borrowed, copied) is
 * the bare boundary, without "--"; an invalid one makes every execute fail with SL_EBADREQUEST.
 * `limits` (borrowed, copied; NULL = defaults) and `cbs` (borrowed, copied; NULL = none). `arg`
 * is passed to every callback. */
void sl_multipart_init(sl_multipart_t *mp, const char *boundary, const sl_mp_limits_t *limits,
                       const sl_mp_callbacks_t *cbs, void *arg);

/* Feed `len` bytes of `data` (borrowed for the call). Returns the number of bytes consumed: len,
 * or fewer when a callback returned SL_MP_PAUSE (the rest must be fed again, as the start of the
 * next call; 0 is possible when the pausing callback delivered held-back bytes). Returns a
 * negative code on error, sticky: every later call returns it. SL_EBADREQUEST for malformed
 * input, SL_ETOOLARGE for a part's headers over max_header_bytes, a header value over its field,
 * or more than max_parts parts; or a callback's own negative code. */
ssize_t sl_multipart_execute(sl_multipart_t *mp, const char *data, size_t len);

/* At end of input: 0 if the final boundary was seen (any epilogue after it is ignored), the
 * sticky error if there was one, else SL_EBADREQUEST (truncated: no final boundary). */
int sl_multipart_finish(sl_multipart_t *mp);

#endif
