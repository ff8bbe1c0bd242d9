/* SPDX-License-Identifier: MIT
 *
 * tus 1.0 under /uploads/ (docs/tus.md): the protocol, on the same chain and store as a PUT.
 *
 * Headers are parsed and judged in the first call, so a bad request is refused before its body
 * is read (no 100 Continue). A request then takes its turn at the upload (tus_lock.c) and answers
 * from the record it finds there:
 *
 *   POST    create the record (a job) ─▶ [the first PATCH's chain] ─▶ 201
 *   PATCH   turn: check offset and length ─▶ writer ─▶ chain ─▶ record the offset ─▶ 204
 *   HEAD    turn ─▶ 200 from the record;   DELETE  turn ─▶ remove (a job) ─▶ 204
 *
 * A PATCH's chain comes from the one builder (chain.c): src_http ─▶ [sent: Upload-Checksum] ─▶
 * [limit: the bytes left] ─▶ [carry: the upload's SHA-256] ─▶ the store's resumable sink,
 * appending at the offset. The answers' header fields are written by tus_fields.c. When the body
 * ends, or is cut short (the client went away, went idle, or another request for the upload took
 * over), the chain ends normally and the offset it reached is flushed and recorded before the
 * response. A PATCH that fails (past the length, a checksum mismatch, a full disk) counts nothing,
 * and a checksummed PATCH that is cut short fails: its bytes are cut again by the next append. A
 * PATCH that brings the offset to the length commits the file like a PUT; partial uploads wait for
 * their final. An upload whose record has a Repr-Digest (an IETF creation's) is compared first: a
 * SHA-256 carried along differing from it removes the upload here, anything else is compared by
 * the store's commit job (which reads the file); either way the answer is SL_ECHECKSUM.
 */
#include "http/http.h"
#include "proto/proto.h"
#include "proto/resumable.h"
#include "api/hooks.h"
#include "streams/hex.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

/* An answer is ready: wake the request, drop the hold its wait took. */
static void answer(sl_req_t *r)
{
    sl__req_resume(r);
    sl__req_unref(r);
}

static void refresh_expiry(sl_tus_t *u)
{
    if (u->srv->cfg.tus_expire)
        u->info.expires = (int64_t)time(NULL) + u->srv->cfg.tus_expire;
}

static int complete(const sl_tus_info_t *info)
{
    return info->length >= 0 && info->offset == (uint64_t)info->length &&
           info->concat != SL_TUS_PARTIAL && info->file == NULL;
}

/* --- the end of a PATCH: record, maybe commit, answer ---------------------------------------- */

static void on_recorded(sl_tus_job_t *job)
{
    sl_req_t *r = job->data;
    sl_tus_t *u = r->tr->u;
    int status = r->tr->status;

    if (job->status == SL_ECHECKSUM && r->tr->committing) {
        u->loaded = 1; /* the creation's Repr-Digest differs: the upload was removed */
        u->load_err = SL_ENOTFOUND;
        r->srv->m->failed[sl__fail_reason(SL_ECHECKSUM)]++;
        status = SL_ECHECKSUM;
    } else if (job->status < 0) {
        u->loaded = 0; /* the record on disk is the truth: read it again */
        if (status == 0)
            status = job->status;
    } else if (r->tr->committing && u->info.file != NULL) {
        r->srv->m->committed++;
        r->srv->m->bytes_committed += u->info.offset;
        sl__hook_complete(r, u->info.file, job->digest ? job->sha256_hex : NULL, 0, u->info.offset,
                          u->info.metadata, NULL);
    }
    if (!r->gone) {
        if (status < 0)
            r->tr->ans->error(r, u, status);
        else if (r->tr->method == M_POST)
            r->tr->ans->created(r, &u->info);
        else if (r->tr->method == M_HEAD)
            r->tr->ans->head(r, &u->info);
        else
            r->tr->ans->appended(r, &u->info);
    }
    r->need_read = 0;
    sl_budget_cancel(&r->budget_wait);
    sl__tus_job_done(u);
    answer(r);
}

/* The committed file gets the server's digests like any upload (--digest; SHA-256 is what the
 * store keeps): from the hash carried along the PATCHes when it covers the whole upload, else the
 * commit job reads the file once. */
