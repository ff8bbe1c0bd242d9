/* SPDX-License-Identifier: MIT
 *
 * fake_mhd: libmicrohttpd's functions as server/ uses them, and the driver that plays the daemon
 * (fake_mhd.h says how it behaves and why).
 */
#include "fake_mhd.h"
#include "doubles.h"
#include "json.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <dirent.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "streams/chunk.h"

enum { FC_HEADERS, FC_BODY, FC_FULL, FC_DONE };

#define FC_SPIN_MAX 100 /* handler calls in a row that change nothing: a busy loop */

typedef struct fc_kv_s {
    struct fc_kv_s *next;
    enum MHD_ValueKind kind;
    char *key, *value;
} fc_kv_t;

typedef struct fc_piece_s {
    struct fc_piece_s *next;
    size_t len, off;
    char data[];
} fc_piece_t;

struct MHD_Response {
    int rc;
    uint64_t size;
    char *data;
    int own; /* free data at the end */
    MHD_ContentReaderFreeCallback free_cb;
    void *free_cls;
    int fd; /* an fd response: MHD owns it */
    uint64_t offset;
    int callback; /* a callback response: no body captured */
    fc_kv_t *headers, **tail;
};

struct MHD_Connection {
    fc_host_t *host;
    struct MHD_Connection *next; /* the host's list */
    char method[16], version[16];
    char *url;
    fc_kv_t *values, **tail;
    void *con_cls;
    int phase;
    int expect_body, chunked, body_ended;
    uint64_t content_length;
    char *body; /* fc_body's, sent by fc_run */
    size_t body_len;
    unsigned body_pieces;
    fc_piece_t *pending, **pending_tail;
    uint64_t delivered;
    int suspended, resuming, in_handler, called, completed, closed, early;
    unsigned overrun, overrun_left;
    unsigned calls, suspends, final_calls, spins, timeout;
    struct sockaddr_in addr;
    union MHD_ConnectionInfo info;
    /* the response queued */
    unsigned status;
    struct MHD_Response *resp;
    fc_kv_t *resp_headers, **resp_tail;
    char *resp_body;
    size_t resp_body_len;
    uint64_t resp_size;
};

static int violations;
static char violation_msg[512];
static long live_responses;

static void violation(const char *fmt, ...)
{
    va_list ap;

    if (violations++ > 0)
        return;
    va_start(ap, fmt);
    vsnprintf(violation_msg, sizeof(violation_msg), fmt, ap);
    va_end(ap);
}

int fc_violations(void)
{
    return violations;
}

const char *fc_violation(void)
{
    return violation_msg;
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s != NULL ? s : "");

    ck_assert_ptr_nonnull(d);
    return d;
}

static void kv_add(fc_kv_t ***tail, enum MHD_ValueKind kind, const char *key, const char *value)
{
    fc_kv_t *kv = calloc(1, sizeof(*kv));

    ck_assert_ptr_nonnull(kv);
    kv->kind = kind;
    kv->key = xstrdup(key);
    kv->value = value != NULL ? xstrdup(value) : NULL;
    **tail = kv;
    *tail = &kv->next;
}

static void kv_free(fc_kv_t *kv)
{
    while (kv != NULL) {
        fc_kv_t *next = kv->next;
        free(kv->key);
        free(kv->value);
        free(kv);
        kv = next;
    }
}

/* A connection server/ may use: not completed (libmicrohttpd would have freed or reused it). */
static int usable(struct MHD_Connection *c, const char *fn)
{
    if (c == NULL) {
        violation("%s on a NULL connection", fn);
        return 0;
    }
    if (c->completed) {
        violation("%s on %s %s after its request completed", fn, c->method, c->url);
        return 0;
    }
    return 1;
}

/* Values of `kind` the connection shows now: footers only once the body is complete. */
static int visible(const struct MHD_Connection *c, const fc_kv_t *kv, enum MHD_ValueKind kind)
{
    if (!(kv->kind & kind))
        return 0;
    return kv->kind != MHD_FOOTER_KIND || c->phase >= FC_FULL;
}

/* --- the connection functions ----------------------------------------------------------------- */

