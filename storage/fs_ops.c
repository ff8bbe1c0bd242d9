/* SPDX-License-Identifier: MIT
 *
 * The filesystem store behind the store interface (store.h): one ops table whose entries are the
 * functions of fs.h, and the sinks it hands out. A sink for a name is a file sink committing into
 * ROOT/<name>; a staged one commits into "<stage>/<file>", published with its group; a resumable
 * one appends to the upload's data file. Each is allocated here and freed by sink_free once its
 * pipeline has closed it (stream rule D1).
 */
#include "fs.h"

#include <stdio.h>
#include <stdlib.h>

static sl_fs_t *fs_of(sl_store_t *st)
{
    return (sl_fs_t *)st; /* sl_fs_t starts with its sl_store_t */
}

static void fs_close(sl_store_t *st)
{
    sl_fs_close(fs_of(st));
    free(st);
}

static sl_store_sink_t *fs_sink_new(sl_store_t *st, const sl_sink_spec_t *spec)
{
    sl_sink_file_t *f = sl_xmalloc(sizeof(*f));
    char path[SL_NAME_MAX + 72];

    switch (spec->kind) {
    case SL_SINK_STAGED:
        snprintf(path, sizeof(path), "%s/%s", spec->stage, spec->name);
        sl_sink_file_init(f, fs_of(st), path, spec->flags, spec->hwm);
        break;
    case SL_SINK_RESUMABLE:
        sl_fs_tus_sink_init(f, fs_of(st), spec->name, spec->offset, spec->hwm);
        break;
    default:
        sl_sink_file_init(f, fs_of(st), spec->name, spec->flags, spec->hwm);
        break;
    }
    if (spec->kind != SL_SINK_RESUMABLE)
        f->size_hint = spec->size; /* a small body that arrives whole: one job (sink_file.c) */
    return &f->base;
}

static void fs_sink_free(sl_store_sink_t *sink)
{
    free(sink); /* the sink file's base is its first member */
}

static int fs_preflight(sl_store_t *st, sl_store_job_t *job, const char *name, uint64_t need,
                        sl_store_job_cb cb)
{
    return sl_fs_preflight(fs_of(st), job, name, need, cb);
}

static int fs_open_read(sl_store_t *st, sl_store_job_t *job, const char *name, sl_store_job_cb cb)
{
    return sl_fs_open_read(fs_of(st), job, name, cb);
}

static int fs_remove(sl_store_t *st, sl_store_job_t *job, const char *name, sl_store_job_cb cb)
{
    return sl_fs_delete(fs_of(st), job, name, cb);
}

static int fs_list(sl_store_t *st, sl_store_job_t *job, uint64_t limit, sl_store_job_cb cb)
{
    return sl_fs_list(fs_of(st), job, limit, cb);
}

static void fs_stage_name(sl_store_t *st, char out[64])
{
    sl_fs_stage_name(fs_of(st), out);
}

static int fs_stage_commit(sl_store_t *st, sl_store_job_t *job, const char *stage, const char *name,
                           const sl_meta_t *metas, const char *const *meta_names, size_t nmeta,
                           sl_store_job_cb cb)
{
    return sl_fs_stage_commit(fs_of(st), job, stage, name, metas, meta_names, nmeta, cb);
}

static int fs_stage_remove(sl_store_t *st, sl_store_job_t *job, const char *stage,
                           sl_store_job_cb cb)
{
    return sl_fs_stage_remove(fs_of(st), job, stage, cb);
}

static int fs_tus_create(sl_store_t *st, sl_tus_job_t *job, sl_tus_info_t *info, sl_tus_job_cb cb)
{
    return sl_fs_tus_create(fs_of(st), job, info, cb);
}

static int fs_tus_load(sl_store_t *st, sl_tus_job_t *job, const char *id, sl_tus_info_t *info,
                       sl_tus_job_cb cb)
{
    return sl_fs_tus_load(fs_of(st), job, id, info, cb);
}

static int fs_tus_save(sl_store_t *st, sl_tus_job_t *job, sl_tus_info_t *info, int flush,
                       sl_tus_job_cb cb)
{
    return sl_fs_tus_save(fs_of(st), job, info, flush, cb);
}

static int fs_tus_commit(sl_store_t *st, sl_tus_job_t *job, sl_tus_info_t *info, const char *name,
                         sl_tus_job_cb cb)
{
    return sl_fs_tus_commit(fs_of(st), job, info, name, cb);
}

static int fs_tus_concat(sl_store_t *st, sl_tus_job_t *job, sl_tus_info_t *info, char (*parts)[33],
                         size_t n, uint64_t max, const char *name, sl_tus_job_cb cb)
{
    return sl_fs_tus_concat(fs_of(st), job, info, parts, n, max, name, cb);
}

static int fs_tus_remove(sl_store_t *st, sl_tus_job_t *job, sl_tus_info_t *info,
                         int64_t expired_before, sl_tus_job_cb cb)
{
    return sl_fs_tus_remove(fs_of(st), job, info, expired_before, cb);
}

static size_t fs_tus_expired(sl_store_t *st, int64_t now, char (*ids)[33], size_t cap)
{
    return sl__fs_tus_expired(fs_of(st)->root_fd, now, ids, cap);
}

static const sl_store_ops_t fs_ops = {
    .kind = "fs",
    .close = fs_close,
    .sink_new = fs_sink_new,
    .sink_free = fs_sink_free,
    .preflight = fs_preflight,
    .open_read = fs_open_read,
    .remove = fs_remove,
    .list = fs_list,
    .stage_name = fs_stage_name,
    .stage_commit = fs_stage_commit,
    .stage_remove = fs_stage_remove,
    .tus_create = fs_tus_create,
    .tus_load = fs_tus_load,
    .tus_save = fs_tus_save,
    .tus_commit = fs_tus_commit,
    .tus_concat = fs_tus_concat,
    .tus_remove = fs_tus_remove,
    .tus_expired = fs_tus_expired,
};

int sl_fs_store_new(uv_loop_t *loop, const char *root, int durable, uint64_t min_free,
                    sl_store_t **out)
{
    sl_fs_t *fs = sl_xcalloc(1, sizeof(*fs));
    int r = sl_fs_open(fs, loop, root, durable);

    if (r < 0) {
        free(fs);
        return r;
    }
    fs->ops = &fs_ops;
    fs->where = fs->root;
    sl_fs_set_min_free(fs, min_free);
    *out = &fs->base;
    return 0;
}