static void file_digest(sl_tus_t *u)
{
    unsigned char md[32];
    unsigned int len = 0;

    u->job.digest = (u->srv->cfg.digests & SL_DIGEST_SHA256) != 0;
    u->job.sha256_hex[0] = '\0';
    if ((!u->job.digest && u->info.repr == NULL) || u->md == NULL || u->info.length < 0 ||
        u->md_offset != (uint64_t)u->info.length)
        return;
    EVP_DigestFinal_ex(u->md, md, &len);
    EVP_MD_CTX_free(u->md);
    u->md = NULL;
    sl_hex(md, 32, u->job.sha256_hex);
}

/* The SHA-256 state a PATCH goes on from (the chain's carry stage): the hash of the bytes before
 * its offset, or NULL when that hash is not here (a restart, another worker, a PATCH that failed:
 * the commit reads the file). */
static void *carried_digest(sl_req_t *r, sl_tus_t *u)
{
    if ((!(r->srv->cfg.digests & SL_DIGEST_SHA256) && u->info.repr == NULL) ||
        u->info.concat == SL_TUS_FINAL)
        return NULL;
    if (u->md != NULL && u->md_offset != u->info.offset) {
        EVP_MD_CTX_free(u->md);
        u->md = NULL;
    }
    if (u->md == NULL && u->info.offset == 0) {
        u->md = EVP_MD_CTX_new();
        if (u->md == NULL || EVP_DigestInit_ex(u->md, EVP_sha256(), NULL) != 1)
            abort();
        u->md_offset = 0;
    }
    return u->md;
}

/* The store removed an upload whose SHA-256 differs from its creation's Repr-Digest. */
static void on_refused(sl_tus_job_t *job)
{
    job->status = SL_ECHECKSUM;
    on_recorded(job);
}

/* Record (and, once complete, commit) the upload after a chain or an empty PATCH. */
static void record(sl_req_t *r, sl_tus_t *u, int flush)
{
    sl__tus_job_started(u, NULL);
    u->job.data = r;
    if (complete(&u->info)) {
        char name[SL_NAME_MAX + 1], want[129];
        r->tr->committing = 1;
        sl__tus_final_name(&u->info, name);
        file_digest(u);
        if (u->job.sha256_hex[0] != '\0' &&
            sl_tus_repr_get(u->info.repr, "sha-256", want, sizeof(want)) == 0 &&
            strcmp(want, u->job.sha256_hex) != 0) { /* any store: nothing is committed */
            sl_store_tus_remove(u->srv->store, &u->job, &u->info, 0, on_refused);
            return;
        }
        if (u->job.digest && u->job.sha256_hex[0] == '\0')
            r->srv->m->digest_reads++; /* the hash state was lost: the commit reads the file */
        sl_store_tus_commit(u->srv->store, &u->job, &u->info, name, on_recorded);
    } else {
        sl_store_tus_save(u->srv->store, &u->job, &u->info, flush, on_recorded);
    }
}

static void patch_finish(sl_tus_t *u)
{
    sl_req_t *r = u->writer;
    sl_tus_req_t *t = r->tr;
    uint64_t written = r->up->chain.sink->offset;
    const sl_xf_digest_t *carry = r->up->chain.carry;

    u->writer = NULL;
    if (carry != NULL && u->md != NULL) { /* the hash goes on only from what counts */
        if (t->status == 0 && written == u->md_offset + carry->size)
            u->md_offset = written;
        else {
            EVP_MD_CTX_free(u->md);
            u->md = NULL;
        }
    }
    if (t->status == 0 && t->complete && u->info.length < 0 && r->up->eof)
        u->info.length = (int64_t)written; /* IETF: the body that completes it ended: its length */
    if (t->status == 0) { /* whole, or cut short and ended early: its bytes count */
        u->info.offset = written;
        refresh_expiry(u);
        record(r, u, 0); /* the sink flushed them */
        return;
    }
    r->srv->m->failed[sl__fail_reason(t->status)]++;
    /* A PATCH that failed (past the length, a checksum mismatch, a full disk) counts nothing:
     * the next append cuts its bytes, and a length it brought is forgotten. */
    u->info.length = t->prev_length;
    if (!r->gone)
        t->ans->error(r, u, t->status);
    r->need_read = 0;
    sl__tus_next(u);
    answer(r);
}

static void on_chain_done(sl_pipeline_t *pl, int status)
{
    sl_req_t *r = pl->data;
    sl_tus_t *u = r->tr->u;

    sl__takeover_stop(r); /* libmicrohttpd alone has the socket again */
    r->up->running = 0;
    r->tr->status = status == SL_ECHECKSUM ? SL_EUPLOADCHECKSUM : status;
    if (u->busy)
        u->after_job = patch_finish; /* a checkpoint is being written: then */
    else
        patch_finish(u);
}