const char *MHD_lookup_connection_value(struct MHD_Connection *c, enum MHD_ValueKind kind,
                                        const char *key)
{
    fc_kv_t *kv;

    if (!usable(c, "MHD_lookup_connection_value"))
        return NULL;
    for (kv = c->values; kv != NULL; kv = kv->next)
        if (visible(c, kv, kind) && key != NULL && strcasecmp(kv->key, key) == 0)
            return kv->value;
    return NULL;
}

int MHD_get_connection_values(struct MHD_Connection *c, enum MHD_ValueKind kind,
                              MHD_KeyValueIterator iterator, void *iterator_cls)
{
    fc_kv_t *kv;
    int n = 0;

    if (!usable(c, "MHD_get_connection_values"))
        return -1;
    for (kv = c->values; kv != NULL; kv = kv->next) {
        if (!visible(c, kv, kind))
            continue;
        n++;
        if (iterator != NULL && iterator(iterator_cls, kv->kind, kv->key, kv->value) != MHD_YES)
            break;
    }
    return n;
}

int MHD_get_connection_values_n(struct MHD_Connection *c, enum MHD_ValueKind kind,
                                MHD_KeyValueIteratorN iterator, void *iterator_cls)
{
    fc_kv_t *kv;
    int n = 0;

    if (!usable(c, "MHD_get_connection_values_n"))
        return -1;
    for (kv = c->values; kv != NULL; kv = kv->next) {
        if (!visible(c, kv, kind))
            continue;
        n++;
        if (iterator != NULL &&
            iterator(iterator_cls, kv->kind, kv->key, strlen(kv->key), kv->value,
                     kv->value != NULL ? strlen(kv->value) : 0) != MHD_YES)
            break;
    }
    return n;
}

const union MHD_ConnectionInfo *MHD_get_connection_info(struct MHD_Connection *c,
                                                        enum MHD_ConnectionInfoType info_type, ...)
{
    if (!usable(c, "MHD_get_connection_info"))
        return NULL;
    switch (info_type) {
    case MHD_CONNECTION_INFO_CLIENT_ADDRESS:
        c->info.client_addr = (struct sockaddr *)&c->addr;
        return &c->info;
    default:
        return NULL; /* no socket (CONNECTION_FD), no socket context, no header size */
    }
}

enum MHD_Result MHD_set_connection_option(struct MHD_Connection *c,
                                          enum MHD_CONNECTION_OPTION option, ...)
{
    va_list ap;

    if (!usable(c, "MHD_set_connection_option"))
        return MHD_NO;
    if (option != MHD_CONNECTION_OPTION_TIMEOUT)
        return MHD_NO;
    va_start(ap, option);
    c->timeout = va_arg(ap, unsigned int);
    va_end(ap);
    return MHD_YES;
}

void MHD_suspend_connection(struct MHD_Connection *c)
{
    if (!usable(c, "MHD_suspend_connection"))
        return;
    if (!c->in_handler)
        violation("MHD_suspend_connection outside the access handler (%s %s)", c->method, c->url);
    if (c->suspended && !c->resuming)
        violation("MHD_suspend_connection on a suspended connection (%s %s)", c->method, c->url);
    c->suspended = 1;
    c->resuming = 0;
    c->suspends++;
    if (c->phase == FC_BODY && c->chunked)
        c->overrun_left = c->overrun; /* 0.9.75 goes on with the chunks of the same pass */
}

void MHD_resume_connection(struct MHD_Connection *c)
{
    if (!usable(c, "MHD_resume_connection"))
        return;
    if (!c->suspended || c->resuming)
        violation("MHD_resume_connection on a connection that is not suspended (%s %s)", c->method,
                  c->url);
    c->resuming = 1; /* processed by the next daemon run */
}

/* --- responses -------------------------------------------------------------------------------- */

static struct MHD_Response *response_new(size_t size)
{
    struct MHD_Response *r = calloc(1, sizeof(*r));

    ck_assert_ptr_nonnull(r);
    r->rc = 1;
    r->size = size;
    r->fd = -1;
    r->tail = &r->headers;
    live_responses++;
    return r;
}

struct MHD_Response *MHD_create_response_from_buffer(size_t size, void *buffer,
                                                     enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r;

    if (size > 0 && buffer == NULL)
        return NULL; /* as 0.9.75 */
    r = response_new(size);
    if (mode == MHD_RESPMEM_MUST_COPY && size > 0) {
        r->data = malloc(size);
        ck_assert_ptr_nonnull(r->data);
        memcpy(r->data, buffer, size);
        r->own = 1;
    } else {
        r->data = buffer;
        r->own = mode == MHD_RESPMEM_MUST_FREE;
    }
    return r;
}

