/* SPDX-License-Identifier: MIT
 *
 * The final report, as text for people and as one JSON object for scripts.
 *
 * Both are pure functions of the report and the options: sb_run fills an sb_report_t, main hands
 * it here once, after the loop has ended. Rates count only the uploads that succeeded
 * (bytes_ok / elapsed, ok / elapsed); bytes_sent also counts bodies that failed or were resumed,
 * so bytes_sent - bytes_ok is the traffic that bought nothing. MB/s are 10^6 bytes, MiB/s 2^20.
 * Latencies are recorded in microseconds and printed in milliseconds.
 *
 * The text lists only what happened: error causes and statuses that occurred, tus resumes in tus
 * mode, the server's readings when --server-pid was given, and a final ABORTED line when
 * --max-time or a signal cut the run short. The JSON object always has the same keys (by_status
 * holds only the statuses seen, "server" is null without --server-pid), so a script can read it
 * without checking; it is printed on one line. Every string is escaped and every number is
 * finite, so the output is valid JSON whatever the options hold. The "size" string is the --size
 * value that reproduces the run, together with "seed".
 *
 * Whether bodies were announced with "Expect: 100-continue" is part of the configuration: the
 * text's first line says "Expect: 100-continue over <threshold>" or "no Expect", the JSON's
 * "expect" is null when off, else the threshold, the wait and what the server said to the
 * requests that carried it (the text's "expect" line, shown when there were any).
 */
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const cause_names[SB_NCAUSES] = {"status",  "refused", "reset",
                                                    "timeout", "digest",  "protocol"};

const char *sb_cause_name(int cause)
{
    if (cause < 0 || cause >= SB_NCAUSES)
        return "unknown";
    return cause_names[cause];
}

double sb_report_throughput(const sb_report_t *r)
{
    return r->elapsed > 0 ? (double)r->bytes_ok / r->elapsed : 0.0;
}

double sb_report_rate(const sb_report_t *r)
{
    return r->elapsed > 0 ? (double)r->ok / r->elapsed : 0.0;
}

static const char *mode_name(sb_mode_t m)
{
    switch (m) {
    case SB_PUT:
        return "put";
    case SB_POST:
        return "post";
    case SB_MULTIPART:
        return "multipart";
    case SB_TUS:
        return "tus";
    }
    return "unknown";
}

/* A size as --size writes it: "64K" when it is a whole number of K, M, G or T, else digits. */
static void fmt_size(uint64_t v, char *out, size_t cap)
{
    static const char units[] = "TGMK";
    int i;

    for (i = 0; i < 4; i++) {
        unsigned shift = (unsigned)(40 - 10 * i);
        if (v != 0 && v % (1ull << shift) == 0) {
            snprintf(out, cap, "%llu%c", (unsigned long long)(v >> shift), units[i]);
            return;
        }
    }
    snprintf(out, cap, "%llu", (unsigned long long)v);
}

/* The distribution as a --size value that gives it back. */
static void fmt_dist(const sb_dist_t *d, char *out, size_t cap)
{
    char a[32], b[32], sig6[32];

    snprintf(sig6, sizeof(sig6), "%g", d->sigma);
    fmt_size(d->a, a, sizeof(a));
    fmt_size(d->b, b, sizeof(b));
    if (d->kind == SB_DIST_UNIFORM)
        snprintf(out, cap, "%s-%s", a, b);
    else if (d->kind == SB_DIST_LOGNORMAL)
        /* The shortest sigma that reads back as the same double: "1.5", not "1.5000000000". */
        snprintf(out, cap, "lognormal:%s,%.*g,%s", a, strtod(sig6, NULL) == d->sigma ? 6 : 17,
                 d->sigma, b);
    else
        snprintf(out, cap, "%s", a);
}

/* "http://host:port/base", with an IPv6 host in brackets. */
static void fmt_url(const sb_opts_t *o, char *out, size_t cap)
{
    int v6 = strchr(o->host, ':') != NULL;

    snprintf(out, cap, "http://%s%s%s:%u%s", v6 ? "[" : "", o->host, v6 ? "]" : "", o->port,
             o->base);
}

