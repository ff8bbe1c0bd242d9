/* SPDX-License-Identifier: MIT
 *
 * Responses. Errors travel as negative codes (streams/error.h, libuv's) until they reach this
 * file, where the one table below turns them into an HTTP status and a JSON body
 * {"error": message, "status": N, "code": name}. A response is prepared on the request (r->resp)
 * by whoever learns the outcome, often a libuv callback, and queued by the access handler: that is
 * the only place libmicrohttpd accepts it (research/mhd-libuv.md §2, "Where to queue").
 *
 * Every answer goes through sl__respond and sl__respond_header, which check what libmicrohttpd
 * returns: a response it could not create (NULL) or a header it refused marks the answer as
 * failed, and sl__queue then ends the request without one (MHD_NO: the connection is closed, the
 * completion callback frees the request) and counts it in sluice_responses_failed_total. No code
 * path dereferences a response it did not check, and none is left without an answer.
 *
 * One answer cannot be queued: that of a body sluice took over mid-way (src_sock.c), for which
 * libmicrohttpd still waits for body bytes and would refuse any response. sl__queue_self writes
 * it to the socket itself (status line, the response's headers as libmicrohttpd would send them,
 * Date, Content-Length, "Connection: close", the body kept by sl__respond_json; through the
 * connection's TLS session under HTTPS, with its close_notify), then shuts the socket down:
 * libmicrohttpd, resumed, reads the end of the stream and closes the connection.
 */
#include "http/http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

static const struct {
    int err;
    unsigned status;
} status_table[] = {
    {SL_EBADNAME, MHD_HTTP_BAD_REQUEST},
    {SL_EBADREQUEST, MHD_HTTP_BAD_REQUEST},
    {SL_ECHECKSUM, MHD_HTTP_BAD_REQUEST},
    {SL_EDECODE, MHD_HTTP_BAD_REQUEST},
    {SL_EBOMB, MHD_HTTP_CONTENT_TOO_LARGE},
    {SL_EIDLE, MHD_HTTP_REQUEST_TIMEOUT},
    {SL_ENOTFOUND, MHD_HTTP_NOT_FOUND},
    {SL_EMETHOD, MHD_HTTP_METHOD_NOT_ALLOWED},
    {SL_EEXISTS, MHD_HTTP_PRECONDITION_FAILED},
    {UV_EISDIR, MHD_HTTP_CONFLICT},
    {UV_ENOTDIR, MHD_HTTP_CONFLICT},
    {SL_ELENGTHREQUIRED, MHD_HTTP_LENGTH_REQUIRED},
    {SL_ETOOLARGE, MHD_HTTP_CONTENT_TOO_LARGE},
    {SL_ETOOLONG, MHD_HTTP_URI_TOO_LONG},
    {SL_EUNSUPPORTED, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE},
    {SL_ERANGE, MHD_HTTP_RANGE_NOT_SATISFIABLE},
    {SL_ENOTIMPL, MHD_HTTP_NOT_IMPLEMENTED},
    {SL_ESHUTDOWN, MHD_HTTP_SERVICE_UNAVAILABLE},
    {SL_EPREMATURE, MHD_HTTP_BAD_REQUEST},
    {SL_EOFFSET, MHD_HTTP_CONFLICT},
    {SL_EVERSION, MHD_HTTP_PRECONDITION_FAILED},
    {SL_EFORBIDDEN, MHD_HTTP_FORBIDDEN},
    {SL_EUPLOADCHECKSUM, 460}, /* tus: Checksum Mismatch */
    {SL_ELOCKED, MHD_HTTP_LOCKED},
    {SL_EPRECONDITION, MHD_HTTP_PRECONDITION_FAILED},
    {SL_ENOSPACE, MHD_HTTP_INSUFFICIENT_STORAGE},
    {SL_EBUSY, MHD_HTTP_SERVICE_UNAVAILABLE},
    {SL_EUNAVAILABLE, MHD_HTTP_SERVICE_UNAVAILABLE},
    {SL_EUNAUTHORIZED, MHD_HTTP_UNAUTHORIZED},
    {SL_EDENIED, MHD_HTTP_FORBIDDEN},
    {SL_ETOOSLOW, MHD_HTTP_REQUEST_TIMEOUT},
    {SL_ETOOMANY, MHD_HTTP_TOO_MANY_REQUESTS},
    {SL_EHEADERSIZE, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE},
    {SL_EQUOTA, MHD_HTTP_INSUFFICIENT_STORAGE},
    {UV_ENOSPC, MHD_HTTP_INSUFFICIENT_STORAGE},
    {-EDQUOT, MHD_HTTP_INSUFFICIENT_STORAGE},
    {UV_EFBIG, MHD_HTTP_CONTENT_TOO_LARGE},
    {UV_ENAMETOOLONG, MHD_HTTP_URI_TOO_LONG},
};

