/* SPDX-License-Identifier: MIT
 *
 * Writing files: the blocking steps the filesystem store's jobs share (a temp file made with
 * O_EXCL, pwritev runs going on after short writes, piped chunks spliced in order, and the hash
 * behind the sink reading back what was spliced), then the group commit.
 *
 * Group commit: the uploads that finish while a commit is running are committed together, with
 * one flush for all of them instead of one (or three) per file.
 *
 *   sl__commit(c) ─▶ queue ─▶ batch job: [syncfs] ─▶ per file: fstat, close, rename into place,
 *                                         metadata ─▶ [syncfs] ─▶ callbacks ─▶ next batch
 *
 * One batch runs at a time; while it syncs, the commits that arrive queue up and form the next
 * batch, so the batch grows with the load and a lone upload waits for nothing: a batch of one is
 * committed as a single file is (fdatasync, rename, fsync of the directories), by itself. In a
 * batch of several, in durable mode, the first syncfs makes every file's data durable
 * before any of them gets its final name, and the second one makes the renames and the
 * directories they created durable before anyone hears 201: the same promise as fdatasync, rename,
 * fsync of the directory per file (DESIGN.md §5), at two flushes per batch. syncfs flushes the
 * whole filesystem, so such a batch also waits for other dirty data on it (a large upload still
 * streaming): it is worth it only when small files are the load, which is when batches form.
 * Without durability the batch only saves thread-pool round trips.
 */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

int sl__fs_open_tmp(const sl_fs_t *st, char tmp[64], uint64_t seq)
{
    unsigned tries = 0;
    int fd;

    for (;;) {
        fd = openat(st->root_fd, tmp, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0644);
        if (fd >= 0 || errno != EEXIST || ++tries >= 8)
            break;
        /* a leftover with our pid (a restart that reused it): another name */
        snprintf(tmp, 64, ".sluice/tmp/%s-%llu-%u.part", sl_store_owner(), (unsigned long long)seq,
                 tries);
    }
    return fd >= 0 ? fd : -errno;
}

/* pwritev every buffer of v[0..n) (modified) at `off`, going on after short writes. */
static int pwrite_all(int fd, struct iovec *v, size_t n, uint64_t off, uint64_t *written)
{
    size_t i = 0;

    *written = 0;
    while (i < n) {
        ssize_t r = pwritev(fd, v + i, (int)(n - i < 1024 ? n - i : 1024), (off_t)(off + *written));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        *written += (uint64_t)r;
        while (i < n && (size_t)r >= v[i].iov_len) {
            r -= (ssize_t)v[i].iov_len;
            i++;
        }
        if (i < n && r > 0) {
            v[i].iov_base = (char *)v[i].iov_base + r;
            v[i].iov_len -= (size_t)r;
        }
    }
    return 0;
}

int sl__fs_write_all(int fd, uv_buf_t *bufs, size_t n, uint64_t *written)
{
    return pwrite_all(fd, (struct iovec *)bufs, n, 0, written); /* same layout on Unix */
}

int sl__fs_write_chunks(int fd, sl_chunk_t *const *chunks, size_t n, uint64_t off,
                        uint64_t *written)
{
    struct iovec v[64];
    size_t i = 0;
    int err;

    *written = 0;
    while (i < n) {
        uint64_t w = 0;
        size_t k = 0;

        if (chunks[i]->pipe != NULL) { /* the one copy: the pipe's pages into the page cache */
            if ((err = sl_pipe_drain(chunks[i], fd, off + *written)) < 0)
                return err;
            *written += chunks[i++]->len;
            continue;
        }
        for (; i + k < n && chunks[i + k]->pipe == NULL && k < 64; k++) {
            v[k].iov_base = chunks[i + k]->base;
            v[k].iov_len = chunks[i + k]->len;
        }
        err = pwrite_all(fd, v, k, off + *written, &w);
        *written += w;
        if (err < 0)
            return err;
        i += k;
    }
    return 0;
}

/* The bytes a sink wrote, into the hash behind it: read back from the page cache through a small
 * buffer of the pool thread (cache-resident: the hash reads it where the copy put it). */
