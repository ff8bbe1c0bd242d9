/* SPDX-License-Identifier: MIT
 *
 * Store jobs: the small file-system operations of the HTTP interface (preflight, open for
 * reading, delete, list), each one uv_queue_work on libuv's thread pool so the loop never blocks
 * on the disk. A job is embedded in its owner's request; its result fields are read in the
 * callback, which runs on the loop thread.
 */
#include "fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

enum { JOB_PREFLIGHT, JOB_OPEN, JOB_DELETE, JOB_LIST };

typedef struct {
    char *buf;
    size_t len, cap;
    uint64_t count, limit;
    int truncated;
} listbuf_t;

static void lb_add(listbuf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        while (b->len + n + 1 > b->cap)
            b->cap = b->cap ? b->cap * 2 : 4096;
        b->buf = sl_xrealloc(b->buf, b->cap);
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

static void lb_json_str(listbuf_t *b, const char *s)
{
    char out[6 * SL_NAME_MAX + 1];

    lb_add(b, "\"", 1);
    lb_add(b, out, sl_json_escape(s, strlen(s), NULL, out, sizeof(out)));
    lb_add(b, "\"", 1);
}

/* Walk the directory dfd (owned: closed here), whose name below the root is `dir` ("" = the
 * root), depth-first, appending regular files. Every step opens its entry from its parent's fd
 * with O_NOFOLLOW, so a directory swapped for a symlink is never followed out of the root. */
static void walk(int dfd, const char *dir, listbuf_t *b)
{
    struct dirent *de;
    DIR *d = fdopendir(dfd);

    if (d == NULL) {
        close(dfd);
        return;
    }
    while ((de = readdir(d)) != NULL && !b->truncated) {
        char path[SL_NAME_MAX + 2];
        struct stat sb;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (!*dir && strcmp(de->d_name, ".sluice") == 0)
            continue;
        if (snprintf(path, sizeof(path), "%s%s%s", dir, *dir ? "/" : "", de->d_name) >=
            (int)sizeof(path))
            continue;
        if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (S_ISDIR(sb.st_mode)) {
            int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0)
                walk(sub, path, b);
        } else if (S_ISREG(sb.st_mode) && sl_name_check(path) == 0) {
            char num[96];
            if (b->count >= b->limit || b->len >= SL_LIST_MAX_BYTES) {
                b->truncated = 1;
                break;
            }
            lb_add(b, b->count ? ",{\"name\":" : "{\"name\":", b->count ? 9 : 8);
            lb_json_str(b, path);
            snprintf(num, sizeof(num), ",\"size\":%llu,\"mtime\":%lld}",
                     (unsigned long long)sb.st_size, (long long)sb.st_mtim.tv_sec);
            lb_add(b, num, strlen(num));
            b->count++;
        }
    }
    closedir(d);
}

static void job_work(uv_work_t *w)
{
    sl_store_job_t *j = w->data;
    int root_fd = SL_FS_OF(j)->root_fd, dfd;
    const char *leaf;
    struct stat sb;

    j->status = 0;
    switch (j->kind) {
    case JOB_PREFLIGHT: {
        if (j->name[0] && (dfd = sl__parent_open(root_fd, j->name, 0, &leaf, NULL)) >= 0) {
            int taken = fstatat(dfd, leaf, &sb, AT_SYMLINK_NOFOLLOW) == 0;
            sl__parent_close(root_fd, dfd);
            if (taken) {
                j->status = SL_EEXISTS;
                break;
            }
        }
        j->status = sl__fs_has_space(SL_FS_OF(j), root_fd, j->need);
        break;
    }
    case JOB_OPEN:
        /* O_NONBLOCK: a FIFO put in the root must not hang a pool thread (it is not a file). */
        dfd = sl__parent_open(root_fd, j->name, 0, &leaf, NULL);
        j->fd = dfd < 0 ? dfd : openat(dfd, leaf, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (j->fd < 0 && dfd >= 0)
            j->fd = -errno;
        sl__parent_close(root_fd, dfd);
        if (j->fd < 0) {
            j->status = (j->fd == UV_ENOENT || j->fd == UV_ENOTDIR || j->fd == UV_ELOOP)
                            ? SL_ENOTFOUND
                            : j->fd;
            j->fd = -1;
            break;
        }
        if (fstat(j->fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
            close(j->fd);
            j->fd = -1;
            j->status = SL_ENOTFOUND;
            break;
        }
        j->size = (uint64_t)sb.st_size;
        j->mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
        j->has_meta = sl__meta_get_fd(j->fd, j->size, j->mtime_ns, &j->meta) == 0 ||
                      sl__meta_read(root_fd, j->name, j->size, j->mtime_ns, &j->meta) == 0;
        break;
    case JOB_DELETE:
        dfd = sl__parent_open(root_fd, j->name, 0, &leaf, NULL);
        if (dfd < 0 || fstatat(dfd, leaf, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(sb.st_mode)) {
            sl__parent_close(root_fd, dfd);
            j->status = SL_ENOTFOUND;
            break;
        }
        if (unlinkat(dfd, leaf, 0) < 0) {
            j->status = errno == ENOENT ? SL_ENOTFOUND : -errno;
            sl__parent_close(root_fd, dfd);
            break;
        }
        sl__meta_remove(root_fd, j->name);
        if (SL_FS_OF(j)->durable)
            fsync(dfd); /* the file is gone either way */
        sl__parent_close(root_fd, dfd);
        break;
    case JOB_LIST: {
        listbuf_t b = {0};
        b.limit = j->need;
        lb_add(&b, "{\"files\":[", 10);
        /* A fresh open, never dup(root_fd): a dup shares the directory offset with the store. */
        dfd = openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
            walk(dfd, "", &b);
        lb_add(&b, b.truncated ? "],\"truncated\":true}\n" : "],\"truncated\":false}\n",
               b.truncated ? 20 : 21);
        j->json = b.buf;
        j->json_len = b.len;
        break;
    }
    }
}

static void job_done(uv_work_t *w, int status)
{
    sl_store_job_t *j = w->data;

    if (status < 0 && j->status == 0)
        j->status = status;
    j->cb(j);
}

static int job_start(sl_fs_t *st, sl_store_job_t *j, int kind, const char *name, uint64_t need,
                     sl_store_job_cb cb)
{
    j->store = st;
    j->kind = kind;
    j->need = need;
    j->cb = cb;
    j->fd = -1;
    j->json = NULL;
    j->json_len = 0;
    j->status = 0;
    j->has_meta = 0;
    snprintf(j->name, sizeof(j->name), "%s", name ? name : "");
    j->work.data = j;
    return uv_queue_work(st->loop, &j->work, job_work, job_done);
}

int sl_fs_preflight(sl_fs_t *st, sl_store_job_t *job, const char *name, uint64_t need,
                    sl_store_job_cb cb)
{
    return job_start(st, job, JOB_PREFLIGHT, name, need, cb);
}

int sl_fs_open_read(sl_fs_t *st, sl_store_job_t *job, const char *name, sl_store_job_cb cb)
{
    return job_start(st, job, JOB_OPEN, name, 0, cb);
}

int sl_fs_delete(sl_fs_t *st, sl_store_job_t *job, const char *name, sl_store_job_cb cb)
{
    return job_start(st, job, JOB_DELETE, name, 0, cb);
}

int sl_fs_list(sl_fs_t *st, sl_store_job_t *job, uint64_t limit, sl_store_job_cb cb)
{
    return job_start(st, job, JOB_LIST, NULL, limit, cb);
}
