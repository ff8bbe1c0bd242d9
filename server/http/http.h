/* SPDX-License-Identifier: MIT
 * The libmicrohttpd front end, private to server/: the server, a request, its phases, and the
 * functions every server file shares (http.c, conns.c, src_sock.c, routes.c, src_http.c,
 * respond.c, cors.c). */
#ifndef SL_SERVER_HTTP_H
#define SL_SERVER_HTTP_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <microhttpd.h>

#include "sluice.h"
#include "ops/ops.h"
#include "proto/chain.h"
#include "storage/store.h"
#include "storage/tus.h"
#include "streams/pipeline.h"

typedef struct sl_conn_s sl_conn_t;
typedef struct sl_takeover_s sl_takeover_t;
typedef struct sl_tls_reader_s sl_tls_reader_t;
typedef struct sl_upload_s sl_upload_t;
typedef struct sl_form_s sl_form_t;
typedef struct sl_tus_req_s sl_tus_req_t;
typedef struct sl_tus_s sl_tus_t;
typedef struct sl_tus_registry_s sl_tus_registry_t;
typedef struct sl_download_s sl_download_t;
typedef struct sl_quota_share_s sl_quota_share_t; /* quota.c */

/* src_http: the readable at the head of an upload chain, fed by the access handler. */
typedef struct sl_src_http_s {
    sl_stream_t s;
    sl_req_t *req;
} sl_src_http_t;

enum {
    PH_FIRST,     /* headers seen, nothing decided */
    PH_PREFLIGHT, /* suspended in the first call for a store check */
    PH_BODY,      /* upload body streaming into the chain */
    PH_NOBODY,    /* a request without body, waiting for its final call */
    PH_WAIT,      /* suspended until a job or the commit completes */
    PH_HOOK,      /* suspended in the first call until on_request's decision (hooks.c) */
    PH_TAKEOVER,  /* suspended in the first call while sluice reads the body (src_sock.c) */
    PH_DONE,      /* response queued */
};

enum {
    ROUTE_NONE,
    ROUTE_FILE,
    ROUTE_FILES,
    ROUTE_HEALTH,
    ROUTE_TUS,
    ROUTE_TUS_ID,
    ROUTE_HOST,
    ROUTE_METRICS,
    ROUTE_UI /* the upload page (ui.c) */
};
enum { M_GET, M_HEAD, M_PUT, M_POST, M_DELETE, M_PATCH, M_OPTIONS, M_OTHER };

/* A protocol: what the requests of one family of routes do at each call of the handler
 * (routes.c dispatches; files.c, tus.c and routes.c define them). */
typedef struct sl_proto_s {
    const char *name;
    enum MHD_Result (*first)(sl_req_t *r); /* the first call, once on_request allowed it */
    int (*body_start)(sl_req_t *r); /* resumed from PH_PREFLIGHT: start the chain; 0 or a code */
    enum MHD_Result (*final)(sl_req_t *r, const char *method); /* PH_NOBODY's final call */
    void (*gone)(sl_req_t *r); /* libmicrohttpd completed the request (NULL: nothing to do) */
    void (*free)(sl_req_t *r); /* release the protocol's state of r (NULL: none) */
    int cors;                  /* a CORS preflight is answered for it before `first` */
} sl_proto_t;
extern const sl_proto_t sl__proto_files, sl__proto_tus, sl__proto_host, sl__proto_ops;
extern const sl_proto_t sl__proto_ui; /* ui.c: GET / and /ui/<file> */
/* proto/ietf.c: the IETF draft under /uploads/ */
extern const sl_proto_t sl__proto_ietf;
/* Refuse a request in its first call: queued at once when a body would follow (no 100 Continue,
 * no body read), else answered from the final call. */
enum MHD_Result sl__refuse_first(sl_req_t *r, int err);

