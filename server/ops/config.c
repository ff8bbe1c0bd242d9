/* SPDX-License-Identifier: MIT
 *
 * Configuration: defaults, command-line flags, sizes. Every flag is listed once, in the usage
 * text below and in the README. A bad flag is a one-line message and exit code 2 (main.c).
 */
#include "http/http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "streams/error.h"

void sl_config_init(sl_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->host, sizeof(cfg->host), "127.0.0.1");
    cfg->port = 8080;
    snprintf(cfg->root, sizeof(cfg->root), "./data");
    cfg->max_size = 0;
    cfg->max_connections = 10000;
    cfg->idle_timeout = 60;
    cfg->conn_memory = 32 << 10;
    cfg->upload_buffer = 1 << 20;
    cfg->buffer_budget = 256 << 20;
    cfg->threads = 16;
    cfg->durable = 1;
    cfg->shutdown_timeout = 30;
    cfg->list_limit = 10000;
    cfg->max_expansion = 100;
    cfg->max_parts = 1000;
    cfg->max_files = 100;
    cfg->max_field_size = 1 << 20;
    cfg->max_part_header = 8 << 10;
    cfg->tus_expire = 86400;
    cfg->hook_timeout = 10;
    cfg->log_level = SL_LOG_INFO;
    cfg->workers = 1;
    cfg->min_free = UINT64_MAX;
    cfg->digests = SL_CFG_DIGEST_SHA256;
    cfg->hook_retries = 2;
    snprintf(cfg->mount, sizeof(cfg->mount), "/");
}

void sl_config_usage(void *file)
{
    fputs(
        "usage: sluice [options]\n"
        "  --listen HOST:PORT       address to listen on (default 127.0.0.1:8080; port 0 picks\n"
        "                           a free port; IPv6 as [::1]:8080)\n"
        "  --root DIR               where files are stored (default ./data)\n"
        "  --max-size N[K|M|G|T]    largest upload stored, 0 = no limit (default 0)\n"
        "  --digest LIST|none       digests every upload gets, comma-separated: sha-256, sha-512,\n"
        "                           crc32 (default sha-256; a client adds more with\n"
        "                           Want-Repr-Digest)\n"
        "  --min-free N[K|M|G]|auto bytes of the root's filesystem kept free: an upload that\n"
        "                           would write into them fails with 507 (default auto: 1%% of\n"
        "                           the filesystem, at most 1G; 0 = none)\n"
        "  --durability full|none   full: 201 only once data and rename are on disk (fdatasync,\n"
        "                           directory fsync); none: skip the syncs (default full)\n"
        "  --max-connections N      concurrent connections (default 10000)\n"
        "  --idle-timeout SECS      drop a connection or upload idle this long (default 60)\n"
        "  --conn-memory N[K|M]     libmicrohttpd memory per connection (default 32K)\n"
        "  --upload-buffer N[K|M]   bytes buffered per upload before the client is paused\n"
        "                           (default 1M)\n"
        "  --buffer-budget N[K|M|G] bytes buffered by all uploads together (default 256M)\n"
        "  --threads N              libuv thread pool size for file I/O (default 16)\n"
        "  --shutdown-timeout SECS  on SIGINT/SIGTERM, time in-flight uploads get (default 30)\n"
        "  --list-limit N           most entries returned by GET /files/ (default 10000)\n"
        "  --max-expansion N        a gzip/deflate body may decode to at most N times its size\n"
        "                           plus 1 MiB, 0 = no limit (default 100)\n"
        "  --max-parts N            parts of one multipart/form-data body (default 1000)\n"
        "  --max-files N            file parts of one multipart/form-data body (default 100)\n"
        "  --max-field-size N[K|M]  bytes of one text field of a form (default 1M)\n"
        "  --max-part-header N[K]   header bytes of one part of a form (default 8K)\n"
        "  --tus-expire SECS        a resumable upload without a PATCH for this long expires\n"
        "                           and is removed, 0 = never (default 86400)\n"
        "  --cors-origin ORIGIN     allow browser uploads from ORIGIN (repeatable, or *)\n"
        "  --mount PREFIX           serve everything under PREFIX, e.g. /api/upload/ (default /)\n"
        "  --hook-exec DIR          run DIR/request, progress, complete, abort with each event as\n"
        "                           JSON on stdin; request's exit status lets a request in or\n"
        "                           refuses it (403)\n"
        "  --hook-http URL          POST each event as JSON to URL (http://); for a request a\n"
        "                           2xx lets it in, a 4xx refuses it\n"
        "  --hook-timeout SECS      time one hook call gets (default 10; then 503)\n"
        "  --hook-retries N         more tries of a --hook-http call that failed (default 2)\n"
        "  --workers N|auto         worker processes sharing the port, replaced if they die;\n"
        "                           SIGHUP replaces them one by one (default 1; auto = cores)\n"
        "  --access-log FILE        one JSON line per request to FILE (- for stderr; reopened\n"
        "                           on SIGUSR1)\n"
        "  --log-level LEVEL        error, warn, info or debug on stderr (default info)\n"
        "  --no-direct-read         let libmicrohttpd read every body (by default sluice reads a\n"
        "                           body sent after \"Expect: 100-continue\" from the socket\n"
        "                           itself: bigger reads, no pool copy)\n"
        "  --trust-proxy            behind a reverse proxy: take the client's address from\n"
        "                           X-Forwarded-For or Forwarded (logs, hooks)\n"
        "  --config FILE            read flags from FILE first ('key = value' lines, keys being\n"
        "                           flags without dashes); SLUICE_<FLAG> variables come next,\n"
        "                           then the command line\n"
        "  --check-config           print the effective configuration (a valid FILE) and exit\n"
        "  --verbose                --log-level debug, with libmicrohttpd's own messages\n"
        "  --help, --version\n",
        file);
}

