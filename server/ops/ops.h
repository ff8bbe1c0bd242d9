/* SPDX-License-Identifier: MIT
 * Operations, private to server/: metrics, logs, configuration internals. */
#ifndef SL_SERVER_OPS_H
#define SL_SERVER_OPS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice.h"

typedef struct sl_req_s sl_req_t;

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
/* Requests and connections refused by access control and the limits per client
 * (sluice_refused_total{reason}). */
enum {
    SL_REFUSE_UNAUTHORIZED,   /* 401 */
    SL_REFUSE_DENIED,         /* 403 */
    SL_REFUSE_TOKEN_UPLOADS,  /* 429: a token's concurrent uploads */
    SL_REFUSE_CONNS_PER_IP,   /* closed at accept: --max-conns-per-ip */
    SL_REFUSE_HEADER_TIMEOUT, /* 408 or closed: --header-timeout */
    SL_REFUSE_SLOW,           /* 408: --min-rate */
    SL_REFUSE_HEADER_SIZE,    /* 431: --max-header-size */
    SL_REFUSE_QUOTA,          /* 507: a token's quota=N */
    SL_REFUSE_N
};
/* One worker's figures (in shared memory with --workers). */
typedef struct sl_metrics_s {
    uint64_t started, committed, failed[SL_FAIL_NREASONS];
    uint64_t bytes_received, bytes_committed, requests, restarts, responses_failed;
    uint64_t digest_reads;  /* tus commits that had to read the file for its SHA-256 */
    uint64_t direct_reads;  /* uploads whose body sluice read from the socket itself */
    uint64_t spliced_bytes; /* body bytes moved socket → pipe → file (streams/pipe.c) */
    int64_t in_flight, suspended, connections, buffer_bytes, pid;
    uint64_t
        heartbeat_ms; /* CLOCK_MONOTONIC of the worker's last tick (the supervisor's watchdog) */
    uint64_t commit_buckets[SL_METRICS_BUCKETS], commit_count;
    double commit_sum;
    uint64_t flush_buckets[SL_METRICS_BUCKETS], flush_count;
    double flush_sum;
    int64_t store_up; /* 0 while the store cannot be reached (S3), else 1 */
    uint64_t refused[SL_REFUSE_N];
    uint64_t store_read_bytes; /* file bytes read from the store for GET answers */
    uint64_t store_retries;    /* requests to the store sent again (S3) */
} sl_metrics_t;

/* metrics.c: the figures and /metrics */
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

/* config.c: the size of the first versioned sl_config_t (0.2.0: everything up to min_free); a
 * config smaller than that, or never initialised, is refused. copy: src (borrowed, any version)
 * into dst, this version's, with defaults for what src lacks. */
#define SL_CONFIG_MIN_SIZE (offsetof(sl_config_t, min_free) + sizeof(uint64_t))
int sl__config_valid(const sl_config_t *cfg);
void sl__config_copy(sl_config_t *dst, const sl_config_t *src);
/* config_file.c: one key ("max-size", as in a file): 0, SL_ENOTFOUND (no such option) or
 * SL_EBADREQUEST (a bad value). The option table is options.h. */
int sl__config_set(sl_config_t *cfg, const char *key, const char *value);
/* "sha-256,crc32" or "none" into SL_CFG_DIGEST_* bits: 0, or -1 for an unknown name. */
int sl__parse_digests(const char *v, unsigned *out);

#endif
