/* SPDX-License-Identifier: MIT
 *
 * The option table: every flag of sluice, once (options.h says what drives what). An entry
 * names the flag, says how its value reads (its type, its bounds), where it goes in sl_config_t,
 * its default written as a user would write it, and its --help text. A flag whose value no type
 * covers has its parse and print functions here, next to its entry's table: --listen, --digest,
 * --verbose (which also turns the log level to debug); --mount, --hook-http and --cors-origin
 * only add a check to their type's.
 *
 * --help prints the entries in this order, each help followed by "(default DEF)" when the entry
 * has a default that is not off, and --check-config prints the settings in the same order.
 */
#include "http/http.h"
#include "options.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

/* --- the flags that need more than their type ----------------------------------------------- */

static int parse_listen(const sl_opt_t *o, sl_config_t *cfg, const char *s)
{
    const char *colon;
    size_t hlen;
    uint64_t port;
    char host[sizeof(cfg->host)];
    unsigned char addr[16];
    int bracketed = s[0] == '[';

    (void)o;
    if (bracketed) {
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
    if (hlen == 0 || hlen >= sizeof(host) || sl__opt_parse_uint(colon + 1, 0, 65535, &port) < 0)
        return -1;
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    /* a numeric address, what the server can listen on (and what prints back the same) */
    if (inet_pton(AF_INET6, host, addr) != 1 && (bracketed || inet_pton(AF_INET, host, addr) != 1))
        return -1;
    memset(cfg->host, 0, sizeof(cfg->host)); /* nothing of an old value left after the NUL */
    memcpy(cfg->host, host, hlen + 1);
    cfg->port = (unsigned)port;
    return 0;
}

static void print_listen(const sl_opt_t *o, const sl_config_t *cfg, FILE *f)
{
    if (strchr(cfg->host, ':') != NULL)
        sl__opt_line(f, o, "[%s]:%u", cfg->host, cfg->port);
    else
        sl__opt_line(f, o, "%s:%u", cfg->host, cfg->port);
}

static const struct {
    const char *name;
    unsigned bit;
} digest_names[] = {
    {"sha-256", SL_CFG_DIGEST_SHA256},
    {"sha-512", SL_CFG_DIGEST_SHA512},
    {"crc32", SL_CFG_DIGEST_CRC32},
};
#define NDIGESTS (sizeof(digest_names) / sizeof(digest_names[0]))

_Static_assert(SL_CFG_DIGEST_SHA256 == SL_DIGEST_SHA256 &&
                   SL_CFG_DIGEST_SHA512 == SL_DIGEST_SHA512 &&
                   SL_CFG_DIGEST_CRC32 == SL_DIGEST_CRC32,
               "--digest bits are the streams' SL_DIGEST_* bits");

int sl__parse_digests(const char *v, unsigned *out)
{
    unsigned set = 0;
    const char *p = v, *e;

    if (strcmp(v, "none") == 0) {
        *out = 0;
        return 0;
    }
    for (;; p = e + 1) {
        size_t n, k;
        e = strchr(p, ',');
        n = e != NULL ? (size_t)(e - p) : strlen(p);
        for (k = 0; k < NDIGESTS; k++)
            if (strlen(digest_names[k].name) == n && strncmp(p, digest_names[k].name, n) == 0)
                break;
        if (k == NDIGESTS)
            return -1;
        set |= digest_names[k].bit;
        if (e == NULL)
            break;
    }
    *out = set;
    return 0;
}

static int parse_digest(const sl_opt_t *o, sl_config_t *cfg, const char *v)
{
    (void)o;
    return sl__parse_digests(v, &cfg->digests);
}

static void print_digest(const sl_opt_t *o, const sl_config_t *cfg, FILE *f)
{
    char list[64] = "none";
    size_t k, n = 0;

    for (k = 0; k < NDIGESTS; k++)
        if (cfg->digests & digest_names[k].bit)
            n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", n ? "," : "",
                                  digest_names[k].name);
    sl__opt_line(f, o, "%s", list);
}

/* --verbose is a bool that also sets the log level to debug (a later --log-level wins). */
static int parse_verbose(const sl_opt_t *o, sl_config_t *cfg, const char *v)
{
    (void)o;
    if (sl__opt_parse_bool(v, &cfg->verbose) < 0)
        return -1;
    if (cfg->verbose)
        cfg->log_level = SL_LOG_DEBUG;
    return 0;
}

/* A prefix of URLs: absolute, nothing that would need escaping or end the path. */
static int check_mount(const char *v)
{
    return v[0] == '/' && strpbrk(v, " ?#%\t\r\n") == NULL ? 0 : -1;
}

