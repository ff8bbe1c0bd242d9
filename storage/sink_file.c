/* SPDX-License-Identifier: MIT
 *
 * sink_file: the writable at the end of every upload chain.
 *
 *   init ──open(O_CREAT|O_EXCL)──▶ write* ──▶ final: commit ──▶ finish
 *                                       └──▶ destroy: close + unlink temp
 *
 * The temp file is ROOT/.sluice/tmp/<pid>-<seq>.part, created with O_EXCL by the first write's
 * job, which then writes the batch in the same trip to the thread pool; a body that ends without
 * any byte opens it at the end. A body whose size is known (size_hint) and that arrives whole in
 * the first write is held instead (its chunks referenced, the write reported done) and the
 * commit's job creates, writes and publishes it: one trip to the thread pool for a small upload.
 * Append mode opens at init; writes that arrive before that open completes wait for it. The stream
 * base hands us every queued chunk at once (W5), and one job on the thread pool writes them at
 * their offset (sl__fs_write_chunks): runs of memory chunks with one pwritev, going on after short
 * writes, and piped chunks (streams/pipe.c: bytes that wait in a kernel pipe) spliced out of their
 * pipe, in order, so exactly one write is in flight and the file gets the bytes as they came.
 * With a hash behind it (store.h: a digest stage that forwards piped chunks unhashed), a job of
 * its own reads back what was written and hashes it, in order, one at a time, while the next
 * write goes on (on two cores the copy and the hash overlap); the commit waits for it and
 * finishes the digests first: one that differs from what was expected fails the sink
 * (SL_ECHECKSUM) before anything is published. A body held for its commit is hashed there.
 * The commit runs as one job on the thread pool: fdatasync (durable mode), fstat, create missing
 * parent directories, rename over the final name (renameat2 RENAME_NOREPLACE for
 * create-only uploads), fsync the parent directory (durable mode); it is a group commit (commit.c):
 * the files that finish together share the flushes. `finish` therefore means committed. Destroy
 * waits for the operation in flight, then closes and unlinks the temp file unless the commit
 * succeeded.
 *
 * Append mode (resumable uploads) writes into an existing work file instead: in one job, open it,
 * lock it (flock, so two processes never write one upload: SL_ELOCKED) and cut it to the recorded
 * offset; then write from there; the final step is only the flush (fdatasync), and destroy never
 * removes the file, whose bytes up to `offset` are the upload's so far. A hash behind an append
 * is the upload's carried SHA-256 (chain.c): it hashes from the append's offset on, and the
 * flush waits for it; it is not checked here (how many bytes it covers tells its owner whether
 * it still counts).
 */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

enum {
    ST_OPENING = 1 << 0,
    ST_BUSY = 1 << 1, /* open, write or commit in flight */
    ST_COMMITTED = 1 << 2,
    ST_DESTROYING = 1 << 3,
    ST_FINAL_WAIT = 1 << 4, /* do_final arrived during the open */
    ST_CREATED = 1 << 5,    /* the temp file is ours to remove */
    ST_DEFERRED = 1 << 6,   /* a write waits for the end of the loop turn */
    ST_LAZY = 1 << 7,       /* no temp file yet: the first write's job creates it */
    ST_HELD = 1 << 8,       /* the whole body is held in memory: the commit's job writes it */
};

static void start_commit(sl_sink_file_t *f);
static void name_tmp(sl_sink_file_t *f);
static void finish_destroy(sl_sink_file_t *f);

static void issue_write(sl_sink_file_t *f, sl_chunk_t **chunks, size_t n, sl_done_cb done);
static void start_open(sl_sink_file_t *f);

static void op_complete(sl_sink_file_t *f)
{
    f->state &= ~ST_BUSY;
    if (f->state & ST_DESTROYING)
        finish_destroy(f);
}

static void open_done(sl_sink_file_t *f, int r)
{
    f->state &= ~ST_OPENING;
    if (r < 0)
        f->work_err = r;
    op_complete(f);
    if (f->state & ST_DESTROYING)
        return;
    if (f->wait_done != NULL) {
        sl_done_cb d = f->wait_done;
        f->wait_done = NULL;
        if (r < 0)
            d(&f->s, r);
        else
            issue_write(f, f->wait_chunks, f->wait_n, d);
    } else if (f->state & ST_FINAL_WAIT) {
        f->state &= ~ST_FINAL_WAIT;
        if (r < 0)
            f->op_done(&f->s, r);
        else
            start_commit(f);
    }
}