static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
    char *end;
    unsigned long v;

    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno == ERANGE || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int parse_listen(sl_config_t *cfg, const char *s)
{
    const char *colon;
    size_t hlen;
    unsigned port;

    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (rb == NULL || rb[1] != ':')
            return -1;
        hlen = (size_t)(rb - s - 1);
        s++;
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return -1;
        hlen = (size_t)(colon - s);
    }
    if (hlen == 0 || hlen >= sizeof(cfg->host) || parse_uint(colon + 1, 0, 65535, &port) < 0)
        return -1;
    memcpy(cfg->host, s, hlen);
    cfg->host[hlen] = '\0';
    cfg->port = port;
    return 0;
}

int sl__parse_digests(const char *v, unsigned *out)
{
    unsigned set = 0;
    const char *p = v, *e;

    if (strcmp(v, "none") == 0) {
        *out = 0;
        return 0;
    }
    for (;; p = e + 1) {
        size_t n;
        e = strchr(p, ',');
        n = e != NULL ? (size_t)(e - p) : strlen(p);
        if (n == 7 && strncmp(p, "sha-256", 7) == 0)
            set |= SL_CFG_DIGEST_SHA256;
        else if (n == 7 && strncmp(p, "sha-512", 7) == 0)
            set |= SL_CFG_DIGEST_SHA512;
        else if (n == 5 && strncmp(p, "crc32", 5) == 0)
            set |= SL_CFG_DIGEST_CRC32;
        else
            return -1;
        if (e == NULL)
            break;
    }
    *out = set;
    return 0;
}

_Static_assert(SL_CFG_DIGEST_SHA256 == SL_DIGEST_SHA256 &&
                   SL_CFG_DIGEST_SHA512 == SL_DIGEST_SHA512 &&
                   SL_CFG_DIGEST_CRC32 == SL_DIGEST_CRC32,
               "--digest bits are the streams' SL_DIGEST_* bits");

static const char *const value_flags[] = {
    "--listen",          "--root",          "--max-size",         "--durability",
    "--max-connections", "--idle-timeout",  "--shutdown-timeout", "--threads",
    "--conn-memory",     "--upload-buffer", "--buffer-budget",    "--list-limit",
    "--max-expansion",   "--max-parts",     "--max-files",        "--max-field-size",
    "--max-part-header", "--tus-expire",    "--cors-origin",      "--mount",
    "--hook-exec",       "--hook-http",     "--hook-timeout",     "--hook-retries",
    "--access-log",      "--log-level",     "--workers",          "--min-free",
    "--digest",
};

/* Apply one flag that takes a value; 0, or -1 when the value is bad (cfg unchanged then). */
static int apply(sl_config_t *cfg, const char *a, const char *v);