static int check_hook_http(const char *v)
{
    return strncmp(v, "http://", 7) == 0 ? 0 : -1;
}

/* One origin (the list is comma-separated, so no comma; no blank either). */
static int check_origin(const char *v)
{
    return strpbrk(v, ", \t\r\n") == NULL ? 0 : -1;
}

/* --- the table ---------------------------------------------------------------------------- */

static const char *const durability_names[] = {"none", "full", NULL}; /* cfg->durable 0, 1 */
static const char *const log_level_names[] = {"error", "warn", "info", "debug", NULL};

_Static_assert(SL_LOG_ERROR == 0 && SL_LOG_WARN == 1 && SL_LOG_INFO == 2 && SL_LOG_DEBUG == 3,
               "log_level_names follows SL_LOG_*");

#define KIB 1024ull
#define MIB (1024ull * KIB)
#define GIB (1024ull * MIB)
#define TIB (1024ull * GIB)

const sl_opt_t sl__options[] = {
    {.name = "listen",
     .type = SL_OPT_CUSTOM,
     SL_OPT_FIELD(host),
     .def = "127.0.0.1:8080",
     .arg = "HOST:PORT",
     .parse = parse_listen,
     .print = print_listen,
     .help = "address to listen on; port 0 picks a free port; IPv6 as [::1]:8080"},
    {.name = "root",
     .type = SL_OPT_STRING,
     SL_OPT_FIELD(root),
     .def = "./data",
     .arg = "DIR",
     .help = "where files are stored"},
    {.name = "store",
     .type = SL_OPT_STRING,
     SL_OPT_FIELD(store),
     .arg = "URL",
     .help = "s3://BUCKET[/PREFIX]: keep files in an S3 bucket instead of --root (docs/s3.md)"},
    {.name = "s3-endpoint",
     .type = SL_OPT_STRING,
     SL_OPT_FIELD(s3_endpoint),
     .arg = "URL",
     .help = "the S3 service, path-style (http://127.0.0.1:7480); else AWS_ENDPOINT_URL"},
    {.name = "s3-region",
     .type = SL_OPT_STRING,
     SL_OPT_FIELD(s3_region),
     .arg = "REGION",
     .help = "the region requests are signed for; else AWS_REGION, else us-east-1"},
    {.name = "s3-access-key",
     .type = SL_OPT_STRING,
     SL_OPT_FIELD(s3_access_key),
     .arg = "KEY",
     .help = "else AWS_ACCESS_KEY_ID"},
    {.name = "s3-secret-key",
     .type = SL_OPT_STRING,
     SL_OPT_FIELD(s3_secret_key),
     .arg = "SECRET",
     .help = "else AWS_SECRET_ACCESS_KEY"},
    {.name = "s3-session-token",
     .type = SL_OPT_STRING,
     SL_OPT_FIELD(s3_session_token),
     .arg = "TOKEN",
     .help = "else AWS_SESSION_TOKEN"},
    {.name = "s3-part-size",
     .type = SL_OPT_SIZE,
     SL_OPT_FIELD(s3_part_size),
     .lo = 5 * MIB,
     .hi = 5 * GIB,
     .def = "64M",
     .arg = "N[M|G]",
     .help = "an S3 upload's parts: a body up to this size is one PUT; 4 parts of it are sent "
             "at once, each spooled to --spool first"},
    {.name = "s3-lock-lease",
     .type = SL_OPT_UINT,
     SL_OPT_FIELD(s3_lock_lease),
     .lo = 1,
     .hi = 3600,
     .def = "60",
     .arg = "SECONDS",
     .help = "how long a tus PATCH's lock in S3 outlives a node that died holding it"},
    {.name = "s3-retries",
     .type = SL_OPT_UINT,
     SL_OPT_FIELD(s3_retries),
     .lo = 0,
     .hi = 20,
     .def = "4",
     .arg = "N",
     .help = "more tries of an S3 request that failed transiently (a reset, a timeout, 5xx), "
             "with backoff, within 30 s; 0 = none"},
    {.name = "spool",
     .type = SL_OPT_STRING,
     SL_OPT_FIELD(spool),
     .arg = "DIR",
     .help = "where an S3 upload's parts wait to be sent (unlinked files); else TMPDIR, /tmp"},
    {.name = "max-size",
     .type = SL_OPT_SIZE,
     SL_OPT_FIELD(max_size),
     .hi = UINT64_MAX,
     .def = "100G",
     .arg = "N[K|M|G|T]",
     .help = "largest upload stored, 0 = no limit"},
    {.name = "digest",
     .type = SL_OPT_CUSTOM,
     SL_OPT_FIELD(digests),
     .def = "sha-256",
     .arg = "LIST|none",
     .parse = parse_digest,
     .print = print_digest,
     .help = "digests every upload gets, comma-separated: sha-256, sha-512, crc32; a client "
             "adds more with Want-Repr-Digest"},
    {.name = "min-free",
     .type = SL_OPT_SIZE,
     SL_OPT_FIELD(min_free),
     .hi = UINT64_MAX - 1,
     .word = "auto",
     .word_value = UINT64_MAX,
     .def = "auto",
     .arg = "N[K|M|G]|auto",
     .help = "bytes of the root's filesystem kept free: an upload that would write into them "
             "fails with 507; auto = 1% of the filesystem, at most 1G; 0 = none"},
    {.name = "durability",
     .type = SL_OPT_ENUM,
     SL_OPT_FIELD(durable),
     .names = durability_names,
     .def = "full",
     .arg = "full|none",
     .help = "full: 201 only once data and rename are on disk (fdatasync, directory fsync); "
             "none: skip the syncs"},
    {.name = "max-connections",
     .type = SL_OPT_UINT,
     SL_OPT_FIELD(max_connections),
     .lo = 1,
     .hi = 1000000,
     .def = "10000",
     .arg = "N",
     .help = "concurrent connections"},
    {.name = "idle-timeout",
     .type = SL_OPT_UINT,
     SL_OPT_FIELD(idle_timeout),
     .lo = 1,
     .hi = 86400,
     .def = "60",
     .arg = "SECS",
     .help = "drop a connection or upload idle this long"},
    {.name = "conn-memory",
     .type = SL_OPT_SIZE,
     SL_OPT_FIELD(conn_memory),
     .lo = 4 * KIB,
     .hi = 16 * MIB,
     .def = "40K",
     .arg = "N[K|M]",
     .help = "libmicrohttpd memory per connection"},
    {.name = "upload-buffer",
     .type = SL_OPT_SIZE,
     SL_OPT_FIELD(upload_buffer),
     .lo = 1,
     .hi = GIB,
     .def = "1M",
     .arg = "N[K|M]",
     .help = "bytes buffered per upload before the client is paused"},
    {.name = "buffer-budget",
     .type = SL_OPT_SIZE,
     SL_OPT_FIELD(buffer_budget),
     .hi = TIB,
     .def = "256M",
     .arg = "N[K|M|G]",
     .help = "bytes buffered by all uploads together"},
    {.name = "threads",
     .type = SL_OPT_UINT,
     SL_OPT_FIELD(threads),
     .lo = 1,
     .hi = 1024,
     .def = "16",
     .arg = "N",
     .help = "libuv thread pool size for file I/O"},
    {.name = "shutdown-timeout",
     .type = SL_OPT_UINT,
     SL_OPT_FIELD(shutdown_timeout),
     .hi = 86400,
     .def = "30",
     .arg = "SECS",
     .help = "on SIGINT/SIGTERM, time in-flight uploads get"},
    {.name = "list-limit",
     .type = SL_OPT_SIZE,
     SL_OPT_FIELD(list_limit),
     .lo = 1,
     .hi = UINT64_MAX,
     .def = "10000",
     .arg = "N",
     .help = "most entries returned by GET /files/"},
    {.name = "max-expansion",
     .type = SL_OPT_SIZE,
     SL_OPT_FIELD(max_expansion),
     .hi = 1000000,
     .def = "100",
     .arg = "N",
     .help = "a gzip/deflate body may decode to at most N times its size plus 1 MiB, "
             "0 = no limit"},
    {.name = "max-parts",
     .type = SL_OPT_UINT,
     SL_OPT_FIELD(max_parts),
     .lo = 1,
     .hi = 1000000,
     .def = "1000",
     .arg = "N",
     .help = "parts of one multipart/form-data body"},
    {.name = "max-files",
     .type = SL_OPT_UINT,
     SL_OPT_FIELD(max_files),
     .lo = 1,
     .hi = 100000,
     .def = "100",
     .arg = "N",
     .help = "file parts of one multipart/form-data body"},
    {.name = "max-field-size",
     .type = SL_OPT_SIZE,
     SL_OPT_FIELD(max_field_size),
     .lo = 1,
     .hi = GIB,
     .def = "1M",
     .arg = "N[K|M]",
     .help = "bytes of one text field of a form"},
    {.name = "max-part-header",
     .type = SL_OPT_SIZE,
     SL_OPT_FIELD(max_part_header),
     .lo = 256,
     .hi = MIB,
     .def = "8K",
     .arg = "N[K]",
     .help = "header bytes of one part of a form"},
    {.name = "tus-expire",
     .type = SL_OPT_UINT,
     SL_OPT_FIELD(tus_expire),
     .hi = 100ull * 365 * 86400,
     .def = "86400",
     .arg = "SECS",
     .help = "a resumable upload without a PATCH for this long expires and is removed, "
             "0 = never"},
    {.name = "cors-origin",
     .type = SL_OPT_LIST,
     SL_OPT_FIELD(cors_origin),
     .check = check_origin,
     .arg = "ORIGIN",
     .help = "allow browser uploads from ORIGIN (repeatable, or *)"},
    {.name = "mount",
     .type = SL_OPT_STRING,
     SL_OPT_FIELD(mount),
     .check = check_mount,
     .def = "/",
     .arg = "PREFIX",
     .help = "serve everything under PREFIX, e.g. /api/upload/"},
    {.name = "hook-exec",
     .type = SL_OPT_STRING,
     SL_OPT_FIELD(hook_exec),
     .arg = "DIR",
     .help = "run DIR/request, progress, complete, abort with each event as JSON on stdin; "
             "request's exit status lets a request in or refuses it (403)"},
    {.name = "hook-http",
     .type = SL_OPT_STRING,
     SL_OPT_FIELD(hook_http),
     .check = check_hook_http,
     .arg = "URL",
     .help = "POST each event as JSON to URL (http://); for a request a 2xx lets it in, a 4xx "
             "refuses it"},
    {.name = "hook-timeout",
     .type = SL_OPT_UINT,
     SL_OPT_FIELD(hook_timeout),
     .lo = 1,
     .hi = 3600,
     .def = "10",
     .arg = "SECS",
     .help = "time one hook call gets, then 503"},
    {.name = "hook-retries",
     .type = SL_OPT_UINT,
     SL_OPT_FIELD(hook_retries),
     .hi = 100,
     .def = "2",
     .arg = "N",
     .help = "more tries of a --hook-http call that failed"},
    {.name = "workers",
     .type = SL_OPT_UINT,
     SL_OPT_FIELD(workers),
     .lo = 1,
     .hi = 256,
     .word = "auto",
     .word_value = 0,
     .def = "1",
     .arg = "N|auto",
     .help = "worker processes sharing the port, replaced if they die; SIGHUP replaces them "
             "one by one; auto = one per core"},
    {.name = "access-log",
     .type = SL_OPT_STRING,
     SL_OPT_FIELD(access_log),
     .arg = "FILE",
     .help = "one JSON line per request to FILE (- for stderr; reopened on SIGUSR1)"},
    /* before log-level: printed in this order, "verbose = true" then "log-level = info" reads
     * back as it was (verbose sets the level, a later log-level overrides it) */
    {.name = "verbose",
     .type = SL_OPT_BOOL,
     SL_OPT_FIELD(verbose),
     .parse = parse_verbose,
     .help = "--log-level debug, with libmicrohttpd's own messages"},
    {.name = "log-level",
     .type = SL_OPT_ENUM,
     SL_OPT_FIELD(log_level),
     .names = log_level_names,
     .def = "info",
     .arg = "LEVEL",
     .help = "error, warn, info or debug on stderr"},
    {.name = "no-direct-read",
     .type = SL_OPT_BOOL,
     SL_OPT_FIELD(no_takeover),
     .help = "let libmicrohttpd read every body (by default sluice reads a body sent after "
             "\"Expect: 100-continue\" from the socket itself: bigger reads, no pool copy)"},
    {.name = "no-splice",
     .type = SL_OPT_BOOL,
     SL_OPT_FIELD(no_splice),
     .help = "copy every body through memory (by default a fast body that nothing needs to "
             "look at, as with --digest none, is spliced from the socket into the file)"},
    {.name = "token-file",
     .type = SL_OPT_STRING,
     SL_OPT_FIELD(token_file),
     .arg = "FILE",
     .help = "bearer tokens, one a line: TOKEN|sha256:HEX RIGHTS [PREFIX] [uploads=N] "
             "[quota=N[K|M|G|T]]; RIGHTS read,write,delete,list,metrics or all; reloaded on "
             "SIGHUP (docs/security.md)"},
    {.name = "sign-key",
     .type = SL_OPT_STRING,
     SL_OPT_FIELD(sign_key),
     .arg = "FILE",
     .help = "the secret of signed URLs (at least 32 bytes; `sluice sign` makes them); reloaded "
             "on SIGHUP"},
    {.name = "tls-cert",
     .type = SL_OPT_STRING,
     SL_OPT_FIELD(tls_cert),
     .arg = "FILE",
     .help = "serve HTTPS with this PEM certificate chain (with --tls-key); reloaded on SIGHUP "
             "for new connections"},
    {.name = "tls-key",
     .type = SL_OPT_STRING,
     SL_OPT_FIELD(tls_key),
     .arg = "FILE",
     .help = "the PEM private key of --tls-cert"},
    {.name = "max-conns-per-ip",
     .type = SL_OPT_UINT,
     SL_OPT_FIELD(max_conns_per_ip),
     .hi = 1000000,
     .def = "64",
     .arg = "N",
     .help = "connections from one IPv4 address or IPv6 /64 (more are closed at accept), 0 = no "
             "limit; loopback is exempt unless --limit-loopback"},
    {.name = "limit-loopback",
     .type = SL_OPT_BOOL,
     SL_OPT_FIELD(limit_loopback),
     .help = "apply --max-conns-per-ip to loopback clients too (a local proxy's connections are "
             "all from loopback)"},
    {.name = "header-timeout",
     .type = SL_OPT_UINT,
     SL_OPT_FIELD(header_timeout),
     .hi = 86400,
     .def = "30",
     .arg = "SECS",
     .help = "a request header not complete this long after the connection opened or its last "
             "answer: 408 and closed, 0 = only --idle-timeout"},
    {.name = "min-rate",
     .type = SL_OPT_SIZE,
     SL_OPT_FIELD(min_rate),
     .hi = TIB,
     .def = "1K",
     .arg = "N[K|M]",
     .help = "bytes/s an upload body must average over --min-rate-window, else 408 and closed "
             "(time the server itself paused it does not count), 0 = none"},
    {.name = "min-rate-window",
     .type = SL_OPT_UINT,
     SL_OPT_FIELD(min_rate_window),
     .lo = 1,
     .hi = 86400,
     .def = "30",
     .arg = "SECS",
     .help = "the window of --min-rate"},
    {.name = "max-header-size",
     .type = SL_OPT_SIZE,
     SL_OPT_FIELD(max_header_size),
     .lo = 1 * KIB,
     .hi = 16 * MIB,
     .def = "32K",
     .arg = "N[K]",
     .help = "bytes of all header fields of a request (431 past it; --conn-memory bounds it "
             "too)"},
    {.name = "token-uploads",
     .type = SL_OPT_UINT,
     SL_OPT_FIELD(max_uploads_per_token),
     .hi = 1000000,
     .def = "0",
     .arg = "N",
     .help = "uploads one token may have streaming at once (429 past it; a token's uploads=N "
             "wins), 0 = no limit"},
    {.name = "metrics-public",
     .type = SL_OPT_BOOL,
     SL_OPT_FIELD(metrics_public),
     .help = "with access control on, serve /metrics to any client (else loopback clients and "
             "tokens with the metrics right only)"},
    {.name = "trust-proxy",
     .type = SL_OPT_BOOL,
     SL_OPT_FIELD(trust_proxy),
     .help = "behind a reverse proxy: take the client's address from X-Forwarded-For or "
             "Forwarded (logs, hooks)"},
    {.name = "no-ui",
     .type = SL_OPT_BOOL,
     SL_OPT_FIELD(no_ui),
     .help = "do not serve the upload page at GET / (under --mount)"},
    {.name = "ui-dir",
     .type = SL_OPT_STRING,
     SL_OPT_FIELD(ui_dir),
     .arg = "DIR",
     .help = "the upload page's files, read once at start (default: the build tree's ui/ when "
             "run from it, else PREFIX/share/sluice/ui)"},
    {.name = "config",
     .type = SL_OPT_ACTION,
     .action = SL_ACT_CONFIG,
     .arg = "FILE",
     .help = "read flags from FILE first ('key = value' lines, keys being flags without "
             "dashes); SLUICE_<FLAG> variables come next, then the command line"},
    {.name = "check-config",
     .type = SL_OPT_ACTION,
     .action = SL_ACT_CHECK,
     .help = "print the effective configuration (a valid FILE) and exit"},
    {.name = "help",
     .type = SL_OPT_ACTION,
     .action = SL_ACT_HELP,
     .help = "print this help (also -h) and exit"},
    {.name = "version",
     .type = SL_OPT_ACTION,
     .action = SL_ACT_VERSION,
     .help = "print the version and exit"},
};

const size_t sl__noptions = sizeof(sl__options) / sizeof(sl__options[0]);
