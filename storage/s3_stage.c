/* SPDX-License-Identifier: MIT
 *
 * Staged groups on S3: the files of one form, published together under `name`/ or not at all.
 *
 * A staged file is an object PREFIX.sluice/stage/<group>/<file>, committed by its own sink (one
 * PUT or a completed multipart upload, its digests in its metadata). Publishing the group:
 *
 *   HEAD name, list name/  ─▶ taken: SL_EEXISTS (nothing moves)
 *   for each file: copy stage/file ─▶ name/file (server side, its digests as metadata)
 *   for each file: delete stage/file
 *   a copy that fails: delete the copies made so far, then the staged files; the error
 *
 * S3 has no rename and no multi-object transaction: while the copies run a reader can see some of
 * the group's files and not yet the others (docs/s3.md); a failed publish removes what it copied.
 * A copy is one request up to 5 GiB (S3's CopyObject limit; RGW has none). Removing a group
 * lists the stage's keys and deletes them one by one.
 */
#include "s3_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct stage_job_s {
    sl_s3_req_t req; /* first */
    sl_store_job_t *job;
    char stage[64];
    char *name;
    char **files;     /* owned: the group's file names (relative to the stage) */
    sl_meta_t *metas; /* owned: their digests (commit), set as metadata by the copies */
    size_t n, i, copied;
    int phase, err;
} stage_job_t;

enum { PH_HEAD, PH_LIST_TAKEN, PH_LIST, PH_COPY, PH_DELETE, PH_UNDO };

static int step(stage_job_t *sj);

static void job_free(stage_job_t *sj)
{
    size_t i;

    sl__s3_req_done(&sj->req);
    free(sj->req.body);
    for (i = 0; i < sj->n; i++)
        free(sj->files[i]);
    free(sj->files);
    free(sj->metas);
    free(sj->name);
    free(sj);
}

static void end(stage_job_t *sj, int status)
{
    sl_store_job_t *j = sj->job;

    job_free(sj);
    j->status = status;
    j->cb(j);
}

static void on_answer(sl_s3_req_t *q)
{
    stage_job_t *sj = q->data;
    char key[SL_NAME_MAX + 600];
    size_t pos = 0, pl;
    int r;

    switch (sj->phase) {
    case PH_HEAD:
        if (q->err != SL_ENOTFOUND)
            return end(sj, q->err == 0 ? SL_EEXISTS : q->err);
        sj->phase = PH_LIST_TAKEN;
        break;
    case PH_LIST_TAKEN:
        if (q->err < 0)
            return end(sj, q->err);
        if (sl__s3_xml_next(q->body, q->body_len, &pos, "Key", key, sizeof(key)))
            return end(sj, SL_EEXISTS); /* name/ holds files already */
        sj->phase = sj->n > 0 ? PH_COPY : PH_DELETE;
        break;
    case PH_LIST:
        if (q->err < 0)
            return end(sj, q->err);
        pl = strlen(q->s3->prefix) + strlen(sj->stage) + 1;
        while (sl__s3_xml_next(q->body, q->body_len, &pos, "Key", key, sizeof(key)))
            if (strlen(key) > pl) {
                sj->files = sl_xrealloc(sj->files, (sj->n + 1) * sizeof(*sj->files));
                sj->files[sj->n++] = sl_xstrdup(key + pl);
            }
        sj->phase = PH_DELETE;
        break;
    case PH_COPY:
        if (q->err < 0 || (q->body != NULL && strstr(q->body, "<Error>") != NULL)) {
            sj->err = q->err < 0 ? q->err : UV_EIO; /* a copy can fail with 200 and an <Error> */
            sj->phase = PH_UNDO;
            sj->i = 0;
            break;
        }
        sj->copied++;
        if (++sj->i == sj->n) {
            sj->phase = PH_DELETE;
            sj->i = 0;
        }
        break;
    case PH_UNDO:
    case PH_DELETE: /* a delete that fails leaves a staged object: the error says so */
        if (q->err < 0 && sj->err == 0)
            sj->err = q->err;
        if (++sj->i == (sj->phase == PH_UNDO ? sj->copied : sj->n)) {
            if (sj->phase == PH_DELETE)
                return end(sj, sj->err);
            sj->phase = PH_DELETE;
            sj->i = 0;
        }
        break;
    }
    free(q->body);
    q->body = NULL;
    q->body_len = q->body_cap = 0;
    if (sj->phase == PH_DELETE && sj->i == sj->n)
        return end(sj, sj->err); /* nothing (more) to delete */
    if ((r = step(sj)) < 0)
        end(sj, r);
}