struct sl_req_s {
    sl_server_t *srv;
    struct MHD_Connection *conn;
    sl_req_t *next, *prev; /* the server's list of live requests */
    int refs;              /* the connection's, plus one per operation in flight */
    int phase;
    int route;
    const sl_proto_t *proto; /* set by the routing */
    int method;              /* METHOD_* in routes.c */
    int suspended;
    int need_read;              /* the chain asked the source to wait (R2) */
    int noreplace;              /* If-None-Match: * (412 if the name exists) */
    int create_only;            /* POST ?name= (409 if the name exists) */
    int encoding;               /* SL_INFLATE_* from Content-Encoding, 0 for identity */
    char boundary[80];          /* multipart/form-data: its boundary, else "" */
    sl_digests_t repr, content; /* Repr-Digest, Content-Digest */
    int has_body;
    int http11;                /* HTTP/1.1 (an Expect is honoured only there) */
    int gone;                  /* libmicrohttpd completed the request */
    uint64_t content_length;   /* from Content-Length; 0 when chunked or absent */
    int chunked;               /* Transfer-Encoding: chunked: length unknown */
    uint64_t last_progress;    /* uv_now of the last body byte or chain progress */
    struct MHD_Response *resp; /* the answer being prepared (sl__respond), NULL if it failed */
    unsigned status;
    int answered;    /* an answer was decided (sl__respond), not yet queued */
    int resp_failed; /* libmicrohttpd refused it or one of its headers: closed at queue */
    sl_upload_t *up;
    sl_tus_req_t *tr;       /* requests under /uploads/ only (owned) */
    const char *url, *path; /* url: a copy (owned); path: in it, below the mount */
    uint64_t received;      /* body bytes received */
    uint64_t progress_sent; /* `received` at the last on_progress */
    void *user_data;        /* from on_request */
    int renamed;            /* on_request gave the name */
    uint64_t t0;            /* uv_hrtime at the first call */
    uint64_t bytes_out;     /* the answer's body size */
    unsigned sent_status;   /* the status queued, 0 if none */
    const char *err_name;   /* the error code's name of an error answer (static) */
    uint64_t eof_ns;        /* uv_hrtime when the body ended (commit latency) */
    sl_hook_req_t *hook;    /* a pending on_request decision */
    sl_conn_t *sock;        /* its connection's record (conns.c), NULL when attached */
    sl_takeover_t *tk;      /* the body is read from the socket by sluice (src_sock.c) */
    int self_answer;        /* taken over mid-body: sluice writes the answer (sl__queue_self) */
    int self_sent;          /* ... and did: libmicrohttpd's close of it is no abort */
    int mid_tries;          /* handler calls that tried sl__takeover_mid */
    char *self_body;        /* the answer's body when self_answer (owned), self_len bytes */
    size_t self_len;
    sl_store_job_t *job; /* a store job of the request (sl__req_job), NULL before the first */
    sl_download_t *dl;   /* a file streamed from the store (proto/download.c), else NULL */
    sl_budget_waiter_t budget_wait;
    struct sl_tokens_s *tokens;  /* the token set r was admitted with (a reference), or NULL */
    struct sl_token_s *token;    /* its entry in it, or NULL */
    int token_upload;            /* counted in token->active until r ends */
    uint64_t quota_charged;      /* Content-Length charged to the token's count (quota.c) */
    int64_t sig_expires;         /* admitted by a signed URL expiring then (0: not signed) */
    uint64_t rate_t0, rate_mark; /* --min-rate: the window's start (uv_now) and `received` then */
    char name[SL_NAME_MAX + 1];
};

struct sl_server_s {
    uv_loop_t *loop;
    sl_config_t cfg;
    sl_store_t *store;
    struct MHD_Daemon *mhd;
    uv_poll_t poll;
    uv_timer_t timer; /* MHD_get_timeout */
    uv_idle_t idle;   /* "run MHD again now" and the kick after resume */
    uv_timer_t tick;  /* once a second: idle uploads, shutdown progress */
    unsigned port;
    sl_req_t *reqs; /* live requests */
    size_t nreqs;
    sl_conn_t *conns; /* connections libmicrohttpd holds (conns.c) */
    size_t nconns;
    int draining, stopping, closing, handles_open, has_poll;
    int at_limit; /* libmicrohttpd was at --max-connections (its listener out of its epoll set) */
    uint64_t busy_at; /* uv_now of the last request seen, by its start or a tick (0: trimmed) */
    int closed, free_requested; /* handles all closed; sl_server_free was called */
    int retiring; /* a worker replaced by SIGHUP: it serves what its open connections still ask
                     (no 503) and goes once they are closed */
    void (*kick)(void *arg); /* attached to the host's daemon: run it soon */
    void *kick_arg;
    uint64_t drain_deadline;
    sl_server_stop_cb stop_cb;
    void *stop_arg;
    sl_tus_registry_t *tus; /* resumable uploads in use (tus_lock.c), NULL before the first */
    sl_hooks_t hooks;
    uv_timer_t progress; /* on_progress */
    sl_route_fn route_fn;
    void *route_arg;
    char prefix[256];        /* the mount without its last '/': "" or "/api/upload" */
    int access_fd;           /* --access-log, -1 if off */
    sl_metrics_t *m, *slots; /* this worker's slot; all of them (nslots) */
    int nslots;
    sl_metrics_t own_slot;    /* the slot of a server without workers */
    int worker;               /* this process's worker number (0 alone) */
    size_t tus_jobs;          /* expiry sweep work in flight (the stop waits for it) */
    struct sl_ui_s *ui;       /* the upload page (ui.c), NULL when off or absent */
    struct sl_auth_s *auth;   /* tokens and the sign key (auth.c), NULL when off */
    struct sl_peers_s *peers; /* connections per client (limits.c), NULL when off */
    /* every worker's connections per client (limits.c; shared, the supervisor's), NULL alone */
    struct sl_peer_share_s *peer_share;
    int peer_slot;                  /* this worker's rows in it */
    struct sl_tls_s *tls;           /* the certificate in use (tls.c), NULL for plain HTTP */
    uint64_t store_read_seen;       /* store->read_bytes already counted in m->store_read_bytes */
    uint64_t store_retries_seen;    /* store->retries already counted in m->store_retries */
    struct sl_quota_share_s *quota; /* token counts (quota.c): own, or the supervisor's; NULL
                                       without --token-file */
    int quota_own;                  /* srv->quota is this server's: it keeps the ledger */
    int quota_save_failed;          /* the last write of the ledger failed (said once) */
    int quota_busy;                 /* a write of the ledger is in the thread pool */
    uint64_t quota_saved;           /* sl__quota_gen of the ledger last written */
};

