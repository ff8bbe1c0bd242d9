/* SPDX-License-Identifier: MIT
 *
 * GET /metrics: Prometheus text format (version 0.0.4), one series per worker.
 *
 * Each worker counts into its own slot; with --workers the slots live in memory the supervisor
 * mapped shared before it forked them, so any worker answers /metrics for all of them (labelled
 * worker="N"), and a restarted worker's counters go on from where its predecessor left them.
 * Counters only grow; gauges are what the worker saw at its last tick (once a second) or now.
 * A slot is written by one process only (its worker; the supervisor only writes `restarts`), and
 * a scrape reads the others without locks: a value may be a tick old, never torn (aligned 64-bit
 * words).
 */
#include "http/http.h"
#include "proto/proto.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const double bounds[SL_METRICS_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                  0.1,   0.25,   0.5,   1,    2.5,   10};
static const char *reasons[SL_FAIL_NREASONS] = {
    "client_gone", "too_large", "checksum", "no_space", "idle", "shutdown", "bad_request", "other"};

static const char *refusals[SL_REFUSE_N] = {"unauthorized", "denied",         "token_uploads",
                                            "conns_per_ip", "header_timeout", "min_rate",
                                            "header_size",  "quota"};

/* The reason a failed upload is counted under: from the status its answer gets (the one table,
 * http/respond.c), so a metric never disagrees with what the client was told. A client that went
 * away, an idle upload and a shutdown are told apart first: their answers are rarely seen. */
int sl__fail_reason(int err)
{
    unsigned status;

    switch (err) {
    case SL_EPREMATURE:
    case SL_EDESTROYED:
        return SL_FAIL_GONE;
    case SL_EIDLE:
    case SL_ETOOSLOW:
        return SL_FAIL_IDLE;
    case SL_ESHUTDOWN:
        return SL_FAIL_SHUTDOWN;
    case SL_ECHECKSUM:
    case SL_EUPLOADCHECKSUM:
        return SL_FAIL_CHECKSUM;
    }
    status = sl__status_for(err);
    if (status == MHD_HTTP_CONTENT_TOO_LARGE)
        return SL_FAIL_TOOLARGE;
    if (status == MHD_HTTP_INSUFFICIENT_STORAGE)
        return SL_FAIL_NOSPACE;
    if (status >= 400 && status < 500)
        return SL_FAIL_BADREQUEST;
    return SL_FAIL_OTHER;
}

void sl__metrics_observe(uint64_t *buckets, uint64_t *count, double *sum, double seconds)
{
    int i;

    for (i = 0; i < SL_METRICS_BUCKETS; i++)
        if (seconds <= bounds[i])
            buckets[i]++;
    (*count)++;
    *sum += seconds;
}

static void on_flush(void *arg, double seconds)
{
    sl_metrics_t *m = ((sl_server_t *)arg)->m;

    sl__metrics_observe(m->flush_buckets, &m->flush_count, &m->flush_sum, seconds);
}

void sl__metrics_init(sl_server_t *srv)
{
    srv->slots = &srv->own_slot;
    srv->nslots = 1;
    srv->m = &srv->own_slot;
    srv->store->on_flush = on_flush;
    srv->store->flush_arg = srv;
}

/* Also called from a request (GET /metrics), inside MHD_run: no MHD_get_daemon_info here (for
 * CURRENT_CONNECTIONS, libmicrohttpd 0.9.75 frees the connections it closed, which MHD_run may
 * still hold: a crash when a scrape meets connections timing out). The connections are counted
 * from MHD_OPTION_NOTIFY_CONNECTION instead (conns.c). */
void sl__metrics_tick(sl_server_t *srv)
{
    sl_metrics_t *m = srv->m;
    sl_req_t *r;
    int64_t suspended = 0, in_flight = 0;

    for (r = srv->reqs; r != NULL; r = r->next) {
        suspended += r->suspended;
        in_flight += r->up != NULL && r->up->running;
    }
    m->suspended = suspended;
    m->in_flight = in_flight;
    m->connections = srv->mhd != NULL ? (int64_t)srv->nconns : (int64_t)srv->nreqs;
    m->buffer_bytes = (int64_t)sl_budget_in_use(srv->loop);
    m->pid = (int64_t)getpid();
    m->store_up = srv->store != NULL && !srv->store->unreachable;
    if (srv->store != NULL) { /* the slot's counter goes on across a worker's restarts */
        m->store_read_bytes += srv->store->read_bytes - srv->store_read_seen;
        srv->store_read_seen = srv->store->read_bytes;
        uint64_t retries = __atomic_load_n(&srv->store->retries, __ATOMIC_RELAXED);
        m->store_retries += retries - srv->store_retries_seen;
        srv->store_retries_seen = retries;
    }
}

/* A slot some worker has used (the others of --workers' 2N are spares for SIGHUP). */
static int used(const sl_server_t *srv, int w)
{
    return srv->nslots == 1 || srv->slots[w].pid != 0;
}

typedef struct out_s {
    char *buf;
    size_t len, cap;
} out_t;

static void put(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out_t *o, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < o->cap - o->len)
            break;
        o->cap *= 2;
        o->buf = sl_xrealloc(o->buf, o->cap);
    }
    o->len += (size_t)n;
}

#define SERIES(type, name, help, fmt, cast, field)                                                 \
    do {                                                                                           \
        put(&o, "# HELP " name " " help "\n# TYPE " name " " type "\n");                           \
        for (w = 0; w < srv->nslots; w++)                                                          \
            if (used(srv, w))                                                                      \
                put(&o, name "{worker=\"%d\"} " fmt "\n", w, (cast)srv->slots[w].field);           \
    } while (0)