struct MHD_Response *MHD_create_response_from_buffer_with_free_callback_cls(
    size_t size, void *buffer, MHD_ContentReaderFreeCallback crfc, void *crfc_cls)
{
    struct MHD_Response *r;

    if (size > 0 && buffer == NULL)
        return NULL;
    r = response_new(size);
    r->data = buffer;
    r->free_cb = crfc;
    r->free_cls = crfc_cls;
    return r;
}

/* A callback response (a file streamed from a remote store): its body is not captured here
 * (the integration tests read it); HEAD never asks for it. */
struct MHD_Response *MHD_create_response_from_callback(uint64_t size, size_t block_size,
                                                       MHD_ContentReaderCallback crc, void *crc_cls,
                                                       MHD_ContentReaderFreeCallback crfc)
{
    struct MHD_Response *r;

    if (crc == NULL || block_size == 0)
        return NULL;
    r = response_new((size_t)size);
    r->callback = 1;
    r->free_cb = crfc;
    r->free_cls = crc_cls;
    return r;
}

struct MHD_Response *MHD_create_response_from_fd_at_offset64(uint64_t size, int fd, uint64_t offset)
{
    struct MHD_Response *r;

    if (fd < 0 || (int64_t)offset < 0 || (int64_t)(offset + size) < 0)
        return NULL;
    r = response_new((size_t)size);
    r->fd = fd;
    r->offset = offset;
    return r;
}

enum MHD_Result MHD_add_response_header(struct MHD_Response *r, const char *header,
                                        const char *content)
{
    if (r == NULL || header == NULL || content == NULL || header[0] == '\0' || content[0] == '\0' ||
        strpbrk(header, " \t\r\n") != NULL || strpbrk(content, "\r\n") != NULL ||
        strcasecmp(header, "Content-Length") == 0)
        return MHD_NO; /* 0.9.75's refusals, as measured */
    kv_add(&r->tail, MHD_HEADER_KIND, header, content);
    return MHD_YES;
}

int MHD_get_response_headers(struct MHD_Response *r, MHD_KeyValueIterator it, void *cls)
{
    int n = 0;
    fc_kv_t *kv;

    for (kv = r->headers; kv != NULL; kv = kv->next, n++)
        if (it != NULL && it(cls, kv->kind, kv->key, kv->value) != MHD_YES)
            return n + 1;
    return n;
}

const char *MHD_get_reason_phrase_for(unsigned int code)
{
    return code == 201 ? "Created" : code == 204 ? "No Content" : "Unknown";
}

enum MHD_Result MHD_del_response_header(struct MHD_Response *r, const char *header,
                                        const char *content)
{
    fc_kv_t **p;

    if (r == NULL || header == NULL || content == NULL)
        return MHD_NO;
    for (p = &r->headers; *p != NULL; p = &(*p)->next) {
        fc_kv_t *kv = *p;
        if (strcmp(kv->key, header) == 0 && strcmp(kv->value, content) == 0) {
            *p = kv->next;
            if (r->tail == &kv->next)
                r->tail = p;
            kv->next = NULL;
            kv_free(kv);
            return MHD_YES;
        }
    }
    return MHD_NO;
}

void MHD_destroy_response(struct MHD_Response *r)
{
    if (r == NULL)
        return;
    if (r->rc <= 0) {
        violation("MHD_destroy_response on a response already destroyed");
        return;
    }
    if (--r->rc > 0)
        return;
    kv_free(r->headers);
    if (r->free_cb != NULL)
        r->free_cb(r->free_cls);
    if (r->own)
        free(r->data);
    if (r->fd >= 0)
        close(r->fd);
    live_responses--;
    free(r);
}

