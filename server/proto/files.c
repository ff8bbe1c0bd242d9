/* SPDX-License-Identifier: MIT
 *
 * Reading the store over HTTP: GET/HEAD /files/<name> (sendfile through an fd response, or, from
 * a remote store, only the bytes asked for streamed through download.c; Range, If-Range and the
 * preconditions as cond.c decides them against the file's metadata before any byte is read: 200,
 * 206, 304, 412, 416), GET /files/ (the
 * JSON listing) and DELETE /files/<name>. Each starts one store job from the request's final call
 * with the connection suspended; the job's callback prepares the response and resumes, and the
 * handler queues it (responses are only accepted from inside the handler).
 */
#include "http/http.h"
#include "http/cond.h"
#include "proto/proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The store's first bytes of a streamed file came (err 0: the answer prepared is sent) or it
 * failed first (an error answer instead). */
static void on_ready(sl_req_t *r, int err)
{
    if (r->gone)
        return;
    if (err < 0)
        sl__respond_error(r, err);
    sl__req_resume(r);
}

/* The answer for the file j found; *wait set if it waits for the store's first bytes. */
static void respond_file(sl_req_t *r, sl_store_job_t *j, int *wait)
{
    sl_cond_t c = {
        .if_match = sl__header(r, MHD_HTTP_HEADER_IF_MATCH),
        .if_none_match = sl__header(r, MHD_HTTP_HEADER_IF_NONE_MATCH),
        .if_modified_since = sl__header(r, MHD_HTTP_HEADER_IF_MODIFIED_SINCE),
        .if_unmodified_since = sl__header(r, MHD_HTTP_HEADER_IF_UNMODIFIED_SINCE),
        .if_range = sl__header(r, MHD_HTTP_HEADER_IF_RANGE),
        /* RFC 9110 §14.2: range handling is defined for GET only; HEAD ignores Range */
        .range = r->method == M_GET ? sl__header(r, MHD_HTTP_HEADER_RANGE) : NULL,
    };
    sl_range_t rg = {0, j->size ? j->size - 1 : 0};
    char etag[72], date[64], cr[96], digest[64];
    time_t mt = (time_t)(j->mtime_ns / 1000000000);
    struct tm tm;
    unsigned status;
    uint64_t len;

    if (j->has_meta)
        sl_store_etag_digest(j->meta.sha256_hex, etag); /* as in the 201 */
    else
        sl_store_etag(j->size, j->mtime_ns, etag);
    gmtime_r(&mt, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    status = sl__cond_evaluate(&c, etag, mt, j->size, 1, &rg);
    if (status == MHD_HTTP_PRECONDITION_FAILED || status == MHD_HTTP_RANGE_NOT_SATISFIABLE) {
        sl__respond_error(r, status == MHD_HTTP_PRECONDITION_FAILED ? SL_EPRECONDITION : SL_ERANGE);
        snprintf(cr, sizeof(cr), "bytes */%llu", (unsigned long long)j->size);
        if (status == MHD_HTTP_RANGE_NOT_SATISFIABLE)
            sl__respond_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
        return;
    }
    len = status == MHD_HTTP_PARTIAL_CONTENT ? rg.end - rg.start + 1 : j->size;
    if (status == MHD_HTTP_NOT_MODIFIED || len == 0) {
        sl__respond(r, status, MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT));
    } else if (!sl_store_streams(r->srv->store, j)) {
        sl__respond(r, status,
                    MHD_create_response_from_fd_at_offset64(len, j->fd, (int64_t)rg.start));
        if (r->resp != NULL)
            j->fd = -1; /* the response owns and closes it */
        r->bytes_out = r->method == M_HEAD ? 0 : len;
        if (r->method == M_GET)
            r->srv->m->store_read_bytes += len;
    } else if (r->method == M_HEAD) {
        sl__respond(r, status, sl__download_head(len)); /* nothing read from the store */
    } else {
        /* queued once the store's first bytes arrived (on_ready), so a store that fails at
         * once still gets its error status */
        sl__respond(r, status, sl__download_start(r, j, rg.start, len, on_ready));
        r->bytes_out = len;
        *wait = r->dl != NULL; /* on_ready follows, even when the response could not be made */
    }
    if (status == MHD_HTTP_PARTIAL_CONTENT) {
        snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)rg.start,
                 (unsigned long long)rg.end, (unsigned long long)j->size);
        sl__respond_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
    }
    if (status != MHD_HTTP_NOT_MODIFIED)
        sl__respond_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
    sl__respond_header(r, MHD_HTTP_HEADER_ETAG, etag);
    sl__respond_header(r, MHD_HTTP_HEADER_LAST_MODIFIED, date);
    sl__respond_header(r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
    if (j->has_meta) {
        sl__repr_digest_header(j->meta.sha256_hex, digest);
        sl__respond_header(r, "Repr-Digest", digest);
    }
}

