/* SPDX-License-Identifier: MIT
 * Private to server/: the server, a request and the functions the server files share. */
#ifndef SL_SERVER_INTERNAL_H
#define SL_SERVER_INTERNAL_H

#include <stdarg.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <sys/types.h>

#include <microhttpd.h>

#include "sluice.h"
#include "chain.h"
#include "storage/store.h"
#include "storage/tus.h"
#include "streams/pipeline.h"
#include "streams/multipart.h"
#include "streams/xf.h"

typedef struct sl_req_s sl_req_t;
typedef struct sl_conn_s sl_conn_t;
typedef struct sl_takeover_s sl_takeover_t;

/* --- metrics (metrics.c) --- */
#define SL_METRICS_BUCKETS 12
enum {
    SL_FAIL_GONE,
    SL_FAIL_TOOLARGE,
    SL_FAIL_CHECKSUM,
    SL_FAIL_NOSPACE,
    SL_FAIL_IDLE,
    SL_FAIL_SHUTDOWN,
    SL_FAIL_BADREQUEST,
    SL_FAIL_OTHER,
    SL_FAIL_NREASONS
};
/* One worker's figures (in shared memory with --workers). */
typedef struct sl_metrics_s {
    uint64_t started, committed, failed[SL_FAIL_NREASONS];
    uint64_t bytes_received, bytes_committed, requests, restarts, responses_failed;
    uint64_t digest_reads; /* tus commits that had to read the file for its SHA-256 */
    uint64_t direct_reads; /* uploads whose body sluice read from the socket itself */
    int64_t in_flight, suspended, connections, buffer_bytes, pid;
    uint64_t
        heartbeat_ms; /* CLOCK_MONOTONIC of the worker's last tick (the supervisor's watchdog) */
    uint64_t commit_buckets[SL_METRICS_BUCKETS], commit_count;
    double commit_sum;
    uint64_t flush_buckets[SL_METRICS_BUCKETS], flush_count;
    double flush_sum;
} sl_metrics_t;

/* src_http: the readable at the head of an upload chain, fed by the access handler. */
typedef struct sl_src_http_s {
    sl_stream_t s;
    sl_req_t *req;
} sl_src_http_t;

typedef struct sl_form_s sl_form_t;

/* One file part of a multipart/form-data request: its own chain into the staging area. */
typedef struct sl_form_file_s {
    sl_chain_t chain;
    sl_form_t *form;
    struct sl_form_file_s *next;
    char field[256]; /* the form field name */
    char name[256];  /* the sanitised file name, unique within the request */
    int done;        /* its pipeline called back */
} sl_form_file_t;

struct sl_form_s {
    sl_stream_t s;
    sl_req_t *req;
    sl_multipart_t mp;
    char stage[64];
    sl_form_file_t *files, *cur;
    size_t nfiles, nfields, open_files;
    char *fields; /* the text fields as JSON members */
    size_t fields_len, fields_cap, field_bytes, field_start;
    int in_field, paused, committing, committed, removing;
    sl_chunk_t **batch;
    size_t batch_n, batch_i, off;
    sl_done_cb done, final_done, destroy_done;
    sl_store_job_t job;
    sl_meta_t *metas;
    const char **meta_names;
};

/* A request's upload: its source and its chain (chain.c), for every kind of upload. */
typedef struct sl_upload_s {
    sl_src_http_t src;
    sl_chain_t chain;
    sl_form_t *form; /* multipart/form-data requests only (owned) */
    int running;     /* the pipeline callback has not run yet */
    int eof;         /* the body ended (final call seen) */
    uint64_t discarded;
} sl_upload_t;

/* --- resumable uploads (tus.c, tus_lock.c) --- */

typedef struct sl_tus_s sl_tus_t;
typedef struct sl_tus_wait_s sl_tus_wait_t;
/* A turn at an upload: run(u, w) is called once nobody else holds it (and, with needs_load, once
 * its record was read). */
struct sl_tus_wait_s {
    sl_tus_wait_t *next;
    void (*run)(sl_tus_t *u, sl_tus_wait_t *w);
    int needs_load;
};

/* One resumable upload in memory, while some request (or the expiry sweep) refers to it. Every
 * request for it takes a turn, in order; the PATCH holding `writer` keeps it until its chain has
 * finished and its offset is recorded, and a newcomer makes that writer stop (tus_lock.c). */
