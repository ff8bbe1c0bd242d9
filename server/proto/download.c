/* SPDX-License-Identifier: MIT
 *
 * A file streamed from a remote store to the client (GET /files/<name> on the S3 store): the
 * store's read stream (sl_store_read_new) piped into sink_mhd, a writable whose bytes
 * libmicrohttpd pulls through a callback response (MHD_create_response_from_callback).
 *
 *   store read stream ──pipe──▶ sink_mhd: holds one batch of chunks (do_write's) until the
 *                               content reader has copied it out, then calls done (W4)
 *
 * The pull side (libmicrohttpd 0.9.75, external polling, research/mhd-libuv.md §7): the content
 * reader copies what the batch holds. With nothing held it suspends the connection and returns
 * 0 — the header allows that from a content reader, and a suspended connection leaves MHD's epoll
 * and ready lists, so nothing spins (connection.c try_ready_normal_body: 0 moves it to
 * NORMAL_BODY_UNREADY, whose event-loop info is BLOCK; a resume puts it back on the ready list and
 * the reader is asked again). The next do_write, or an error, resumes it with a kick. Backpressure
 * runs the other way by itself: a client that reads slowly leaves the batch unread, done is not
 * called, sink_mhd's queue reaches its hwm, the pipe pauses the read stream, and the store pauses
 * its transfer. Memory per download: the response's block, the sink's hwm and the read stream's.
 *
 * The answer is queued only once the first bytes arrived (or the store failed: then an error
 * status, 503, is still possible). Once the headers are out, a store that fails makes the reader
 * return MHD_CONTENT_READER_END_WITH_ERROR: libmicrohttpd closes the connection short of its
 * Content-Length, so the client sees a cut body, never a complete-looking short one.
 *
 * Lifetime: the download is held by the pipeline (until its callback) and by the response (until
 * libmicrohttpd frees it: the reader's free callback); whichever is last frees it. It holds a
 * reference on the request only while the answer waits for the first bytes; after that, the
 * files protocol's `gone` detaches it from the request.
 */
#include "proto/proto.h"

#include <stdlib.h>
#include <string.h>

#define BLOCK (64u << 10)     /* the response's buffer: what one reader call may copy */
#define SINK_HWM (64u << 10)  /* sink_mhd's writable side */
#define READ_HWM (128u << 10) /* the store's read stream */

struct sl_download_s {
    sl_stream_t sink; /* first: sink_mhd */
    sl_pipeline_t pl;
    sl_stream_t *src; /* the store's read stream (owned: read_free after the pipeline) */
    void (*read_free)(sl_stream_t *s); /* the store's: the store may be closed by then */
    sl_req_t *r;                       /* while the request lives */
    sl_download_ready_cb ready;
    sl_chunk_t *batch[SL_STREAM_MAX_BATCH];
    size_t n, i, off; /* the batch: n chunks, the i-th read up to off */
    sl_done_cb done;
    uint64_t len, delivered, arrived;
    int refs, err, is_ready, waiting, piped;
};

static void dl_release(sl_download_t *d)
{
    if (--d->refs > 0)
        return;
    d->read_free(d->src);
    free(d);
}

/* First bytes or an error: the answer can be decided (once). */
static void dl_ready(sl_download_t *d, int err)
{
    sl_req_t *r = d->r;

    if (d->is_ready)
        return;
    d->is_ready = 1;
    if (r == NULL)
        return;
    d->ready(r, err);
    sl__req_unref(r); /* the reference taken while waiting */
}

static void wake(sl_download_t *d)
{
    if (d->waiting && d->r != NULL) {
        d->waiting = 0;
        sl__req_resume(d->r);
    }
}

static void sink_write(sl_stream_t *s, sl_chunk_t **chunks, size_t n, sl_done_cb done)
{
    sl_download_t *d = (sl_download_t *)s;
    size_t k;

    for (k = 0; k < n; k++) {
        d->batch[k] = sl_chunk_ref(chunks[k]);
        d->arrived += chunks[k]->len;
    }
    d->n = n;
    d->i = d->off = 0;
    d->done = done;
    if (!d->is_ready)
        dl_ready(d, 0);
    wake(d);
}

static void sink_final(sl_stream_t *s, sl_done_cb done)
{
    sl_download_t *d = (sl_download_t *)s;

    done(s, d->arrived == d->len ? 0 : UV_EIO); /* the store's end came short: a cut */
}