/* A listing is counted against --buffer-budget from the start of its job (the most it can take
 * while it is built, LIST_CHARGE) and, once built, for its size until libmicrohttpd frees it
 * after the client has read it. A listing is refused with 503 while the budget is exhausted, so
 * neither listings being built nor unread ones can pile up. */
#define LIST_CHARGE (2 * (size_t)SL_LIST_MAX_BYTES) /* the JSON buffer grows by doubling */

typedef struct listing_s {
    size_t len;
    char *json;
    uv_loop_t *loop; /* whose budget the listing is charged to */
} listing_t;

static void free_listing(void *cls)
{
    listing_t *l = cls;

    sl_budget_release(l->loop, l->len);
    free(l->json);
    free(l);
}

static void respond_listing(sl_req_t *r, sl_store_job_t *j)
{
    listing_t *l = sl_xmalloc(sizeof(*l));
    struct MHD_Response *resp;

    l->len = j->json_len;
    l->json = j->json;
    j->json = NULL;
    l->loop = r->srv->loop;
    sl_budget_charge(l->loop, l->len);
    resp = MHD_create_response_from_buffer_with_free_callback_cls(l->len, l->json, free_listing, l);
    sl__respond(r, MHD_HTTP_OK, resp);
    sl__respond_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    r->bytes_out = j->json_len;
    if (resp == NULL)
        free_listing(l);
}

static void on_job(sl_store_job_t *j)
{
    sl_req_t *r = j->data;
    int wait = 0;

    if (r->route == ROUTE_FILES)
        sl_budget_release(r->srv->loop, LIST_CHARGE);
    if (!r->gone) {
        if (j->status < 0)
            sl__respond_error(r, j->status);
        else if (r->route == ROUTE_FILES)
            respond_listing(r, j);
        else if (r->method == M_DELETE)
            sl__respond_json(r, MHD_HTTP_NO_CONTENT, "", 0);
        else
            respond_file(r, j, &wait);
        if (!wait)
            sl__req_resume(r);
    }
    if (j->fd >= 0)
        close(j->fd);
    j->fd = -1;
    free(j->json);
    j->json = NULL;
    sl__req_unref(r);
}

static void files_start(sl_req_t *r)
{
    sl_store_t *st = r->srv->store;
    sl_store_job_t *job = sl__req_job(r);
    int err;

    r->phase = PH_WAIT;
    if (r->route == ROUTE_FILES) {
        err = sl_budget_exhausted(r->srv->loop)
                  ? SL_EBUSY
                  : sl_store_list(st, job, r->srv->cfg.list_limit, on_job);
        if (err == 0)
            sl_budget_charge(r->srv->loop, LIST_CHARGE);
    } else if (r->method == M_DELETE)
        err = sl_store_delete(st, job, r->name, on_job);
    else
        err = sl_store_open_read(st, job, r->name, on_job);
    if (err < 0) {
        sl__respond_error(r, err);
        return; /* not suspended: the handler is called again and queues it */
    }
    r->refs++;
    sl__req_suspend(r);
}

/* The first call under /files/: an upload (PUT a name, POST the collection), or a read, a
 * listing or a delete answered from the final call. */
static enum MHD_Result files_first(sl_req_t *r)
{
    int upload = (r->route == ROUTE_FILE && r->method == M_PUT) ||
                 (r->route == ROUTE_FILES && r->method == M_POST);

    if (upload)
        return sl__upload_first(r);
    if (r->method != M_GET && r->method != M_HEAD &&
        !(r->route == ROUTE_FILE && r->method == M_DELETE))
        return sl__refuse_first(r, SL_EMETHOD);
    r->phase = PH_NOBODY;
    return MHD_YES;
}

static enum MHD_Result files_final(sl_req_t *r, const char *method)
{
    (void)method;
    files_start(r);
    return MHD_YES; /* the job's callback resumes the connection; an error is queued next call */
}

const sl_proto_t sl__proto_files = {
    .name = "files",
    .gone = sl__download_gone,
    .first = files_first,
    .body_start = sl__upload_start,
    .final = files_final,
    .cors = 1,
};
