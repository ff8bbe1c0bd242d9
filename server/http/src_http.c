/* SPDX-License-Identifier: MIT
 *
 * src_http: the head of every upload chain, a readable fed by libmicrohttpd's access handler.
 *
 * The handler copies each body piece into a chunk (never pointing into MHD's buffer, which it
 * memmoves: research/mhd-libuv.md §2) and pushes it. When the push returns 0 (R1) or the
 * loop's buffer budget is exhausted, the handler suspends the connection; libmicrohttpd
 * then stops reading the socket and TCP flow control reaches the client. do_read (R2) and the
 * budget waiter clear their reason, and the connection resumes when neither remains, with a kick
 * so libmicrohttpd runs again (rule 3). For chunked bodies MHD may call the handler a few more
 * times after a suspend in the same pass; those pieces are accepted (bounded by its read buffer).
 */
#include "http/http.h"

static void maybe_resume(sl_req_t *r)
{
    if (r->need_read || r->budget_wait.queued)
        return;
    if (r->tk != NULL)
        sl__takeover_read(r); /* sluice reads the socket itself: poll it again */
    else
        sl__req_resume(r);
}

static void src_read(sl_stream_t *s)
{
    sl_req_t *r = ((sl_src_http_t *)s)->req;

    r->need_read = 0;
    r->last_progress = uv_now(r->srv->loop);
    maybe_resume(r);
}

void sl__src_http_budget(void *arg)
{
    maybe_resume(arg);
}

static const sl_stream_type_t src_http_type = {
    .name = "src_http",
    .do_read = src_read,
};

void sl__src_http_init(sl_src_http_t *src, sl_req_t *r)
{
    sl_stream_init(&src->s, r->srv->loop, &src_http_type, SL_STREAM_READABLE, 0,
                   r->srv->cfg.upload_buffer);
    src->req = r;
}

int sl__src_http_push(sl_src_http_t *src, const char *data, size_t len)
{
    sl_req_t *r = src->req;
    sl_chunk_t *c = sl_chunk_copy(r->srv->loop, data, len);
    int ret = sl_stream_push(&src->s, c);

    sl_chunk_unref(c);
    r->last_progress = uv_now(r->srv->loop);
    if (ret == 0)
        r->need_read = 1;
    if (sl_budget_exhausted(r->srv->loop))
        sl_budget_wait(r->srv->loop, &r->budget_wait, sl__src_http_budget, r);
    if (ret == 0 || r->budget_wait.queued)
        sl__req_suspend(r);
    return ret;
}