/* What libmicrohttpd would send: headers, and the body bytes (none for HEAD). */
static void capture(struct MHD_Connection *c, struct MHD_Response *r)
{
    fc_kv_t *kv;
    size_t n = (size_t)r->size;

    c->resp_tail = &c->resp_headers;
    for (kv = r->headers; kv != NULL; kv = kv->next)
        kv_add(&c->resp_tail, MHD_HEADER_KIND, kv->key, kv->value);
    c->resp_size = r->size;
    if (strcmp(c->method, "HEAD") == 0 || r->callback)
        n = 0;
    c->resp_body = calloc(1, n + 1);
    ck_assert_ptr_nonnull(c->resp_body);
    if (n > 0 && r->fd >= 0) {
        ssize_t got = pread(r->fd, c->resp_body, n, (off_t)r->offset);
        if (got != (ssize_t)n)
            violation("an fd response of %zu bytes at %llu: pread gave %zd", n,
                      (unsigned long long)r->offset, got);
        c->resp_body_len = got > 0 ? (size_t)got : 0;
    } else if (n > 0) {
        memcpy(c->resp_body, r->data, n);
        c->resp_body_len = n;
    }
}

enum MHD_Result MHD_queue_response(struct MHD_Connection *c, unsigned int status_code,
                                   struct MHD_Response *r)
{
    if (!usable(c, "MHD_queue_response"))
        return MHD_NO;
    if (!c->in_handler) {
        violation("MHD_queue_response outside the access handler (%s %s)", c->method, c->url);
        return MHD_NO;
    }
    if (r == NULL || c->resp != NULL || c->phase == FC_BODY || status_code < 100 ||
        status_code > 999)
        return MHD_NO; /* mid-body, twice, or nothing to send: 0.9.75 refuses */
    r->rc++;
    c->resp = r;
    c->status = status_code;
    capture(c, r);
    return MHD_YES;
}

/* --- the daemon: never used by an attached server --------------------------------------------- */

struct MHD_Daemon *MHD_start_daemon(unsigned int flags, uint16_t port, MHD_AcceptPolicyCallback apc,
                                    void *apc_cls, MHD_AccessHandlerCallback dh, void *dh_cls, ...)
{
    (void)flags;
    (void)port;
    (void)apc;
    (void)apc_cls;
    (void)dh;
    (void)dh_cls;
    violation("MHD_start_daemon: the fake has no daemon (use sl_server_attach)");
    return NULL;
}

void MHD_stop_daemon(struct MHD_Daemon *d)
{
    (void)d;
    violation("MHD_stop_daemon called");
}

enum MHD_Result MHD_run(struct MHD_Daemon *d)
{
    (void)d;
    violation("MHD_run called");
    return MHD_NO;
}

enum MHD_Result MHD_get_timeout(struct MHD_Daemon *d, MHD_UNSIGNED_LONG_LONG *timeout)
{
    (void)d;
    (void)timeout;
    violation("MHD_get_timeout called");
    return MHD_NO;
}

MHD_socket MHD_quiesce_daemon(struct MHD_Daemon *d)
{
    (void)d;
    violation("MHD_quiesce_daemon called");
    return MHD_INVALID_SOCKET;
}

const union MHD_DaemonInfo *MHD_get_daemon_info(struct MHD_Daemon *d,
                                                enum MHD_DaemonInfoType info_type, ...)
{
    (void)d;
    (void)info_type;
    violation("MHD_get_daemon_info called");
    return NULL;
}

/* --- the host ----------------------------------------------------------------------------------
 */

static void on_kick(void *arg)
{
    fc_host_t *h = arg;

    h->kicks++;
    h->run_pending = 1;
}

void fc_host_init(fc_host_t *h)
{
    memset(h, 0, sizeof(*h));
    ck_assert_int_eq(uv_loop_init(&h->loop), 0);
    h->root = tmpdir_new();
    sl_config_init(&h->cfg);
    snprintf(h->cfg.root, sizeof(h->cfg.root), "%s", h->root);
    h->cfg.min_free = 0;             /* whatever the disk holds */
    h->cfg.upload_buffer = 64 << 10; /* backpressure shows with small bodies */
    h->cfg.buffer_budget = 0;
}

void fc_host_start(fc_host_t *h)
{
    int err = sl_server_attach(&h->loop, &h->cfg, on_kick, h, &h->srv);

    ck_assert_msg(err == 0, "sl_server_attach: %s", sl_strerror(err));
}

void fc_host_up(fc_host_t *h)
{
    fc_host_init(h);
    fc_host_start(h);
}

/* libmicrohttpd's run: the connections resumed since the last one are processed again. */
static void daemon_run(fc_host_t *h)
{
    fc_conn_t *c;

    for (c = h->conns; c != NULL; c = c->next)
        if (c->resuming) {
            c->resuming = 0;
            c->suspended = 0;
        }
}

