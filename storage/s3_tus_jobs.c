/* SPDX-License-Identifier: MIT
 *
 * The S3 store's tus jobs (store.h: tus_create … tus_expired): each is one operation of
 * s3_tus.c on an op of its own, whose result goes back into the server's record. Concatenation
 * is s3_concat.c's (it seals the partials, then copies or sends them as the final's parts). The
 * expiry scan (below) runs on the thread pool with blocking requests.
 */
#include "s3_tus.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct tus_job_s {
    sl_s3_tus_op_t op; /* first */
    sl_tus_job_t *job;
} tus_job_t;

static void on_done(sl_s3_tus_op_t *op)
{
    tus_job_t *tj = (tus_job_t *)op;
    sl_tus_job_t *job = tj->job;
    sl_tus_info_t *info = job->info;

    if (op->err == 0 && op->kind == SL_S3_TUS_LOAD) {
        if (sl__s3_tus_sealed(&op->rec)) /* a partial sealed by a concatenation is no file */
            sl_tus_info_set(&op->rec.file, NULL);
        sl_tus_info_clear(info);
        *info = op->rec; /* its strings move over */
        memset(&op->rec, 0, sizeof(op->rec));
    } else if (op->err == 0 && op->kind == SL_S3_TUS_COMMIT) {
        sl_tus_info_set(&info->file, op->rec.file);
        if (job->digest && job->sha256_hex[0] == '\0') /* read back (s3_tus.c) */
            memcpy(job->sha256_hex, op->sha256_hex, sizeof(job->sha256_hex));
    }
    job->status = op->err;
    if (op->spool_fd >= 0) /* the commit's */
        close(op->spool_fd);
    sl__s3_tus_op_clear(op);
    free(tj);
    job->cb(job);
}

/* A job of `kind` on the upload `id`; returns it unstarted. */
static tus_job_t *job_new(sl_store_t *st, sl_tus_job_t *job, sl_tus_info_t *info, const char *id,
                          int kind, void (*cb)(sl_tus_job_t *))
{
    tus_job_t *tj = sl_xcalloc(1, sizeof(*tj));

    job->info = info;
    job->cb = cb;
    job->store = st;
    tj->job = job;
    tj->op.s3 = (sl_s3_t *)st;
    tj->op.kind = kind;
    tj->op.spool_fd = -1;
    tj->op.cb = on_done;
    memcpy(tj->op.rec.id, id, sizeof(tj->op.rec.id));
    return tj;
}

static void deliver(void *arg)
{
    on_done(arg);
}

/* Start tj; an error is delivered as its result on a later turn (the server's tus code waits for
 * every job's callback), so this always returns 0. */
static int run(tus_job_t *tj, int err)
{
    if (err == 0)
        err = sl__s3_tus_start(&tj->op);
    if (err < 0) {
        tj->op.err = err;
        sl_defer(tj->op.s3->base.loop, deliver, tj);
    }
    return 0;
}

int sl__s3_tus_create(sl_store_t *st, sl_tus_job_t *job, sl_tus_info_t *info,
                      void (*cb)(sl_tus_job_t *))
{
    tus_job_t *tj = job_new(st, job, info, info->id, SL_S3_TUS_CREATE, cb);

    tj->op.rec.offset = info->offset;
    tj->op.rec.length = info->length;
    tj->op.rec.expires = info->expires;
    tj->op.rec.concat = info->concat;
    sl_tus_info_set(&tj->op.rec.metadata, info->metadata);
    sl_tus_info_set(&tj->op.rec.parts, info->parts);
    sl_tus_info_set(&tj->op.rec.repr, info->repr);
    return run(tj, 0);
}

int sl__s3_tus_load(sl_store_t *st, sl_tus_job_t *job, const char *id, sl_tus_info_t *info,
                    void (*cb)(sl_tus_job_t *))
{
    return run(job_new(st, job, info, id, SL_S3_TUS_LOAD, cb), 0);
}

int sl__s3_tus_save(sl_store_t *st, sl_tus_job_t *job, sl_tus_info_t *info, int flush,
                    void (*cb)(sl_tus_job_t *))
{
    tus_job_t *tj = job_new(st, job, info, info->id, SL_S3_TUS_SAVE, cb);

    (void)flush; /* a PATCH's bytes are stored when its sink finished */
    tj->op.from = info;
    return run(tj, 0);
}

