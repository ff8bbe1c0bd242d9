/* SPDX-License-Identifier: MIT
 *
 * Resumable uploads on disk: records, their jobs and the expiry scan (design in tus.h).
 *
 * Order of writes, so that a crash at any point leaves a state that reads back correctly:
 *   create   data file (O_EXCL), record, directory fsync: no record means no upload;
 *   save     fdatasync data, then the record (temp + rename): the offset never covers unflushed
 *            bytes;
 *   commit   fdatasync data, compare the digests of a Repr-Digest sent at creation (a mismatch
 *            removes the upload: nothing is renamed), rename into ROOT (never replacing),
 *            directory fsyncs, then the
 *            record with `file`: a crash between the two leaves a record without `file` and no
 *            data file, which reads as "not found" (the file itself is in place);
 *   concat   the final's data assembled and flushed, then committed, then the parts removed.
 */
#include "fs.h"
#include "streams/hex.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

enum { K_CREATE, K_LOAD, K_SAVE, K_COMMIT, K_CONCAT, K_REMOVE };

#define RECORD_MAX                                                                                 \
    (SL_TUS_METADATA_MAX + SL_NAME_MAX + SL_TUS_PARTS_MAX * 33 + SL_TUS_REPR_MAX + 256)

/* --- thread-pool side ------------------------------------------------------------------------ */

static void path_of(char out[64], const char *id, const char *ext)
{
    snprintf(out, 64, ".sluice/tus/%s.%s", id, ext);
}

void sl_fs_tus_sink_init(sl_sink_file_t *f, sl_fs_t *st, const char *id, uint64_t offset,
                         size_t hwm)
{
    char path[64];

    path_of(path, id, "data");
    sl_sink_file_init_append(f, st, path, offset, hwm);
}

