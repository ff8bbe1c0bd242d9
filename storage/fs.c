/* SPDX-License-Identifier: MIT
 *
 * Opening the store and the start-up sweep. ROOT and ROOT/.sluice/tmp are created if missing.
 * Work files are named <pid>-<boot id>-<seq>… (sl_store_owner): temp files .part, staging
 * directories, metadata records in writing .tmp. The sweep removes those whose writer process no
 * longer exists (after a crash or kill -9) or that carry this process's pid but another boot id (an
 * earlier process that had the same pid), and leaves those of live processes alone, so a second
 * worker starting beside a running one never deletes its uploads in progress.
 */
#include "fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <openssl/rand.h>

static int mkdir_p(const char *path)
{
    char buf[4096];
    char *p;

    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return UV_ENAMETOOLONG;
    for (p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0755) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* Remove the files of `dir` named "<pid>-…" whose pid is dead; with `suffix`, only those. */
static size_t sweep(int root_fd, const char *dir, const char *suffix)
{
    int dfd = openat(root_fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    size_t removed = 0;
    struct dirent *de;
    DIR *d;

    if (dfd < 0)
        return 0;
    d = fdopendir(dfd);
    if (d == NULL) {
        close(dfd);
        return 0;
    }
    while ((de = readdir(d)) != NULL) {
        long pid;
        size_t len = strlen(de->d_name);
        if (de->d_name[0] == '.')
            continue;
        if (suffix != NULL &&
            (len < strlen(suffix) || strcmp(de->d_name + len - strlen(suffix), suffix) != 0))
            continue;
        pid = strtol(de->d_name, NULL, 10);
        if (pid == (long)getpid()) {
            if (strncmp(de->d_name, sl_store_owner(), strlen(sl_store_owner())) == 0 &&
                de->d_name[strlen(sl_store_owner())] == '-')
                continue; /* this process's (another store on the same root) */
        } else if (pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM)) {
            continue; /* a live process owns it (EPERM: alive, another user's) */
        }
        if (unlinkat(dfd, de->d_name, 0) == 0 ||
            ((errno == EISDIR || errno == EPERM) && sl__remove_tree(dfd, de->d_name) == 0))
            removed++;
    }
    closedir(d);
    return removed;
}

/* The owner tag is process-wide by design (it names this process's temp files for every store
 * and loop); made once, thread-safely: two servers may start on two threads at once. */
static char owner[48];
static pthread_once_t owner_once = PTHREAD_ONCE_INIT;

static void owner_init(void)
{
    unsigned char b[4];

    if (RAND_bytes(b, sizeof(b)) != 1)
        abort();
    snprintf(owner, sizeof(owner), "%ld-%02x%02x%02x%02x", (long)getpid(), b[0], b[1], b[2], b[3]);
}

const char *sl_store_owner(void)
{
    pthread_once(&owner_once, owner_init);
    return owner;
}

int sl_fs_open(sl_fs_t *st, uv_loop_t *loop, const char *root, int durable)
{
    char tmp[4096];
    int r;

    memset(st, 0, sizeof(*st));
    st->loop = loop;
    st->durable = durable;
    st->root_fd = -1;
    st->free_bytes = UINT64_MAX; /* unknown until sl_fs_set_min_free reads it */
    if ((r = mkdir_p(root)) < 0)
        return r;
    if (snprintf(tmp, sizeof(tmp), "%s/.sluice/tmp", root) >= (int)sizeof(tmp))
        return UV_ENAMETOOLONG;
    if ((r = mkdir_p(tmp)) < 0)
        return r;
    snprintf(tmp, sizeof(tmp), "%s/.sluice/meta", root);
    if ((r = mkdir_p(tmp)) < 0)
        return r;
    snprintf(tmp, sizeof(tmp), "%s/.sluice/tus", root);
    if ((r = mkdir_p(tmp)) < 0)
        return r;
    st->root = realpath(root, NULL);
    if (st->root == NULL)
        return -errno;
    st->root_fd = open(st->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (st->root_fd < 0) {
        r = -errno;
        free(st->root);
        st->root = NULL;
        return r;
    }
    st->swept = sweep(st->root_fd, ".sluice/tmp", NULL);
    sweep(st->root_fd, ".sluice/meta", ".tmp"); /* a metadata record cut short by a crash */
    sweep(st->root_fd, ".sluice/stage", NULL);  /* parts of a form that never completed */
    sweep(st->root_fd, ".sluice/tus", ".tmp");  /* a resumable upload's record in writing */
    return 0;
}

/* --- free space ----------------------------------------------------------------------------- */

#define FREE_REFRESH (16u << 20) /* read the free space again after this much was written */

typedef struct sl_statfs_op_s {
    uv_work_t work;
    sl_fs_t *st; /* NULL once the store closed: the reading is dropped */
    char *root;  /* owned: the job never touches the store */
    uint64_t avail;
    int ok;
} sl_statfs_op_t;

void sl_fs_set_min_free(sl_fs_t *st, uint64_t min_free)
{
    struct statvfs vf;

    if (fstatvfs(st->root_fd, &vf) < 0) {
        st->min_free = 0;
        st->free_bytes = UINT64_MAX;
        return;
    }
    st->free_bytes = (uint64_t)vf.f_bavail * vf.f_frsize;
    if (min_free == SL_MIN_FREE_AUTO) {
        min_free = (uint64_t)vf.f_blocks * vf.f_frsize / 100;
        if (min_free > (1ull << 30))
            min_free = 1ull << 30;
    }
    st->min_free = min_free;
}

static void statfs_work(uv_work_t *w)
{
    sl_statfs_op_t *op = w->data;
    struct statvfs vf;

    op->ok = statvfs(op->root, &vf) == 0; /* the units of sl_fs_set_min_free and has_space */
    if (op->ok)
        op->avail = (uint64_t)vf.f_bavail * vf.f_frsize;
}

static void on_statfs(uv_work_t *w, int status)
{
    sl_statfs_op_t *op = w->data;
    sl_fs_t *st = op->st;

    if (st != NULL) {
        st->statfs_op = NULL;
        if (status == 0 && op->ok) {
            st->free_bytes = op->avail;
            st->written -= st->written_at_read; /* what was written after the reading began */
            st->low = st->free_bytes < st->min_free + 4 * (uint64_t)FREE_REFRESH;
        }
    }
    free(op->root);
    free(op);
}

static void read_free(sl_fs_t *st)
{
    sl_statfs_op_t *op;

    if (st->statfs_op != NULL || st->root == NULL)
        return;
    op = sl_xcalloc(1, sizeof(*op));
    op->st = st;
    op->root = sl_xstrdup(st->root);
    op->work.data = op;
    st->written_at_read = st->written;
    if (uv_queue_work(st->loop, &op->work, statfs_work, on_statfs) < 0) {
        free(op->root);
        free(op);
        return;
    }
    st->statfs_op = op;
}

int sl_fs_reserve(sl_fs_t *st, uint64_t n)
{
    uint64_t left = st->free_bytes > st->written ? st->free_bytes - st->written : 0;

    if (st->free_bytes == UINT64_MAX)
        return 0; /* the free space is not known: nothing to go by */
    if (st->low)
        read_free(st); /* near the reserve: read it as often as it is asked for */
    if (left < n || left - n < st->min_free) {
        st->low = 1; /* files may go meanwhile (this upload's own temp file): read again */
        return UV_ENOSPC;
    }
    st->written += n;
    if (st->written - st->written_at_read >= FREE_REFRESH)
        read_free(st);
    return 0;
}

void sl_fs_freed(sl_fs_t *st)
{
    if (st->low)
        read_free(st);
}

int sl__fs_has_space(const sl_fs_t *st, int fd, uint64_t need)
{
    struct statvfs vf;
    uint64_t avail;

    if (fstatvfs(fd, &vf) < 0)
        return 0; /* unknown: the writes will tell */
    avail = (uint64_t)vf.f_bavail * vf.f_frsize;
    return avail < need || avail - need < st->min_free ? UV_ENOSPC : 0;
}

void sl_fs_close(sl_fs_t *st)
{
    if (st->statfs_op != NULL)
        st->statfs_op->st = NULL;
    st->statfs_op = NULL;
    if (st->root_fd >= 0)
        close(st->root_fd);
    st->root_fd = -1;
    free(st->root);
    st->root = NULL;
}

int sl__fsync_dir(int root_fd, const char *dir)
{
    /* A fresh open even for the root: fsync needs no offset, but keep to one rule (jobs.c). */
    int fd = openat(root_fd, *dir ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int r = 0;

    if (fd < 0)
        return -errno;
    if (fsync(fd) < 0)
        r = -errno;
    close(fd);
    return r;
}

int sl__parent_open(int root_fd, const char *name, int create, const char **leaf, int *created)
{
    const char *seg = name, *slash;
    char part[SL_SEGMENT_MAX + 1];
    int dfd = root_fd, fd;

    while ((slash = strchr(seg, '/')) != NULL) {
        size_t n = (size_t)(slash - seg);
        if (n == 0 || n > SL_SEGMENT_MAX) {
            sl__parent_close(root_fd, dfd);
            return SL_EBADNAME;
        }
        memcpy(part, seg, n);
        part[n] = '\0';
        fd = openat(dfd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT && create) { /* made here, or by a racing upload */
            if (mkdirat(dfd, part, 0755) == 0 && created != NULL)
                *created = 1;
            fd = openat(dfd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (fd < 0)
            fd = -errno;
        sl__parent_close(root_fd, dfd);
        if (fd < 0)
            return fd;
        dfd = fd;
        seg = slash + 1;
    }
    *leaf = seg;
    return dfd;
}

void sl__parent_close(int root_fd, int dfd)
{
    if (dfd >= 0 && dfd != root_fd)
        close(dfd);
}

/* Cut `path` at its last '/', leaving its parent ("" for the root). */
static void to_parent(char *path)
{
    char *slash = strrchr(path, '/');

    if (slash != NULL)
        *slash = '\0';
    else
        path[0] = '\0';
}

int sl__publish(int root_fd, const char *from, const char *to, unsigned flags, int durable,
                int *renamed)
{
    char dir[SL_NAME_MAX + 1];
    const char *leaf;
    int created = 0, r, dfd;

    *renamed = 0;
    snprintf(dir, sizeof(dir), "%s", to);
    dfd = sl__parent_open(root_fd, to, 1, &leaf, &created);
    if (dfd < 0)
        return dfd == UV_ELOOP ? UV_ENOTDIR : dfd; /* a symlink on the way: 409 like a file */
    if (renameat2(root_fd, from, dfd, leaf, flags) < 0) {
        r = errno == EEXIST || errno == ENOTEMPTY ? SL_EEXISTS : -errno;
        sl__parent_close(root_fd, dfd);
        return r;
    }
    *renamed = 1;
    r = durable && fsync(dfd) < 0 ? -errno : 0;
    sl__parent_close(root_fd, dfd);
    if (!durable || r < 0)
        return r;
    to_parent(dir);
    while (created && r == 0 && dir[0] != '\0') {
        to_parent(dir); /* new directories must be durable in their own parents too */
        r = sl__fsync_dir(root_fd, dir);
    }
    return r;
}

void sl_store_etag(uint64_t size, int64_t mtime_ns, char out[48])
{
    snprintf(out, 48, "\"%llx-%llx\"", (unsigned long long)mtime_ns, (unsigned long long)size);
}

void sl_store_etag_digest(const char *sha256_hex, char out[72])
{
    snprintf(out, 72, "\"%s\"", sha256_hex);
}
