/* SPDX-License-Identifier: MIT
 *
 * libsluice: a streaming large-file upload server on a libuv loop (public header).
 *
 * A server runs on the caller's uv_loop_t: libmicrohttpd is driven through its epoll fd by that
 * loop, file I/O runs on libuv's thread pool. Threads: every function below must be called on
 * the loop's thread (the one running uv_run), and every callback (hooks, routes, the stop
 * callback) runs on it; none of them is safe from another thread. Several loops, each run by a
 * thread of its own with its own servers, are independent: libsluice keeps its state per loop.
 * The process must ignore SIGPIPE (libsluice needs it for sendfile: signal(SIGPIPE, SIG_IGN)).
 * Set UV_THREADPOOL_SIZE before the loop's first file operation if the default pool (4 threads)
 * is too small; sl_config_export_threads does it from cfg->threads.
 *
 *   sl_config_t cfg;  sl_config_init(&cfg);  cfg.port = 8080;  snprintf(cfg.root, …);
 *   snprintf(cfg.mount, sizeof(cfg.mount), "/api/upload/");      (optional)
 *   sl_server_t *srv; if (sl_server_new(loop, &cfg, &srv) == 0) {
 *       sl_server_set_hooks(srv, &hooks);  sl_server_set_routes(srv, my_routes, arg);  (optional)
 *       uv_run(loop, UV_RUN_DEFAULT); }
 *   … sl_server_stop(srv, on_stopped, arg);   on_stopped: sl_server_free(srv);
 *
 * docs/embedding.md walks through a complete program (examples/embed.c).
 */
#ifndef SLUICE_H
#define SLUICE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "sluice_error.h"   /* SL_E* codes, sl_strerror, sl_err_name */
#include "sluice_version.h" /* SL_VERSION, SL_VERSION_MAJOR/MINOR/PATCH/NUMBER (generated) */

enum { SL_LOG_ERROR, SL_LOG_WARN, SL_LOG_INFO, SL_LOG_DEBUG };

/* A server's configuration. Versioned by size: sl_config_init records the size this struct had
 * when the program was compiled, later versions of libsluice only append fields, and every
 * function below reads and writes only the fields the program knows (the others keep their
 * defaults). So a program built against this header runs with a newer libsluice of the same
 * major version. Always start from sl_config_init; a config it did not fill is refused
 * (UV_EINVAL, SL_EBADREQUEST). */