static int write_record(sl_fs_t *st, const sl_tus_info_t *info, int new_dir_entry)
{
    char buf[RECORD_MAX], tmp[128], path[64];
    int n = sl_tus_format(info, buf, sizeof(buf)), fd, r = 0;

    if (n < 0)
        return n;
    snprintf(tmp, sizeof(tmp), ".sluice/tus/%s-%s.tmp", sl_store_owner(), info->id);
    path_of(path, info->id, "info");
    fd = openat(st->root_fd, tmp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    ssize_t w = write(fd, buf, (size_t)n);
    if (w != n)
        r = w < 0 ? -errno : UV_ENOSPC; /* a short write: the disk is full */
    if (r == 0 && st->durable && fdatasync(fd) < 0)
        r = -errno;
    close(fd);
    if (r == 0 && renameat(st->root_fd, tmp, st->root_fd, path) < 0)
        r = -errno;
    if (r < 0)
        unlinkat(st->root_fd, tmp, 0);
    else if (new_dir_entry && st->durable)
        r = sl__fsync_dir(st->root_fd, ".sluice/tus");
    return r;
}

static int read_record(sl_fs_t *st, const char *id, sl_tus_info_t *info)
{
    char buf[RECORD_MAX], path[64];
    ssize_t n;
    int fd;

    path_of(path, id, "info");
    fd = openat(st->root_fd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? SL_ENOTFOUND : -errno;
    n = read(fd, buf, sizeof(buf));
    close(fd);
    if (n < 0)
        return UV_EIO;
    if (sl_tus_parse(buf, (size_t)n, info) < 0)
        return SL_ENOTFOUND; /* not ours, or damaged: the upload cannot be resumed */
    memcpy(info->id, id, SL_TUS_ID_LEN + 1);
    return 0;
}

static int flush_data(sl_fs_t *st, const char *id)
{
    char path[64];
    int fd, r = 0;

    if (!st->durable)
        return 0;
    path_of(path, id, "data");
    fd = openat(st->root_fd, path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fdatasync(fd) < 0) /* flushes the file, whichever descriptor wrote it */
        r = -errno;
    close(fd);
    return r;
}

static void remove_files(sl_fs_t *st, const char *id)
{
    char path[64];

    path_of(path, id, "data");
    unlinkat(st->root_fd, path, 0);
    path_of(path, id, "info");
    unlinkat(st->root_fd, path, 0);
}

/* The digest `md` (SHA-256 or SHA-512) of the data file (fd) as hex into out[129]: 0 or a
 * negative code. */
static int hash_file(int fd, const EVP_MD *type, char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE], *buf = malloc(1u << 20);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int len = 0;
    off_t off = 0;
    ssize_t n;
    int r = 0;

    if (buf == NULL || ctx == NULL || EVP_DigestInit_ex(ctx, type, NULL) != 1)
        abort();
    while ((n = pread(fd, buf, 1u << 20, off)) > 0) {
        EVP_DigestUpdate(ctx, buf, (size_t)n);
        off += n;
    }
    if (n < 0)
        r = -errno;
    EVP_DigestFinal_ex(ctx, md, &len);
    sl_hex(md, len, out);
    EVP_MD_CTX_free(ctx);
    free(buf);
    return r;
}

/* The Repr-Digest sent at creation (info->repr) against the data file `from`: 0, SL_ECHECKSUM
 * when a digest differs, or a read error. The SHA-256 comes from the job when the PATCHes carried
 * it along, else from one read of the file (kept in job->sha256_hex for the commit). */
static int check_repr(sl_fs_t *st, sl_tus_job_t *job, const sl_tus_info_t *info, const char *from)
{
    char want[129], got[129];
    int fd, r = 0;

    if (info->repr == NULL)
        return 0;
    if ((fd = openat(st->root_fd, from, O_RDONLY | O_CLOEXEC)) < 0)
        return -errno;
    if (sl_tus_repr_get(info->repr, "sha-256", want, sizeof(want)) == 0) {
        if (job->sha256_hex[0] == '\0')
            r = hash_file(fd, EVP_sha256(), job->sha256_hex);
        if (r == 0 && strcmp(want, job->sha256_hex) != 0)
            r = SL_ECHECKSUM;
    }
    if (r == 0 && sl_tus_repr_get(info->repr, "sha-512", want, sizeof(want)) == 0 &&
        (r = hash_file(fd, EVP_sha512(), got)) == 0 && strcmp(want, got) != 0)
        r = SL_ECHECKSUM;
    close(fd);
    return r;
}

/* Keep the committed file's SHA-256 with it (an extended attribute on the data file before the
 * rename; 1 if that worked, 0 if the record file must be written after it, as commit.c does). */
static int keep_digest(sl_fs_t *st, sl_tus_job_t *job, const char *from, sl_meta_t *m)
{
    struct stat sb;
    int fd = openat(st->root_fd, from, O_RDONLY | O_CLOEXEC), set = 0;

    if (fd < 0)
        return 0;
    if ((job->sha256_hex[0] != '\0' || hash_file(fd, EVP_sha256(), job->sha256_hex) == 0) &&
        fstat(fd, &sb) == 0) {
        m->size = (uint64_t)sb.st_size;
        m->mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
        m->crc32 = 0;
        memcpy(m->sha256_hex, job->sha256_hex, 65);
        set = sl__meta_set_fd(fd, m) == 0 ? 1 : 0;
    } else {
        job->sha256_hex[0] = '\0';
    }
    close(fd);
    return set;
}

static int do_commit(sl_fs_t *st, sl_tus_job_t *job, sl_tus_info_t *info, const char *name)
{
    char from[64], alt[SL_NAME_MAX + 1];
    int renamed = 0, r = flush_data(st, info->id), kept = 0;
    sl_meta_t m;

    path_of(from, info->id, "data");
    if (r == 0 && job != NULL && (r = check_repr(st, job, info, from)) == SL_ECHECKSUM) {
        remove_files(st, info->id); /* refused: the upload is over, its bytes go */
        return r;
    }
    if (r == 0 && job != NULL && job->digest)
        kept = keep_digest(st, job, from, &m);
    if (r == 0)
        r = sl__publish(st->root_fd, from, name, RENAME_NOREPLACE, st->durable, &renamed);
    if (r == SL_EEXISTS) { /* never replace a file: the id makes a free name */
        if (snprintf(alt, sizeof(alt), "%s/%s", info->id, name) >= (int)sizeof(alt))
            snprintf(alt, sizeof(alt), "%s", info->id);
        name = alt;
        r = sl__publish(st->root_fd, from, name, RENAME_NOREPLACE, st->durable, &renamed);
    }
    if (r < 0 && !renamed)
        return r;
    if (job != NULL && job->digest && !kept && job->sha256_hex[0] != '\0')
        sl__meta_write(st->root_fd, name, &m, strtoull(info->id + 16, NULL, 16)); /* no xattrs */
    sl_tus_info_set(&info->file, name);
    info->offset = (uint64_t)info->length;
    return write_record(st, info, 0);
}

static int do_concat(sl_tus_job_t *job)
{
    sl_fs_t *st = job->store;
    char path[64];
    int out, r = 0;
    size_t i;

    path_of(path, job->info->id, "data");
    out = openat(st->root_fd, path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    if (out < 0)
        return -errno;
    job->size = 0;
    for (i = 0; i < job->nparts && r == 0; i++) {
        sl_tus_info_t *part = malloc(sizeof(*part));
        int in;
        if (part == NULL)
            abort();
        memset(part, 0, sizeof(*part));
        r = read_record(st, job->parts[i], part);
        if (r == SL_ENOTFOUND || (r == 0 && (part->concat != SL_TUS_PARTIAL || part->length < 0 ||
                                             part->offset != (uint64_t)part->length)))
            r = SL_EBADREQUEST;
        else if (r == 0 && job->max && job->size + part->offset > job->max)
            r = SL_ETOOLARGE;
        if (r == 0)
            r = sl__fs_has_space(st, out, part->offset);
        if (r == 0) {
            loff_t left = (loff_t)part->offset;
            path_of(path, job->parts[i], "data");
            in = openat(st->root_fd, path, O_RDONLY | O_CLOEXEC);
            if (in < 0)
                r = errno == ENOENT ? SL_EBADREQUEST : -errno;
            while (r == 0 && left > 0) {
                /* In the kernel: a reflink on btrfs/XFS, a page-cache copy elsewhere. */
                ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t)left, 0);
                if (n <= 0)
                    r = n < 0 ? -errno : UV_EIO;
                else
                    left -= n;
            }
            if (in >= 0)
                close(in);
            job->size += part->offset;
        }
        sl_tus_info_clear(part);
        free(part);
    }
    if (r == 0 && st->durable && fdatasync(out) < 0)
        r = -errno;
    close(out);
    if (r == 0) {
        job->info->length = (int64_t)job->size;
        job->info->offset = job->size;
        r = write_record(st, job->info, 1);
    }
    if (r == 0)
        r = do_commit(st, job, job->info, job->name);
    if (r < 0) {
        remove_files(st, job->info->id);
        return r;
    }
    for (i = 0; i < job->nparts; i++)
        remove_files(st, job->parts[i]);
    return 0;
}