static void on_open(uv_fs_t *req)
{
    sl_sink_file_t *f = req->data;
    int r = (int)req->result;

    uv_fs_req_cleanup(req);
    if (r == UV_EEXIST && ++f->open_tries < 8 && !(f->state & ST_DESTROYING)) {
        start_open(f); /* a leftover with our pid (a restart that reused it): take the next */
        return;
    }
    if (r >= 0) {
        f->fd = r;
        f->state |= ST_CREATED;
    }
    open_done(f, r);
}

/* Append mode's open, one job: open the work file, lock it (flock: another process, a worker,
 * never writes the same upload: SL_ELOCKED), and cut it to the recorded offset (bytes past it are
 * not counted: an unverified or unflushed tail) before writing there. One trip to the thread
 * pool instead of two (an open, then an ftruncate): a small PATCH's jobs are most of its cost. */
static void open_append_work(uv_work_t *w)
{
    sl_sink_file_t *f = w->data;
    int fd = openat(f->store->root_fd, f->name, O_RDWR | O_CLOEXEC); /* read: a hash behind */

    f->work_err = 0;
    if (fd < 0) {
        f->work_err = -errno;
        return;
    }
    f->fd = fd; /* the loop reads it once the job is done (open_done) */
    if (flock(fd, LOCK_EX | LOCK_NB) < 0)
        f->work_err = SL_ELOCKED;
    else if (ftruncate(fd, (off_t)f->offset) < 0)
        f->work_err = -errno;
}

static void after_open_append(uv_work_t *w, int status)
{
    sl_sink_file_t *f = w->data;

    open_done(f, status < 0 ? status : f->work_err);
}

/* --- the hash behind the writes ---------------------------------------------------------- */

static void hash_more(sl_sink_file_t *f);

static void hash_job(uv_work_t *w)
{
    sl_sink_file_t *f = w->data;

    f->hash_err = sl__fs_hash_range(f->fd, f->hash, f->hashed, f->hash_to);
}

static void after_hash(uv_work_t *w, int status)
{
    sl_sink_file_t *f = w->data;

    f->hashing = 0;
    f->hashed = f->hash_to;
    if (status < 0 && f->hash_err == 0)
        f->hash_err = status;
    if (f->state & ST_DESTROYING) {
        if (!(f->state & ST_BUSY))
            finish_destroy(f);
        return;
    }
    if (f->hash_err == 0 && f->hashed < f->offset)
        return hash_more(f);
    if (f->commit_wait) {
        f->commit_wait = 0;
        start_commit(f);
    }
}

/* Hash what was written and not yet hashed, in a job of its own (one at a time, in order). */
static void hash_more(sl_sink_file_t *f)
{
    if (f->hash == NULL || f->hashing || f->hash_err < 0 || f->hashed >= f->offset ||
        (f->state & ST_DESTROYING))
        return;
    f->hashing = 1;
    f->hash_to = f->offset;
    f->hash_work.data = f;
    uv_queue_work(f->s.loop, &f->hash_work, hash_job, after_hash);
}

static void write_work(uv_work_t *w)
{
    sl_sink_file_t *f = w->data;

    f->work_err = sl__fs_write_chunks(f->fd, f->wait_chunks, f->wait_n, f->offset, &f->work_bytes);
}

static void after_write(uv_work_t *w, int status)
{
    sl_sink_file_t *f = w->data;
    sl_done_cb d = f->op_done;

    f->offset += f->work_bytes;
    hash_more(f);
    op_complete(f);
    d(&f->s, status < 0 ? status : f->work_err);
}

/* The first write: create the temp file and write the batch, in one job. */
static void open_write_work(uv_work_t *w)
{
    sl_sink_file_t *f = w->data;
    int fd = sl__fs_open_tmp(f->store, f->tmp, f->seq);

    f->work_err = 0;
    f->work_bytes = 0;
    if (fd < 0) {
        f->work_err = fd;
        return;
    }
    f->fd = fd;
    f->work_err = sl__fs_write_chunks(fd, f->wait_chunks, f->wait_n, 0, &f->work_bytes);
}