/* http.c */
void sl__http_kick(sl_server_t *srv);
void sl__req_suspend(sl_req_t *r);
void sl__req_resume(sl_req_t *r);
void sl__req_unref(sl_req_t *r);
/* r's store job (made on first use, owned by r: 1.1 KiB that most uploads never need). */
sl_store_job_t *sl__req_job(sl_req_t *r);
void sl__server_maybe_free(sl_server_t *srv);
/* sl_server_new on an already listening socket (listen_fd >= 0: the workers' shared one), with
 * the token counts `quota` of the workers (borrowed; NULL: the server's own, from its ledger). */
int sl__server_new_fd(uv_loop_t *loop, const sl_config_t *cfg, int listen_fd,
                      sl_quota_share_t *quota, sl_server_t **out);
/* The first run of libmicrohttpd after sl__server_new_fd: nothing is accepted before it (then
 * the loop's poll), so a worker sets its shared slots first; a replacement worker starts with
 * clients already waiting on the listening socket. */
void sl__server_begin(sl_server_t *srv);
/* Stop like sl_server_stop, but serve requests on connections already open (each answer closes
 * its connection) and wait for them all: a worker being replaced refuses nothing. */
void sl__server_retire(sl_server_t *srv, sl_server_stop_cb cb, void *arg);
/* conns.c: every connection tracked (MHD_OPTION_NOTIFY_CONNECTION); a request bound to its
 * connection while it lives; once a second, connections whose client has gone are closed and
 * their uploads aborted. */
void sl__conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                     enum MHD_ConnectionNotificationCode toe);
void sl__conn_bind(sl_req_t *r);
void sl__conn_unbind(sl_req_t *r);
void sl__conns_sweep(sl_server_t *srv, uint64_t now);
/* The bytes libmicrohttpd read on r's connection before r's body: the earlier requests' and r's
 * header (0, *bytes set), or -1 when they are not known (attached, a chunked body before). */
int sl__conn_read_before(sl_req_t *r, uint64_t *bytes);

/* src_sock.c: the body read from the socket by sluice instead of libmicrohttpd, when it can be
 * (the first call of a request with Content-Length and Expect: 100-continue whose body
 * libmicrohttpd has not touched). start: 1 if taken over (the connection is suspended, r->phase
 * PH_TAKEOVER), 0 if libmicrohttpd reads it, a negative code if the connection is unusable;
 * read: read again (drain, budget); stop: close the poll (before the connection is resumed). */
int sl__takeover_start(sl_req_t *r);
/* After a body piece was consumed: the rest of the body taken over when libmicrohttpd holds
 * nothing more of it (1; r->self_answer set, the connection suspended for good), else 0. */
int sl__takeover_mid(sl_req_t *r);
/* 1 if r's body may be spliced into its file when sluice reads it (its chain may then hash it
 * behind the sink: proto/chain.c), else 0. Before the body. */
int sl__takeover_may_splice(sl_req_t *r);
void sl__takeover_read(sl_req_t *r);
void sl__takeover_stop(sl_req_t *r);
/* Once a second: a fast client that paused gets its bytes read again (SO_RCVLOWAT back to 1). */
void sl__takeover_tick(sl_req_t *r, uint64_t now);

