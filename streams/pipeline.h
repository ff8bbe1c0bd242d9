/* SPDX-License-Identifier: MIT
 *
 * pipeline(s0 … sN-1): Node's stream.pipeline for sluice streams (rules L1-L4 in stream.h).
 * The pipeline takes over each stage's on_close (and the last stage's on_finish); the owner keeps
 * the sl_pipeline_t alive until the callback has run.
 */
#ifndef SL_STREAMS_PIPELINE_H
#define SL_STREAMS_PIPELINE_H

#include "stream.h"

#define SL_PIPELINE_MAX 8

typedef struct sl_pipeline_s sl_pipeline_t;
typedef void (*sl_pipeline_cb)(sl_pipeline_t *p, int status);

struct sl_pipeline_s {
    void *data; /* public: the owner's */
    int error;  /* read-only: the first error (L2) */
    /* private */
    sl_stream_t *stages[SL_PIPELINE_MAX];
    size_t n, closed;
    int finished;
    int called;
    sl_pipeline_cb cb;
};

/* L1: pipe stages[i] into stages[i+1] and watch them all. `p` and the stages are borrowed until
 * cb(p, status) has run: status 0 after the last stage finished and all closed (L4), else the
 * first error after every stage was destroyed and closed (L2, L3). Returns 0 or a negative code
 * (n out of range, a stage already destroyed); on a negative return cb is never called. */
int sl_pipeline_run(sl_pipeline_t *p, sl_stream_t **stages, size_t n, sl_pipeline_cb cb);

/* Destroy every stage with err (e.g. SL_EPREMATURE when the client went away). */
void sl_pipeline_abort(sl_pipeline_t *p, int err);

#endif