/* Start the next request of the job: 0 or an error (nothing started). */
static int step(stage_job_t *sj)
{
    sl_s3_t *s3 = sj->req.s3;
    char key[SL_NAME_MAX + 700], src[3 * sizeof(key) + 64], q[3 * sizeof(key)];
    size_t n;
    const char *method = "DELETE", *k = key, *query = NULL;
    int r;

    switch (sj->phase) {
    case PH_HEAD:
        method = "HEAD";
        snprintf(key, sizeof(key), "%s%s", s3->prefix, sj->name);
        break;
    case PH_LIST_TAKEN:
    case PH_LIST:
        method = "GET";
        k = NULL;
        if (sj->phase == PH_LIST_TAKEN)
            snprintf(key, sizeof(key), "%s%s/", s3->prefix, sj->name);
        else
            snprintf(key, sizeof(key), "%s%s/", s3->prefix, sj->stage);
        n = (size_t)snprintf(q, sizeof(q), "list-type=2&max-keys=1000&prefix=");
        sl__s3_encode(key, 0, q + n, sizeof(q) - n);
        query = q;
        break;
    case PH_COPY:
        method = "PUT";
        snprintf(key, sizeof(key), "%s%s/%s", s3->prefix, sj->stage, sj->files[sj->i]);
        sl__s3_encode(key, 1, q, sizeof(q));
        snprintf(src, sizeof(src), "x-amz-copy-source: /%s/%s", s3->bucket, q);
        snprintf(key, sizeof(key), "%s%s/%s", s3->prefix, sj->name, sj->files[sj->i]);
        break;
    case PH_UNDO:
        snprintf(key, sizeof(key), "%s%s/%s", s3->prefix, sj->name, sj->files[sj->i]);
        break;
    default:
        snprintf(key, sizeof(key), "%s%s/%s", s3->prefix, sj->stage, sj->files[sj->i]);
        break;
    }
    if ((r = sl__s3_req_init(&sj->req, s3, method, k, query)) < 0)
        return r;
    if (sj->phase == PH_COPY) {
        const sl_meta_t *m = &sj->metas[sj->i];
        sl__s3_req_header(&sj->req, src);
        if (m->sha256_hex[0] != '\0') {
            sl__s3_req_header(&sj->req, "x-amz-metadata-directive: REPLACE");
            sl__s3_meta_headers(&sj->req, m->sha256_hex, m->crc32);
        }
    }
    return sl__s3_req_start(&sj->req, on_answer);
}

/* The job's first request, or the error and no callback. */
static int first(stage_job_t *sj)
{
    int r = step(sj);

    if (r < 0)
        job_free(sj);
    return r;
}

static stage_job_t *stage_job(sl_store_t *st, sl_store_job_t *j, const char *stage,
                              sl_store_job_cb cb)
{
    stage_job_t *sj = sl_xcalloc(1, sizeof(*sj));

    j->store = st;
    j->cb = cb;
    sj->job = j;
    sj->req.data = sj;
    sj->req.s3 = (sl_s3_t *)st;
    snprintf(sj->stage, sizeof(sj->stage), "%s", stage);
    return sj;
}

int sl__s3_stage_commit(sl_store_t *st, sl_store_job_t *j, const char *stage, const char *name,
                        const sl_meta_t *metas, const char *const *meta_names, size_t nmeta,
                        sl_store_job_cb cb)
{
    stage_job_t *sj = stage_job(st, j, stage, cb);
    size_t i;

    sj->name = sl_xstrdup(name);
    sj->files = sl_xcalloc(nmeta ? nmeta : 1, sizeof(*sj->files));
    sj->metas = sl_xcalloc(nmeta ? nmeta : 1, sizeof(*sj->metas));
    memcpy(sj->metas, metas, nmeta * sizeof(*metas));
    for (i = 0; i < nmeta; i++)
        sj->files[i] = sl_xstrdup(meta_names[i]);
    sj->n = nmeta;
    sj->phase = PH_HEAD;
    return first(sj);
}

int sl__s3_stage_remove(sl_store_t *st, sl_store_job_t *j, const char *stage, sl_store_job_cb cb)
{
    stage_job_t *sj = stage_job(st, j, stage, cb);

    sj->phase = PH_LIST;
    return first(sj);
}