int sl__tus_body_start(sl_req_t *r)
{
    sl_server_t *srv = r->srv;
    sl_tus_req_t *t = r->tr;
    sl_tus_t *u = t->u;
    sl_upload_t *up = sl_xcalloc(1, sizeof(*up));
    sl_chain_spec_t spec = {
        .src = &up->src.s,
        .check_alg = t->trailer ? 0 : t->check_alg,
        .check = t->check,
        .check_late = t->trailer, /* the algorithm is named at the end */
        .sink = {.kind = SL_SINK_RESUMABLE, .name = u->info.id, .offset = u->info.offset},
        .hwm = srv->cfg.upload_buffer,
    };

    r->up = up;
    sl__src_http_init(&up->src, r);
    if (u->info.length >= 0)
        spec.max = (uint64_t)u->info.length - u->info.offset; /* > 0: checked in the turn */
    else if (srv->cfg.max_size)
        spec.max = srv->cfg.max_size - u->info.offset;
    spec.carry = carried_digest(r, u);
    spec.splice = sl__takeover_may_splice(r); /* the carried hash then rides behind the sink */
    sl__chain_build(&up->chain, srv->loop, srv->store, &spec, on_chain_done, r);
    up->running = 1;
    r->refs++;
    r->phase = PH_BODY;
    srv->m->started++;
    if (u->wait_head != NULL)
        sl__tus_release(u); /* someone came for the upload while this one was starting */
    return sl__takeover_start(r) < 0 ? SL_EBADREQUEST : 0; /* sluice reads the body when it can */
}

int sl__tus_body_end(sl_req_t *r)
{
    sl_tus_req_t *t = r->tr;
    const char *v;

    if (!t->trailer)
        return 0;
    v = MHD_lookup_connection_value(r->conn, MHD_FOOTER_KIND, "Upload-Checksum");
    if (v == NULL || sl__tus_parse_checksum(v, &t->check_alg, t->check) < 0)
        return SL_EBADREQUEST;
    return sl__chain_expect(&r->up->chain, t->check_alg, t->check);
}

/* --- turns ------------------------------------------------------------------------------------ */

static sl_req_t *owner_of(sl_tus_wait_t *w)
{
    return ((sl_tus_req_t *)((char *)w - offsetof(sl_tus_req_t, wait)))->owner;
}

/* The checks of a PATCH against the record; may learn a deferred length. 0 or a code. */
static int patch_checks(sl_req_t *r, sl_tus_t *u)
{
    sl_tus_req_t *t = r->tr;
    sl_tus_info_t *in = &u->info;
    uint64_t max = r->srv->cfg.max_size;
    int body = r->chunked || r->content_length > 0;
    int64_t length = in->length;

    if (u->load_err < 0)
        return u->load_err;
    if (in->concat == SL_TUS_FINAL)
        return SL_EFORBIDDEN;
    if ((uint64_t)t->offset != in->offset)
        return SL_EOFFSET;
    if (t->length >= 0) {
        if ((length >= 0 && length != t->length) || (uint64_t)t->length < in->offset)
            return SL_EBADREQUEST; /* a length is set once, and never below the offset */
        if (max && (uint64_t)t->length > max)
            return SL_ETOOLARGE;
        length = t->length;
    }
    if (length >= 0 && body) {
        uint64_t left = (uint64_t)length - in->offset;
        if (left == 0 || (!r->chunked && r->content_length > left))
            return SL_ETOOLARGE;
    } else if (max && body &&
               (in->offset >= max || (!r->chunked && r->content_length > max - in->offset))) {
        return SL_ETOOLARGE;
    }
    t->prev_length = in->length; /* put back if this PATCH fails */
    in->length = length;         /* accepted: a deferred length is learnt */
    return 0;
}

static void run_patch(sl_tus_t *u, sl_tus_wait_t *w)
{
    sl_req_t *r = owner_of(w);
    int err;

    if (!r->gone) {
        err = patch_checks(r, u);
        if (err < 0)
            r->tr->ans->error(r, u, err);
        else
            u->writer = r; /* the chain starts when the handler is called again */
    }
    answer(r);
}