static int is_value_flag(const char *flag)
{
    size_t k;

    for (k = 0; k < sizeof(value_flags) / sizeof(value_flags[0]); k++)
        if (strcmp(flag, value_flags[k]) == 0)
            return 1;
    return 0;
}

int sl__config_apply(sl_config_t *cfg, const char *flag, const char *value)
{
    if (!is_value_flag(flag))
        return SL_ENOTFOUND;
    return apply(cfg, flag, value) < 0 ? SL_EBADREQUEST : 0;
}

static int apply(sl_config_t *cfg, const char *a, const char *v)
{
    uint64_t sz = 0;

    if (strcmp(a, "--listen") == 0)
        return parse_listen(cfg, v);
    if (strcmp(a, "--root") == 0) {
        if (v[0] == '\0' || strlen(v) >= sizeof(cfg->root))
            return -1;
        snprintf(cfg->root, sizeof(cfg->root), "%s", v);
        return 0;
    }
    if (strcmp(a, "--durability") == 0) {
        if (strcmp(v, "full") != 0 && strcmp(v, "none") != 0)
            return -1;
        cfg->durable = strcmp(v, "full") == 0;
        return 0;
    }
    if (strcmp(a, "--max-connections") == 0)
        return parse_uint(v, 1, 1000000, &cfg->max_connections);
    if (strcmp(a, "--idle-timeout") == 0)
        return parse_uint(v, 1, 86400, &cfg->idle_timeout);
    if (strcmp(a, "--shutdown-timeout") == 0)
        return parse_uint(v, 0, 86400, &cfg->shutdown_timeout);
    if (strcmp(a, "--threads") == 0)
        return parse_uint(v, 1, 1024, &cfg->threads);
    if (strcmp(a, "--max-parts") == 0)
        return parse_uint(v, 1, 1000000, &cfg->max_parts);
    if (strcmp(a, "--max-files") == 0)
        return parse_uint(v, 1, 100000, &cfg->max_files);
    if (strcmp(a, "--hook-exec") == 0 || strcmp(a, "--hook-http") == 0) {
        int http = strcmp(a, "--hook-http") == 0;
        char *dst = http ? cfg->hook_http : cfg->hook_exec;
        size_t cap = http ? sizeof(cfg->hook_http) : sizeof(cfg->hook_exec);
        if (v[0] == '\0' || strlen(v) >= cap || (http && strncmp(v, "http://", 7) != 0))
            return -1;
        snprintf(dst, cap, "%s", v);
        return 0;
    }
    if (strcmp(a, "--workers") == 0) {
        if (strcmp(v, "auto") == 0) {
            cfg->workers = 0;
            return 0;
        }
        return parse_uint(v, 1, 256, &cfg->workers);
    }
    if (strcmp(a, "--access-log") == 0) {
        if (v[0] == '\0' || strlen(v) >= sizeof(cfg->access_log))
            return -1;
        snprintf(cfg->access_log, sizeof(cfg->access_log), "%s", v);
        return 0;
    }
    if (strcmp(a, "--log-level") == 0) {
        static const char *levels[] = {"error", "warn", "info", "debug"};
        int i;
        for (i = 0; i < 4; i++)
            if (strcmp(v, levels[i]) == 0) {
                cfg->log_level = i;
                return 0;
            }
        return -1;
    }
    if (strcmp(a, "--hook-timeout") == 0)
        return parse_uint(v, 1, 3600, &cfg->hook_timeout);
    if (strcmp(a, "--hook-retries") == 0)
        return parse_uint(v, 0, 100, &cfg->hook_retries);
    if (strcmp(a, "--mount") == 0) {
        if (v[0] != '/' || strlen(v) >= sizeof(cfg->mount) || strpbrk(v, " ?#%\t\r\n") != NULL)
            return -1;
        snprintf(cfg->mount, sizeof(cfg->mount), "%s", v);
        return 0;
    }
    if (strcmp(a, "--tus-expire") == 0)
        return parse_uint(v, 0, 100u * 365 * 86400, &cfg->tus_expire);
    if (strcmp(a, "--cors-origin") == 0) {
        size_t have = strlen(cfg->cors_origin);
        if (v[0] == '\0' || strpbrk(v, ", \t\r\n") != NULL ||
            have + strlen(v) + 2 > sizeof(cfg->cors_origin))
            return -1;
        snprintf(cfg->cors_origin + have, sizeof(cfg->cors_origin) - have, "%s%s", have ? "," : "",
                 v);
        return 0;
    }
    if (strcmp(a, "--digest") == 0)
        return sl__parse_digests(v, &cfg->digests);
    if (strcmp(a, "--min-free") == 0 && strcmp(v, "auto") == 0) {
        cfg->min_free = UINT64_MAX;
        return 0;
    }
    if (sl_parse_size(v, &sz) < 0)
        return -1;
    if (strcmp(a, "--min-free") == 0 && sz < UINT64_MAX)
        cfg->min_free = sz;
    else if (strcmp(a, "--max-size") == 0)
        cfg->max_size = sz;
    else if (strcmp(a, "--conn-memory") == 0 && sz >= 4096 && sz <= (16u << 20))
        cfg->conn_memory = (size_t)sz;
    else if (strcmp(a, "--upload-buffer") == 0 && sz >= 1 && sz <= (1ull << 30))
        cfg->upload_buffer = (size_t)sz;
    else if (strcmp(a, "--buffer-budget") == 0 && sz <= (1ull << 40))
        cfg->buffer_budget = (size_t)sz;
    else if (strcmp(a, "--max-field-size") == 0 && sz >= 1 && sz <= (1ull << 30))
        cfg->max_field_size = (size_t)sz;
    else if (strcmp(a, "--max-part-header") == 0 && sz >= 256 && sz <= (1u << 20))
        cfg->max_part_header = (size_t)sz;
    else if (strcmp(a, "--max-expansion") == 0 && sz <= 1000000)
        cfg->max_expansion = sz;
    else if (strcmp(a, "--list-limit") == 0 && sz > 0)
        cfg->list_limit = sz;
    else
        return -1;
    return 0;
}