typedef struct sl_config_s {
    size_t size;               /* set by sl_config_init: sizeof(sl_config_t) in the program */
    char host[256];            /* --listen HOST (default 127.0.0.1) */
    unsigned port;             /* --listen :PORT (default 8080; 0 = ephemeral) */
    char root[4096];           /* --root DIR (default ./data) */
    uint64_t max_size;         /* --max-size, bytes stored per upload (100G; 0 = unlimited) */
    unsigned max_connections;  /* --max-connections (default 10000) */
    unsigned idle_timeout;     /* --idle-timeout seconds without progress (default 60) */
    size_t conn_memory;        /* --conn-memory, libmicrohttpd pool per connection (40 KiB) */
    size_t upload_buffer;      /* --upload-buffer, high-water mark per upload (1 MiB) */
    size_t buffer_budget;      /* --buffer-budget, all uploads together (256 MiB) */
    unsigned threads;          /* --threads, libuv thread pool size (16) */
    int durable;               /* --durability full (1, default) | none (0) */
    unsigned shutdown_timeout; /* --shutdown-timeout seconds for in-flight uploads (30) */
    uint64_t list_limit;       /* --list-limit, entries in GET /files/ (10000) */
    uint64_t max_expansion;    /* --max-expansion, decoded/encoded ratio of gzip bodies (100) */
    unsigned max_parts;        /* --max-parts, parts of a multipart/form-data body (1000) */
    unsigned max_files;        /* --max-files, file parts per request (100) */
    size_t max_field_size;     /* --max-field-size, bytes of one text field (1 MiB) */
    size_t max_part_header;    /* --max-part-header, header bytes of one part (8 KiB) */
    unsigned tus_expire;       /* --tus-expire seconds an idle resumable upload lives (86400; 0
                                  = never) */
    char cors_origin[1024];    /* --cors-origin, comma-separated origins or "*" ("" = no CORS) */
    char mount[256];           /* --mount PREFIX: sluice's URLs live under it ("/" by default:
                                  /files/, /uploads/, /healthz); e.g. "/api/upload/" */
    char hook_exec[4096];      /* --hook-exec DIR: a program per event (the sluice binary only:
                                  server/cli/hook_cmd.c) */
    char hook_http[1024];      /* --hook-http URL: POST each event as JSON, "" = none */
    unsigned hook_timeout;     /* --hook-timeout seconds per hook call (10) */
    unsigned hook_retries;     /* --hook-retries more tries of a failed --hook-http call (2) */
    char access_log[4096]; /* --access-log FILE: a JSON line per request ("-": stderr; "" off) */
    int log_level;         /* --log-level error|warn|info|debug (SL_LOG_*, default info) */
    unsigned workers;      /* --workers N|auto: processes sharing the port (1; 0 = auto) */
    int trust_proxy;       /* --trust-proxy: the client is the one X-Forwarded-For/Forwarded name */
    int verbose;           /* --verbose: libmicrohttpd diagnostics to stderr */
    unsigned digests;      /* --digest: what every upload computes, SL_CFG_DIGEST_* bits
                              (default SHA-256; 0 = none) */
    int no_takeover;       /* --no-direct-read: libmicrohttpd reads every body (src_sock.c) */
    uint64_t min_free;     /* --min-free: bytes of the root's filesystem never written into
                              (UINT64_MAX = auto: 1% of it, at most 1 GiB; 0 = none) */
    int no_ui;             /* --no-ui: GET / is not the upload page */
    char ui_dir[4096];     /* --ui-dir DIR: the page's files ("" = the build tree's when run
                              from it, else PREFIX/share/sluice/ui) */
    char store[1024];      /* --store s3://BUCKET[/PREFIX]: an S3 store ("" = files in --root) */
    char s3_endpoint[1024];      /* --s3-endpoint URL (path-style; "" = AWS_ENDPOINT_URL) */
    char s3_region[64];          /* --s3-region ("" = AWS_REGION, else us-east-1) */
    char s3_access_key[256];     /* --s3-access-key ("" = AWS_ACCESS_KEY_ID) */
    char s3_secret_key[256];     /* --s3-secret-key ("" = AWS_SECRET_ACCESS_KEY) */
    char s3_session_token[4096]; /* --s3-session-token ("" = AWS_SESSION_TOKEN) */
    char spool[4096];       /* --spool DIR: where an S3 upload's parts wait ("" = TMPDIR, /tmp) */
    uint64_t s3_part_size;  /* --s3-part-size: bytes of an S3 upload's parts (64 MiB) */
    unsigned s3_lock_lease; /* --s3-lock-lease seconds a tus PATCH's lock lives unrenewed (60) */
    /* 0.3.0: access control, TLS, limits per client (docs/security.md) */
    char token_file[4096];     /* --token-file FILE: bearer tokens, their rights and prefixes */
    char sign_key[4096];       /* --sign-key FILE: the secret of signed URLs (sluice sign) */
    char tls_cert[4096];       /* --tls-cert FILE: PEM certificate chain ("" = plain HTTP) */
    char tls_key[4096];        /* --tls-key FILE: its PEM private key */
    unsigned max_conns_per_ip; /* --max-conns-per-ip: per IPv4 address or IPv6 /64 (64; 0 = none) */
    int limit_loopback;        /* --limit-loopback: the per-client limits apply to 127/8 and ::1 */
    unsigned header_timeout;   /* --header-timeout seconds to receive a request's header (30) */
    uint64_t min_rate;         /* --min-rate bytes/s an upload must average over the window (1K) */
    unsigned min_rate_window;  /* --min-rate-window seconds (30) */
    size_t max_header_size;    /* --max-header-size, all header fields of a request (32K) */
    unsigned max_uploads_per_token; /* --token-uploads, concurrent (0 = no limit) */
    int metrics_public;             /* --metrics-public: /metrics needs no token from other hosts */
    /* 0.4.0 */
    int no_splice;       /* --no-splice: read bodies into memory even when no stage looks at them */
    unsigned s3_retries; /* --s3-retries: tries after the first of a failed S3 request (4) */
} sl_config_t;