static double ms(uint64_t usec)
{
    return (double)usec / 1000.0;
}

void sb_report_text(const sb_report_t *r, const sb_opts_t *o, FILE *f)
{
    char url[1024], size[128], expect[32];
    const char *sep = "";
    int i;

    fmt_url(o, url, sizeof(url));
    fmt_dist(&o->size, size, sizeof(size));
    fmt_size(o->expect_threshold, expect, sizeof(expect));
    fprintf(f, "sluice-bench: %s %s, %u connection%s%s, size %s, seed %llu, ", mode_name(o->mode),
            url, o->concurrency, o->concurrency == 1 ? "" : "s",
            o->keepalive ? "" : " (no keep-alive)", size, (unsigned long long)o->seed);
    if (o->expect)
        fprintf(f, "Expect: 100-continue over %s (wait %g s)\n", expect, o->expect_timeout);
    else
        fprintf(f, "no Expect\n");
    fprintf(f, "  uploads     %llu ok, %llu failed, %llu started\n", (unsigned long long)r->ok,
            (unsigned long long)r->failed, (unsigned long long)r->started);
    fprintf(f, "  elapsed     %.3f s\n", r->elapsed);
    fprintf(f, "  throughput  %.2f MB/s (%.2f MiB/s), %.2f uploads/s\n",
            sb_report_throughput(r) / 1e6, sb_report_throughput(r) / 1048576.0, sb_report_rate(r));
    fprintf(f, "  bytes       %llu ok, %llu sent\n", (unsigned long long)r->bytes_ok,
            (unsigned long long)r->bytes_sent);
    if (r->latency.n > 0)
        fprintf(f, "  latency     p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
                ms(sb_hist_percentile(&r->latency, 50)), ms(sb_hist_percentile(&r->latency, 90)),
                ms(sb_hist_percentile(&r->latency, 99)), ms(r->latency.max));
    for (i = 0; i < SB_NCAUSES; i++) {
        if (r->causes[i] == 0)
            continue;
        fprintf(f, "%s%s %llu", *sep ? sep : "  errors      ", sb_cause_name(i),
                (unsigned long long)r->causes[i]);
        sep = ", ";
    }
    if (*sep)
        fputc('\n', f);
    sep = "";
    for (i = 100; i < 600; i++) {
        if (r->status[i] == 0)
            continue;
        fprintf(f, "%s%d: %llu", *sep ? sep : "  statuses    ", i,
                (unsigned long long)r->status[i]);
        sep = ", ";
    }
    if (*sep)
        fputc('\n', f);
    if (r->expect_sent > 0)
        fprintf(f,
                "  expect      %llu requests: %llu continued, %llu timed out (sent anyway), %llu "
                "answered first (not sent)\n",
                (unsigned long long)r->expect_sent, (unsigned long long)r->expect_continued,
                (unsigned long long)r->expect_timeouts, (unsigned long long)r->expect_answered);
    if (o->mode == SB_TUS || r->resumes > 0)
        fprintf(f, "  tus resumes %llu\n", (unsigned long long)r->resumes);
    if (r->has_server)
        fprintf(f, "  server      peak RSS %.1f MiB, CPU %.2f s\n",
                (double)r->server_rss_peak_kib / 1024.0, r->server_cpu_s);
    if (r->aborted)
        fprintf(f,
                "ABORTED: stopped by --max-time or a signal; the numbers cover the run so far\n");
}

/* A JSON string: quotes, backslashes and control characters escaped. */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

/* A JSON number with `decimals` places; JSON has no NaN or infinity, so those become 0. */
static void json_num(FILE *f, double v, int decimals)
{
    fprintf(f, "%.*f", decimals, isfinite(v) ? v : 0.0);
}

static void json_key(FILE *f, const char *key)
{
    json_str(f, key);
    fputc(':', f);
}

static void json_u64(FILE *f, const char *key, uint64_t v)
{
    json_key(f, key);
    fprintf(f, "%llu,", (unsigned long long)v);
}