unsigned sl__status_for(int err)
{
    size_t i;

    for (i = 0; i < sizeof(status_table) / sizeof(status_table[0]); i++)
        if (status_table[i].err == err)
            return status_table[i].status;
    return MHD_HTTP_INTERNAL_SERVER_ERROR;
}

void sl__respond(sl_req_t *r, unsigned status, struct MHD_Response *resp)
{
    if (r->resp != NULL)
        MHD_destroy_response(r->resp);
    r->resp = resp;
    r->status = status;
    r->answered = 1;
    r->resp_failed = resp == NULL;
    r->bytes_out = 0;
    free(r->self_body); /* a body the answer has only in libmicrohttpd's response: none */
    r->self_body = NULL;
    r->self_len = 0;
}

void sl__respond_header(sl_req_t *r, const char *name, const char *value)
{
    if (r->resp == NULL || MHD_add_response_header(r->resp, name, value) != MHD_YES)
        r->resp_failed = 1;
}

void sl__respond_json(sl_req_t *r, unsigned status, const char *json, size_t len)
{
    sl__respond(r, status,
                MHD_create_response_from_buffer(len, (void *)json, MHD_RESPMEM_MUST_COPY));
    sl__respond_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    r->bytes_out = len;
    if (r->self_answer && len > 0) { /* sl__queue_self writes it */
        r->self_body = sl_xmalloc(len);
        memcpy(r->self_body, json, len);
        r->self_len = len;
    }
}

void sl__respond_error_json(sl_req_t *r, unsigned status, const char *code, const char *message,
                            const char *extra)
{
    char msg[320], body[1024];
    int n;

    sl__json_escape(message, msg, sizeof(msg));
    n = snprintf(body, sizeof(body), "{\"error\":\"%s\",\"status\":%u,\"code\":\"%s\"%s%s}\n", msg,
                 status, code, extra != NULL ? "," : "", extra != NULL ? extra : "");
    if (n < 0 || (size_t)n >= sizeof(body)) /* an extra too long for the body: leave it out */
        n = snprintf(body, sizeof(body), "{\"error\":\"%s\",\"status\":%u,\"code\":\"%s\"}\n", msg,
                     status, code);
    sl__respond_json(r, status, body, (size_t)n);
}

void sl__respond_error(sl_req_t *r, int err)
{
    unsigned status = sl__status_for(err);

    if (err == SL_EEXISTS && r->create_only)
        status = MHD_HTTP_CONFLICT;
    r->err_name = sl_err_name(err);
    sl__respond_error_json(r, status, sl_err_name(err), sl_strerror(err), NULL);
    if (err == SL_EUNAUTHORIZED)
        sl__respond_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"sluice\"");
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE && err == SL_EBUSY)
        sl__respond_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        sl__respond_header(r, MHD_HTTP_HEADER_ALLOW,
                           r->route == ROUTE_FILE     ? "GET, HEAD, PUT, DELETE"
                           : r->route == ROUTE_FILES  ? "GET, HEAD, POST"
                           : r->route == ROUTE_TUS    ? "POST, OPTIONS"
                           : r->route == ROUTE_TUS_ID ? "HEAD, PATCH, DELETE, OPTIONS"
                                                      : "GET, HEAD");
}

