/* SPDX-License-Identifier: MIT
 *
 * mem_store (mem_store.h): the store interface of storage/store.h over a table in memory.
 *
 * A file is an entry of one list sorted by name; a staged file is an entry named
 * "<stage>/<file>" that is hidden until its group is published. A sink for a name or a group
 * buffers what it is given and moves the buffer into the table in do_final, in one step under the
 * store's mutex, so a reader sees the old file or the new one and never a part (S1); destroy drops
 * the buffer. A resumable sink writes into the upload's data from its offset, cut there first as
 * the filesystem store's append sink does, and holds the upload while it lives (SL_ELOCKED for a
 * second one). Jobs do their work in the call that starts them and deliver the callback on a later
 * loop turn through sl_defer (S4), as nothing here can block. The tus records are mem_tus.c's.
 */
#include "mem_store_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

typedef struct mem_sink_s {
    sl_store_sink_t base; /* first: the interface's view */
    mem_store_t *st;
    int kind, held, err;
    unsigned flags;
    char *name; /* the name, "<stage>/<file>", or the upload id */
    char *buf;
    size_t len, cap;
} mem_sink_t;

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void mem__grow(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return;
    while (*cap < need)
        *cap = *cap ? *cap * 2 : 4096;
    *buf = sl_xrealloc(*buf, *cap);
}

static uint64_t used(const mem_store_t *st)
{
    uint64_t n = st->pending;

    for (const mem_file_t *f = st->files; f != NULL; f = f->next)
        n += f->len;
    for (const mem_upload_t *u = st->uploads; u != NULL; u = u->next)
        n += u->len;
    return n;
}

int mem__fits(const mem_store_t *st, uint64_t more)
{
    return st->cap == 0 || used(st) + more <= st->cap;
}