void fc_turn(fc_host_t *h)
{
    fc_conn_t *c;

    /* sl__req_resume kicks right after it resumes: a resume left without a run would never be
     * processed by 0.9.75 in external mode (the connection hangs). Said once, then processed. */
    for (c = h->conns; c != NULL && !h->run_pending; c = c->next)
        if (c->resuming && !c->completed) {
            violation("%s %s: resumed without a kick (libmicrohttpd would never run it again)",
                      c->method, c->url);
            h->run_pending = 1;
        }
    uv_run(&h->loop, h->run_pending ? UV_RUN_NOWAIT : UV_RUN_ONCE);
    if (h->run_pending) {
        h->run_pending = 0;
        daemon_run(h);
    }
}

void fc_turn_until(fc_host_t *h, int (*cond)(void *arg), void *arg)
{
    unsigned n;

    for (n = 0; n < FC_MAX_TURNS; n++) {
        if (cond(arg))
            return;
        fc_turn(h);
    }
    ck_assert_msg(0, "condition not reached in %u loop turns", FC_MAX_TURNS);
}

static void on_stopped(sl_server_t *srv, void *arg)
{
    fc_host_t *h = arg;

    h->stopped = 1;
    sl_server_free(srv);
}

static int is_stopped(void *arg)
{
    return ((fc_host_t *)arg)->stopped;
}

static void conn_free(fc_conn_t *c)
{
    fc_piece_t *p;

    while ((p = c->pending) != NULL) {
        c->pending = p->next;
        free(p);
    }
    kv_free(c->values);
    kv_free(c->resp_headers);
    free(c->resp_body);
    free(c->body);
    free(c->url);
    free(c);
}

void fc_host_stop(fc_host_t *h)
{
    fc_conn_t *c;

    for (c = h->conns; c != NULL; c = c->next)
        if (!c->completed)
            fc_complete(c, c->closed ? MHD_REQUEST_TERMINATED_WITH_ERROR
                           : c->resp ? MHD_REQUEST_TERMINATED_COMPLETED_OK
                                     : MHD_REQUEST_TERMINATED_CLIENT_ABORT);
    if (h->srv != NULL) {
        sl_server_stop(h->srv, on_stopped, h);
        fc_turn_until(h, is_stopped, h);
        h->srv = NULL;
    }
    uv_run(&h->loop, UV_RUN_DEFAULT); /* the per-loop handles released by the last free */
    ck_assert_msg(violations == 0, "fake libmicrohttpd: %s", violation_msg);
    ck_assert_msg(live_responses == 0, "%ld response(s) never destroyed", live_responses);
    ck_assert_int_eq(uv_loop_close(&h->loop), 0);
    while ((c = h->conns) != NULL) {
        h->conns = c->next;
        conn_free(c);
    }
    tmpdir_remove(h->root);
    h->root = NULL;
}

/* --- connections ------------------------------------------------------------------------------ */

fc_conn_t *fc_new(fc_host_t *h, const char *method, const char *url)
{
    fc_conn_t *c = calloc(1, sizeof(*c));
    const char *q = strchr(url, '?');

    ck_assert_ptr_nonnull(c);
    c->host = h;
    snprintf(c->method, sizeof(c->method), "%s", method);
    snprintf(c->version, sizeof(c->version), "%s", MHD_HTTP_VERSION_1_1);
    c->url = strndup(url, q != NULL ? (size_t)(q - url) : strlen(url));
    ck_assert_ptr_nonnull(c->url);
    c->tail = &c->values;
    c->pending_tail = &c->pending;
    c->addr.sin_family = AF_INET;
    c->addr.sin_port = htons(40000);
    c->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    while (q != NULL && *q != '\0') { /* GET arguments: '+' is a space, no %-decoding */
        char arg[1024], *eq, *p;
        size_t n;
        q++;
        n = strcspn(q, "&");
        snprintf(arg, sizeof(arg), "%.*s", (int)n, q);
        for (p = arg; *p != '\0'; p++)
            if (*p == '+')
                *p = ' ';
        eq = strchr(arg, '=');
        if (eq != NULL)
            *eq++ = '\0';
        if (arg[0] != '\0')
            kv_add(&c->tail, MHD_GET_ARGUMENT_KIND, arg, eq);
        q += n;
    }
    c->next = h->conns;
    h->conns = c;
    return c;
}