/* --digest bits (sl_config_t.digests) */
#define SL_CFG_DIGEST_SHA256 1u
#define SL_CFG_DIGEST_SHA512 2u
#define SL_CFG_DIGEST_CRC32 16u

typedef struct sl_server_s sl_server_t;
typedef void (*sl_server_stop_cb)(sl_server_t *srv, void *arg);

/* Every field above is one flag of the binary: --flag VALUE or --flag=VALUE on the command line,
 * `flag = VALUE` in a configuration file, SLUICE_FLAG=VALUE in the environment (capitals, `_`
 * for `-`). The functions below read and write them all alike. */

/* Fill `cfg` (borrowed) with the defaults above and record its size (`size`: the sizeof the
 * program was compiled with; the macro passes it). */
void sl_config_init_size(sl_config_t *cfg, size_t size);
#define sl_config_init(cfg) sl_config_init_size((cfg), sizeof(sl_config_t))

/* What sl_config_parse_args returns when it printed --help, --version or --check-config to
 * stdout: the program's work is done, it should exit with status 0. */
#define SL_CONFIG_EXIT 1

/* Parse command-line flags into `cfg` (borrowed; argv borrowed, not kept), after --config FILE
 * and SLUICE_* variables (of the process's environ). Returns 0 (run with cfg), SL_CONFIG_EXIT
 * (something was printed: exit 0), or SL_EBADREQUEST with a one-line message in err[errlen]
 * (exit 2). */
int sl_config_parse_args(sl_config_t *cfg, int argc, char **argv, char *err, size_t errlen);

/* Read into `cfg` (borrowed) a configuration file `path` (key = value lines, keys being flags
 * without "--"), or the SLUICE_<FLAG> variables of `envp` (borrowed, NULL-terminated like
 * environ; names that are no flag are ignored). Each returns 0 or SL_EBADREQUEST with a
 * one-line message (file:line, or the variable) in err[errlen]. parse_args does both (--config
 * FILE, then the environment, then the flags). */
int sl_config_load_file(sl_config_t *cfg, const char *path, char *err, size_t errlen);
int sl_config_load_env(sl_config_t *cfg, char **envp, char *err, size_t errlen);

/* Print `cfg` (borrowed) to `f` (borrowed, left open) as a configuration file that
 * sl_config_load_file reads back the same (what --check-config prints). */
void sl_config_print(const sl_config_t *cfg, FILE *f);

/* Print the --help text, every flag with its help and default, to `f` (borrowed, left open). */
void sl_config_usage(FILE *f);

/* Parse "512", "64K", "10M", "2G", "1T" (powers of 1024) into *out. Returns 0 or -1. */
int sl_parse_size(const char *s, uint64_t *out);

/* Put cfg->threads (borrowed) in the process's environment as UV_THREADPOOL_SIZE, unless it is
 * already set: libuv reads it once, at the first file operation, so call this before. */
void sl_config_export_threads(const sl_config_t *cfg);

/* Deprecated names, kept for programs written against 0.1.0: sl_config_apply_env is
 * sl_config_export_threads (the configuration to the environment), sl_config_apply_environ is
 * sl_config_load_env (the environment to the configuration). */
void sl_config_apply_env(const sl_config_t *cfg);
int sl_config_apply_environ(sl_config_t *cfg, char **envp, char *err, size_t errlen);

