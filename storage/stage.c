/* SPDX-License-Identifier: MIT
 *
 * Staging: several files that must appear together or not at all (the file parts of one
 * multipart/form-data request).
 *
 * Each file streams through its own sink_file and is committed (fdatasync, rename, directory
 * fsync) into a private directory, ROOT/.sluice/stage/<pid>-<seq>/. Only when every part has
 * arrived and passed its checks does sl_fs_stage_commit rename that whole directory to its
 * public name in one rename(2), so readers see all the files or none, then record their digests
 * (meta.c). On failure sl_fs_stage_remove deletes the directory. A crash leaves only staging
 * directories behind, which the start-up sweep removes (store.c).
 */
#include "fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void sl_fs_stage_name(sl_fs_t *st, char out[64])
{
    snprintf(out, 64, ".sluice/stage/%s-%llu", sl_store_owner(), (unsigned long long)++st->seq);
}

/* Remove `dir` (relative to dfd) and everything below it. */
int sl__remove_tree(int dfd, const char *dir)
{
    int fd = openat(dfd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct dirent *de;
    DIR *d;

    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return -errno;
    }
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (unlinkat(fd, de->d_name, 0) < 0 && (errno == EISDIR || errno == EPERM))
            sl__remove_tree(fd, de->d_name);
    }
    closedir(d);
    return unlinkat(dfd, dir, AT_REMOVEDIR) < 0 && errno != ENOENT ? -errno : 0;
}

static void stage_commit_work(uv_work_t *w)
{
    sl_store_job_t *j = w->data;
    int root_fd = SL_FS_OF(j)->root_fd, renamed;
    size_t i;

    j->status =
        sl__publish(root_fd, j->stage, j->name, RENAME_NOREPLACE, SL_FS_OF(j)->durable, &renamed);
    if (!renamed)
        return;
    for (i = 0; i < j->nmeta; i++) {
        char name[SL_NAME_MAX + 1];
        if (j->metas[i].sha256_hex[0] != '\0' && /* no SHA-256 computed (--digest): no record */
            snprintf(name, sizeof(name), "%s/%s", j->name, j->meta_names[i]) < (int)sizeof(name))
            sl__meta_write(root_fd, name, &j->metas[i], j->need + i + 1);
    }
}

static void stage_remove_work(uv_work_t *w)
{
    sl_store_job_t *j = w->data;
    j->status = sl__remove_tree(SL_FS_OF(j)->root_fd, j->stage);
}

static void stage_done(uv_work_t *w, int status)
{
    sl_store_job_t *j = w->data;

    if (status < 0 && j->status == 0)
        j->status = status;
    j->cb(j);
}

int sl_fs_stage_commit(sl_fs_t *st, sl_store_job_t *job, const char *stage, const char *name,
                       const sl_meta_t *metas, const char *const *meta_names, size_t nmeta,
                       sl_store_job_cb cb)
{
    job->store = st;
    job->cb = cb;
    job->status = 0;
    job->metas = metas;
    job->meta_names = meta_names;
    job->nmeta = nmeta;
    snprintf(job->stage, sizeof(job->stage), "%s", stage);
    snprintf(job->name, sizeof(job->name), "%s", name);
    job->work.data = job;
    job->need = st->seq; /* the temp names of the metadata records: seq + 1 … seq + nmeta */
    st->seq += nmeta;
    return uv_queue_work(st->loop, &job->work, stage_commit_work, stage_done);
}

int sl_fs_stage_remove(sl_fs_t *st, sl_store_job_t *job, const char *stage, sl_store_job_cb cb)
{
    job->store = st;
    job->cb = cb;
    job->status = 0;
    snprintf(job->stage, sizeof(job->stage), "%s", stage);
    job->work.data = job;
    return uv_queue_work(st->loop, &job->work, stage_remove_work, stage_done);
}
