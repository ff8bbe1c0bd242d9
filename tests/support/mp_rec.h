/* SPDX-License-Identifier: MIT
 *
 * A recorder for the multipart parser's callbacks and the fixture bodies the multipart tests
 * share (tests/streams/test_multipart*.c). The recorder collects each part's headers and bytes in
 * order and counts callbacks that break the order begin (data) end ... final. The curl fixtures
 * are bytes captured from curl 7.88.1 `-F` posts; the Chromium one follows Chromium's format (raw
 * UTF-8 filename, '"' sent as %22, an empty file input as filename="").
 */
#ifndef SL_TESTS_SUPPORT_MP_REC_H
#define SL_TESTS_SUPPORT_MP_REC_H

#include <stddef.h>

#include "streams/multipart.h"

#define MAX_GOT 16
enum { P_BEGIN = 1, P_DATA = 2, P_END = 4, P_FINAL = 8, P_ALL = 15 };

typedef struct got_part_s {
    sl_mp_part_t h;
    char *data;
    size_t len;
    int ended;
} got_part_t;

typedef struct rec_s {
    got_part_t p[MAX_GOT];
    size_t n;        /* parts begun */
    int open, final; /* inside a part; on_end seen */
    int violations;  /* callbacks out of order, or data of length 0 */
    int pause;       /* P_* mask: these callbacks return SL_MP_PAUSE */
    int fail_begin;  /* nonzero: on_part_begin returns it */
    int calls, last_paused;
} rec_t;

typedef struct fixture_s {
    const char *content_type;
    const char *body;
    size_t len;
    size_t parts;
} fixture_t;

#define FIXTURE(ct, body, parts)                                                                   \
    {                                                                                              \
        ct, body, sizeof(body) - 1, parts                                                          \
    }

extern const sl_mp_callbacks_t mp_rec_cbs; /* arg: a rec_t */
extern const fixture_t mp_curl_one, mp_curl_three, mp_chromium, mp_tricky;
extern const fixture_t *const mp_fixtures[4];
#define NFIX (sizeof(mp_fixtures) / sizeof(mp_fixtures[0]))

void mp_rec_free(rec_t *r);
/* Parse msg[0..len) in chunks ending at cuts[0..ncuts) (increasing) and at len, into `r` (whose
 * pause and fail_begin settings are kept). Returns finish's code, or the first error, which must
 * be sticky. */
int mp_parse_limits(rec_t *r, const char *boundary, const sl_mp_limits_t *lim, const char *msg,
                    size_t len, const size_t *cuts, size_t ncuts);
int mp_parse(rec_t *r, const char *boundary, const char *msg, size_t len, const size_t *cuts,
             size_t ncuts);
void mp_assert_same(const rec_t *a, const rec_t *b, const char *how, size_t at);
void mp_parse_whole(const fixture_t *f, rec_t *r, int pause);
void mp_boundary_of(const fixture_t *f, char *b);
#define DATA(s) s, sizeof(s) - 1 /* a string literal and its length */
void mp_assert_part(const rec_t *r, size_t i, const char *name, const char *filename,
                    const char *content_type, const char *data, size_t len);
const char *mp_boundary_or_error(const char *ct);

#endif