#define COUNTER(name, help, field) SERIES("counter", name, help, "%llu", unsigned long long, field)
#define GAUGE(name, help, field) SERIES("gauge", name, help, "%lld", long long, field)

static void histogram(out_t *o, const sl_server_t *srv, const char *name, const char *help,
                      size_t off_buckets, size_t off_count, size_t off_sum)
{
    int w, i;

    put(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (w = 0; w < srv->nslots; w++) {
        const char *slot = (const char *)&srv->slots[w];
        if (!used(srv, w))
            continue;
        const uint64_t *b = (const uint64_t *)(slot + off_buckets);
        uint64_t count = *(const uint64_t *)(slot + off_count);
        for (i = 0; i < SL_METRICS_BUCKETS; i++)
            put(o, "%s_bucket{worker=\"%d\",le=\"%g\"} %llu\n", name, w, bounds[i],
                (unsigned long long)b[i]);
        put(o, "%s_bucket{worker=\"%d\",le=\"+Inf\"} %llu\n", name, w, (unsigned long long)count);
        put(o, "%s_sum{worker=\"%d\"} %.6f\n", name, w, *(const double *)(slot + off_sum));
        put(o, "%s_count{worker=\"%d\"} %llu\n", name, w, (unsigned long long)count);
    }
}

char *sl__metrics_render(sl_server_t *srv, size_t *len)
{
    out_t o = {sl_xmalloc(16384), 0, 16384};
    int w, i;

    sl__metrics_tick(srv); /* this worker's gauges, now */
    COUNTER("sluice_uploads_started_total", "Uploads whose body began streaming.", started);
    COUNTER("sluice_uploads_committed_total", "Uploads committed under their final name.",
            committed);
    put(&o, "# HELP sluice_uploads_failed_total Uploads that ended without a commit, by reason.\n"
            "# TYPE sluice_uploads_failed_total counter\n");
    for (w = 0; w < srv->nslots; w++)
        for (i = 0; i < SL_FAIL_NREASONS && used(srv, w); i++)
            put(&o, "sluice_uploads_failed_total{worker=\"%d\",reason=\"%s\"} %llu\n", w,
                reasons[i], (unsigned long long)srv->slots[w].failed[i]);
    COUNTER("sluice_received_bytes_total", "Body bytes received by uploads.", bytes_received);
    COUNTER("sluice_committed_bytes_total", "Bytes of committed uploads.", bytes_committed);
    COUNTER("sluice_requests_total", "HTTP requests completed.", requests);
    COUNTER("sluice_direct_reads_total",
            "Uploads whose body sluice read from the socket itself (not through libmicrohttpd).",
            direct_reads);
    COUNTER("sluice_spliced_bytes_total",
            "Body bytes spliced from the socket into the file, never copied through sluice.",
            spliced_bytes);
    COUNTER("sluice_digest_reads_total",
            "Resumable uploads whose SHA-256 was computed by reading the file at the commit.",
            digest_reads);
    COUNTER("sluice_store_read_bytes_total",
            "File bytes GET answers read from the store: arrived from it (S3), or the answers' "
            "lengths sent from its files (filesystem).",
            store_read_bytes);
    COUNTER("sluice_store_retries_total",
            "Requests to the store sent again after a transient failure (S3: --s3-retries).",
            store_retries);
    COUNTER("sluice_responses_failed_total",
            "Answers libmicrohttpd could not create or queue (the connection was closed).",
            responses_failed);
    put(&o, "# HELP sluice_refused_total Requests and connections refused by access control "
            "and the limits per client, by reason.\n# TYPE sluice_refused_total counter\n");
    for (w = 0; w < srv->nslots; w++)
        for (i = 0; i < SL_REFUSE_N && used(srv, w); i++)
            put(&o, "sluice_refused_total{worker=\"%d\",reason=\"%s\"} %llu\n", w, refusals[i],
                (unsigned long long)srv->slots[w].refused[i]);
    COUNTER("sluice_worker_restarts_total", "Times the supervisor replaced this worker.", restarts);
    GAUGE("sluice_uploads_in_flight", "Uploads streaming now.", in_flight);
    GAUGE("sluice_connections_suspended", "Connections paused by backpressure or a job.",
          suspended);
    GAUGE("sluice_connections_open", "Open client connections.", connections);
    GAUGE("sluice_buffer_bytes", "Bytes held in upload buffers (the --buffer-budget in use).",
          buffer_bytes);
    GAUGE("sluice_worker_pid", "The process id of the worker.", pid);
    GAUGE("sluice_store_up", "1 if the store answers (an S3 store can be unreachable), else 0.",
          store_up);
    histogram(&o, srv, "sluice_commit_duration_seconds",
              "From the end of an upload's body to its commit (flush, rename).",
              offsetof(sl_metrics_t, commit_buckets), offsetof(sl_metrics_t, commit_count),
              offsetof(sl_metrics_t, commit_sum));
    histogram(&o, srv, "sluice_fsync_duration_seconds",
              "One flush of a commit batch (fdatasync or syncfs), durable mode.",
              offsetof(sl_metrics_t, flush_buckets), offsetof(sl_metrics_t, flush_count),
              offsetof(sl_metrics_t, flush_sum));
    *len = o.len;
    return o.buf;
}
