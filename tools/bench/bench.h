/* SPDX-License-Identifier: MIT
 *
 * sluice-bench: the bundled stress client (tools/README.md).
 *
 * One thread, one libuv loop, its own HTTP/1.1 client on uv_tcp_t: thousands of connections,
 * each running uploads one after another (keep-alive, or a new connection per upload). Bodies are
 * generated on the fly from a seed (sb_body_fill: any byte of any body can be recomputed, so a tus
 * upload can resume anywhere), hashed with SHA-256 while they are sent, and checked against the
 * digest the server reports. Every run is bounded: by a number of uploads or a duration, and by
 * --max-time and a per-request --timeout. Like curl, a body of more than --expect-threshold bytes
 * (1 MiB) is announced with "Expect: 100-continue" and held until the server's 100 Continue, its
 * final answer (the body is then not sent) or --expect-timeout (1 s, then it is sent anyway).
 *
 *   main ─▶ sb_parse_args ─▶ sb_run (engine.c: connections, modes, progress) ─▶ sb_report_*
 *
 * Files: args.c (options), dist.c (seeded random numbers, size distributions, body bytes),
 * hist.c (latency histogram), report.c (the final report, text and JSON), engine.c (the loop),
 * http.c (requests and response parsing), main.c.
 */
#ifndef SB_BENCH_H
#define SB_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* --- options (args.c) ------------------------------------------------------------------------ */

typedef enum { SB_PUT, SB_POST, SB_MULTIPART, SB_TUS } sb_mode_t;
typedef enum { SB_DIST_FIXED, SB_DIST_UNIFORM, SB_DIST_LOGNORMAL } sb_dist_kind_t;

/* A size distribution: fixed `a`; uniform in [a, b]; log-normal with median `a` and shape
 * `sigma`, clamped to [1, b] (b = 64 * a unless given). */
typedef struct sb_dist_s {
    sb_dist_kind_t kind;
    uint64_t a, b;
    double sigma;
} sb_dist_t;

typedef struct sb_opts_s {
    char host[256];       /* from the URL: IPv4 or IPv6 literal, or a name resolved once */
    unsigned port;        /* from the URL (default 80) */
    char base[512];       /* the URL's path: where uploads go ("/files/", "/uploads/") */
    char query[1024];     /* the URL's query with its '?' ("" without): added to every upload's
                             and tus creation's target (a signed URL's fields) */
    sb_mode_t mode;       /* --mode put|post|multipart|tus (default put) */
    unsigned concurrency; /* -c, --concurrency N connections (default 8) */
    uint64_t uploads;     /* -n, --uploads N in total (default 100 unless --duration) */
    double duration;      /* -d, --duration SECS: start uploads until then (0 = none) */
    sb_dist_t size;       /* -s, --size 64K | 1K-1M | lognormal:1M[,SIGMA[,MAX]] (default 1M) */
    uint64_t rate;        /* --rate N[K|M]: bytes per second per connection (0 = unlimited) */
    int keepalive;        /* --no-keepalive clears it (default on) */
    double ramp;          /* --ramp SECS: open the connections evenly over this time */
    int chunked;          /* --chunked: put/post bodies with Transfer-Encoding: chunked */
    uint64_t chunk_size;  /* --chunk-size N: tus bytes per PATCH (default 64M) */
    double disconnect; /* --disconnect P: tus, chance that a PATCH is cut mid-way, then resumed */
    uint64_t seed;     /* --seed N (default 1) */
    int verify_get;    /* --verify-get: GET every committed file back and compare its SHA-256 */
    int no_verify;     /* --no-verify: hash nothing, check nothing (peak sending speed) */
    int json;          /* --json: the report as one JSON object on stdout */
    int progress;      /* --progress / --no-progress (default: when stderr is a terminal) */
    pid_t server_pid;  /* --server-pid PID: report its peak RSS and CPU-seconds (0 = none) */
    double timeout;    /* --timeout SECS without progress on a request (default 60) */
    double max_time;   /* --max-time SECS for the whole run (default 3600) */
    char name_prefix[128]; /* --name-prefix P: stored names are P-<seed>-<n> (default "bench") */
    char header[512]; /* --header "Name: value": sent with every request (e.g. a bearer token) */
    int expect;       /* "Expect: 100-continue" on big bodies; --no-expect clears it (default on) */
    uint64_t expect_threshold;    /* --expect-threshold N: only bodies of more bytes (default 1M) */
    double expect_timeout;        /* --expect-timeout SECS: then the body goes anyway (default 1) */
    unsigned char sign_key[1024]; /* --sign-key FILE: every upload's target signed with it, */
    size_t sign_keylen;           /* as sluice checks --sign-key (0: none) */
    long long sign_expires;       /* ... valid until then (an hour after the start) */
} sb_opts_t;

void sb_opts_init(sb_opts_t *o);
/* Parse argv into *o (borrowed). Returns 0, 1 when --help/--version was printed to stdout, or -1
 * with a one-line message in err[errlen] (main exits 2). */
