/* SPDX-License-Identifier: MIT
 *
 * pipeline: Node's stream.pipeline (rules L1-L4 in stream.h). It pipes each stage into the next
 * and takes every stage's on_close. The first error (a stage closing with an error, or the owner
 * aborting) is recorded, with SL_EPREMATURE giving way to a real error (L2), and every stage is
 * destroyed with it (L3): the file sink then removes its temp file. A stage that closes without
 * error before the last stage finished is a premature close. The callback runs exactly once,
 * after every stage has closed (L1, L4), so the owner may free the stages inside it.
 */
#include "pipeline.h"

static void abort_all(sl_pipeline_t *p, int err)
{
    size_t i;

    if (p->error == 0 || (p->error == SL_EPREMATURE && err != SL_EPREMATURE))
        p->error = err; /* L2 */
    for (i = 0; i < p->n; i++)
        sl_stream_destroy(p->stages[i], p->error); /* L3 */
}

static void on_last_finish(sl_stream_t *s)
{
    sl_pipeline_t *p = s->pipeline;
    p->finished = 1;
}

static void on_stage_close(sl_stream_t *s, int err)
{
    sl_pipeline_t *p = s->pipeline;

    int complete = (!(s->flags & SL_STREAM_READABLE) || (s->flags & SL_STREAM_ENDED)) &&
                   (!(s->flags & SL_STREAM_WRITABLE) || (s->flags & SL_STREAM_FINISHED));

    if (err < 0)
        abort_all(p, err);
    else if (!complete && p->error == 0)
        abort_all(p, SL_EPREMATURE); /* closed before its end: a premature close */
    if (++p->closed < p->n || p->called)
        return;
    p->called = 1;
    p->cb(p, p->finished && p->error == 0 ? 0 : (p->error ? p->error : SL_EPREMATURE));
}

int sl_pipeline_run(sl_pipeline_t *p, sl_stream_t **stages, size_t n, sl_pipeline_cb cb)
{
    size_t i;
    int r;

    if (n < 2 || n > SL_PIPELINE_MAX)
        return UV_EINVAL;
    for (i = 0; i < n; i++)
        if (stages[i]->flags & SL_STREAM_DESTROYED)
            return SL_EDESTROYED;
    p->n = n;
    p->closed = 0;
    p->finished = 0;
    p->called = 0;
    p->error = 0;
    p->cb = cb;
    for (i = 0; i < n; i++) {
        p->stages[i] = stages[i];
        stages[i]->pipeline = p;
        stages[i]->on_close = on_stage_close;
    }
    stages[n - 1]->on_finish = on_last_finish;
    for (i = 0; i + 1 < n; i++) {
        r = sl_stream_pipe(stages[i], stages[i + 1]);
        if (r < 0)
            return r;
    }
    return 0;
}

void sl_pipeline_abort(sl_pipeline_t *p, int err)
{
    if (!p->called)
        abort_all(p, err);
}