static void json_latency(FILE *f, const sb_hist_t *h)
{
    json_key(f, "latency_ms");
    fputs("{\"p50\":", f);
    json_num(f, ms(sb_hist_percentile(h, 50)), 3);
    fputs(",\"p90\":", f);
    json_num(f, ms(sb_hist_percentile(h, 90)), 3);
    fputs(",\"p99\":", f);
    json_num(f, ms(sb_hist_percentile(h, 99)), 3);
    fputs(",\"max\":", f);
    json_num(f, ms(h->max), 3);
    fputs(",\"mean\":", f);
    json_num(f, sb_hist_mean(h) / 1000.0, 3);
    fputs("},", f);
}

static void json_errors(FILE *f, const sb_report_t *r)
{
    const char *sep = "";
    int i;

    json_key(f, "errors");
    fputs("{\"by_cause\":{", f);
    for (i = 0; i < SB_NCAUSES; i++) {
        fputs(sep, f);
        json_key(f, sb_cause_name(i));
        fprintf(f, "%llu", (unsigned long long)r->causes[i]);
        sep = ",";
    }
    fputs("},\"by_status\":{", f);
    sep = "";
    for (i = 100; i < 600; i++) {
        if (r->status[i] == 0)
            continue;
        fprintf(f, "%s\"%d\":%llu", sep, i, (unsigned long long)r->status[i]);
        sep = ",";
    }
    fputs("}},", f);
}

void sb_report_json(const sb_report_t *r, const sb_opts_t *o, FILE *f)
{
    char url[1024], size[128];

    fmt_url(o, url, sizeof(url));
    fmt_dist(&o->size, size, sizeof(size));
    fputc('{', f);
    json_key(f, "mode");
    json_str(f, mode_name(o->mode));
    fputc(',', f);
    json_key(f, "url");
    json_str(f, url);
    fputc(',', f);
    json_key(f, "host");
    json_str(f, o->host);
    fputc(',', f);
    json_u64(f, "port", o->port);
    json_key(f, "base");
    json_str(f, o->base);
    fputc(',', f);
    json_u64(f, "concurrency", o->concurrency);
    json_key(f, "keepalive");
    fputs(o->keepalive ? "true," : "false,", f);
    json_key(f, "size");
    json_str(f, size);
    fputc(',', f);
    json_u64(f, "seed", o->seed);
    json_key(f, "name_prefix");
    json_str(f, o->name_prefix);
    fputc(',', f);
    json_u64(f, "uploads_started", r->started);
    json_u64(f, "ok", r->ok);
    json_u64(f, "failed", r->failed);
    json_key(f, "elapsed_s");
    json_num(f, r->elapsed, 6);
    fputc(',', f);
    json_u64(f, "bytes_ok", r->bytes_ok);
    json_u64(f, "bytes_sent", r->bytes_sent);
    json_key(f, "throughput_bytes_per_s");
    json_num(f, sb_report_throughput(r), 1);
    fputc(',', f);
    json_key(f, "uploads_per_s");
    json_num(f, sb_report_rate(r), 3);
    fputc(',', f);
    json_latency(f, &r->latency);
    json_errors(f, r);
    json_u64(f, "resumes", r->resumes);
    json_key(f, "expect");
    if (o->expect) {
        fprintf(f, "{\"threshold\":%llu,\"timeout_s\":", (unsigned long long)o->expect_threshold);
        json_num(f, o->expect_timeout, 3);
        fputc(',', f);
        json_u64(f, "requests", r->expect_sent);
        json_u64(f, "continued", r->expect_continued);
        json_u64(f, "timed_out", r->expect_timeouts);
        fprintf(f, "\"answered\":%llu},", (unsigned long long)r->expect_answered);
    } else {
        fputs("null,", f);
    }
    json_key(f, "server");
    if (r->has_server) {
        fputs("{\"rss_peak_kib\":", f);
        fprintf(f, "%llu,\"cpu_s\":", (unsigned long long)r->server_rss_peak_kib);
        json_num(f, r->server_cpu_s, 3);
        fputs("},", f);
    } else {
        fputs("null,", f);
    }
    json_key(f, "aborted");
    fputs(r->aborted ? "true}\n" : "false}\n", f);
}