/* Create and start a server on `loop` (borrowed; must outlive the server) with a copy of `cfg`:
 * opens the store (sweeping dead temp files) and starts listening. *out is returned owned: free
 * it with sl_server_free after the stop callback. Returns 0 or a negative code. */
int sl_server_new(uv_loop_t *loop, const sl_config_t *cfg, sl_server_t **out);

/* The port the server listens on (useful with port 0). */
unsigned sl_server_port(const sl_server_t *srv);

/* The store's root as an absolute path, and how many dead temp files the start-up sweep
 * removed. Both borrowed from the server. */
const char *sl_server_root(const sl_server_t *srv);
size_t sl_server_swept(const sl_server_t *srv);

/* The buffer budget of the server's loop in bytes: the sum of the cfg->buffer_budget of every
 * server on that loop, which share it (0 = unlimited: one of them has no limit). Servers on other
 * loops (other threads) have budgets of their own. *in_use and *peak (either may be NULL) get
 * the bytes buffered on the loop now and at the most since libsluice first used the loop. */
size_t sl_server_budget(const sl_server_t *srv, size_t *in_use, size_t *peak);

/* Graceful stop: stop accepting, let in-flight uploads finish within cfg->shutdown_timeout
 * seconds (then abort them, removing their temp files), close every connection and handle, then
 * cb(srv, arg) on the loop. Idempotent. */
void sl_server_stop(sl_server_t *srv, sl_server_stop_cb cb, void *arg);

/* Free a stopped server: in its stop callback or later. The memory goes once nothing refers to
 * it any more (a pending on_request decision, a job still running); the last server of a loop
 * also releases what libsluice keeps per loop, so uv_loop_close can return 0 once the loop has
 * run its close callbacks. */
void sl_server_free(sl_server_t *srv);

/* Reopen the access log (after logrotate moved it: the binary does it on SIGUSR1). 0 or a
 * negative code (the old file stays in use then). */
int sl_server_reopen_logs(sl_server_t *srv);

/* The version of the library the program runs with ("0.1.0"), static; SL_VERSION is the one of
 * the header it was compiled with. */
const char *sl_version(void);

/* A static message for a negative code returned by any sl_ function. */
const char *sl_strerror(int err);
/* The code's short name ("SL_ETOOLARGE", "ENOSPC"), static. */
const char *sl_err_name(int err);

/* --- inside the host's own libmicrohttpd daemon ------------------------------------------------
 */

/* For a host that already runs libmicrohttpd (0.9.75+) from this loop's thread, with
 * MHD_ALLOW_SUSPEND_RESUME and no internal thread: a server without a listener of its own. The
 * host's access handler gives sluice the requests under cfg->mount with sl_server_handle (same
 * arguments; *con_cls is sluice's for those requests), its MHD_OPTION_NOTIFY_COMPLETED callback
 * calls sl_server_completed for them, and its daemon should use an MHD_OPTION_UNESCAPE_CALLBACK
 * that leaves the URL as sent (return strlen(uri)) so names are decoded once, by sluice.
 * `kick(arg)` asks the host to run its daemon soon (MHD_run) after sluice resumed a suspended
 * connection; it may be called from inside sl_server_handle, so it must only schedule the run
 * (a uv_idle_t), never run the daemon itself. Stopping: sl_server_stop, then the host stops its
 * daemon after the stop callback. examples/embed_mhd.c shows one. */
struct MHD_Connection;
int sl_server_attach(uv_loop_t *loop, const sl_config_t *cfg, void (*kick)(void *arg), void *arg,
                     sl_server_t **out);
/* Return type: enum MHD_Result (an int); the arguments are the access handler's. */
int sl_server_handle(sl_server_t *srv, struct MHD_Connection *conn, const char *url,
                     const char *method, const char *version, const char *upload_data,
                     size_t *upload_data_size, void **con_cls);
/* toe: enum MHD_RequestTerminationCode. */
void sl_server_completed(sl_server_t *srv, struct MHD_Connection *conn, void **con_cls, int toe);