void fc_version(fc_conn_t *c, const char *version)
{
    snprintf(c->version, sizeof(c->version), "%s", version);
}

void fc_header(fc_conn_t *c, const char *name, const char *value)
{
    kv_add(&c->tail, MHD_HEADER_KIND, name, value);
}

void fc_footer(fc_conn_t *c, const char *name, const char *value)
{
    kv_add(&c->tail, MHD_FOOTER_KIND, name, value);
}

static int has_header(fc_conn_t *c, const char *name)
{
    fc_kv_t *kv;

    for (kv = c->values; kv != NULL; kv = kv->next)
        if (kv->kind == MHD_HEADER_KIND && strcasecmp(kv->key, name) == 0)
            return 1;
    return 0;
}

void fc_body(fc_conn_t *c, const void *data, size_t len, unsigned pieces)
{
    char cl[24];

    free(c->body);
    c->body = malloc(len + 1);
    ck_assert_ptr_nonnull(c->body);
    memcpy(c->body, data, len);
    c->body_len = len;
    c->body_pieces = pieces ? pieces : 1;
    if (!has_header(c, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
        snprintf(cl, sizeof(cl), "%zu", len);
        fc_header(c, MHD_HTTP_HEADER_CONTENT_LENGTH, cl);
    }
}

void fc_chunked(fc_conn_t *c)
{
    fc_header(c, MHD_HTTP_HEADER_TRANSFER_ENCODING, "chunked");
}

void fc_overrun(fc_conn_t *c, unsigned n)
{
    c->overrun = n;
}

/* What libmicrohttpd learns from the headers: is there a body, and how long. */
static void framing(fc_conn_t *c)
{
    const char *te = NULL, *cl = NULL;
    fc_kv_t *kv;

    for (kv = c->values; kv != NULL; kv = kv->next) {
        if (kv->kind != MHD_HEADER_KIND)
            continue;
        if (strcasecmp(kv->key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
            te = kv->value;
        else if (strcasecmp(kv->key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
            cl = kv->value;
    }
    c->chunked = te != NULL && strcasecmp(te, "chunked") == 0;
    c->content_length = cl != NULL ? strtoull(cl, NULL, 10) : 0;
    c->expect_body = te != NULL || c->content_length > 0; /* TE wins over CL, as in 0.9.75 */
}

static void call(fc_conn_t *c, const char *data, size_t *size)
{
    enum MHD_Result ret;

    if (!c->called) {
        c->called = 1;
        framing(c);
    }
    c->in_handler = 1;
    c->calls++;
    ret = (enum MHD_Result)sl_server_handle(c->host->srv, c, c->url, c->method, c->version, data,
                                            size, &c->con_cls);
    c->in_handler = 0;
    if (ret != MHD_YES) {
        c->closed = 1; /* "internal application error, closing connection" */
        c->phase = FC_DONE;
    }
    if (c->resp != NULL) {
        if (c->phase == FC_HEADERS && c->expect_body)
            c->early = 1; /* no 100 Continue, the body is never read; the connection closes */
        c->phase = FC_DONE;
    }
}

/* One thing libmicrohttpd would do now; 0 if it would wait (suspended, or for the client). */
static int step(fc_conn_t *c)
{
    size_t size;

    if (c->phase == FC_DONE || c->completed)
        return 0;
    if (c->suspended && !(c->phase == FC_BODY && c->overrun_left > 0 && c->pending != NULL))
        return 0;
    switch (c->phase) {
    case FC_HEADERS:
        size = 0;
        call(c, NULL, &size);
        if (c->phase == FC_HEADERS && !c->suspended)
            c->phase = c->expect_body ? FC_BODY : FC_FULL;
        return 1;
    case FC_BODY: {
        fc_piece_t *p = c->pending;
        size_t left;
        if (p == NULL) {
            if (c->chunked && c->body_ended) {
                c->phase = FC_FULL;
                return 1;
            }
            return 0; /* waiting for the client */
        }
        if (c->suspended)
            c->overrun_left--;
        left = p->len - p->off;
        size = left;
        call(c, p->data + p->off, &size);
        if (size > left) {
            violation("the handler raised *upload_data_size from %zu to %zu", left, size);
            size = left;
        }
        p->off += left - size;
        c->delivered += left - size;
        if (size == left && !c->suspended && ++c->spins > FC_SPIN_MAX) {
            violation("busy loop: a body piece left unconsumed without a suspend (%s %s)",
                      c->method, c->url);
            c->phase = FC_DONE;
            c->closed = 1;
        } else if (size < left) {
            c->spins = 0;
        }
        if (p->off == p->len) {
            c->pending = p->next;
            if (c->pending == NULL)
                c->pending_tail = &c->pending;
            free(p);
        }
        if (c->phase == FC_BODY && !c->chunked && c->delivered >= c->content_length)
            c->phase = FC_FULL; /* Content-Length bytes: the request is complete */
        return 1;
    }
    case FC_FULL:
        size = 0;
        c->final_calls++;
        call(c, NULL, &size);
        if (c->suspended)
            c->spins = 0;
        else if (c->phase == FC_FULL && ++c->spins > FC_SPIN_MAX) {
            violation("busy loop: a final call returned no response and no suspend (%s %s)",
                      c->method, c->url);
            c->phase = FC_DONE;
            c->closed = 1;
        }
        return 1;
    }
    return 0;
}

void fc_poll(fc_conn_t *c)
{
    unsigned n;

    for (n = 0; n < 100000 && step(c); n++)
        ;
}

/* Step and turn until cond holds. */
static int drive(fc_conn_t *c, int (*cond)(fc_conn_t *c), const char *what)
{
    unsigned n;

    for (n = 0; n < FC_MAX_TURNS; n++) {
        unsigned k;
        for (k = 0; k < 100000 && !cond(c) && step(c); k++)
            ;
        if (cond(c))
            return 1;
        fc_turn(c->host);
    }
    violation("%s %s: stalled in %s (phase %d, suspended %d)", c->method, c->url, what, c->phase,
              c->suspended);
    ck_assert_msg(0, "fake libmicrohttpd: %s", violation_msg);
    return 0;
}

static int past_headers(fc_conn_t *c)
{
    return c->phase != FC_HEADERS;
}

static int sent(fc_conn_t *c)
{
    return c->pending == NULL || c->phase == FC_DONE;
}

static int done(fc_conn_t *c)
{
    return c->phase == FC_DONE;
}

unsigned fc_start(fc_conn_t *c)
{
    daemon_run(c->host); /* the request arrived: the daemon runs */
    drive(c, past_headers, "the first call");
    return c->status;
}

int fc_send(fc_conn_t *c, const void *data, size_t len)
{
    fc_piece_t *p;
    uint64_t before;

    fc_start(c);
    if (c->phase == FC_DONE)
        return 0;
    p = malloc(sizeof(*p) + len);
    ck_assert_ptr_nonnull(p);
    p->next = NULL;
    p->len = len;
    p->off = 0;
    memcpy(p->data, data, len);
    *c->pending_tail = p;
    c->pending_tail = &p->next;
    before = c->delivered;
    daemon_run(c->host); /* data arrived: the daemon runs */
    drive(c, sent, "a body piece");
    return c->delivered - before == len;
}

unsigned fc_end(fc_conn_t *c)
{
    fc_start(c);
    c->body_ended = 1;
    if (c->phase == FC_BODY && !c->chunked && c->delivered < c->content_length)
        violation("fc_end after %llu of %llu Content-Length bytes",
                  (unsigned long long)c->delivered, (unsigned long long)c->content_length);
    daemon_run(c->host);
    drive(c, done, "the final call");
    return c->status;
}

unsigned fc_run(fc_conn_t *c)
{
    unsigned i, n = c->body_pieces ? c->body_pieces : 1;
    size_t off = 0;

    fc_start(c);
    for (i = 0; i < n && c->body_len > 0; i++) {
        size_t len = c->body_len / n + (i < c->body_len % n);
        if (len > 0 && !fc_send(c, c->body + off, len))
            break;
        off += len;
    }
    return fc_end(c);
}

void fc_complete(fc_conn_t *c, int toe)
{
    unsigned n;

    if (c->completed)
        return;
    for (n = 0; n < FC_MAX_TURNS && c->suspended; n++)
        fc_turn(c->host); /* resumed, libmicrohttpd reads again and sees the end: no more calls */
    ck_assert_msg(!c->suspended, "%s %s: never resumed, cannot complete", c->method, c->url);
    c->completed = 1;
    c->phase = FC_DONE;
    if (c->called)
        sl_server_completed(c->host->srv, c, &c->con_cls, toe);
    if (c->resp != NULL) {
        c->completed = 0; /* libmicrohttpd's own reference, not server/'s call */
        MHD_destroy_response(c->resp);
        c->completed = 1;
        c->resp = NULL;
    }
}

/* --- what came back --------------------------------------------------------------------------- */

unsigned fc_status(const fc_conn_t *c)
{
    return c->status;
}

const char *fc_resp_header(const fc_conn_t *c, const char *name)
{
    const fc_kv_t *kv;

    for (kv = c->resp_headers; kv != NULL; kv = kv->next)
        if (strcasecmp(kv->key, name) == 0)
            return kv->value;
    return NULL;
}

int fc_resp_header_count(const fc_conn_t *c, const char *name)
{
    const fc_kv_t *kv;
    int n = 0;

    for (kv = c->resp_headers; kv != NULL; kv = kv->next)
        n += strcasecmp(kv->key, name) == 0;
    return n;
}

const char *fc_resp_body(const fc_conn_t *c)
{
    return c->resp_body != NULL ? c->resp_body : "";
}

size_t fc_resp_body_len(const fc_conn_t *c)
{
    return c->resp_body_len;
}

uint64_t fc_resp_size(const fc_conn_t *c)
{
    return c->resp_size;
}

int fc_closed(const fc_conn_t *c)
{
    return c->closed;
}

int fc_early(const fc_conn_t *c)
{
    return c->early;
}

int fc_suspended(const fc_conn_t *c)
{
    return c->suspended;
}

uint64_t fc_delivered(const fc_conn_t *c)
{
    return c->delivered;
}

unsigned fc_suspends(const fc_conn_t *c)
{
    return c->suspends;
}

unsigned fc_final_calls(const fc_conn_t *c)
{
    return c->final_calls;
}

unsigned fc_conn_timeout(const fc_conn_t *c)
{
    return c->timeout;
}

/* --- conveniences ------------------------------------------------------------------------------
 */

fc_conn_t *fc_put(fc_host_t *h, const char *url, const void *data, size_t len, unsigned pieces)
{
    fc_conn_t *c = fc_new(h, "PUT", url);

    fc_body(c, data, len, pieces);
    fc_run(c);
    return c;
}

fc_conn_t *fc_request(fc_host_t *h, const char *method, const char *url)
{
    fc_conn_t *c = fc_new(h, method, url);

    fc_run(c);
    return c;
}

void fc_assert_error(const fc_conn_t *c, unsigned status, const char *code)
{
    const char *body = fc_resp_body(c), *ct = fc_resp_header(c, "Content-Type");
    char v[512], want[16];

    ck_assert_msg(fc_status(c) == status, "%s %s: status %u, expected %u; body %s", c->method,
                  c->url, fc_status(c), status, body);
    ck_assert_msg(ct != NULL && strcmp(ct, "application/json") == 0, "Content-Type %s",
                  ct != NULL ? ct : "(none)");
    ck_assert_msg(json_valid(body), "not JSON: %s", body);
    ck_assert_msg(json_members(body) == 3, "not 3 members: %s", body);
    ck_assert_msg(json_get(body, "error", v, sizeof(v)) && v[0] != '\0' && body[10] != '"',
                  "no error message: %s", body);
    ck_assert_msg(strncmp(body, "{\"error\":\"", 10) == 0, "error is not the first member: %s",
                  body);
    snprintf(want, sizeof(want), "%u", status);
    ck_assert_msg(json_get(body, "status", v, sizeof(v)) && strcmp(v, want) == 0,
                  "status member %s, expected %s: %s", v, want, body);
    ck_assert_msg(json_get(body, "code", v, sizeof(v)) && strcmp(v, code) == 0,
                  "code member %s, expected %s: %s", v, code, body);
}

int fc_entries(const fc_host_t *h, const char *sub)
{
    char path[4200];
    struct dirent *e;
    DIR *d;
    int n = 0;

    snprintf(path, sizeof(path), "%s/%s", h->root, sub);
    if ((d = opendir(path)) == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}