struct sl_tus_s {
    sl_server_t *srv;
    sl_tus_t *next; /* hash bucket */
    int refs;
    int loaded;   /* info read from disk (or just created) */
    int load_err; /* 0, SL_ENOTFOUND (never created, terminated, expired) or another error */
    int busy;     /* a job on the record in flight */
    uint64_t checkpoint_from; /* the offset before the checkpoint in flight */
    sl_req_t *writer;
    sl_tus_wait_t *wait_head, **wait_tail;
    void (*after_job)(sl_tus_t *u); /* then, once the job in flight is done */
    sl_tus_job_t job;
    sl_tus_info_t info;
    void *md;           /* EVP_MD_CTX: the SHA-256 of the upload's bytes [0, md_offset), or NULL */
    uint64_t md_offset; /* (tus_lock.c keeps it while no request refers to the upload) */
};

/* A request under /uploads/: its tus headers, parsed in the first call. */
typedef struct sl_tus_req_s {
    int method;          /* M_*, after X-HTTP-Method-Override */
    int64_t offset;      /* Upload-Offset, -1 if absent */
    int64_t length;      /* Upload-Length, -1 if absent */
    int64_t prev_length; /* the upload's length before this PATCH (a failed PATCH restores it) */
    int defer;           /* Upload-Defer-Length: 1 */
    int concat;          /* SL_TUS_* from Upload-Concat */
    size_t nparts;       /* final: the parts */
    char (*parts)[33];
    const char *metadata; /* borrowed from libmicrohttpd, valid for the request */
    int check_alg;        /* SL_DIGEST_* of Upload-Checksum (header or trailer), 0 if none */
    int trailer;          /* the checksum comes as a trailer */
    unsigned char check[64];
    int status;     /* the chain's outcome, while the record is written */
    int body;       /* the request has a body */
    int committing; /* its record job commits the upload */
    sl_tus_wait_t wait;
    sl_req_t *owner;
    sl_tus_t *u; /* holds a reference */
} sl_tus_req_t;

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
    ROUTE_METRICS
};
enum { M_GET, M_HEAD, M_PUT, M_POST, M_DELETE, M_PATCH, M_OPTIONS, M_OTHER };

struct sl_req_s {
    sl_server_t *srv;
    struct MHD_Connection *conn;
    sl_req_t *next, *prev; /* the server's list of live requests */
    int refs;              /* the connection's, plus one per operation in flight */
    int phase;
    int route;
    int method; /* METHOD_* in routes.c */
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
    sl_store_job_t job;
    sl_budget_waiter_t budget_wait;
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
    uint64_t busy_at;           /* uv_now of the last tick with requests (0: trimmed since) */
    int closed, free_requested; /* handles all closed; sl_server_free was called */
    int retiring; /* a worker replaced by SIGHUP: it serves what its open connections still ask
                     (no 503) and goes once they are closed */
    void (*kick)(void *arg); /* attached to the host's daemon: run it soon */
    void *kick_arg;
    uint64_t drain_deadline;
    sl_server_stop_cb stop_cb;
    void *stop_arg;
    sl_tus_t *tus[256]; /* resumable uploads in use, by the first byte of their id */
    struct {            /* the SHA-256 states of uploads between PATCHes (tus_lock.c) */
        char id[SL_TUS_ID_LEN + 1];
        void *md;
        uint64_t offset;
    } tus_md[64];
    unsigned tus_md_next;
    sl_hooks_t hooks;
    uv_timer_t progress; /* on_progress */
    sl_route_fn route_fn;
    void *route_arg;
    char prefix[256];                  /* the mount without its last '/': "" or "/api/upload" */
    struct sockaddr_storage hook_addr; /* --hook-http, resolved at start */
    int access_fd;                     /* --access-log, -1 if off */
    sl_metrics_t *m, *slots;           /* this worker's slot; all of them (nslots) */
    int nslots;
    sl_metrics_t own_slot; /* the slot of a server without workers */
    int worker;            /* this process's worker number (0 alone) */
    char hook_host[256], hook_path[1024];
    size_t tus_jobs; /* expiry sweep work in flight (the stop waits for it) */
    uint64_t tus_next_sweep;
};

