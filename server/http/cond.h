/* SPDX-License-Identifier: MIT
 * Conditional and range requests, private to server/ (cond.c). */
#ifndef SL_SERVER_COND_H
#define SL_SERVER_COND_H

#include <stdint.h>
#include <time.h>

#include "streams/error.h" /* SL_ERANGE */

/* cond.c: conditional and range requests (RFC 9110 §13, §14), pure functions of the fields. */
typedef struct sl_range_s {
    uint64_t start, end; /* inclusive */
} sl_range_t;
enum { SL_RANGE_WHOLE = 0, SL_RANGE_ONE = 1 };
/* A Range value against a representation of `size` bytes: SL_RANGE_ONE with *out set (only
 * then), SL_RANGE_WHOLE (absent, invalid, another unit, several satisfiable ranges: send it all)
 * or SL_ERANGE (nothing satisfiable: 416). */
int sl__range_parse(const char *v, uint64_t size, sl_range_t *out);
/* 1 if the If-Match / If-None-Match value v ("*" or a list of entity-tags) matches etag (weak or
 * strong comparison), else 0; a malformed list matches nothing. */
int sl__etag_match(const char *v, const char *etag, int weak);
/* An HTTP-date (IMF-fixdate, RFC 850 or asctime): 0 and *out, or -1. */
int sl__http_date(const char *v, time_t *out);
typedef struct sl_cond_s {
    const char *if_match, *if_none_match, *if_modified_since, *if_unmodified_since, *if_range;
    const char *range; /* any of them NULL when absent */
} sl_cond_t;
/* The status a request with these fields gets for a representation (etag, mtime, size): 200,
 * 206 (*range set), 304, 412 or 416. safe: GET or HEAD. */
unsigned sl__cond_evaluate(const sl_cond_t *c, const char *etag, time_t mtime, uint64_t size,
                           int safe, sl_range_t *range);

#endif