int sl__fs_hash_range(int fd, sl_xf_digest_t *x, uint64_t from, uint64_t to)
{
    static __thread char buf[128u << 10];

    while (from < to) {
        size_t want = to - from < sizeof(buf) ? (size_t)(to - from) : sizeof(buf);
        ssize_t r = pread(fd, buf, want, (off_t)from);
        if (r <= 0)
            return r < 0 ? -errno : UV_EIO;
        sl_xf_digest_update(x, buf, (size_t)r);
        from += (uint64_t)r;
    }
    return 0;
}

static void start_batch(sl_fs_t *st);

static void batch_work(uv_work_t *w)
{
    sl_fs_t *st = w->data;
    sl_commit_t *c;
    int flushed = 0, alone = st->batch->next == NULL;

    /* Alone, a file is flushed by itself (fdatasync, then the directories after the rename): a
     * lone small file never waits for a large upload's dirty pages. Together, one syncfs. */
    uint64_t t0;

    for (c = st->batch; c != NULL; c = c->next) { /* bodies held in memory: create and write */
        uint64_t written;
        c->err = 0;
        if (c->fd >= 0 || c->nbufs == 0)
            continue;
        c->fd = sl__fs_open_tmp(st, c->tmp, c->seq);
        if (c->fd < 0) {
            c->err = c->fd;
            continue;
        }
        c->created = 1;
        c->err = sl__fs_write_all(c->fd, (uv_buf_t *)c->bufs, c->nbufs, &written);
    }
    t0 = uv_hrtime();
    if (st->durable &&
        (alone ? (st->batch->fd >= 0 ? fdatasync(st->batch->fd) : 0) : syncfs(st->root_fd)) < 0)
        flushed = -errno;
    st->flush_s = (double)(uv_hrtime() - t0) / 1e9;
    for (c = st->batch; c != NULL; c = c->next) {
        struct stat sb;
        c->renamed = 0;
        if (c->err == 0)
            c->err = flushed;
        int xattr = -1;
        if (c->err == 0 && fstat(c->fd, &sb) == 0) {
            c->size = (uint64_t)sb.st_size;
            c->mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
        }
        if (c->err == 0 && c->digest != NULL) { /* the digests ride along with the file */
            sl_meta_t m = {c->size, c->mtime_ns, c->digest->crc32, {0}};
            memcpy(m.sha256_hex, c->digest->sha256_hex, sizeof(m.sha256_hex));
            xattr = sl__meta_set_fd(c->fd, &m);
        }
        if (c->fd >= 0)
            close(c->fd);
        c->fd = -1;
        if (c->err == 0)
            c->err = sl__publish(st->root_fd, c->tmp, c->name, c->flags, st->durable && alone,
                                 &c->renamed);
        if (c->renamed && c->digest != NULL && xattr < 0) { /* no extended attributes here */
            sl_meta_t m = {c->size, c->mtime_ns, c->digest->crc32, {0}};
            memcpy(m.sha256_hex, c->digest->sha256_hex, sizeof(m.sha256_hex));
            sl__meta_write(st->root_fd, c->name, &m, c->seq); /* best effort: a cache */
        }
    }
    if (st->durable && !alone && syncfs(st->root_fd) < 0) /* the renames and new directories */
        for (c = st->batch; c != NULL; c = c->next)
            if (c->err == 0)
                c->err = -errno;
}

static void batch_done(uv_work_t *w, int status)
{
    sl_fs_t *st = w->data;
    sl_commit_t *c = st->batch, *next;

    st->batch = NULL;
    st->batches++;
    if (st->durable && st->on_flush != NULL)
        st->on_flush(st->flush_arg, st->flush_s);
    for (; c != NULL; c = next) {
        next = c->next;
        if (status < 0 && c->err == 0)
            c->err = status;
        c->cb(c);
    }
    if (st->commit_head != NULL)
        start_batch(st);
}

static void start_batch(sl_fs_t *st)
{
    st->batch = st->commit_head;
    st->commit_head = NULL;
    st->commit_tail = &st->commit_head;
    st->commit_work.data = st;
    uv_queue_work(st->loop, &st->commit_work, batch_work, batch_done);
}

void sl__commit(sl_fs_t *st, sl_commit_t *c)
{
    c->next = NULL;
    if (st->commit_tail == NULL)
        st->commit_tail = &st->commit_head;
    *st->commit_tail = c;
    st->commit_tail = &c->next;
    if (st->batch == NULL)
        start_batch(st);
}