int sl__s3_tus_commit(sl_store_t *st, sl_tus_job_t *job, sl_tus_info_t *info, const char *name,
                      void (*cb)(sl_tus_job_t *))
{
    tus_job_t *tj = job_new(st, job, info, info->id, SL_S3_TUS_COMMIT, cb);

    tj->op.name = sl_xstrdup(name);
    tj->op.digest = job->digest;
    if (job->digest || job->sha256_hex[0] != '\0') /* (carried for a Repr-Digest only) */
        memcpy(tj->op.sha256_hex, job->sha256_hex, sizeof(tj->op.sha256_hex));
    tj->op.spool_fd = sl__s3_spool_open(tj->op.s3);
    return run(tj, tj->op.spool_fd < 0 ? tj->op.spool_fd : 0);
}

int sl__s3_tus_remove(sl_store_t *st, sl_tus_job_t *job, sl_tus_info_t *info,
                      int64_t expired_before, void (*cb)(sl_tus_job_t *))
{
    tus_job_t *tj = job_new(st, job, info, info->id, SL_S3_TUS_REMOVE, cb);

    tj->op.expired_before = expired_before;
    return run(tj, 0);
}

/* Thread-pool side, blocking (the interface's expiry scan runs there, one at a time): up to
 * SCAN_PAGES pages of keys under .sluice/tus/ from where the last scan stopped (start-after:
 * round the whole prefix over successive scans, however many uploads are open), each record read
 * to see whether it expired. */
#define SCAN_PAGES 10

size_t sl__s3_tus_expired(sl_store_t *st, int64_t now, char (*ids)[33], size_t cap)
{
    sl_s3_t *s3 = (sl_s3_t *)st;
    sl_tus_info_t info = {0};
    char pfx[SL_NAME_MAX + 600], enc[3 * sizeof(pfx)], after[3 * sizeof(s3->scan_after)];
    char query[sizeof(enc) + sizeof(after) + 64], key[sizeof(s3->scan_after)], more[8];
    size_t n = 0, plen;
    int page;

    snprintf(pfx, sizeof(pfx), "%s.sluice/tus/", s3->prefix);
    plen = strlen(pfx);
    sl__s3_encode(pfx, 0, enc, sizeof(enc));
    for (page = 0; page < SCAN_PAGES && n < cap; page++) {
        sl_s3_req_t list = {0};
        size_t pos = 0;
        sl__s3_encode(s3->scan_after, 0, after, sizeof(after));
        snprintf(query, sizeof(query), "list-type=2&max-keys=1000&prefix=%s%s%s", enc,
                 after[0] ? "&start-after=" : "", after);
        if (sl__s3_req_init(&list, s3, "GET", NULL, query) < 0 || sl__s3_req_run(&list) < 0) {
            sl__s3_req_done(&list);
            free(list.body);
            break;
        }
        while (n < cap &&
               sl__s3_xml_next(list.body, list.body_len, &pos, "Key", key, sizeof(key))) {
            sl_s3_req_t get = {0};
            char id[SL_TUS_ID_LEN + 1];
            snprintf(s3->scan_after, sizeof(s3->scan_after), "%s", key);
            if (strlen(key) != plen + SL_TUS_ID_LEN + 5 ||
                strcmp(key + plen + SL_TUS_ID_LEN, ".info"))
                continue;
            memcpy(id, key + plen, SL_TUS_ID_LEN);
            id[SL_TUS_ID_LEN] = '\0';
            if (sl_tus_id_valid(id) && sl__s3_req_init(&get, s3, "GET", key, NULL) == 0 &&
                sl__s3_req_run(&get) == 0 && get.body != NULL &&
                sl_tus_parse(get.body, get.body_len, &info) == 0 && info.expires > 0 &&
                info.expires < now)
                memcpy(ids[n++], id, sizeof(id));
            sl__s3_req_done(&get);
            free(get.body);
        }
        pos = 0;
        if (n < cap &&
            !(sl__s3_xml_next(list.body, list.body_len, &pos, "IsTruncated", more, sizeof(more)) &&
              strcmp(more, "true") == 0))
            s3->scan_after[0] = '\0'; /* the end: the next scan starts again */
        sl__s3_req_done(&list);
        free(list.body);
        if (s3->scan_after[0] == '\0')
            break;
    }
    sl_tus_info_clear(&info);
    return n;
}
