/* SPDX-License-Identifier: MIT
 *
 * sluice-bench's HTTP/1.1: request heads for each mode, and a response parser that works on
 * whatever bytes have arrived so far (a response is complete or not yet; garbage is an error).
 *
 * Expect: a request with a body (an upload, a tus PATCH) of more than --expect-threshold bytes
 * (multipart: with its framing) carries "Expect: 100-continue", as curl's do; tus creation sends
 * no body, so never. The parser skips interim 1xx answers, asked for or not, and says whether a
 * 100 Continue was among them even before the final answer is complete: that is the engine's
 * signal to send the body.
 */
#ifndef SB_HTTP_H
#define SB_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "bench.h"

typedef struct sb_resp_s {
    unsigned status;
    int close;       /* Connection: close, or HTTP/1.0 */
    uint64_t offset; /* Upload-Offset, if has_offset */
    int has_offset;
    char location[512];      /* Location, "" if none */
    char file[512];          /* Sluice-File, "" if none */
    char sha256[65];         /* the first "sha256":"<hex>" of a JSON body, "" if none */
    uint64_t content_length; /* if has_length */
    int has_length;
    const char *body; /* into the parsed buffer */
    size_t body_len;
    int continued; /* a "100 Continue" came first (also set when the parse returns 0) */
} sb_resp_t;

/* Parse the first complete response in buf[0..len) (1xx interim answers before it are skipped).
 * Returns the bytes it spans (> 0) with *out filled, 0 if more bytes are needed (only
 * out->continued is then meaningful), -1 if this is not HTTP. `head_only`: the request was HEAD (no
 * body whatever the headers say). `eof`: the connection closed, which ends a body that has neither
 * length nor chunking. */
long sb_resp_parse(const char *buf, size_t len, int head_only, int eof, sb_resp_t *out);

/* Request kinds sluice-bench sends. */
enum { SB_REQ_UPLOAD, SB_REQ_TUS_CREATE, SB_REQ_TUS_PATCH, SB_REQ_TUS_HEAD, SB_REQ_GET };

/* The multipart framing around a body: the boundary is fixed, the file name is `name`. */
#define SB_BOUNDARY "sluicebenchb0undaryq7Xz"
/* The part head of a multipart body into out[cap]; returns its length. */
size_t sb_multipart_head(const char *name, char *out, size_t cap);
/* The closing delimiter. */
extern const char sb_multipart_tail[];

/* Format the head of a request into out[cap]; returns its length, or 0 if it does not fit.
 * `name`: the stored name (upload), `path`: the tus upload or the file to GET, `len`: the body
 * bytes that follow (multipart: the file's size; the framing is added), `offset`: tus. */
size_t sb_request_head(const sb_opts_t *o, int kind, const char *name, const char *path,
                       uint64_t len, uint64_t offset, char *out, size_t cap);

/* 1 if that request (same kind, name and len) carries "Expect: 100-continue". */
int sb_request_expects(const sb_opts_t *o, int kind, const char *name, uint64_t len);

#endif