extern char **environ;

int sl_config_parse_args(sl_config_t *cfg, int argc, char **argv, char *err, size_t errlen)
{
    int i, check = 0, r;

    /* The file first, then the environment, then the flags (later wins). */
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--check-config") == 0)
            check = 1;
        if (strcmp(argv[i], "--config") != 0)
            continue;
        if (i + 1 >= argc) {
            snprintf(err, errlen, "option --config needs a value (see --help)");
            return SL_EBADREQUEST;
        }
        if ((r = sl_config_load_file(cfg, argv[++i], err, errlen)) < 0)
            return r;
    }
    if ((r = sl_config_apply_environ(cfg, environ, err, errlen)) < 0)
        return r;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            sl_config_usage(stdout);
            return 1;
        }
        if (strcmp(a, "--version") == 0) {
            printf("sluice %s\n", SL_VERSION);
            return 1;
        }
        if (strcmp(a, "--verbose") == 0) {
            cfg->verbose = 1;
            cfg->log_level = SL_LOG_DEBUG;
            continue;
        }
        if (strcmp(a, "--check-config") == 0)
            continue;
        if (strcmp(a, "--trust-proxy") == 0) {
            cfg->trust_proxy = 1;
            continue;
        }
        if (strcmp(a, "--no-direct-read") == 0) {
            cfg->no_takeover = 1;
            continue;
        }
        if (strcmp(a, "--config") == 0) {
            i++; /* read above */
            continue;
        }
        if (!is_value_flag(a)) {
            snprintf(err, errlen, "unknown option '%s' (see --help)", a);
            return SL_EBADREQUEST;
        }
        if (i + 1 >= argc) {
            snprintf(err, errlen, "option %s needs a value (see --help)", a);
            return SL_EBADREQUEST;
        }
        if (sl__config_apply(cfg, a, argv[i + 1]) < 0) {
            snprintf(err, errlen, "invalid value '%s' for %s (see --help)", argv[i + 1], a);
            return SL_EBADREQUEST;
        }
        i++;
    }
    if (check) {
        sl_config_print(cfg, stdout);
        return 1;
    }
    return 0;
}

void sl_config_apply_env(const sl_config_t *cfg)
{
    char buf[16];

    snprintf(buf, sizeof(buf), "%u", cfg->threads);
    setenv("UV_THREADPOOL_SIZE", buf, 0);
}