/* The answer's last headers; 1 if it can be sent. */
static int finish_answer(sl_req_t *r)
{
    r->phase = PH_DONE;
    r->answered = 0;
    if (r->resp != NULL && !r->resp_failed) {
        if (r->srv->draining)
            sl__respond_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
        sl__cors_headers(r); /* and Tus-Resumable under /uploads/ */
    }
    return r->resp != NULL && !r->resp_failed;
}

/* The answer is gone (sent or not): counted, its response released. */
static int answer_done(sl_req_t *r, int sent)
{
    if (r->resp != NULL)
        MHD_destroy_response(r->resp);
    r->resp = NULL;
    if (!sent) {
        r->srv->m->responses_failed++;
        sl__log(r->srv, SL_LOG_WARN, "%s %s: the %u answer could not be queued; connection closed",
                sl__method_name(r->method), r->url != NULL ? r->url : "?", r->status);
        return 0;
    }
    r->sent_status = r->status;
    return 1;
}

enum MHD_Result sl__queue(sl_req_t *r)
{
    int ok = finish_answer(r) && MHD_queue_response(r->conn, r->status, r->resp) == MHD_YES;

    return answer_done(r, ok) ? MHD_YES : MHD_NO;
}

typedef struct {
    char *buf;
    size_t len, cap;
} text_t;

static void text_add(text_t *t, const char *s, size_t n)
{
    if (t->len + n > t->cap) {
        t->cap = 2 * (t->len + n);
        t->buf = sl_xrealloc(t->buf, t->cap);
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
}

static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    text_t *t = cls;

    if (kind == MHD_HEADER_KIND && strcasecmp(key, MHD_HTTP_HEADER_CONNECTION) != 0) {
        text_add(t, key, strlen(key));
        text_add(t, ": ", 2);
        text_add(t, value, strlen(value));
        text_add(t, "\r\n", 2);
    }
    return MHD_YES;
}

void sl__queue_self(sl_req_t *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    text_t t = {sl_xmalloc(1024), 0, 1024};
    char line[160];
    const char *reason = MHD_get_reason_phrase_for(r->status);
    time_t now = time(NULL);
    struct tm tm;
    int n, ok = 0;

    if (ci != NULL && finish_answer(r)) {
        gmtime_r(&now, &tm);
        n = snprintf(line, sizeof(line), "HTTP/1.1 %u %s\r\n", r->status, reason);
        text_add(&t, line, (size_t)n);
        n = (int)strftime(line, sizeof(line), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
        text_add(&t, line, (size_t)n);
        MHD_get_response_headers(r->resp, add_header, &t);
        if (r->status != MHD_HTTP_NO_CONTENT && r->status != MHD_HTTP_NOT_MODIFIED) {
            n = snprintf(line, sizeof(line), "Content-Length: %zu\r\n", r->self_len);
            text_add(&t, line, (size_t)n);
        }
        text_add(&t, "Connection: close\r\n\r\n", 21);
        if (r->method != M_HEAD && r->self_len > 0)
            text_add(&t, r->self_body, r->self_len);
        /* a fresh socket's send buffer holds a small answer whole */
        if (r->srv->tls != NULL)
            ok = sl__tls_send_all(r, t.buf, t.len);
        else
            ok = send(ci->connect_fd, t.buf, t.len, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)t.len;
    }
    free(t.buf);
    r->self_sent = answer_done(r, ok);
    if (ci != NULL)
        shutdown(ci->connect_fd, SHUT_RDWR); /* libmicrohttpd reads the end and closes */
}

void sl__json_escape(const char *s, char *out, size_t cap)
{
    sl_json_escape(s, strlen(s), NULL, out, cap);
}

void sl__url_escape(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (; *s && o + 4 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            strchr("-._~/", ch) != NULL) {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    out[o] = '\0';
}