int sb_parse_args(sb_opts_t *o, int argc, char **argv, char *err, size_t errlen);
void sb_usage(FILE *f);
/* A signed URL's query for METHOD on path (borrowed) with o's key: "?sl-expires=…&sl-sig=…"
 * into out[cap] (tools/bench/http.c); 0, or -1 if OpenSSL fails. */
int sb_sign_query(const sb_opts_t *o, const char *method, const char *path, char *out, size_t cap);
/* "http://host[:port]/path" into o->host, o->port, o->base; 0 or -1. */
int sb_parse_url(const char *url, sb_opts_t *o);
/* "512", "64K", "10M", "2G" (powers of 1024) into *out; 0 or -1. */
int sb_parse_size(const char *s, uint64_t *out);

/* --- numbers and bytes (dist.c) --------------------------------------------------------------- */

/* splitmix64: the next number of the stream in *state. */
uint64_t sb_rand_next(uint64_t *state);
/* Uniform in [0, 1). */
double sb_rand_unit(uint64_t *state);
/* Parse a --size value; 0 or -1. */
int sb_dist_parse(const char *s, sb_dist_t *d);
/* One size drawn from d with the generator *state; always >= 1 except a fixed 0. */
uint64_t sb_dist_sample(const sb_dist_t *d, uint64_t *state);
/* The bytes [offset, offset + len) of the body stream of `seed`: a counter-based generator, so
 * any range can be produced at any time, in any order. */
void sb_body_fill(uint64_t seed, uint64_t offset, unsigned char *buf, size_t len);

/* --- latency histogram (hist.c) ----------------------------------------------------------------
 */

/* Log-linear buckets (HdrHistogram's layout): values in microseconds from 1 µs to about 2^40 µs,
 * 32 sub-buckets per power of two, so a percentile is exact to within 1/32 (3.1%). */
#define SB_HIST_SUB 32
#define SB_HIST_MAGS 41
typedef struct sb_hist_s {
    uint64_t counts[SB_HIST_MAGS * SB_HIST_SUB];
    uint64_t n, min, max;
    double sum;
} sb_hist_t;

void sb_hist_init(sb_hist_t *h);
void sb_hist_record(sb_hist_t *h, uint64_t usec);
/* The value at percentile p (0..100]: the upper bound of its bucket, never above max; 0 when
 * empty. p = 100 gives max. */
uint64_t sb_hist_percentile(const sb_hist_t *h, double p);
double sb_hist_mean(const sb_hist_t *h);

/* --- the report (report.c) ---------------------------------------------------------------------
 */

/* Why an upload failed. */
enum {
    SB_E_STATUS,   /* an HTTP error status (counted by status too) */
    SB_E_REFUSED,  /* connect refused or unreachable */
    SB_E_RESET,    /* the connection was reset or closed before a full response */
    SB_E_TIMEOUT,  /* no progress for --timeout */
    SB_E_DIGEST,   /* the server's SHA-256 (or the file read back) differs from what was sent */
    SB_E_PROTOCOL, /* an answer that is not HTTP, or misses what the mode needs */
    SB_NCAUSES
};

typedef struct sb_report_s {
    uint64_t started, ok, failed;
    uint64_t causes[SB_NCAUSES];
    uint64_t status[600]; /* final statuses of failed uploads (100..599) */
    uint64_t bytes_sent;  /* body bytes written, including retried or failed ones */
    uint64_t bytes_ok;    /* body bytes of uploads that succeeded */
    uint64_t resumes;     /* tus: PATCHes resumed after a cut */
    uint64_t verified;    /* uploads whose SHA-256 the server reported, and matched */
    sb_hist_t latency;    /* per successful upload, start to final answer */
    double elapsed;       /* seconds */

    uint64_t expect_sent;      /* requests with "Expect: 100-continue" (tus: each PATCH) */
    uint64_t expect_continued; /* ... whose body went after a 100 Continue */
    uint64_t expect_timeouts;  /* ... whose body went after --expect-timeout without one */
    uint64_t expect_answered;  /* ... answered with a final status first: body not sent */

    int has_server;
    uint64_t server_rss_peak_kib;
    double server_cpu_s;
    int aborted; /* stopped by --max-time or a signal */
} sb_report_t;

const char *sb_cause_name(int cause);
/* Bytes per second and uploads per second of the successful uploads; 0 when elapsed is 0. */
double sb_report_throughput(const sb_report_t *r);
double sb_report_rate(const sb_report_t *r);
void sb_report_text(const sb_report_t *r, const sb_opts_t *o, FILE *f);
void sb_report_json(const sb_report_t *r, const sb_opts_t *o, FILE *f);

/* --- the run (engine.c) ------------------------------------------------------------------------
 */

/* Run the benchmark described by o, filling *r. 0, or -1 with a message in err (a server that
 * cannot be resolved, a socket error before any upload). */
int sb_run(const sb_opts_t *o, sb_report_t *r, char *err, size_t errlen);

#endif
