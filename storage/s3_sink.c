/* SPDX-License-Identifier: MIT
 *
 * The S3 store's sink: a body becomes one object, visible only when whole (store.h S1).
 *
 *   write ─▶ spool file (a pool job) ─▶ full (≥ part size)? ─▶ UploadPart from it ────┐
 *                 ▲   the next part spools while up to SL_S3_INFLIGHT are sent; one   │
 *                 └── more full part holds the write's done (backpressure) until a    │
 *                     part is stored ◀──────────────────────────────────────────────┘
 *   final ─▶ nothing sent yet: one PUT of the spool file (with the digests as metadata)
 *          └▶ else: the last part, CompleteMultipartUpload, then the digests as metadata
 *             (a copy of the object onto itself, which RGW does without moving its data)
 *   destroy ─▶ cancel the request in flight, AbortMultipartUpload, close the spool files
 *
 * A spool file is an unlinked O_TMPFILE in --spool: at most SL_S3_INFLIGHT + 1 per upload (one
 * filling, the others being sent), each about one part; nothing is left on disk by a crash.
 * Memory per upload is the stream's hwm and curl's buffers while a request runs, whatever the
 * body's size. The multipart upload is created when the first part is full, so a body of less
 * than one part (the usual small file) costs one request. Create-only (SL_SINK_NOREPLACE) under
 * a name: the commit holds the name's create lock (s3_sink_create.c) across its check and its
 * write: a single PUT carries If-None-Match: *, a multipart upload asks HEAD just before its
 * completion (RGW 16 ignores If-None-Match there); of racing creators one wins, the others get
 * SL_EEXISTS. Requests are sent again after transient failures as s3_retry.c says; a
 * completion sent again that finds no upload is checked against the object's ETag. The commit's
 * requests are s3_sink_create.c's.
 *
 * The spool file is written by a job on the thread pool: memory chunks with pwritev, piped ones
 * (a fast body spliced from the socket, streams/pipe.c) spliced out of their pipe; with a hash
 * behind the sink (store.h: the digest stage forwards the chunks unhashed) the same job then
 * reads back what it wrote and hashes it, and the final step finishes the digests before any
 * byte can become the object (a mismatch: SL_ECHECKSUM, the upload aborted).
 */
#include "s3_sink.h"
#include "fs.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void on_part_sent(sl_s3_req_t *q);

int sl__s3_key(const sl_s3_t *s3, const char *name, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s%s", s3->prefix, name);

    return n < 0 || (size_t)n >= cap ? SL_ETOOLONG : 0;
}