static void tus_work(uv_work_t *w)
{
    sl_tus_job_t *job = w->data;
    sl_fs_t *st = job->store;
    sl_tus_info_t *info = job->info;
    char path[64];
    struct stat sb;
    int fd;

    switch (job->kind) {
    case K_CREATE:
        /* the declared length must fit above the reserve; a deferred one at least the reserve */
        job->status =
            sl__fs_has_space(st, st->root_fd, info->length > 0 ? (uint64_t)info->length : 0);
        if (job->status < 0)
            return;
        path_of(path, info->id, "data");
        fd = openat(st->root_fd, path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
        if (fd < 0) {
            job->status = -errno;
            return;
        }
        close(fd);
        job->status = write_record(st, info, 1);
        if (job->status < 0)
            remove_files(st, info->id);
        return;
    case K_LOAD:
        job->status = read_record(st, job->name, info);
        if (job->status < 0 || info->file != NULL)
            return;
        path_of(path, info->id, "data");
        if (fstatat(st->root_fd, path, &sb, 0) < 0)
            job->status = errno == ENOENT ? SL_ENOTFOUND : -errno;
        else if ((uint64_t)sb.st_size < info->offset)
            info->offset = (uint64_t)sb.st_size; /* a record never promises missing bytes */
        return;
    case K_SAVE:
        job->status = job->flush ? flush_data(st, info->id) : 0;
        if (job->status == 0)
            job->status = write_record(st, info, 0);
        return;
    case K_COMMIT:
        job->status = do_commit(st, job, info, job->name);
        return;
    case K_CONCAT:
        job->status = do_concat(job);
        return;
    case K_REMOVE:
        if (job->size > 0) { /* the expiry sweep: only if still expired */
            sl_tus_info_t *now = calloc(1, sizeof(*now));
            if (now == NULL)
                abort();
            job->status = read_record(st, info->id, now);
            if (job->status == 0 && (now->expires <= 0 || now->expires >= (int64_t)job->size))
                job->status = SL_EEXISTS;
            sl_tus_info_clear(now);
            free(now);
            if (job->status < 0)
                return; /* still live, gone already, or unreadable: remove nothing */
        }
        path_of(path, info->id, "info");
        job->status = unlinkat(st->root_fd, path, 0) < 0 && errno == ENOENT ? SL_ENOTFOUND : 0;
        path_of(path, info->id, "data");
        unlinkat(st->root_fd, path, 0);
        return;
    }
}

static void tus_after(uv_work_t *w, int status)
{
    sl_tus_job_t *job = w->data;

    if (status < 0)
        job->status = status;
    free(job->name);
    job->name = NULL;
    job->cb(job);
}

static int start(sl_fs_t *st, sl_tus_job_t *job, sl_tus_info_t *info, int kind, sl_tus_job_cb cb)
{
    job->store = st;
    job->info = info;
    job->kind = kind;
    job->cb = cb;
    job->status = 0;
    job->work.data = job;
    return uv_queue_work(st->loop, &job->work, tus_work, tus_after);
}

int sl_fs_tus_create(sl_fs_t *st, sl_tus_job_t *job, sl_tus_info_t *info, sl_tus_job_cb cb)
{
    return start(st, job, info, K_CREATE, cb);
}

int sl_fs_tus_load(sl_fs_t *st, sl_tus_job_t *job, const char *id, sl_tus_info_t *info,
                   sl_tus_job_cb cb)
{
    job->name = sl_xstrdup(id);
    return start(st, job, info, K_LOAD, cb);
}

int sl_fs_tus_save(sl_fs_t *st, sl_tus_job_t *job, sl_tus_info_t *info, int flush, sl_tus_job_cb cb)
{
    job->flush = flush;
    return start(st, job, info, K_SAVE, cb);
}

int sl_fs_tus_commit(sl_fs_t *st, sl_tus_job_t *job, sl_tus_info_t *info, const char *name,
                     sl_tus_job_cb cb)
{
    job->name = sl_xstrdup(name);
    return start(st, job, info, K_COMMIT, cb);
}

int sl_fs_tus_concat(sl_fs_t *st, sl_tus_job_t *job, sl_tus_info_t *info, char (*parts)[33],
                     size_t n, uint64_t max, const char *name, sl_tus_job_cb cb)
{
    if (n == 0 || n > SL_TUS_PARTS_MAX)
        return SL_EBADREQUEST;
    job->parts = parts;
    job->nparts = n;
    job->max = max;
    job->name = sl_xstrdup(name);
    return start(st, job, info, K_CONCAT, cb);
}

int sl_fs_tus_remove(sl_fs_t *st, sl_tus_job_t *job, sl_tus_info_t *info, int64_t expired_before,
                     sl_tus_job_cb cb)
{
    job->size = expired_before > 0 ? (uint64_t)expired_before : 0;
    return start(st, job, info, K_REMOVE, cb);
}

size_t sl__fs_tus_expired(int root_fd, int64_t now, char (*ids)[33], size_t cap)
{
    sl_fs_t st = {.root_fd = root_fd};
    sl_tus_info_t *info = calloc(1, sizeof(*info));
    int dfd = openat(root_fd, ".sluice/tus", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct dirent *de;
    size_t n = 0;
    DIR *d;

    if (info == NULL)
        abort();
    d = dfd < 0 ? NULL : fdopendir(dfd);
    if (d == NULL) {
        if (dfd >= 0)
            close(dfd);
        free(info); /* nothing read into it yet */
        return 0;
    }
    while (n < cap && (de = readdir(d)) != NULL) {
        char id[SL_TUS_ID_LEN + 1];
        if (strlen(de->d_name) != SL_TUS_ID_LEN + 5 ||
            strcmp(de->d_name + SL_TUS_ID_LEN, ".info") != 0)
            continue;
        memcpy(id, de->d_name, SL_TUS_ID_LEN);
        id[SL_TUS_ID_LEN] = '\0';
        if (sl_tus_id_valid(id) && read_record(&st, id, info) == 0 && info->expires > 0 &&
            info->expires < now)
            memcpy(ids[n++], id, sizeof(id));
    }
    closedir(d);
    sl_tus_info_clear(info);
    free(info);
    return n;
}