static void run_patch_empty(sl_tus_t *u, sl_tus_wait_t *w)
{
    sl_req_t *r = owner_of(w);
    int64_t had = u->info.length;
    int err;

    if (r->gone) {
        answer(r);
        return;
    }
    err = patch_checks(r, u);
    if (err == 0 && (had != u->info.length || complete(&u->info))) {
        record(r, u, 0); /* a length learnt, or an upload of length 0 ready: on_recorded answers */
        return;
    }
    if (err < 0)
        r->tr->ans->error(r, u, err);
    else
        r->tr->ans->appended(r, &u->info);
    answer(r);
}

static void run_head(sl_tus_t *u, sl_tus_wait_t *w)
{
    sl_req_t *r = owner_of(w);

    if (u->load_err == 0 && complete(&u->info)) {
        record(r, u, 0); /* whole but not committed (a crash in between): commit, then answer */
        return;
    }
    if (u->load_err < 0)
        r->tr->ans->error(r, u, u->load_err);
    else
        r->tr->ans->head(r, &u->info);
    answer(r);
}

static void on_deleted(sl_tus_job_t *job)
{
    sl_req_t *r = job->data;
    sl_tus_t *u = r->tr->u;

    u->loaded = 1;
    u->load_err = SL_ENOTFOUND; /* whatever the job found, the upload is gone now */
    if (job->status < 0 && job->status != SL_ENOTFOUND)
        r->tr->ans->error(r, u, job->status);
    else
        r->tr->ans->deleted(r);
    sl__tus_job_done(u);
    answer(r);
}

static void run_delete(sl_tus_t *u, sl_tus_wait_t *w)
{
    sl_req_t *r = owner_of(w);

    if (u->load_err < 0) {
        r->tr->ans->error(r, u, u->load_err);
        answer(r);
        return;
    }
    sl__tus_job_started(u, NULL);
    u->job.data = r;
    sl_store_tus_remove(r->srv->store, &u->job, &u->info, 0, on_deleted);
}

/* Wait (suspended, held) for a turn at the upload named in the URL. */
static void take_turn(sl_req_t *r, void (*run)(sl_tus_t *u, sl_tus_wait_t *w))
{
    sl_tus_req_t *t = r->tr;

    t->wait.run = run;
    t->wait.needs_load = 1;
    r->refs++;
    sl__req_suspend(r);
    t->u = sl__tus_acquire(r->srv, r->name, &t->wait);
}

/* --- creation --------------------------------------------------------------------------------- */

static void on_created(sl_tus_job_t *job)
{
    sl_req_t *r = job->data;
    sl_tus_t *u = r->tr->u;

    if (job->status < 0) {
        u->load_err = SL_ENOTFOUND;
        r->tr->ans->error(r, NULL, job->status);
    } else if (r->phase == PH_PREFLIGHT) {
        u->writer = r; /* creation-with-upload: the body is the first PATCH */
    } else if (complete(&u->info)) {
        sl__tus_job_done(u);
        record(r, u, 0); /* Upload-Length: 0 is complete at once */
        return;
    } else {
        if (u->info.file != NULL) /* a final concatenation, committed by the job */
            sl__hook_complete(r, u->info.file, job->digest ? job->sha256_hex : NULL, 0,
                              u->info.offset, u->info.metadata, NULL);
        r->tr->ans->created(r, &u->info);
    }
    sl__tus_job_done(u);
    answer(r);
}

static void create(sl_req_t *r)
{
    sl_tus_req_t *t = r->tr;
    sl_server_t *srv = r->srv;
    sl_tus_info_t *info = sl_xcalloc(1, sizeof(*info));
    char name[SL_NAME_MAX + 1];
    size_t i;

    sl_name_random(info->id);
    info->length = t->concat == SL_TUS_FINAL || t->defer ? -1 : t->length;
    info->concat = t->concat;
    sl_tus_info_set(&info->metadata, t->metadata);
    sl_tus_info_set(&info->repr, t->repr[0] != '\0' ? t->repr : NULL);
    if (t->nparts > 0) {
        info->parts = sl_xmalloc(t->nparts * (SL_TUS_ID_LEN + 1));
        for (i = 0; i < t->nparts; i++)
            snprintf(info->parts + i * (SL_TUS_ID_LEN + 1), SL_TUS_ID_LEN + 2, "%s%s", t->parts[i],
                     i + 1 < t->nparts ? " " : "");
    }
    if (srv->cfg.tus_expire)
        info->expires = (int64_t)time(NULL) + srv->cfg.tus_expire;
    t->u = sl__tus_register(srv, info); /* a new id: nobody else can be waiting for it */
    sl__tus_job_started(t->u, NULL);
    t->u->job.data = r;
    r->refs++;
    sl__req_suspend(r);
    if (t->concat == SL_TUS_FINAL) {
        sl__tus_final_name(&t->u->info, name);
        t->u->job.digest = (srv->cfg.digests & SL_DIGEST_SHA256) != 0; /* read once assembled */
        t->u->job.sha256_hex[0] = '\0';
        sl_store_tus_concat(srv->store, &t->u->job, &t->u->info, t->parts, t->nparts,
                            srv->cfg.max_size, name, on_created);
    } else {
        sl_store_tus_create(srv->store, &t->u->job, &t->u->info, on_created);
    }
}