int sl__s3_spool_open(const sl_s3_t *s3)
{
    int fd = open(s3->spool, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

    return fd < 0 ? uv_translate_sys_error(errno) : fd;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void drop_parts(s3_sink_t *k)
{
    size_t i;

    for (i = 0; i < SL_S3_INFLIGHT; i++) {
        sl__s3_req_done(&k->parts[i].req);
        free(k->parts[i].req.body); /* an error's answer (a part retried, or failed) */
        k->parts[i].req.body = NULL;
        close_fd(&k->parts[i].fd);
    }
    k->ninflight = 0;
}

static void destroy_finish(s3_sink_t *k)
{
    s3_sink_t *kk = k;
    int cancelled = 0; /* a part cancelled in flight */
    size_t i;

    /* A creation cancelled in flight may still create the upload, whose id we would never learn:
     * on_created comes back here with it, and it is aborted like any other. */
    if (k->creating && !k->s3->closing)
        return;

    for (i = 0; i < SL_S3_INFLIGHT; i++)
        cancelled |= k->parts[i].req.active;
    /* A staged file's PUT (or completion) cancelled in flight may still land after the group's
     * removal listed the stage: delete its key once more, later. (Not a final name: that would
     * delete the object it was replacing.) */
    if (k->req.active && !k->s3->closing && strstr(k->key, ".sluice/stage/") != NULL)
        sl__s3_delete_later(k->s3, k->key);
    sl__s3_req_done(&k->req);
    if (k->base.hash != NULL) /* no job of ours hashes any more */
        sl_xf_digest_release(k->base.hash);
    k->base.hash = NULL;
    sl__s3_create_unlock(k); /* (one whose PUT was cancelled in flight expires) */
    if (k->resumable) {      /* the parts are the upload's: only the lock goes */
        sl__s3_rsink_release(k);
        free(k->upload_id);
        k->upload_id = NULL;
    }
    close_fd(&k->fill_fd);
    drop_parts(k);
    if (k->upload_id != NULL && !k->s3->closing) /* no orphaned parts */
        sl__s3_abort(k->s3, k->key, k->upload_id, cancelled);
    free(k->upload_id);
    k->upload_id = NULL;
    kk->destroy_done(&k->base.s, 0);
}

/* Every step that can fail ends here: the error is sticky, the stream learns it at its next
 * done. */
void sl__s3_sink_fail(s3_sink_t *k, int err)
{
    sl_done_cb d;

    if (k->err == 0)
        k->err = err;
    if (k->destroying)
        return;
    if ((d = k->held_done) != NULL || (d = k->final_done) != NULL) {
        k->held_done = k->final_done = NULL;
        d(&k->base.s, k->err);
    }
}

/* --- parts ------------------------------------------------------------------------------------ */

/* A part can go once the multipart upload exists and no renewal of the lock is in flight. */
static void start_parts(s3_sink_t *k)
{
    char q[600];
    size_t i;

    if (k->upload_id == NULL || k->renewing || k->req.active || k->err < 0)
        return;
    for (i = 0; i < SL_S3_INFLIGHT; i++) {
        s3_part_t *p = &k->parts[i];
        if (p->fd < 0 || p->req.active)
            continue;
        snprintf(q, sizeof(q), "partNumber=%llu&uploadId=%s",
                 (unsigned long long)(k->part_base + p->num), k->upload_id);
        p->req.data = p;
        if (sl__s3_req_init(&p->req, k->s3, "PUT", k->key, q) < 0)
            return sl__s3_sink_fail(k, UV_ENOMEM);
        sl__s3_req_body_fd(&p->req, p->fd, 0, p->len);
        if (k->resumable) { /* never past the lock's lease, its retries neither */
            curl_easy_setopt(p->req.easy, CURLOPT_TIMEOUT_MS, (long)SL_S3_PART_TIMEOUT_MS(k->s3));
            p->req.deadline_ms = uv_now(k->s3->base.loop) + SL_S3_PART_TIMEOUT_MS(k->s3);
        }
        if (sl__s3_req_start(&p->req, on_part_sent) < 0)
            return sl__s3_sink_fail(k, UV_ENOMEM);
    }
}

void sl__s3_sink_upload_part(s3_sink_t *k)
{
    start_parts(k);
}

static void on_part_sent(sl_s3_req_t *q)
{
    s3_part_t *p = q->data;
    s3_sink_t *k = p->k;
    sl_done_cb d;

    free(q->body); /* an UploadPart answers nothing but errors (kept across its retries) */
    q->body = NULL;
    if (q->err < 0)
        return sl__s3_sink_fail(k, q->err);
    snprintf(k->etags[p->num - 1], sizeof(k->etags[0]), "%s", q->etag);
    k->sent_bytes += p->len;
    close_fd(&p->fd);
    k->ninflight--;
    if (k->held_done != NULL && k->fill_len >= k->s3->part_size) { /* the next one is ready */
        d = k->held_done;
        k->held_done = NULL;
        sl__s3_sink_send_part(k);
        d(&k->base.s, k->err);
    } else if (k->final) {
        sl__s3_sink_final_step(k);
    }
}

static void on_created(sl_s3_req_t *q)
{
    s3_sink_t *k = q->data;
    char id[512];
    size_t pos = 0;

    k->creating = 0;
    if (q->err == 0 && q->body != NULL &&
        sl__s3_xml_next(q->body, q->body_len, &pos, "UploadId", id, sizeof(id))) {
        k->upload_id = sl_xmalloc(3 * strlen(id) + 1);
        sl__s3_encode(id, 0, k->upload_id, 3 * strlen(id) + 1);
    }
    free(q->body);
    q->body = NULL;
    if (k->destroying && !k->fs_busy)
        return destroy_finish(k); /* it waited for this answer: the upload is aborted */
    if (k->destroying)
        return; /* on_written finishes it */
    if (q->err < 0)
        return sl__s3_sink_fail(k, q->err);
    if (k->upload_id == NULL)
        return sl__s3_sink_fail(k, UV_EIO);
    start_parts(k);
}

int sl__s3_sink_busy(const s3_sink_t *k)
{
    return k->ninflight > 0 || k->req.active || k->renewing;
}

/* The filling spool file becomes a part to send (a free slot: ninflight < SL_S3_INFLIGHT). */
void sl__s3_sink_send_part(s3_sink_t *k)
{
    s3_part_t *p = k->parts;

    while (p->fd >= 0)
        p++;
    if (k->nparts == k->cap) {
        k->cap = k->cap ? k->cap * 2 : 16;
        k->etags = sl_xrealloc(k->etags, k->cap * sizeof(*k->etags));
    }
    if (k->part_base + k->nparts + 1 > SL_S3_PARTS_MAX)
        return sl__s3_sink_fail(k, SL_ETOOLARGE);
    p->num = ++k->nparts;
    p->fd = k->fill_fd;
    p->len = k->fill_len;
    k->fill_fd = -1;
    k->fill_len = 0;
    k->ninflight++;
    if (k->resumable)
        return sl__s3_rsink_renew(k); /* the lock's lease first, then the part */
    if (k->upload_id != NULL || k->req.active)
        return start_parts(k); /* (the upload being created: on_created starts them) */
    if (sl__s3_req_init(&k->req, k->s3, "POST", k->key, "uploads=") < 0)
        return sl__s3_sink_fail(k, UV_ENOMEM);
    k->req.data = k;
    k->req.retry = SL_S3_RETRY_IDEMPOTENT; /* a lost answer: an empty upload the sweep aborts */
    if (sl__s3_req_start(&k->req, on_created) < 0)
        return sl__s3_sink_fail(k, UV_ENOMEM);
    k->creating = 1;
}

/* --- writes ----------------------------------------------------------------------------------- */

/* Thread pool: the batch into the filling spool file at its end, memory chunks with pwritev and
 * piped ones spliced (storage/commit.c), then, with a hash behind, the same bytes read back. */
static void write_work(uv_work_t *w)
{
    s3_sink_t *k = w->data;

    k->work_err = sl__fs_write_chunks(k->fill_fd, k->chunks, k->nchunks, k->fill_len, &k->written);
    if (k->work_err == 0 && k->base.hash != NULL)
        k->work_err =
            sl__fs_hash_range(k->fill_fd, k->base.hash, k->fill_len, k->fill_len + k->written);
}

static void on_written(uv_work_t *w, int status)
{
    s3_sink_t *k = w->data;
    int r = status < 0 ? status : k->work_err;
    sl_done_cb d = k->write_done;
    size_t i;

    k->fs_busy = 0;
    for (i = 0; i < k->nchunks; i++)
        sl_chunk_unref(k->chunks[i]);
    k->nchunks = 0;
    k->write_done = NULL;
    if (k->destroying) { /* the stream closes once its write is done too */
        destroy_finish(k);
        return d(&k->base.s, SL_EDESTROYED);
    }
    if (r == 0 && k->written != k->wlen)
        r = UV_ENOSPC;
    if (r < 0)
        return d(&k->base.s, r);
    k->fill_len += k->written;
    k->patch_bytes += k->written;
    if (!k->resumable)
        k->base.offset += k->written; /* resumable: at its end, once stored */
    if (k->fill_len < k->s3->part_size)
        return d(&k->base.s, 0);
    if (k->ninflight == SL_S3_INFLIGHT) { /* as many parts in flight as we send: wait */
        k->held_done = d;
        return;
    }
    sl__s3_sink_send_part(k);
    d(&k->base.s, k->err);
}

void sl__s3_sink_write_now(s3_sink_t *k, sl_chunk_t **chunks, size_t n, sl_done_cb done)
{
    sl_stream_t *s = &k->base.s;
    size_t i;
    int r;

    if (k->err < 0)
        return done(s, k->err);
    if (k->fill_fd < 0 && (k->fill_fd = sl__s3_spool_open(k->s3)) < 0) {
        r = k->fill_fd;
        return done(s, r);
    }
    k->wlen = 0;
    for (i = 0; i < n; i++) {
        k->chunks[i] = sl_chunk_ref(chunks[i]);
        k->wlen += chunks[i]->len;
    }
    k->nchunks = n;
    k->write_done = done;
    k->work.data = k;
    k->fs_busy = 1;
    uv_queue_work(s->loop, &k->work, write_work, on_written);
}

static void sink_write(sl_stream_t *s, sl_chunk_t **chunks, size_t n, sl_done_cb done)
{
    s3_sink_t *k = (s3_sink_t *)s;

    if (k->resumable && !k->opened)
        return sl__s3_rsink_open(k, chunks, n, done); /* the lock, the offset, the tail */
    sl__s3_sink_write_now(k, chunks, n, done);
}

/* --- the end ---------------------------------------------------------------------------------- */

void sl__s3_sink_committed(s3_sink_t *k)
{
    sl_done_cb d = k->final_done;

    k->final_done = NULL;
    k->base.size = k->base.offset;
    k->base.mtime_ns = now_ns();
    close_fd(&k->fill_fd);
    free(k->upload_id); /* completed: nothing to abort any more */
    k->upload_id = NULL;
    d(&k->base.s, 0);
}

void sl__s3_sink_final_step(s3_sink_t *k)
{
    int err;

    if (sl__s3_sink_busy(k))
        return;                 /* on_part_sent comes back here */
    if (k->base.hash != NULL) { /* every byte is spooled and hashed: the digests, before any */
        err = sl_xf_digest_finish(k->base.hash); /* byte can become the object */
        sl_xf_digest_release(k->base.hash);
        k->base.hash = NULL;
        if (err < 0)
            return sl__s3_sink_fail(k, err);
    }
    if (k->resumable)
        return sl__s3_rsink_final(k);
    if (k->upload_id != NULL && (k->fill_len > 0 || k->nparts == 0)) {
        sl__s3_sink_send_part(k); /* the last part may be short */
        return;
    }
    if (k->create_lock && !k->locked)
        return sl__s3_create_lock(k, sl__s3_sink_final_step); /* s3_sink_create.c */
    sl__s3_sink_commit(k);                                    /* s3_sink_create.c */
}

static void sink_final(sl_stream_t *s, sl_done_cb done)
{
    s3_sink_t *k = (s3_sink_t *)s;

    if (k->err < 0)
        return done(s, k->err);
    k->final = 1;
    k->final_done = done;
    if (!k->resumable && k->upload_id == NULL && k->nparts == 0 && k->fill_fd < 0 &&
        (k->fill_fd = sl__s3_spool_open(k->s3)) < 0) /* an empty body: an empty object */
        return sl__s3_sink_fail(k, k->fill_fd);
    sl__s3_sink_final_step(k);
}

static void sink_destroy(sl_stream_t *s, int err, sl_done_cb done)
{
    s3_sink_t *k = (s3_sink_t *)s;

    sl_done_cb held = k->held_done, fin = k->final_done;

    (void)err;
    k->destroying = 1;
    k->destroy_done = done;
    k->held_done = k->final_done = NULL;
    if (k->fs_busy)
        return; /* on_written finishes it */
    destroy_finish(k);
    if (held != NULL) /* the stream closes once the write or the final it waits for is done */
        held(s, SL_EDESTROYED);
    if (fin != NULL)
        fin(s, SL_EDESTROYED);
}

static const sl_stream_type_t s3_sink_type = {
    .name = "sink_s3",
    .do_write = sink_write,
    .do_final = sink_final,
    .do_destroy = sink_destroy,
};

sl_store_sink_t *sl__s3_sink_new(sl_store_t *st, const sl_sink_spec_t *spec)
{
    sl_s3_t *s3 = (sl_s3_t *)st;
    s3_sink_t *k = sl_xcalloc(1, sizeof(*k));
    char key[SL_NAME_MAX + 600];

    k->s3 = s3;
    k->flags = spec->flags;
    k->fill_fd = -1;
    for (size_t i = 0; i < SL_S3_INFLIGHT; i++) {
        k->parts[i].fd = -1;
        k->parts[i].k = k;
    }
    sl_stream_init(&k->base.s, st->loop, &s3_sink_type, SL_STREAM_WRITABLE, spec->hwm, 0);
    if (spec->kind == SL_SINK_STAGED)
        snprintf(key, sizeof(key), "%s%s/%s", s3->prefix, spec->stage, spec->name);
    else if (sl__s3_key(s3, spec->name, key, sizeof(key)) < 0)
        k->err = SL_ETOOLONG;
    if (spec->kind == SL_SINK_RESUMABLE) {
        k->resumable = 1;
        k->base.offset = k->start_offset = spec->offset;
        snprintf(key, sizeof(key), "%s.sluice/tus/%s.data", s3->prefix, spec->name);
        snprintf(k->id, sizeof(k->id), "%s", spec->name);
    }
    k->key = sl_xstrdup(key);
    k->create_lock = (k->flags & SL_SINK_NOREPLACE) && spec->kind == SL_SINK_NAME;
    k->base.piped = !k->resumable; /* spliced into the spool file (storage/commit.c) */
    return &k->base;
}

void sl__s3_sink_free(sl_store_sink_t *sink)
{
    s3_sink_t *k = (s3_sink_t *)sink;

    sl__s3_req_done(&k->req);
    free(k->req.body);
    close_fd(&k->fill_fd);
    drop_parts(k);
    free(k->upload_id);
    free(k->etags);
    free(k->xml);
    free(k->key);
    free(k->lock_key);
    sl__s3_rsink_free(k);
    free(k);
}