static void after_open_write(uv_work_t *w, int status)
{
    sl_sink_file_t *f = w->data;
    sl_done_cb d = f->op_done;

    if (f->fd >= 0)
        f->state |= ST_CREATED;
    f->offset += f->work_bytes;
    hash_more(f);
    op_complete(f);
    d(&f->s, status < 0 ? status : f->work_err);
}

/* The buffers of a batch, for a job that runs later: given (free). */
static uv_buf_t *bufs_of(sl_chunk_t **chunks, size_t n)
{
    uv_buf_t *b = sl_xmalloc(n * sizeof(*b));
    size_t i;

    for (i = 0; i < n; i++)
        b[i] = uv_buf_init(chunks[i]->base, (unsigned int)chunks[i]->len);
    return b;
}

static void issue_write(sl_sink_file_t *f, sl_chunk_t **chunks, size_t n, sl_done_cb done)
{
    f->wait_chunks = chunks; /* the base keeps the batch until done (W4) */
    f->wait_n = n;
    f->op_done = done;
    f->state |= ST_BUSY;
    f->work.data = f;
    uv_queue_work(f->s.loop, &f->work, write_work, after_write);
}

static void deferred_write(void *arg)
{
    sl_sink_file_t *f = arg;

    f->state &= ~(ST_DEFERRED | ST_BUSY);
    if (f->state & ST_DESTROYING) {
        f->op_done(&f->s, SL_EDESTROYED);
        finish_destroy(f);
        return;
    }
    issue_write(f, f->wait_chunks, f->wait_n, f->op_done);
}

static void sink_write(sl_stream_t *s, sl_chunk_t **chunks, size_t n, sl_done_cb done)
{
    sl_sink_file_t *f = (sl_sink_file_t *)s;
    uint64_t bytes = 0;
    size_t i;
    int err, piped = 0;

    for (i = 0; i < n; i++) {
        bytes += chunks[i]->len;
        piped |= chunks[i]->pipe != NULL;
    }
    if ((err = sl_fs_reserve(f->store, bytes)) < 0) {
        done(s, err); /* the filesystem's last --min-free bytes are not for uploads: 507 */
        return;
    }
    if ((f->state & ST_LAZY) && f->size_hint != 0 && bytes == f->size_hint && !piped) {
        /* the whole body at once: kept (referenced) and written by the commit's job, so a small
         * upload costs one trip to the thread pool instead of two */
        f->state = (f->state & ~ST_LAZY) | ST_HELD;
        f->held = sl_xmalloc(n * sizeof(*f->held));
        for (i = 0; i < n; i++)
            f->held[i] = sl_chunk_ref(chunks[i]);
        f->bufs = bufs_of(chunks, n);
        f->nheld = n;
        f->offset = bytes;
        done(s, 0);
        return;
    }
    if (f->state & ST_LAZY) {
        f->state = (f->state & ~ST_LAZY) | ST_BUSY;
        f->wait_chunks = chunks; /* the base keeps the batch until done (W4) */
        f->wait_n = n;
        f->op_done = done;
        f->work.data = f;
        uv_queue_work(s->loop, &f->work, open_write_work, after_open_write);
        return;
    }
    if (f->state & ST_OPENING) {
        f->wait_chunks = chunks; /* the base keeps the batch until done (W4) */
        f->wait_n = n;
        f->wait_done = done;
        return;
    }
    if (f->fd < 0 || f->work_err < 0) { /* the open (or the cut) failed */
        done(s, f->work_err ? f->work_err : UV_EBADF);
        return;
    }
    /* Issue the write at the end of this loop turn: chunks that arrive in the same turn queue in
     * the base and go out together in the next pwritev, for no added latency. */
    f->wait_chunks = chunks;
    f->wait_n = n;
    f->op_done = done;
    f->state |= ST_BUSY | ST_DEFERRED;
    sl_defer(s->loop, deferred_write, f);
}

/* Append mode: the flush is the whole commit (the name is given later, by the upload's owner). */
static void flush_work(uv_work_t *w)
{
    sl_sink_file_t *f = w->data;
    struct stat sb;

    f->work_err = 0;
    if (f->store->durable && fdatasync(f->fd) < 0)
        f->work_err = -errno;
    if (f->work_err == 0 && fstat(f->fd, &sb) == 0) {
        f->size = (uint64_t)sb.st_size;
        f->mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
    }
    close(f->fd);
    f->fd = -1;
}