/* --- the access handler's entry points -------------------------------------------------------- */

static enum MHD_Result tus_first(sl_req_t *r)
{
    sl_tus_req_t *t = sl_xcalloc(1, sizeof(*t));
    const char *v = sl__header(r, "X-HTTP-Method-Override");
    int body = 0, err;

    r->tr = t;
    t->ans = &sl__tus_answers;
    t->owner = r;
    t->offset = t->length = -1;
    t->method = v != NULL ? sl__method_of(v) : r->method;
    err = sl__tus_check(r, t, &body);
    return sl__tus_go(r, err, body);
}

enum MHD_Result sl__tus_go(sl_req_t *r, int err, int body)
{
    sl_tus_req_t *t = r->tr;

    t->body = body;
    if (err == 0 && body && (t->method == M_POST || t->method == M_PATCH)) {
        r->phase = PH_PREFLIGHT; /* no 100 Continue until the turn said yes */
        if (t->method == M_POST)
            create(r);
        else
            take_turn(r, run_patch);
        return MHD_YES;
    }
    if (err < 0) {
        t->ans->error(r, NULL, err);
        if (r->has_body)
            return sl__queue(r); /* first call: no 100 Continue, no body read */
        r->phase = PH_NOBODY;    /* answered from the final call */
        return MHD_YES;
    }
    r->phase = PH_NOBODY; /* a body on HEAD, DELETE or OPTIONS is read and dropped */
    return MHD_YES;
}

static enum MHD_Result tus_final(sl_req_t *r, const char *method)
{
    sl_tus_req_t *t = r->tr;
    char max[24];

    (void)method;
    r->phase = PH_WAIT;
    switch (t->method) {
    case M_OPTIONS:
        sl__tus_respond_empty(r, MHD_HTTP_NO_CONTENT);
        sl__respond_header(r, "Tus-Version", "1.0.0");
        sl__respond_header(r, "Tus-Extension",
                           "creation,creation-with-upload,creation-defer-length,termination,"
                           "checksum,checksum-trailer,expiration,concatenation");
        sl__respond_header(r, "Tus-Checksum-Algorithm", "sha1,sha256,md5,crc32");
        if (r->srv->cfg.max_size) {
            snprintf(max, sizeof(max), "%llu", (unsigned long long)r->srv->cfg.max_size);
            sl__respond_header(r, "Tus-Max-Size", max);
        }
        return sl__queue(r);
    default:
        return sl__tus_final(r);
    }
}

enum MHD_Result sl__tus_final(sl_req_t *r)
{
    r->phase = PH_WAIT;
    switch (r->tr->method) {
    case M_POST:
        create(r);
        break;
    case M_HEAD:
        take_turn(r, run_head);
        break;
    case M_DELETE:
        take_turn(r, run_delete);
        break;
    default:
        take_turn(r, run_patch_empty);
        break;
    }
    return MHD_YES;
}

void sl__tus_gone(sl_req_t *r)
{
    sl_tus_req_t *t = r->tr;
    sl_tus_t *u;

    if (t == NULL)
        return; /* refused before its tus headers were read */
    u = t->u;

    if (u == NULL)
        return;
    if (sl__tus_cancel(u, &t->wait))
        sl__req_unref(r); /* its turn never came: drop the hold take_turn took */
    if (u->writer == r && r->up == NULL) {
        u->writer = NULL; /* the turn said yes, the chain never started */
        sl__tus_next(u);
    }
}

void sl__tus_free(sl_req_t *r)
{
    if (r->tr == NULL)
        return;
    if (r->tr->u != NULL)
        sl__tus_unref(r->tr->u);
    free(r->tr->parts);
    free(r->tr);
}

const sl_proto_t sl__proto_tus = {
    .name = "tus",
    .first = tus_first,
    .body_start = sl__tus_body_start,
    .final = tus_final,
    .gone = sl__tus_gone,
    .free = sl__tus_free,
};