static mem_file_t *find_file(mem_store_t *st, const char *name, int staged)
{
    for (mem_file_t *f = st->files; f != NULL; f = f->next)
        if (f->staged == staged && strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

static int under(const char *name, const char *dir)
{
    size_t n = strlen(dir);

    return strncmp(name, dir, n) == 0 && name[n] == '/';
}

int mem__conflict(mem_store_t *st, const char *name, int staged)
{
    for (mem_file_t *f = st->files; f != NULL; f = f->next) {
        if (f->staged != staged)
            continue;
        if (strcmp(f->name, name) == 0)
            return SL_EEXISTS;
        if (under(f->name, name))
            return UV_EISDIR;
        if (under(name, f->name))
            return UV_ENOTDIR;
    }
    return 0;
}

static void unlink_file(mem_store_t *st, mem_file_t *f)
{
    mem_file_t **p = &st->files;

    while (*p != f)
        p = &(*p)->next;
    *p = f->next;
}

static void insert_file(mem_store_t *st, mem_file_t *f)
{
    mem_file_t **p = &st->files;

    while (*p != NULL && strcmp((*p)->name, f->name) < 0)
        p = &(*p)->next;
    f->next = *p;
    *p = f;
}

static void free_file(mem_file_t *f)
{
    free(f->name);
    free(f->data);
    free(f);
}

mem_file_t *mem__put_file(mem_store_t *st, char *name, int staged, char *data, size_t len)
{
    mem_file_t *old = find_file(st, name, staged), *f = sl_xcalloc(1, sizeof(*f));

    if (old != NULL) {
        unlink_file(st, old);
        free_file(old);
    }
    f->name = name;
    f->staged = staged;
    f->data = data;
    f->len = len;
    f->mtime_ns = now_ns();
    insert_file(st, f);
    return f;
}

mem_upload_t *mem__find_upload(mem_store_t *st, const char *id)
{
    for (mem_upload_t *u = st->uploads; u != NULL; u = u->next)
        if (strcmp(u->rec.id, id) == 0)
            return u;
    return NULL;
}

void mem__free_upload(mem_store_t *st, mem_upload_t *u)
{
    mem_upload_t **p = &st->uploads;

    while (*p != u)
        p = &(*p)->next;
    *p = u->next;
    sl_tus_info_clear(&u->rec);
    free(u->data);
    free(u);
}

/* --- sinks ------------------------------------------------------------------------------------ */

static void sink_write(sl_stream_t *s, sl_chunk_t **chunks, size_t n, sl_done_cb done)
{
    mem_sink_t *k = (mem_sink_t *)s;
    mem_store_t *st = k->st;
    mem_upload_t *u = NULL;
    size_t i, add = 0;
    int r = k->err;

    for (i = 0; i < n; i++)
        add += chunks[i]->len;
    uv_mutex_lock(&st->lock);
    if (r == 0 && !mem__fits(st, add))
        r = UV_ENOSPC;
    if (r == 0 && k->kind == SL_SINK_RESUMABLE && (u = mem__find_upload(st, k->name)) == NULL)
        r = SL_ENOTFOUND; /* removed under the sink (terminated) */
    for (i = 0; r == 0 && i < n; i++) {
        if (chunks[i]->len == 0)
            continue;
        if (u != NULL) { /* the upload's data, from the sink's offset (cut there at sink_new) */
            mem__grow(&u->data, &u->cap, u->len + chunks[i]->len);
            memcpy(u->data + u->len, chunks[i]->base, chunks[i]->len);
            u->len += chunks[i]->len;
            k->base.offset += chunks[i]->len;
        } else {
            mem__grow(&k->buf, &k->cap, k->len + chunks[i]->len);
            memcpy(k->buf + k->len, chunks[i]->base, chunks[i]->len);
            k->len += chunks[i]->len;
            st->pending += chunks[i]->len;
        }
    }
    uv_mutex_unlock(&st->lock);
    done(s, r);
}

/* The commit (S1): the whole buffer goes under the name in one step, or nothing does. */
static int commit(mem_sink_t *k)
{
    mem_store_t *st = k->st;
    int staged = k->kind == SL_SINK_STAGED, c = mem__conflict(st, k->name, staged);
    mem_file_t *f;

    if (c != 0 && (k->flags & SL_SINK_NOREPLACE))
        return c == UV_ENOTDIR ? c : SL_EEXISTS;
    if (c != 0 && c != SL_EEXISTS)
        return c;
    f = mem__put_file(st, sl_xstrdup(k->name), staged, k->buf, k->len);
    st->pending -= k->len;
    k->buf = NULL;
    k->len = k->cap = 0;
    f->meta.size = k->base.size = f->len;
    f->meta.mtime_ns = k->base.mtime_ns = f->mtime_ns;
    if (k->base.digest != NULL && k->base.digest->sha256_hex[0] != '\0') {
        f->meta.crc32 = k->base.digest->crc32;
        memcpy(f->meta.sha256_hex, k->base.digest->sha256_hex, 65);
    }
    return 0;
}

static void sink_final(sl_stream_t *s, sl_done_cb done)
{
    mem_sink_t *k = (mem_sink_t *)s;
    int r = k->err;

    uv_mutex_lock(&k->st->lock);
    if (r == 0 && k->kind != SL_SINK_RESUMABLE) {
        r = commit(k);
    } else if (r == 0) { /* resumable: the bytes are stored already; nothing moves */
        k->base.size = k->base.offset;
        k->base.mtime_ns = now_ns();
    }
    uv_mutex_unlock(&k->st->lock);
    done(s, r);
}

/* Drop the buffer and the hold on an upload; under the lock. */
static void discard(mem_sink_t *k)
{
    mem_upload_t *u;

    k->st->pending -= k->len;
    free(k->buf);
    k->buf = NULL;
    k->len = k->cap = 0;
    if (k->held && (u = mem__find_upload(k->st, k->name)) != NULL)
        u->writing = 0;
    k->held = 0;
}

static void sink_destroy(sl_stream_t *s, int err, sl_done_cb done)
{
    mem_sink_t *k = (mem_sink_t *)s;

    (void)err;
    uv_mutex_lock(&k->st->lock);
    discard(k);
    uv_mutex_unlock(&k->st->lock);
    done(s, 0);
}

static const sl_stream_type_t mem_sink_type = {
    .name = "sink_mem",
    .do_write = sink_write,
    .do_final = sink_final,
    .do_destroy = sink_destroy,
};

static sl_store_sink_t *mem_sink_new(sl_store_t *base, const sl_sink_spec_t *spec)
{
    mem_store_t *st = MEM(base);
    mem_sink_t *k = sl_xcalloc(1, sizeof(*k));
    mem_upload_t *u;

    k->st = st;
    k->kind = spec->kind;
    k->flags = spec->flags;
    if (spec->kind == SL_SINK_STAGED) {
        size_t n = strlen(spec->stage) + strlen(spec->name) + 2;
        k->name = sl_xmalloc(n);
        snprintf(k->name, n, "%s/%s", spec->stage, spec->name);
    } else {
        k->name = sl_xstrdup(spec->name);
    }
    sl_stream_init(&k->base.s, base->loop, &mem_sink_type, SL_STREAM_WRITABLE, spec->hwm, 0);
    if (spec->kind != SL_SINK_RESUMABLE)
        return &k->base;
    uv_mutex_lock(&st->lock);
    u = mem__find_upload(st, k->name);
    if (u == NULL || !u->has_data) {
        k->err = SL_ENOTFOUND;
    } else if (u->writing) {
        k->err = SL_ELOCKED;
    } else { /* bytes past the offset do not count: cut them (or extend with zeros) */
        u->writing = k->held = 1;
        mem__grow(&u->data, &u->cap, spec->offset);
        if (spec->offset > u->len)
            memset(u->data + u->len, 0, spec->offset - u->len);
        u->len = spec->offset;
        k->base.offset = spec->offset;
    }
    uv_mutex_unlock(&st->lock);
    return &k->base;
}

static void mem_sink_free(sl_store_sink_t *sink)
{
    mem_sink_t *k = (mem_sink_t *)sink;

    uv_mutex_lock(&k->st->lock);
    discard(k);
    uv_mutex_unlock(&k->st->lock);
    free(k->name);
    free(k);
}

/* --- jobs ------------------------------------------------------------------------------------- */

static void job_cb(void *arg)
{
    sl_store_job_t *j = arg;

    j->cb(j);
}

/* Deliver `status` to cb(job) on a later loop turn (S4); unlocks the store. */
static int job_end(mem_store_t *st, sl_store_job_t *j, sl_store_job_cb cb, int status)
{
    uv_mutex_unlock(&st->lock);
    j->store = st;
    j->cb = cb;
    j->status = status;
    sl_defer(st->base.loop, job_cb, j);
    return 0;
}

static void job_begin(mem_store_t *st, sl_store_job_t *j)
{
    j->fd = -1;
    j->json = NULL;
    j->json_len = 0;
    j->has_meta = 0;
    uv_mutex_lock(&st->lock);
}

static int mem_preflight(sl_store_t *base, sl_store_job_t *j, const char *name, uint64_t need,
                         sl_store_job_cb cb)
{
    mem_store_t *st = MEM(base);
    int c;

    job_begin(st, j);
    c = name != NULL ? mem__conflict(st, name, 0) : 0;
    if (c == SL_EEXISTS || c == UV_EISDIR)
        return job_end(st, j, cb, SL_EEXISTS);
    return job_end(st, j, cb, mem__fits(st, need) ? 0 : UV_ENOSPC);
}

static int mem_open_read(sl_store_t *base, sl_store_job_t *j, const char *name, sl_store_job_cb cb)
{
    mem_store_t *st = MEM(base);
    mem_file_t *f;
    size_t off = 0;

    job_begin(st, j);
    if ((f = find_file(st, name, 0)) == NULL)
        return job_end(st, j, cb, SL_ENOTFOUND);
    /* The interface hands out a descriptor (sendfile): a copy of the bytes in a memfd. */
    if ((j->fd = memfd_create("mem_store", MFD_CLOEXEC)) < 0)
        return job_end(st, j, cb, -errno);
    while (off < f->len) {
        ssize_t w = write(j->fd, f->data + off, f->len - off);
        if (w <= 0) {
            close(j->fd);
            j->fd = -1;
            return job_end(st, j, cb, w < 0 ? -errno : UV_EIO);
        }
        off += (size_t)w;
    }
    lseek(j->fd, 0, SEEK_SET);
    j->size = f->len;
    j->mtime_ns = f->mtime_ns;
    j->meta = f->meta;
    j->has_meta = f->meta.sha256_hex[0] != '\0' && f->meta.size == f->len &&
                  f->meta.mtime_ns == f->mtime_ns; /* a record describes this very file */
    return job_end(st, j, cb, 0);
}

static int mem_remove(sl_store_t *base, sl_store_job_t *j, const char *name, sl_store_job_cb cb)
{
    mem_store_t *st = MEM(base);
    mem_file_t *f;

    job_begin(st, j);
    if ((f = find_file(st, name, 0)) == NULL)
        return job_end(st, j, cb, SL_ENOTFOUND);
    unlink_file(st, f);
    free_file(f);
    return job_end(st, j, cb, 0);
}

static void json_add(sl_store_job_t *j, size_t *cap, const char *s, size_t n)
{
    mem__grow(&j->json, cap, j->json_len + n + 1);
    memcpy(j->json + j->json_len, s, n);
    j->json_len += n;
    j->json[j->json_len] = '\0';
}

static int mem_list(sl_store_t *base, sl_store_job_t *j, uint64_t limit, sl_store_job_cb cb)
{
    mem_store_t *st = MEM(base);
    char esc[6 * SL_NAME_MAX + 1], num[96];
    uint64_t count = 0;
    size_t cap = 0;
    int truncated = 0;

    job_begin(st, j);
    json_add(j, &cap, "{\"files\":[", 10);
    for (mem_file_t *f = st->files; f != NULL; f = f->next) {
        if (f->staged)
            continue;
        if (count >= limit || j->json_len >= SL_LIST_MAX_BYTES) {
            truncated = 1;
            break;
        }
        json_add(j, &cap, count ? ",{\"name\":\"" : "{\"name\":\"", count ? 10 : 9);
        json_add(j, &cap, esc, sl_json_escape(f->name, strlen(f->name), NULL, esc, sizeof(esc)));
        snprintf(num, sizeof(num), "\",\"size\":%zu,\"mtime\":%lld}", f->len,
                 (long long)(f->mtime_ns / 1000000000));
        json_add(j, &cap, num, strlen(num));
        count++;
    }
    snprintf(num, sizeof(num), "],\"truncated\":%s}\n", truncated ? "true" : "false");
    json_add(j, &cap, num, strlen(num));
    return job_end(st, j, cb, 0);
}

/* --- staged groups ------------------------------------------------------------------------------
 */

static void mem_stage_name(sl_store_t *base, char out[64])
{
    snprintf(out, 64, "stage-%llu", (unsigned long long)++MEM(base)->seq);
}

static int mem_stage_commit(sl_store_t *base, sl_store_job_t *j, const char *stage,
                            const char *name, const sl_meta_t *metas, const char *const *meta_names,
                            size_t nmeta, sl_store_job_cb cb)
{
    mem_store_t *st = MEM(base);
    mem_file_t *f, *next, *moved = NULL;
    size_t i, sl = strlen(stage);
    int c;

    job_begin(st, j);
    if ((c = mem__conflict(st, name, 0)) !=
        0) /* never replaces: a file or a directory stands there */
        return job_end(st, j, cb, c == UV_ENOTDIR ? c : SL_EEXISTS);
    for (f = st->files; f != NULL; f = next) { /* every file of the group at once */
        next = f->next;
        if (f->staged && under(f->name, stage)) {
            char *pub = sl_xmalloc(strlen(name) + strlen(f->name) - sl + 1);
            sprintf(pub, "%s%s", name, f->name + sl);
            unlink_file(st, f);
            free(f->name);
            f->name = pub;
            f->staged = 0;
            f->next = moved;
            moved = f;
        }
    }
    for (f = moved; f != NULL; f = next) {
        next = f->next;
        insert_file(st, f);
    }
    for (i = 0; i < nmeta; i++) {
        char full[2 * SL_NAME_MAX + 2];
        snprintf(full, sizeof(full), "%s/%s", name, meta_names[i]);
        if (metas[i].sha256_hex[0] != '\0' && (f = find_file(st, full, 0)) != NULL)
            f->meta = metas[i];
    }
    return job_end(st, j, cb, 0);
}

static int mem_stage_remove(sl_store_t *base, sl_store_job_t *j, const char *stage,
                            sl_store_job_cb cb)
{
    mem_store_t *st = MEM(base);
    mem_file_t *f, *next;

    job_begin(st, j);
    for (f = st->files; f != NULL; f = next) {
        next = f->next;
        if (f->staged && under(f->name, stage)) {
            unlink_file(st, f);
            free_file(f);
        }
    }
    return job_end(st, j, cb, 0);
}

/* --- the store -------------------------------------------------------------------------------- */

static void mem_close(sl_store_t *base)
{
    mem_store_t *st = MEM(base);

    while (st->files != NULL) {
        mem_file_t *f = st->files;
        st->files = f->next;
        free_file(f);
    }
    while (st->uploads != NULL)
        mem__free_upload(st, st->uploads);
    uv_mutex_destroy(&st->lock);
    free(st);
}

static const sl_store_ops_t mem_ops = {
    .kind = "mem",
    .close = mem_close,
    .sink_new = mem_sink_new,
    .sink_free = mem_sink_free,
    .preflight = mem_preflight,
    .open_read = mem_open_read,
    .remove = mem_remove,
    .list = mem_list,
    .stage_name = mem_stage_name,
    .stage_commit = mem_stage_commit,
    .stage_remove = mem_stage_remove,
    .tus_create = mem__tus_create,
    .tus_load = mem__tus_load,
    .tus_save = mem__tus_save,
    .tus_commit = mem__tus_commit,
    .tus_concat = mem__tus_concat,
    .tus_remove = mem__tus_remove,
    .tus_expired = mem__tus_expired,
};

sl_store_t *mem_store_new(uv_loop_t *loop, uint64_t cap)
{
    mem_store_t *st = sl_xcalloc(1, sizeof(*st));

    if (uv_mutex_init(&st->lock) != 0)
        abort();
    st->base.ops = &mem_ops;
    st->base.loop = loop;
    st->base.where = "memory";
    st->cap = cap;
    return &st->base;
}

const char *mem_store_get(sl_store_t *base, const char *name, size_t *len, sl_meta_t *meta)
{
    mem_file_t *f = find_file(MEM(base), name, 0);

    if (f == NULL)
        return NULL;
    *len = f->len;
    if (meta != NULL)
        *meta = f->meta;
    return f->data != NULL ? f->data : "";
}

size_t mem_store_count(sl_store_t *base)
{
    size_t n = 0;

    for (mem_file_t *f = MEM(base)->files; f != NULL; f = f->next)
        n += !f->staged;
    return n;
}

size_t mem_store_entries(sl_store_t *base)
{
    size_t n = 0;

    for (mem_file_t *f = MEM(base)->files; f != NULL; f = f->next)
        n++;
    for (mem_upload_t *u = MEM(base)->uploads; u != NULL; u = u->next)
        n++;
    return n;
}

const char *mem_store_upload(sl_store_t *base, const char *id, size_t *len)
{
    mem_upload_t *u = mem__find_upload(MEM(base), id);

    if (u == NULL || !u->has_data)
        return NULL;
    *len = u->len;
    return u->data != NULL ? u->data : "";
}

uint64_t mem_store_pending(sl_store_t *base)
{
    return MEM(base)->pending;
}