/* http.c */
void sl__http_kick(sl_server_t *srv);
void sl__req_suspend(sl_req_t *r);
void sl__req_resume(sl_req_t *r);
void sl__req_unref(sl_req_t *r);
void sl__server_maybe_free(sl_server_t *srv);
/* Stop like sl_server_stop, but serve requests on connections already open (each answer closes
 * its connection) and wait for them all: a worker being replaced refuses nothing. */
void sl__server_retire(sl_server_t *srv, sl_server_stop_cb cb, void *arg);
/* A worker's share (workers.c): the listening socket, its number, its metrics slot. */
typedef struct sl_worker_s {
    int listen_fd, index, slot, nslots, ready_fd;
    sl_metrics_t *slots;
} sl_worker_t;
/* run.c: serve until SIGINT/SIGTERM, alone (w NULL) or as a worker. workers.c: the supervisor. */
int sl__serve(const sl_config_t *cfg, const sl_worker_t *w,
              void (*ready)(sl_server_t *srv, void *arg), void *arg);
int sl__run_workers(const sl_config_t *cfg, void (*ready)(sl_server_t *srv, void *arg), void *arg);
/* sl_server_new on an already listening socket (listen_fd >= 0: the workers' shared one). */
int sl__server_new_fd(uv_loop_t *loop, const sl_config_t *cfg, int listen_fd, sl_server_t **out);

/* config.c, config_file.c: one flag ("--max-size") or one key ("max-size"): 0, SL_ENOTFOUND
 * (no such flag) or SL_EBADREQUEST (a bad value). */
int sl__config_apply(sl_config_t *cfg, const char *flag, const char *value);
int sl__config_set(sl_config_t *cfg, const char *key, const char *value);
/* "sha-256,crc32" or "none" into SL_CFG_DIGEST_* bits: 0, or -1 for an unknown name. */
int sl__parse_digests(const char *v, unsigned *out);

/* conns.c: every connection tracked (MHD_OPTION_NOTIFY_CONNECTION); a request bound to its
 * connection while it lives; once a second, connections whose client has gone are closed and
 * their uploads aborted. */
void sl__conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                     enum MHD_ConnectionNotificationCode toe);
void sl__conn_bind(sl_req_t *r);
void sl__conn_unbind(sl_req_t *r);
void sl__conns_sweep(sl_server_t *srv, uint64_t now);
/* Requests seen on r's connection, r included (0 when unknown: attached). */
unsigned sl__conn_requests(sl_req_t *r);

/* src_sock.c: the body read from the socket by sluice instead of libmicrohttpd, when it can be
 * (the first call of a request with Content-Length and Expect: 100-continue whose body
 * libmicrohttpd has not touched). start: 1 if taken over (the connection is suspended, r->phase
 * PH_TAKEOVER), 0 if libmicrohttpd reads it, a negative code if the connection is unusable;
 * read: read again (drain, budget); stop: close the poll (before the connection is resumed). */
int sl__takeover_start(sl_req_t *r);
void sl__takeover_read(sl_req_t *r);
void sl__takeover_stop(sl_req_t *r);

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

/* upload.c: start the chain for r (r->name set); body data; end of body; abort. */
int sl__upload_start(sl_req_t *r);
enum MHD_Result sl__upload_data(sl_req_t *r, const char *data, size_t *size);
enum MHD_Result sl__upload_end(sl_req_t *r);
void sl__upload_abort(sl_req_t *r, int err);

/* tus.c: requests under /uploads/ (docs/tus.md). first: the first call; final: the call after
 * a request without body; body_start: after the first call's wait, start the PATCH chain;
 * body_end: the body ended (trailers are readable); gone: the connection completed;
 * headers: Tus-Resumable and CORS on a response about to be queued. */
enum MHD_Result sl__tus_first(sl_req_t *r, const char *method);
enum MHD_Result sl__tus_final(sl_req_t *r);
int sl__tus_body_start(sl_req_t *r);
int sl__tus_body_end(sl_req_t *r);
void sl__tus_gone(sl_req_t *r);
void sl__tus_free(sl_req_t *r);
void sl__cors_headers(sl_req_t *r);
/* 1 if r is a CORS preflight (OPTIONS with Access-Control-Request-Method) and CORS is on. */
int sl__cors_preflight(sl_req_t *r);