/* auth.c: access control (docs/security.md). load: read --token-file and --sign-key into srv
 * (again on SIGHUP: the old rules stay if the files are bad); 0 or a negative code, logged.
 * check: in the first call, 0 or SL_EUNAUTHORIZED, SL_EDENIED, SL_ETOOMANY, SL_ETOOLARGE,
 * SL_ELENGTHREQUIRED; release: when r ends. location: a tus Location (loc[cap], a path) gets the
 * signature of the signed URL r was admitted with. warn: at start, when the server is open to
 * the network without any access control. */
int sl__auth_load(sl_server_t *srv);
void sl__auth_free(sl_server_t *srv);
int sl__auth_check(sl_req_t *r);
void sl__auth_release(sl_req_t *r);
void sl__auth_location(sl_req_t *r, char *loc, size_t cap);
void sl__auth_warn(sl_server_t *srv, const char *host);
/* quota.c: token quotas, one count per token for every worker, kept in <root>/.sluice/quota.
 * open: in server_alloc with --token-file: the supervisor's table `shared` (borrowed, it keeps
 * the ledger), else a table of srv's own read from the ledger; 0 or a negative code (a corrupt
 * ledger: SL_EBADREQUEST, logged). flush: write the ledger in the thread pool if srv owns it and
 * it changed (each tick; srv is not freed before the write ends); close: the last write, on the
 * loop, and free srv's own table. admit: charge n bytes to t (borrowed from the
 * token set r holds): 0 (r->quota_charged set) or SL_EQUOTA; release: when r ends, what never
 * arrived is given back. */
int sl__quota_open(sl_server_t *srv, sl_quota_share_t *shared);
void sl__quota_flush(sl_server_t *srv);
void sl__quota_close(sl_server_t *srv);
struct sl_token_s;
int sl__quota_admit(sl_req_t *r, struct sl_token_s *t, uint64_t n);
void sl__quota_release(sl_req_t *r);

/* SIGHUP in the binary: --token-file, --sign-key and the certificate read again (what cannot be
 * read is kept as it was, and logged); uploads in flight go on. 0 or the first error. */
int sl__server_reload(sl_server_t *srv);

/* limits.c: limits per client. host_is_loopback: 127/8, ::1, ::ffff:127/104 as text;
 * req_is_loopback: r's peer. accept: libmicrohttpd's accept policy (--max-conns-per-ip; the
 * count follows sl__conn_notify's peer_opened / peer_closed; peer_opened shuts the connection's
 * socket fd down when workers raced past the limit). sweep: once a second,
 * --header-timeout and --min-rate. header_size: 0 or SL_EHEADERSIZE for r's header fields. */
int sl__host_is_loopback(const char *host);
/* The per-IP key of an address (AF_INET: 4 bytes, mapped into ::ffff:0:0/96; AF_INET6: 16, cut
 * to its /64 unless ::1 or mapped) and whether it is loopback; 0, or -1 for another family. */
int sl__addr_key(int family, const unsigned char *addr, unsigned char key[16], int *loopback);
int sl__req_is_loopback(sl_req_t *r);
enum MHD_Result sl__limits_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen);
void sl__limits_peer_opened(sl_server_t *srv, struct MHD_Connection *c, int fd, void **peer);
void sl__limits_peer_closed(sl_server_t *srv, void *peer);
void sl__limits_free(sl_server_t *srv);
/* The per-client counts of --workers (limits.c): the bytes to map shared for `nslots` worker
 * slots (zeroed: mmap MAP_ANONYMOUS), and a dead worker's slot set back to 0 (ps borrowed). The
 * supervisor sets ps->seed to random bytes before the first fork. */
typedef struct sl_peer_share_s sl_peer_share_t;
size_t sl__peer_share_size(int nslots);
void sl__peer_share_clear(sl_peer_share_t *ps, int slot);
void sl__peer_share_seed(sl_peer_share_t *ps, uint64_t seed);
void sl__limits_tick(sl_server_t *srv, uint64_t now);
int sl__limits_header_size(sl_req_t *r);
/* conns.c, for the header timeout: every connection without a request in progress that has been
 * waiting for one since before `before` (uv_now): cb(srv, c, fd, first) for each. */
void sl__conns_waiting(sl_server_t *srv, uint64_t before,
                       void (*cb)(sl_server_t *srv, struct MHD_Connection *c, int fd, int first));

