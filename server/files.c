/* SPDX-License-Identifier: MIT
 *
 * Reading the store over HTTP: GET/HEAD /files/<name> (sendfile through an fd response, one
 * Range per request: 206 or 416, ETag, Last-Modified, If-None-Match → 304), GET /files/ (the JSON
 * listing) and DELETE /files/<name>. Each starts one store job from the request's final call with
 * the connection suspended; the job's callback prepares the response and resumes, and the
 * handler queues it (responses are only accepted from inside the handler).
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Parse one "bytes=" range against size. 1 = partial [*start, *end], 0 = whole file (absent,
 * another unit, several ranges, malformed), SL_ERANGE = unsatisfiable. */
static int parse_range(const char *h, uint64_t size, uint64_t *start, uint64_t *end)
{
    char *e;

    if (h == NULL || strncmp(h, "bytes=", 6) != 0 || strchr(h, ',') != NULL)
        return 0;
    h += 6;
    if (*h == '-') {
        uint64_t n = strtoull(h + 1, &e, 10);
        if (e == h + 1 || *e != '\0')
            return 0;
        if (n == 0 || size == 0)
            return SL_ERANGE;
        *start = n >= size ? 0 : size - n;
        *end = size - 1;
        return 1;
    }
    if (*h < '0' || *h > '9')
        return 0;
    *start = strtoull(h, &e, 10);
    if (*e != '-')
        return 0;
    h = e + 1;
    if (*h == '\0') {
        *end = size ? size - 1 : 0;
    } else {
        if (*h < '0' || *h > '9')
            return 0;
        *end = strtoull(h, &e, 10);
        if (*e != '\0' || *end < *start)
            return 0;
        if (*end >= size)
            *end = size ? size - 1 : 0;
    }
    return *start >= size ? SL_ERANGE : 1;
}

static void respond_file(sl_req_t *r, sl_store_job_t *j)
{
    struct MHD_Connection *c = r->conn;
    const char *inm =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    const char *range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE);
    struct MHD_Response *resp;
    uint64_t start = 0, end = j->size ? j->size - 1 : 0;
    char etag[72], date[64], cr[96], digest[64];
    time_t mt = (time_t)(j->mtime_ns / 1000000000);
    struct tm tm;
    unsigned status = MHD_HTTP_OK;
    int pr;

    if (j->has_meta)
        sl_store_etag_digest(j->meta.sha256_hex, etag); /* as in the 201 */
    else
        sl_store_etag(j->size, j->mtime_ns, etag);
    gmtime_r(&mt, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (inm != NULL && (strcmp(inm, etag) == 0 || strcmp(inm, "*") == 0)) {
        resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        status = MHD_HTTP_NOT_MODIFIED;
    } else if ((pr = parse_range(range, j->size, &start, &end)) < 0) {
        sl__respond_error(r, SL_ERANGE);
        snprintf(cr, sizeof(cr), "bytes */%llu", (unsigned long long)j->size);
        MHD_add_response_header(r->resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
        return;
    } else if (j->size == 0) {
        resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    } else {
        resp = MHD_create_response_from_fd_at_offset64(end - start + 1, j->fd, (int64_t)start);
        r->bytes_out = r->method == M_HEAD ? 0 : end - start + 1;
        j->fd = -1; /* the response owns and closes it */
        if (pr == 1) {
            status = MHD_HTTP_PARTIAL_CONTENT;
            snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)start,
                     (unsigned long long)end, (unsigned long long)j->size);
            MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
        }
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_LAST_MODIFIED, date);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
    if (j->has_meta) {
        sl__repr_digest_header(j->meta.sha256_hex, digest);
        MHD_add_response_header(resp, "Repr-Digest", digest);
    }
    if (r->resp != NULL)
        MHD_destroy_response(r->resp);
    r->resp = resp;
    r->status = status;
}

static void on_job(sl_store_job_t *j)
{
    sl_req_t *r = j->data;

    if (!r->gone) {
        if (j->status < 0)
            sl__respond_error(r, j->status);
        else if (r->route == ROUTE_FILES)
            sl__respond_json(r, MHD_HTTP_OK, j->json, j->json_len);
        else if (r->method == M_DELETE)
            sl__respond_json(r, MHD_HTTP_NO_CONTENT, "", 0);
        else
            respond_file(r, j);
        sl__req_resume(r);
    }
    if (j->fd >= 0)
        close(j->fd);
    j->fd = -1;
    free(j->json);
    j->json = NULL;
    sl__req_unref(r);
}

void sl__files_start(sl_req_t *r)
{
    sl_store_t *st = &r->srv->store;
    int err;

    r->phase = PH_WAIT;
    r->job.data = r;
    if (r->route == ROUTE_FILES)
        err = sl_store_list(st, &r->job, r->srv->cfg.list_limit, on_job);
    else if (r->method == M_DELETE)
        err = sl_store_delete(st, &r->job, r->name, on_job);
    else
        err = sl_store_open_read(st, &r->job, r->name, on_job);
    if (err < 0) {
        sl__respond_error(r, err);
        return; /* not suspended: the handler is called again and queues it */
    }
    r->refs++;
    sl__req_suspend(r);
}