/* tus_parse.c: the tus request headers; 0 or SL_EBADREQUEST. */
int sl__tus_parse_u63(const char *v, int64_t *out);
int sl__tus_metadata_valid(const char *v);
/* The decoded value of metadata `key` into out[cap] (NUL-terminated): its length, or -1 when
 * absent, valueless or not text. */
int sl__tus_metadata_get(const char *v, const char *key, char *out, size_t cap);
/* The name a finished upload is stored under (docs/tus.md "Where a finished upload lands"). */
void sl__tus_final_name(const sl_tus_info_t *info, char out[SL_NAME_MAX + 1]);
int sl__tus_parse_checksum(const char *v, int *alg, unsigned char out[64]);
/* Fills t->concat, and for a final upload t->parts (owned by t) and t->nparts. */
int sl__tus_parse_concat(sl_tus_req_t *t, const char *v);
/* Everything the first call can judge of a tus request (sets *body); 0 or a code. */
int sl__tus_check(sl_req_t *r, sl_tus_req_t *t, int *body);

/* tus_lock.c: the registry of uploads in use, turns, the writer, checkpoints, expiry. */
/* Take a turn at upload `id` for w; returns the upload (referenced: sl__tus_unref). */
sl_tus_t *sl__tus_acquire(sl_server_t *srv, const char *id, sl_tus_wait_t *w);
/* Register a new upload's record (owned: taken over), held by nobody yet. */
sl_tus_t *sl__tus_register(sl_server_t *srv, sl_tus_info_t *info);
void sl__tus_unref(sl_tus_t *u);
/* Give up a turn that has not run yet (the request went away). */
int sl__tus_cancel(sl_tus_t *u, sl_tus_wait_t *w); /* 1 if it was waiting */
/* Let the next turn run (after a turn that started no job and took no writer). */
void sl__tus_next(sl_tus_t *u);
/* Run a job on the record; then `after`, then the next turn. */
void sl__tus_job_started(sl_tus_t *u, void (*after)(sl_tus_t *u));
void sl__tus_job_done(sl_tus_t *u);
/* Once a second: checkpoint long PATCHes, stop idle or orphaned writers, sweep expired uploads. */
void sl__tus_tick(sl_server_t *srv, uint64_t now);
/* Free the hash states kept between PATCHes (the server stops). */
void sl__tus_md_clear(sl_server_t *srv);
/* Make the writer of u stop, keeping what it received. */
void sl__tus_release(sl_tus_t *u);

/* hooks.c: on_request (1 if a decision is pending: the request is suspended in PH_HOOK); the
 * event of a request; on_complete (json: see sluice.h) and on_abort; the host's routes. */
int sl__hook_request(sl_req_t *r);
void sl__event_init(sl_req_t *r, sl_event_t *ev, char remote[64]);
void sl__hook_complete(sl_req_t *r, const char *name, const char *sha256, uint32_t crc32,
                       uint64_t size, const char *metadata, char **json);
void sl__hook_abort(sl_req_t *r, int reason);
enum MHD_Result sl__host_route(sl_req_t *r, const char *method);
/* metrics.c */
int sl__fail_reason(int err);
void sl__metrics_observe(uint64_t *buckets, uint64_t *count, double *sum, double seconds);
void sl__metrics_init(sl_server_t *srv);
void sl__metrics_tick(sl_server_t *srv);
/* The /metrics text, returned owned (free), and its length. */
char *sl__metrics_render(sl_server_t *srv, size_t *len);