/* tls.c: --tls-cert/--tls-key: 1 if srv serves HTTPS; load (start, SIGHUP) reads the files into
 * the credentials new handshakes get (0 or a negative code, logged; the old ones stay). */
int sl__tls_load(sl_server_t *srv);
void sl__tls_free(sl_server_t *srv);
/* The daemon's TLS options into opt[] (room for 2): how many. register: once the daemon runs
 * (handshakes find their server by it); 0 or a negative code. */
int sl__tls_options(sl_server_t *srv, struct MHD_OptionItem *opt);
int sl__tls_register(sl_server_t *srv);
extern const char sl__tls_priorities[];
/* A body sluice reads through the connection's TLS session (src_sock.c): reader_new (NULL for
 * plain HTTP) takes over the session's reads of socket fd, reader_free gives them back (the
 * reader's buffer is empty once the body's records are read); pending: what the session and the
 * reader hold that the socket will not announce; recv fills buf (at most len) with the body's
 * next bytes, `left` of them still to come, reading ahead of GnuTLS if `ahead` (a fast client):
 * bytes, 0 at the stream's end, UV_EAGAIN or UV_EPROTO. send_all writes a small answer whole
 * (1) or not (0), then close_notify. */
/* the most bytes one TLS record takes on the wire (header, 16 KiB, tag, padding) */
#define SL_TLS_RECORD_MAX ((16u << 10) + 512)
sl_tls_reader_t *sl__tls_reader_new(sl_req_t *r, int fd);
void sl__tls_reader_free(sl_tls_reader_t *rd);
size_t sl__tls_pending(sl_tls_reader_t *rd);
ssize_t sl__tls_recv(sl_tls_reader_t *rd, void *buf, size_t len, uint64_t left, int ahead);
int sl__tls_send_all(sl_req_t *r, const void *buf, size_t len);

/* routes.c */
int sl__method_of(const char *m);
/* "GET", …, "OPTIONS" for M_*, "OTHER" beyond; the request header `name` (NULL if absent). */
const char *sl__method_name(int m);
const char *sl__header(sl_req_t *r, const char *name);
/* Transfer-Encoding and Content-Length of an upload: sets r->chunked, r->content_length; 0 or a
 * negative code. */
int sl__framing(sl_req_t *r);
enum MHD_Result sl__access_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **con_cls);
size_t sl__unescape_none(void *cls, struct MHD_Connection *conn, char *uri);
void sl__mhd_log(void *cls, const char *fmt, va_list ap);
void sl__request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                           enum MHD_RequestTerminationCode toe);

/* src_http.c: the chain's source; push copies `data` and suspends the connection when told to
 * wait. Returns the push result (1, 0 or a negative code). */
void sl__src_http_init(sl_src_http_t *src, sl_req_t *r);
/* The buffer budget's wake-up of a paused source (arg: the request). */
void sl__src_http_budget(void *arg);
int sl__src_http_push(sl_src_http_t *src, const char *data, size_t len);

/* cors.c: Access-Control-* on a response about to be queued (tus, files). */
void sl__cors_headers(sl_req_t *r);
/* 1 if r is a CORS preflight (OPTIONS with Access-Control-Request-Method) and CORS is on. */
int sl__cors_preflight(sl_req_t *r);

/* respond.c: the one error→status table, and responses set on r (queued by the handler). */
unsigned sl__status_for(int err);
/* The answer for r: status and resp (taken over; NULL when libmicrohttpd could not create it,
 * which fails the request at sl__queue). Headers: a refusal is remembered the same way. */
void sl__respond(sl_req_t *r, unsigned status, struct MHD_Response *resp);
void sl__respond_header(sl_req_t *r, const char *name, const char *value);
void sl__respond_error(sl_req_t *r, int err);
/* The one shape of every error body: {"error": message, "status": N, "code": code[, extra]}
 * (extra: more JSON members, without braces, or NULL); message is escaped here. */
void sl__respond_error_json(sl_req_t *r, unsigned status, const char *code, const char *message,
                            const char *extra);
void sl__respond_json(sl_req_t *r, unsigned status, const char *json, size_t len);
enum MHD_Result sl__queue(sl_req_t *r);
/* Write r's answer to its socket and shut the socket down (a body taken over mid-way: r->suspended,
 * r->self_answer; libmicrohttpd cannot queue it). */
void sl__queue_self(sl_req_t *r);
/* JSON-escape s into out[cap] (quotes not added); percent-encode a name for a URL path. */
void sl__json_escape(const char *s, char *out, size_t cap);
void sl__url_escape(const char *s, char *out, size_t cap);

#endif