/* --- routes of the host -------------------------------------------------------------------------
 */

/* A request outside cfg->mount (or one sluice does not serve) can be answered by the host:
 * write at most `cap` bytes of body into `body`, set *len and *content_type (static), return the
 * status. Return 0 to let sluice answer 404. The request's body, if any, is not read. */
typedef unsigned (*sl_route_fn)(const char *method, const char *path, char *body, size_t cap,
                                size_t *len, const char **content_type, void *arg);
void sl_server_set_routes(sl_server_t *srv, sl_route_fn fn, void *arg);

/* --- hooks ------------------------------------------------------------------------------------ */

/* What a hook is told about an upload. Borrowed: valid during the callback only. */
typedef struct sl_event_s {
    const char *method;   /* "PUT", "POST" (raw, form, or tus creation) */
    const char *path;     /* the request path below the mount prefix, e.g. "/files/a/b.bin" */
    const char *name;     /* the name it is stored under ("" for a form, a tus id until done) */
    const char *remote;   /* the peer address ("" if unknown) */
    uint64_t length;      /* announced length (Content-Length or Upload-Length), 0 if unknown */
    uint64_t bytes;       /* body bytes received so far */
    const char *sha256;   /* on_complete: hex digest, or NULL (tus uploads are not hashed) */
    uint32_t crc32;       /* on_complete: with --digest crc32, else 0 */
    const char *metadata; /* tus Upload-Metadata, or NULL */
    int reason;           /* on_abort: a negative code (sl_strerror) */
    void *user_data;      /* what on_request attached (sl_hook_allow) */
} sl_event_t;

/* A pending decision of on_request: exactly one of sl_hook_allow or sl_hook_reject must be
 * called for it, during on_request or later (after an asynchronous lookup), on the loop thread.
 * Until then the request waits: no 100 Continue, no body read. If the client goes away first,
 * the decision is still expected and is then ignored. */
typedef struct sl_hook_req_s sl_hook_req_t;
/* The request's header `name` (case-insensitive), or NULL; valid until the decision. */
const char *sl_hook_header(sl_hook_req_t *h, const char *name);
const sl_event_t *sl_hook_event(sl_hook_req_t *h);
/* Go on; `rename` (borrowed, copied; NULL keeps the name) stores a PUT or raw POST under another
 * valid name (an invalid one answers 500); `user_data` comes back in every later event of this
 * upload. */
void sl_hook_allow(sl_hook_req_t *h, const char *rename, void *user_data);
/* Refuse with `status` (400..599) and `message` (borrowed, copied) in the JSON error body. */
void sl_hook_reject(sl_hook_req_t *h, unsigned status, const char *message);

typedef struct sl_hooks_s {
    /* Every request for sluice's URLs (files/, uploads/; not healthz, metrics, the host's
     * routes or CORS preflights), before anything is decided or read: an authorisation check
     * covers downloads, listings and deletes as well as uploads. */
    void (*on_request)(sl_hook_req_t *h, void *arg);
    /* While the body streams: at most every progress_ms (default 1000). */
    void (*on_progress)(const sl_event_t *e, void *arg);
    unsigned progress_ms;
    /* Once per committed file (a form: each file; tus: when the upload completes), after the
     * commit and before the answer. For a PUT or raw POST, setting *json (malloc'd, freed by
     * sluice) to `"key":value` members adds them to the 201's JSON body. */
    void (*on_complete)(const sl_event_t *e, char **json, void *arg);
    /* An upload that will not be committed: its reason (the client went away, a limit, a
     * digest mismatch, a refusal by on_request is not one: that upload never started). */
    void (*on_abort)(const sl_event_t *e, void *arg);
    void *arg;
} sl_hooks_t;

/* Install hooks (copied); NULL removes them. Applies to requests that start afterwards. */
void sl_server_set_hooks(sl_server_t *srv, const sl_hooks_t *hooks);

#endif
