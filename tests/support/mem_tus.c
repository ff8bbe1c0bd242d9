/* SPDX-License-Identifier: MIT
 *
 * mem_store's resumable uploads (the tus entries of its ops table; the jobs are storage/tus.h's).
 * An upload is a record (an sl_tus_info_t with its own strings) and its data in memory. A commit
 * moves the data into the file table under the name, or <id>/<name> when that is taken, never
 * replacing a file; a concatenation assembles complete partial uploads, commits the result and
 * removes the parts; removal by the expiry sweep happens only if the record says it expired. As
 * for every job of this store, the work is done in the call and the callback comes on a later
 * loop turn (S4).
 */
#include "mem_store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

static void copy_info(sl_tus_info_t *dst, const sl_tus_info_t *src)
{
    memcpy(dst->id, src->id, sizeof(dst->id));
    dst->offset = src->offset;
    dst->length = src->length;
    dst->expires = src->expires;
    dst->concat = src->concat;
    sl_tus_info_set(&dst->metadata, src->metadata);
    sl_tus_info_set(&dst->parts, src->parts);
    sl_tus_info_set(&dst->file, src->file);
}

static void tus_cb(void *arg)
{
    sl_tus_job_t *j = arg;

    j->cb(j);
}

static int tus_end(mem_store_t *st, sl_tus_job_t *j, sl_tus_info_t *info, sl_tus_job_cb cb,
                   int status)
{
    uv_mutex_unlock(&st->lock);
    j->store = st;
    j->info = info;
    j->cb = cb;
    j->status = status;
    sl_defer(st->base.loop, tus_cb, j);
    return 0;
}

int mem__tus_create(sl_store_t *base, sl_tus_job_t *j, sl_tus_info_t *info, sl_tus_job_cb cb)
{
    mem_store_t *st = MEM(base);
    mem_upload_t *u;

    uv_mutex_lock(&st->lock);
    if (mem__find_upload(st, info->id) != NULL)
        return tus_end(st, j, info, cb, UV_EEXIST);
    if (!mem__fits(st, info->length > 0 ? (uint64_t)info->length : 0))
        return tus_end(st, j, info, cb, UV_ENOSPC);
    u = sl_xcalloc(1, sizeof(*u));
    copy_info(&u->rec, info);
    u->has_data = 1;
    u->next = st->uploads;
    st->uploads = u;
    return tus_end(st, j, info, cb, 0);
}

int mem__tus_load(sl_store_t *base, sl_tus_job_t *j, const char *id, sl_tus_info_t *info,
                  sl_tus_job_cb cb)
{
    mem_store_t *st = MEM(base);
    mem_upload_t *u;

    uv_mutex_lock(&st->lock);
    if ((u = mem__find_upload(st, id)) == NULL)
        return tus_end(st, j, info, cb, SL_ENOTFOUND);
    copy_info(info, &u->rec);
    if (u->rec.file == NULL && info->offset > u->len)
        info->offset = u->len; /* a record never promises missing bytes */
    return tus_end(st, j, info, cb, 0);
}

int mem__tus_save(sl_store_t *base, sl_tus_job_t *j, sl_tus_info_t *info, int flush,
                  sl_tus_job_cb cb)
{
    mem_store_t *st = MEM(base);
    mem_upload_t *u;

    (void)flush; /* nothing to flush: not durable */
    uv_mutex_lock(&st->lock);
    if ((u = mem__find_upload(st, info->id)) == NULL)
        return tus_end(st, j, info, cb, SL_ENOTFOUND);
    copy_info(&u->rec, info);
    return tus_end(st, j, info, cb, 0);
}