static void sink_destroy(sl_stream_t *s, int err, sl_done_cb done)
{
    sl_download_t *d = (sl_download_t *)s;

    (void)err;
    for (; d->i < d->n; d->i++)
        sl_chunk_unref(d->batch[d->i]);
    d->n = d->i = d->off = 0;
    if (d->done != NULL) { /* the batch in flight ends with the stream (W4: done once) */
        sl_done_cb w = d->done;
        d->done = NULL;
        w(s, SL_EDESTROYED);
    }
    done(s, 0);
}

static const sl_stream_type_t sink_mhd_type = {
    .name = "sink_mhd",
    .do_write = sink_write,
    .do_final = sink_final,
    .do_destroy = sink_destroy,
};

static void on_pipeline(sl_pipeline_t *p, int status)
{
    sl_download_t *d = p->data;

    d->refs++; /* the ready callback may free the response (an error answer replaces it) */
    if (status < 0 && d->delivered < d->len)
        d->err = status;
    if (!d->is_ready)
        dl_ready(d, status < 0 ? status : UV_EIO);
    wake(d); /* a reader waiting for bytes learns of the error */
    d->refs--;
    dl_release(d);
}

/* libmicrohttpd's content reader: what the batch holds, or a suspend until more comes. */
static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    sl_download_t *d = cls;
    size_t got = 0;

    (void)pos;
    while (got < max && d->i < d->n) {
        sl_chunk_t *c = d->batch[d->i];
        size_t k = c->len - d->off < max - got ? c->len - d->off : max - got;
        memcpy(buf + got, c->base + d->off, k);
        got += k;
        d->off += k;
        if (d->off == c->len) {
            sl_chunk_unref(c);
            d->i++;
            d->off = 0;
        }
    }
    d->delivered += got;
    if (d->i == d->n && d->done != NULL) {
        sl_done_cb done = d->done; /* the next batch may come at once (inside done) */
        d->done = NULL;
        d->n = d->i = 0;
        done(&d->sink, 0);
    }
    if (got > 0)
        return (ssize_t)got;
    if (d->err < 0 || d->r == NULL || d->r->srv->closing)
        return MHD_CONTENT_READER_END_WITH_ERROR; /* closed short of Content-Length */
    d->waiting = 1;
    sl__req_suspend(d->r);
    return 0;
}

static void reader_free(void *cls)
{
    sl_download_t *d = cls;

    if (d->piped && d->delivered < d->len)
        sl_pipeline_abort(&d->pl, SL_EPREMATURE);
    dl_release(d);
}

static ssize_t no_body(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)cls;
    (void)pos;
    (void)buf;
    (void)max;
    return MHD_CONTENT_READER_END_WITH_ERROR; /* never asked: HEAD sends no body */
}

struct MHD_Response *sl__download_head(uint64_t len)
{
    return MHD_create_response_from_callback(len, 1024, no_body, NULL, NULL);
}

struct MHD_Response *sl__download_start(sl_req_t *r, sl_store_job_t *j, uint64_t off, uint64_t len,
                                        sl_download_ready_cb ready)
{
    sl_download_t *d = sl_xcalloc(1, sizeof(*d));
    sl_stream_t *stages[2];
    struct MHD_Response *resp;

    sl_stream_init(&d->sink, r->srv->loop, &sink_mhd_type, SL_STREAM_WRITABLE, SINK_HWM, 0);
    d->read_free = r->srv->store->ops->read_free;
    d->r = r;
    d->ready = ready;
    d->len = len;
    d->refs = 1; /* the pipeline's */
    d->pl.data = d;
    d->src = sl_store_read_new(r->srv->store, j, off, len, READ_HWM);
    stages[0] = d->src;
    stages[1] = &d->sink;
    if (sl_pipeline_run(&d->pl, stages, 2, on_pipeline) < 0) {
        /* not reached: both stages are new. Stop the read; d stays with it (no callback). */
        sl_stream_destroy(d->src, UV_ECANCELED);
        return NULL;
    }
    d->piped = 1;
    r->refs++; /* until ready */
    r->dl = d;
    resp = MHD_create_response_from_callback(len, BLOCK, reader, d, reader_free);
    if (resp != NULL)
        d->refs++;
    else
        sl_pipeline_abort(&d->pl, UV_ENOMEM); /* ready(r, error): the error answer */
    return resp;
}

void sl__download_gone(sl_req_t *r)
{
    sl_download_t *d = r->dl;

    if (d == NULL)
        return;
    r->dl = NULL;
    if (!d->is_ready) {
        sl_pipeline_abort(&d->pl, SL_EPREMATURE);
        d->is_ready = 1;
        d->r = NULL;
        sl__req_unref(r); /* the reference taken while waiting */
        return;
    }
    d->r = NULL;
}