/* log.c: the access log (open, close, one line at completion) and the diagnostic log. */
int sl__log_open(sl_server_t *srv);
void sl__log_close(sl_server_t *srv);
void sl__access_log(sl_req_t *r, int aborted);
void sl__log(sl_server_t *srv, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* hook_cmd.c: resolve --hook-http (0, or a code for a bad URL: before anything starts), then
 * install --hook-exec / --hook-http as hooks. */
int sl__hook_cmd_resolve(sl_server_t *srv);
void sl__hook_cmd_install(sl_server_t *srv);
/* An upload's first call once validated (and allowed): the preflight or the chain. */
enum MHD_Result sl__upload_begin(sl_req_t *r);

/* cond.c: conditional and range requests (RFC 9110 §13, §14), pure functions of the fields. */
typedef struct sl_range_s {
    uint64_t start, end; /* inclusive */
} sl_range_t;
enum { SL_RANGE_WHOLE = 0, SL_RANGE_ONE = 1 };
/* A Range value against a representation of `size` bytes: SL_RANGE_ONE with *out set (only
 * then), SL_RANGE_WHOLE (absent, invalid, another unit, several satisfiable ranges: send it all)
 * or SL_ERANGE (nothing satisfiable: 416). */
int sl__range_parse(const char *v, uint64_t size, sl_range_t *out);
/* 1 if the If-Match / If-None-Match value v ("*" or a list of entity-tags) matches etag (weak or
 * strong comparison), else 0; a malformed list matches nothing. */
int sl__etag_match(const char *v, const char *etag, int weak);
/* An HTTP-date (IMF-fixdate, RFC 850 or asctime): 0 and *out, or -1. */
int sl__http_date(const char *v, time_t *out);
typedef struct sl_cond_s {
    const char *if_match, *if_none_match, *if_modified_since, *if_unmodified_since, *if_range;
    const char *range; /* any of them NULL when absent */
} sl_cond_t;
/* The status a request with these fields gets for a representation (etag, mtime, size): 200,
 * 206 (*range set), 304, 412 or 416. safe: GET or HEAD. */
unsigned sl__cond_evaluate(const sl_cond_t *c, const char *etag, time_t mtime, uint64_t size,
                           int safe, sl_range_t *range);

/* files.c: GET/HEAD, listing, DELETE, started from the final call. */
void sl__files_start(sl_req_t *r);

/* form.c: the multipart/form-data stage (r->boundary set). */
void sl_form_init(sl_form_t *fm, sl_req_t *r, const char *boundary);
void sl_form_continue(sl_form_t *fm);
/* The 201 JSON, returned owned (free) with its length. */
char *sl_form_response(sl_form_t *fm, size_t *len);
void sl_form_free(sl_form_t *fm);
/* on_complete for each file of a committed form. */
void sl_form_completed(sl_form_t *fm);

/* digests.c: RFC 9530 fields. parse: 0 or SL_EBADREQUEST (unknown algorithms skipped). */
int sl__digests_parse(const char *v, sl_digests_t *d);
void sl__base64(const unsigned char *in, size_t n, char *out);
/* Strict base64 (padded, standard alphabet) of p[0..len) into out (cap >= len/4*3): the byte
 * count or -1. */
int sl__base64_decode(const char *p, size_t len, unsigned char *out, size_t cap);
void sl__hex_to_bytes(const char *hex, unsigned char *out, size_t n);
/* The digests an upload computes over its stored bytes: --digest plus what the client asks for
 * (Want-Repr-Digest; Want-Content-Digest too for an identity body): SL_DIGEST_* bits. want: the
 * sha-256 / sha-512 a Want-* value asks for with a preference above 0. */
int sl__want_digests(const char *v);
int sl__upload_digests(sl_req_t *r);
/* Make x compute r's digests (before its first write). */
void sl__digest_setup(sl_req_t *r, sl_xf_digest_t *x);
/* The JSON members of what x computed (",\"crc32\":…,\"sha256\":…,\"sha512\":…") into out[cap]. */
size_t sl__digest_json(const sl_xf_digest_t *d, char *out, size_t cap);
/* `field` (Repr-Digest, Content-Digest) with the sha-256 / sha-512 x computed, if any. */
void sl__digest_headers(sl_req_t *r, const sl_xf_digest_t *d, const char *field);
/* "sha-256=:<base64>:" for a hex SHA-256, into out[64]. */
void sl__repr_digest_header(const char *sha256_hex, char out[64]);

/* respond.c: the one error→status table, and responses set on r (queued by the handler). */
unsigned sl__status_for(int err);
/* The answer for r: status and resp (taken over; NULL when libmicrohttpd could not create it,
 * which fails the request at sl__queue). Headers: a refusal is remembered the same way. */
void sl__respond(sl_req_t *r, unsigned status, struct MHD_Response *resp);
void sl__respond_header(sl_req_t *r, const char *name, const char *value);
void sl__respond_error(sl_req_t *r, int err);
void sl__respond_json(sl_req_t *r, unsigned status, const char *json, size_t len);
enum MHD_Result sl__queue(sl_req_t *r);
/* JSON-escape s into out[cap] (quotes not added); percent-encode a name for a URL path. */
void sl__json_escape(const char *s, char *out, size_t cap);
void sl__url_escape(const char *s, char *out, size_t cap);

#endif
