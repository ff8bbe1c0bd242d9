/* SPDX-License-Identifier: MIT
 *
 * libsluice: a streaming large-file upload server on a libuv loop (public header).
 *
 * A server runs on the caller's uv_loop_t: libmicrohttpd is driven through its epoll fd by that
 * loop, file I/O runs on libuv's thread pool. Every call below must be made on the loop's
 * thread, and the process must ignore SIGPIPE (libsluice needs it for sendfile; main.c does
 * signal(SIGPIPE, SIG_IGN)). Set UV_THREADPOOL_SIZE before the loop's first file operation if
 * the default pool (4 threads) is too small; sl_config_apply_env does it from cfg->threads.
 *
 *   sl_config_t cfg;  sl_config_init(&cfg);  cfg.port = 8080;  snprintf(cfg.root, …);
 *   sl_server_t *srv; if (sl_server_new(loop, &cfg, &srv) == 0) uv_run(loop, UV_RUN_DEFAULT);
 *   … sl_server_stop(srv, on_stopped, arg);   on_stopped: sl_server_free(srv);
 */
#ifndef SLUICE_H
#define SLUICE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define SL_VERSION "0.1.0"

typedef struct sl_config_s {
    char host[256];            /* --listen HOST (default 127.0.0.1) */
    unsigned port;             /* --listen :PORT (default 8080; 0 = ephemeral) */
    char root[4096];           /* --root DIR (default ./data) */
    uint64_t max_size;         /* --max-size, bytes stored per upload (0 = unlimited) */
    unsigned max_connections;  /* --max-connections (default 10000) */
    unsigned idle_timeout;     /* --idle-timeout seconds without progress (default 60) */
    size_t conn_memory;        /* --conn-memory, libmicrohttpd pool per connection (32 KiB) */
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
    int verbose;               /* --verbose: libmicrohttpd diagnostics to stderr */
} sl_config_t;

typedef struct sl_server_s sl_server_t;
typedef void (*sl_server_stop_cb)(sl_server_t *srv, void *arg);

/* Fill `cfg` (borrowed) with the defaults above. */
void sl_config_init(sl_config_t *cfg);

/* Parse command-line flags into `cfg` (borrowed). Returns 0, 1 when --help or --version was
 * printed to stdout, or SL_EBADREQUEST with a one-line message in err[errlen]. */
int sl_config_parse_args(sl_config_t *cfg, int argc, char **argv, char *err, size_t errlen);

/* Parse "512", "64K", "10M", "2G", "1T" (powers of 1024) into *out. Returns 0 or -1. */
int sl_parse_size(const char *s, uint64_t *out);

/* Print the --help text to `f`. */
void sl_config_usage(void *file);

/* setenv UV_THREADPOOL_SIZE from cfg->threads unless already set. Call before any file I/O. */
void sl_config_apply_env(const sl_config_t *cfg);

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

/* Graceful stop: stop accepting, let in-flight uploads finish within cfg->shutdown_timeout
 * seconds (then abort them, removing their temp files), close every connection and handle, then
 * cb(srv, arg) on the loop. Idempotent. */
void sl_server_stop(sl_server_t *srv, sl_server_stop_cb cb, void *arg);

/* Free a stopped server. */
void sl_server_free(sl_server_t *srv);

#endif