static void hex_sha256(const char *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;

    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* The upload's data becomes the file `name` (or <id>/<name> if that is taken); under the lock. */
static int do_commit(mem_store_t *st, sl_tus_job_t *j, mem_upload_t *u, sl_tus_info_t *info,
                     const char *name)
{
    char alt[SL_NAME_MAX + SL_TUS_ID_LEN + 2];
    mem_file_t *f;

    if (!u->has_data)
        return SL_ENOTFOUND;
    if (mem__conflict(st, name, 0) != 0) { /* never replace a file: the id makes a free name */
        snprintf(alt, sizeof(alt), "%s/%s", info->id, name);
        name = alt;
        if (mem__conflict(st, name, 0) != 0)
            return SL_EEXISTS;
    }
    if (j->digest && j->sha256_hex[0] == '\0')
        hex_sha256(u->data != NULL ? u->data : "", u->len, j->sha256_hex);
    f = mem__put_file(st, sl_xstrdup(name), 0, u->data, u->len);
    u->data = NULL;
    u->len = u->cap = 0;
    u->has_data = 0;
    if (j->digest) {
        f->meta.size = f->len;
        f->meta.mtime_ns = f->mtime_ns;
        memcpy(f->meta.sha256_hex, j->sha256_hex, 65);
    }
    sl_tus_info_set(&info->file, name);
    info->offset = (uint64_t)info->length;
    copy_info(&u->rec, info);
    return 0;
}

int mem__tus_commit(sl_store_t *base, sl_tus_job_t *j, sl_tus_info_t *info, const char *name,
                    sl_tus_job_cb cb)
{
    mem_store_t *st = MEM(base);
    mem_upload_t *u;

    uv_mutex_lock(&st->lock);
    if ((u = mem__find_upload(st, info->id)) == NULL)
        return tus_end(st, j, info, cb, SL_ENOTFOUND);
    return tus_end(st, j, info, cb, do_commit(st, j, u, info, name));
}

int mem__tus_concat(sl_store_t *base, sl_tus_job_t *j, sl_tus_info_t *info, char (*parts)[33],
                    size_t n, uint64_t max, const char *name, sl_tus_job_cb cb)
{
    mem_store_t *st = MEM(base);
    mem_upload_t *u, *p;
    size_t i;
    int r = 0;

    if (n == 0 || n > SL_TUS_PARTS_MAX)
        return SL_EBADREQUEST;
    uv_mutex_lock(&st->lock);
    j->size = 0;
    for (i = 0; i < n && r == 0; i++) {
        p = mem__find_upload(st, parts[i]);
        if (p == NULL || !p->has_data || p->rec.concat != SL_TUS_PARTIAL || p->rec.length < 0 ||
            p->rec.offset != (uint64_t)p->rec.length || p->len < p->rec.offset)
            r = SL_EBADREQUEST;
        else if (max && j->size + p->rec.offset > max)
            r = SL_ETOOLARGE;
        else
            j->size += p->rec.offset;
    }
    if (r == 0 && mem__find_upload(st, info->id) != NULL)
        r = UV_EEXIST;
    if (r < 0)
        return tus_end(st, j, info, cb, r);
    u = sl_xcalloc(1, sizeof(*u));
    u->has_data = 1;
    for (i = 0; i < n; i++) {
        p = mem__find_upload(st, parts[i]);
        mem__grow(&u->data, &u->cap, u->len + p->rec.offset);
        memcpy(u->data + u->len, p->data, p->rec.offset);
        u->len += p->rec.offset;
    }
    info->length = (int64_t)j->size;
    info->offset = j->size;
    copy_info(&u->rec, info);
    u->next = st->uploads;
    st->uploads = u;
    if ((r = do_commit(st, j, u, info, name)) < 0) {
        mem__free_upload(st, u);
        return tus_end(st, j, info, cb, r);
    }
    for (i = 0; i < n; i++)
        if ((p = mem__find_upload(st, parts[i])) != NULL)
            mem__free_upload(st, p);
    return tus_end(st, j, info, cb, 0);
}

int mem__tus_remove(sl_store_t *base, sl_tus_job_t *j, sl_tus_info_t *info, int64_t expired_before,
                    sl_tus_job_cb cb)
{
    mem_store_t *st = MEM(base);
    mem_upload_t *u;

    uv_mutex_lock(&st->lock);
    if ((u = mem__find_upload(st, info->id)) == NULL)
        return tus_end(st, j, info, cb, SL_ENOTFOUND);
    if (expired_before > 0 && !(u->rec.expires > 0 && u->rec.expires < expired_before))
        return tus_end(st, j, info, cb, SL_EEXISTS); /* the sweep's check: still live */
    mem__free_upload(st, u);
    return tus_end(st, j, info, cb, 0);
}

size_t mem__tus_expired(sl_store_t *base, int64_t now, char (*ids)[33], size_t cap)
{
    mem_store_t *st = MEM(base);
    size_t n = 0;

    uv_mutex_lock(&st->lock);
    for (mem_upload_t *u = st->uploads; u != NULL && n < cap; u = u->next)
        if (u->rec.expires > 0 && u->rec.expires < now)
            memcpy(ids[n++], u->rec.id, SL_TUS_ID_LEN + 1);
    uv_mutex_unlock(&st->lock);
    return n;
}