static void after_flush(uv_work_t *w, int status)
{
    sl_sink_file_t *f = w->data;

    op_complete(f);
    f->op_done(&f->s, status < 0 ? status : f->work_err);
}

static void release_held(sl_sink_file_t *f)
{
    size_t i;

    for (i = 0; i < f->nheld; i++)
        sl_chunk_unref(f->held[i]);
    free(f->held);
    free(f->bufs);
    f->held = NULL;
    f->bufs = NULL;
    f->nheld = 0;
}

static void after_commit(sl_commit_t *c)
{
    sl_sink_file_t *f = c->data;

    if (c->created)
        f->state |= ST_CREATED; /* made by the batch: removed by destroy unless renamed */
    release_held(f);
    f->fd = -1; /* closed by the batch */
    f->size = c->size;
    f->mtime_ns = c->mtime_ns;
    if (c->renamed)
        f->state |= ST_COMMITTED;
    op_complete(f);
    f->op_done(&f->s, c->err);
}

static void start_commit(sl_sink_file_t *f)
{
    sl_commit_t *c = &f->commit;
    size_t i;
    int err;

    if (f->hash != NULL) { /* every byte written and hashed */
        if (f->hash_err == 0 && (f->hashing || f->hashed < f->offset) && !(f->state & ST_HELD)) {
            f->commit_wait = 1; /* after_hash comes back */
            hash_more(f);
            return;
        }
        for (i = 0; (f->state & ST_HELD) && i < f->nheld; i++) /* (a held body: not yet) */
            sl_xf_digest_update(f->hash, f->held[i]->base, f->held[i]->len);
        /* an append's hash is an upload's carried state, not checked here: one that fell short
         * (hash_err) covers fewer bytes than were written, and its owner drops it (tus.c) */
        err = (f->flags & SL_SINK_APPEND) ? 0
              : f->hash_err < 0           ? f->hash_err
                                          : sl_xf_digest_finish(f->hash);
        sl_xf_digest_release(f->hash);
        f->hash = NULL;
        if (err < 0) {
            f->op_done(&f->s, err); /* a digest that differs: nothing commits */
            return;
        }
    }
    f->state |= ST_BUSY;
    if (f->flags & SL_SINK_APPEND) {
        f->work.data = f;
        uv_queue_work(f->s.loop, &f->work, flush_work, after_flush);
        return;
    }
    c->fd = f->fd;
    c->bufs = (f->state & ST_HELD) ? f->bufs : NULL;
    c->nbufs = (f->state & ST_HELD) ? f->nheld : 0;
    c->created = 0;
    c->tmp = f->tmp;
    c->name = f->name;
    c->flags = (f->flags & SL_SINK_NOREPLACE) ? RENAME_NOREPLACE : 0;
    c->digest = f->digest;
    c->seq = f->seq;
    c->cb = after_commit;
    c->data = f;
    sl__commit(f->store, c); /* with the others that finish meanwhile (commit.c) */
}

static void sink_final(sl_stream_t *s, sl_done_cb done)
{
    sl_sink_file_t *f = (sl_sink_file_t *)s;

    f->op_done = done;
    if (f->state & ST_HELD) { /* the whole body is held: the commit writes it */
        start_commit(f);
        return;
    }
    if (f->state & ST_LAZY) { /* an empty body: create the file now, then commit */
        f->state = (f->state & ~ST_LAZY) | ST_OPENING | ST_BUSY | ST_FINAL_WAIT;
        start_open(f);
        return;
    }
    if (f->state & ST_OPENING) {
        f->state |= ST_FINAL_WAIT;
        return;
    }
    if (f->fd < 0 || f->work_err < 0) { /* the open (or the cut) failed */
        done(s, f->work_err ? f->work_err : UV_EBADF);
        return;
    }
    start_commit(f);
}

static void cleanup_work(uv_work_t *w)
{
    sl_sink_file_t *f = w->data;

    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    if ((f->state & ST_CREATED) && !(f->state & ST_COMMITTED))
        unlinkat(f->store->root_fd, f->tmp, 0);
}

static void after_cleanup(uv_work_t *w, int status)
{
    sl_sink_file_t *f = w->data;
    sl_done_cb d = f->destroy_done;

    (void)status;
    release_held(f); /* a body held and never committed */
    free(f->name);
    f->name = NULL;
    sl_fs_freed(f->store); /* a removed temp file gave space back */
    d(&f->s, 0);
}

static void finish_destroy(sl_sink_file_t *f)
{
    if (f->hashing)
        return;            /* after_hash comes back */
    if (f->hash != NULL) { /* no job of ours hashes any more */
        sl_xf_digest_release(f->hash);
        f->hash = NULL;
    }
    f->work.data = f;
    if (f->fd < 0 && (!(f->state & ST_CREATED) || (f->state & ST_COMMITTED))) {
        after_cleanup(&f->work, 0); /* committed (or never created): nothing left on disk */
        return;
    }
    uv_queue_work(f->s.loop, &f->work, cleanup_work, after_cleanup);
}

static void sink_destroy(sl_stream_t *s, int err, sl_done_cb done)
{
    sl_sink_file_t *f = (sl_sink_file_t *)s;

    (void)err;
    f->state |= ST_DESTROYING;
    if (f->wait_done != NULL) {
        sl_done_cb d = f->wait_done; /* a write that waited for the open fails now */
        f->wait_done = NULL;
        d(s, SL_EDESTROYED);
    }
    if (f->state & ST_FINAL_WAIT) {
        f->state &= ~ST_FINAL_WAIT;
        f->op_done(s, SL_EDESTROYED);
    }
    if (f->commit_wait) { /* the commit waited for the hash */
        f->commit_wait = 0;
        f->op_done(s, SL_EDESTROYED);
    }
    f->destroy_done = done;
    if (!(f->state & ST_BUSY))
        finish_destroy(f);
}

static const sl_stream_type_t sink_file_type = {
    .name = "sink_file",
    .do_write = sink_write,
    .do_final = sink_final,
    .do_destroy = sink_destroy,
};

static void sink_init(sl_sink_file_t *f, sl_fs_t *st, const char *name, unsigned flags, size_t hwm)
{
    sl_stream_init(&f->s, st->loop, &sink_file_type, SL_STREAM_WRITABLE, hwm, 0);
    f->store = st;
    f->name = sl_xstrdup(name);
    f->flags = flags;
    f->fd = -1;
    f->offset = 0;
    f->size = 0;
    f->work_err = 0;
    f->wait_done = NULL;
    f->digest = NULL;
    f->piped = 1;
    f->hash = NULL;
    f->hashed = f->hash_to = 0;
    f->hashing = f->hash_err = f->commit_wait = 0;
    f->size_hint = 0;
    f->held = NULL;
    f->bufs = NULL;
    f->nheld = 0;
    f->state = ST_OPENING | ST_BUSY;
    f->open_tries = 0;
}

void sl_sink_file_init(sl_sink_file_t *f, sl_fs_t *st, const char *name, unsigned flags, size_t hwm)
{
    sink_init(f, st, name, flags & ~SL_SINK_APPEND, hwm);
    name_tmp(f);
    f->state = ST_LAZY; /* created by the first write's job */
}

void sl_sink_file_init_append(sl_sink_file_t *f, sl_fs_t *st, const char *path, uint64_t offset,
                              size_t hwm)
{
    sink_init(f, st, path, SL_SINK_APPEND, hwm);
    f->offset = f->hashed = f->hash_to = offset; /* a hash behind starts where the append does */
    f->work.data = f;
    uv_queue_work(st->loop, &f->work, open_append_work, after_open_append);
}

static void name_tmp(sl_sink_file_t *f)
{
    f->seq = ++f->store->seq;
    snprintf(f->tmp, sizeof(f->tmp), ".sluice/tmp/%s-%llu.part", sl_store_owner(),
             (unsigned long long)f->seq);
}

static void start_open(sl_sink_file_t *f)
{
    sl_fs_t *st = f->store;
    char path[4096];

    name_tmp(f);
    snprintf(path, sizeof(path), "%s/%s", st->root, f->tmp);
    f->req.data = f;
    uv_fs_open(st->loop, &f->req, path, UV_FS_O_CREAT | UV_FS_O_EXCL | UV_FS_O_RDWR, 0644, on_open);
}

void sl_sink_file_set_digest(sl_sink_file_t *f, const sl_xf_digest_t *d)
{
    f->digest = d;
}
