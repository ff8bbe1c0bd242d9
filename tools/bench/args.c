/* SPDX-License-Identifier: MIT
 *
 * sluice-bench's options: defaults, the command line, the URL and sizes.
 *
 * sb_parse_args walks argv once with getopt_long in "return in order" mode (optstring "-:"), so
 * the URL may come anywhere among the options and getopt never prints anything itself. Every
 * flag is applied as soon as it is seen; the URL is only remembered, and parsed after the last
 * option, because its default path depends on --mode ("/uploads/" for tus, "/files/" otherwise)
 * and --mode may follow it. The rules that tie flags together (--chunked not with tus or
 * multipart, --disconnect only with tus, --duration without -n means no upload count) are
 * checked at the very end, once everything is known.
 *
 * Expect: --expect-threshold N turns "Expect: 100-continue" on (for bodies of more than N bytes,
 * 0 = every body) and --no-expect turns it off; the last of the two wins, as with --progress.
 *
 * Every refusal is one line in err that names the flag and the value, and returns -1; main
 * exits 2. --help and --version print to stdout and return 1. Every flag is listed once, in
 * sb_usage, with its default.
 *
 * getopt_long keeps its state in libc globals (optind, optarg, optopt); setting optind to 0
 * before the walk restarts it, so sb_parse_args can be called again (the tests do).
 */
#include "bench.h"
#include "http/auth.h"
#include "streams/chunk.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#ifndef SB_VERSION /* from project(VERSION) in CMakeLists.txt */
#define SB_VERSION "unknown"
#endif

void sb_opts_init(sb_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->port = 80;
    o->mode = SB_PUT;
    o->concurrency = 8;
    o->uploads = 100;
    o->size.kind = SB_DIST_FIXED;
    o->size.a = o->size.b = 1 << 20;
    o->keepalive = 1;
    o->chunk_size = 64 << 20;
    o->seed = 1;
    o->timeout = 60;
    o->max_time = 3600;
    snprintf(o->name_prefix, sizeof(o->name_prefix), "bench");
    o->progress = isatty(STDERR_FILENO);
    o->expect = 1;
    o->expect_threshold = 1 << 20; /* curl's */
    o->expect_timeout = 1;         /* curl's --expect100-timeout */
}

void sb_usage(FILE *f)
{
    fputs(
        "usage: sluice-bench [options] URL\n"
        "  URL                      http://HOST[:PORT][/PATH][?QUERY] of a sluice server (IPv6\n"
        "                           as [::1]); PATH defaults to /files/, or /uploads/ for\n"
        "                           tus; QUERY goes with every upload and tus creation (a\n"
        "                           signed URL's fields)\n"
        "  --mode MODE              put, post, multipart or tus (default put)\n"
        "  -c, --concurrency N      connections, 1..100000 (default 8)\n"
        "  -n, --uploads N          uploads in total (default 100, none with --duration)\n"
        "  -d, --duration SECS      start uploads for this long, then finish (default off)\n"
        "  -s, --size DIST          body sizes: 64K, a range 1K-1M (uniform), or\n"
        "                           lognormal:MEDIAN[,SIGMA[,MAX]] (sigma 1.0, max 64 x median)\n"
        "                           (default 1M)\n"
        "  --rate N[K|M|G]          bytes per second per connection, 0 = no limit (default 0)\n"
        "  --no-keepalive           a new connection for every upload (default keep-alive)\n"
        "  --ramp SECS              open the connections evenly over this time (default 0)\n"
        "  --chunked                put/post bodies with Transfer-Encoding: chunked\n"
        "  --chunk-size N[K|M|G]    tus: bytes per PATCH (default 64M)\n"
        "  --disconnect P           tus: chance 0..1 that a PATCH is cut and resumed (default 0)\n"
        "  --seed N                 seed of sizes and body bytes (default 1)\n"
        "  --verify-get             GET every stored file back and compare its SHA-256\n"
        "  --no-verify              do not hash bodies (the client's CPU goes to sending); the\n"
        "                           server's digest is then not checked\n"
        "  --json                   the report as one JSON object on stdout\n"
        "  --progress, --no-progress\n"
        "                           a progress line on stderr (default: if stderr is a tty)\n"
        "  --server-pid PID         report the server's peak RSS and CPU time (default none)\n"
        "  --timeout SECS           fail a request without progress for this long (default 60)\n"
        "  --max-time SECS          stop the whole run after this long (default 3600)\n"
        "  --name-prefix P          stored names are P-SEED-N; letters, digits, - and _\n"
        "                           (default bench)\n"
        "  --header 'NAME: VALUE'   a header sent with every request, e.g. Authorization\n"
        "  --sign-key FILE          sign every upload's URL with sluice's --sign-key (put: its\n"
        "                           name; post, multipart, tus: the creation; --verify-get's\n"
        "                           GETs), valid for --max-time\n"
        "  --expect-threshold N[K|M|G]\n"
        "                           bodies of more than N bytes are sent with \"Expect:\n"
        "                           100-continue\", after the server's 100 (0 = every body;\n"
        "                           default 1M, as curl)\n"
        "  --expect-timeout SECS    no 100 by then: send the body anyway (default 1, as curl)\n"
        "  --no-expect              never send \"Expect: 100-continue\"\n"
        "  -h, --help, --version\n"
        "examples:\n"
        "  sluice-bench -c 64 -n 10000 -s 64K http://127.0.0.1:8080/\n"
        "  sluice-bench --mode multipart -c 1000 -d 30 -s lognormal:256K,1.5 http://[::1]:8080\n"
        "  sluice-bench --mode tus -s 100M --chunk-size 8M --disconnect 0.2 --verify-get \\\n"
        "      --server-pid $(pidof sluice) --json http://127.0.0.1:8080/uploads/\n",
        f);
}

int sb_parse_size(const char *s, uint64_t *out)
{
    return sl_parse_size(s, out);
}

/* A decimal integer in [lo, hi], nothing before or after it. */
static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno == ERANGE || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* A finite decimal number in [lo, hi]: no sign, no spaces, no "inf" or "nan", no hex. */
static int parse_num(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v;

    if (s == NULL || !((*s >= '0' && *s <= '9') || *s == '.') || strpbrk(s, "xX") != NULL)
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (errno == ERANGE || *end != '\0' || !isfinite(v) || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* "http://host[:port][/path]" into host, port and path; a reason in *why on failure. */
static int parse_url(const char *url, sb_opts_t *o, const char **why)
{
    char host[sizeof(o->host)], base[sizeof(o->base)];
    const char *h, *hend, *p, *q;
    uint64_t port = 80;
    size_t hlen, plen, i;

    *why = "expected http://HOST[:PORT][/PATH][?QUERY]";
    if (strncasecmp(url, "http://", 7) != 0) {
        if (strstr(url, "://") != NULL)
            *why = "only http:// is supported";
        return -1;
    }
    h = url + 7;
    if (*h == '[') { /* an IPv6 literal (no zone: link-local addresses are not supported) */
        h++;
        hend = strchr(h, ']');
        if (hend == NULL || hend == h)
            return -1;
        for (p = h; p < hend; p++)
            if (strchr("0123456789abcdefABCDEF:.", *p) == NULL)
                return -1;
        p = hend + 1;
    } else {
        for (hend = h; *hend != '\0' && *hend != ':' && *hend != '/' && *hend != '?'; hend++)
            if (strchr("-._", *hend) == NULL && !(*hend >= '0' && *hend <= '9') &&
                !((*hend | 0x20) >= 'a' && (*hend | 0x20) <= 'z'))
                return -1;
        p = hend;
    }
    hlen = (size_t)(hend - h);
    if (hlen == 0 || hlen >= sizeof(host))
        return -1;
    if (*p == ':') {
        char digits[8];
        size_t n = strcspn(p + 1, "/?");

        if (n == 0 || n >= sizeof(digits)) {
            *why = "the port must be 1..65535";
            return -1;
        }
        memcpy(digits, p + 1, n);
        digits[n] = '\0';
        if (parse_u64(digits, 1, 65535, &port) < 0) {
            *why = "the port must be 1..65535";
            return -1;
        }
        p += 1 + n;
    }
    if (*p != '\0' && *p != '/' && *p != '?')
        return -1;
    q = strchr(p, '?'); /* a query (a signed URL's fields) goes with every upload's target */
    if (q != NULL) {
        for (i = 1; q[i] != '\0'; i++)
            if ((unsigned char)q[i] <= ' ' || q[i] == 0x7f || q[i] == '#') {
                *why = "the query may not hold spaces, control characters or '#'";
                return -1;
            }
        if (strlen(q) >= sizeof(o->query)) {
            *why = "the query is too long";
            return -1;
        }
    }
    /* The path: uploads go below it, so it ends with '/'; "" and "/" take the mode's default. */
    plen = q != NULL ? (size_t)(q - p) : strlen(p);
    if (plen == 0 || (plen == 1 && *p == '/')) {
        snprintf(base, sizeof(base), "%s", o->mode == SB_TUS ? "/uploads/" : "/files/");
    } else {
        for (i = 0; i < plen; i++)
            if ((unsigned char)p[i] <= ' ' || p[i] == 0x7f || p[i] == '?' || p[i] == '#') {
                *why = "the path may not hold spaces, control characters, '?' or '#'";
                return -1;
            }
        if (plen + 2 > sizeof(base)) {
            *why = "the path is too long";
            return -1;
        }
        snprintf(base, sizeof(base), "%.*s%s", (int)plen, p, p[plen - 1] == '/' ? "" : "/");
    }
    snprintf(o->query, sizeof(o->query), "%s", q != NULL ? q : "");
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    memcpy(o->host, host, sizeof(host));
    memcpy(o->base, base, sizeof(base));
    o->port = (unsigned)port;
    return 0;
}

int sb_parse_url(const char *url, sb_opts_t *o)
{
    const char *why;

    return parse_url(url, o, &why);
}

/* Options without a short form take values from 256 up. */
enum {
    OPT_MODE = 256,
    OPT_RATE,
    OPT_NO_KEEPALIVE,
    OPT_RAMP,
    OPT_CHUNKED,
    OPT_CHUNK_SIZE,
    OPT_DISCONNECT,
    OPT_SEED,
    OPT_VERIFY_GET,
    OPT_NO_VERIFY,
    OPT_JSON,
    OPT_PROGRESS,
    OPT_NO_PROGRESS,
    OPT_SERVER_PID,
    OPT_TIMEOUT,
    OPT_MAX_TIME,
    OPT_NAME_PREFIX,
    OPT_HEADER,
    OPT_EXPECT_THRESHOLD,
    OPT_EXPECT_TIMEOUT,
    OPT_NO_EXPECT,
    OPT_SIGN_KEY,
    OPT_VERSION,
};

static const struct option long_opts[] = {
    {"mode", required_argument, NULL, OPT_MODE},
    {"concurrency", required_argument, NULL, 'c'},
    {"uploads", required_argument, NULL, 'n'},
    {"duration", required_argument, NULL, 'd'},
    {"size", required_argument, NULL, 's'},
    {"rate", required_argument, NULL, OPT_RATE},
    {"no-keepalive", no_argument, NULL, OPT_NO_KEEPALIVE},
    {"ramp", required_argument, NULL, OPT_RAMP},
    {"chunked", no_argument, NULL, OPT_CHUNKED},
    {"chunk-size", required_argument, NULL, OPT_CHUNK_SIZE},
    {"disconnect", required_argument, NULL, OPT_DISCONNECT},
    {"seed", required_argument, NULL, OPT_SEED},
    {"verify-get", no_argument, NULL, OPT_VERIFY_GET},
    {"no-verify", no_argument, NULL, OPT_NO_VERIFY},
    {"json", no_argument, NULL, OPT_JSON},
    {"progress", no_argument, NULL, OPT_PROGRESS},
    {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
    {"server-pid", required_argument, NULL, OPT_SERVER_PID},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"max-time", required_argument, NULL, OPT_MAX_TIME},
    {"name-prefix", required_argument, NULL, OPT_NAME_PREFIX},
    {"header", required_argument, NULL, OPT_HEADER},
    {"expect-threshold", required_argument, NULL, OPT_EXPECT_THRESHOLD},
    {"expect-timeout", required_argument, NULL, OPT_EXPECT_TIMEOUT},
    {"no-expect", no_argument, NULL, OPT_NO_EXPECT},
    {"sign-key", required_argument, NULL, OPT_SIGN_KEY},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

/* The long name of the option whose getopt value is val, for messages; NULL if none. */
static const char *opt_name(int val)
{
    const struct option *lo;

    for (lo = long_opts; lo->name != NULL; lo++)
        if (lo->val == val)
            return lo->name;
    return NULL;
}

static int parse_mode(const char *s, sb_mode_t *mode)
{
    static const char *const names[] = {"put", "post", "multipart", "tus"};
    static const sb_mode_t modes[] = {SB_PUT, SB_POST, SB_MULTIPART, SB_TUS};
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(s, names[i]) == 0) {
            *mode = modes[i];
            return 0;
        }
    return -1;
}

static int parse_prefix(const char *s, char *out, size_t cap)
{
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_");

    if (n == 0 || s[n] != '\0' || n >= cap)
        return -1;
    memcpy(out, s, n + 1);
    return 0;
}

/* A sign key file, read as sluice reads --sign-key (sl__sign_key_parse); 0 or -1. */
static int read_key(const char *path, sb_opts_t *o)
{
    char text[sizeof(o->sign_key) + 3]; /* the longest key, a line end, and one more */
    FILE *f = fopen(path, "rb");
    size_t n;
    int err;

    if (f == NULL)
        return -1;
    n = fread(text, 1, sizeof(text), f);
    fclose(f);
    err = sl__sign_key_parse(text, n, o->sign_key, sizeof(o->sign_key), &o->sign_keylen);
    return err < 0 ? -1 : 0;
}

/* Apply the option `c` with its value v (NULL for flags); 0, or -1 when the value is bad. */
static int apply(sb_opts_t *o, int c, const char *v, int *n_given)
{
    uint64_t u;
    double d;

    switch (c) {
    case OPT_MODE:
        return parse_mode(v, &o->mode);
    case 'c':
        if (parse_u64(v, 1, 100000, &u) < 0)
            return -1;
        o->concurrency = (unsigned)u;
        return 0;
    case 'n':
        *n_given = 1;
        return parse_u64(v, 1, UINT64_MAX, &o->uploads);
    case 'd':
        return parse_num(v, 0, 1e9, &o->duration);
    case 's':
        return sb_dist_parse(v, &o->size);
    case OPT_RATE:
        return sb_parse_size(v, &o->rate);
    case OPT_RAMP:
        return parse_num(v, 0, 1e6, &o->ramp);
    case OPT_CHUNK_SIZE:
        if (sb_parse_size(v, &u) < 0 || u == 0)
            return -1;
        o->chunk_size = u;
        return 0;
    case OPT_DISCONNECT:
        return parse_num(v, 0, 1, &o->disconnect);
    case OPT_SEED:
        return parse_u64(v, 0, UINT64_MAX, &o->seed);
    case OPT_SERVER_PID:
        if (parse_u64(v, 1, 0x7fffffff, &u) < 0)
            return -1;
        o->server_pid = (pid_t)u;
        return 0;
    case OPT_TIMEOUT:
        if (parse_num(v, 0, 1e9, &d) < 0 || d <= 0)
            return -1;
        o->timeout = d;
        return 0;
    case OPT_MAX_TIME:
        if (parse_num(v, 0, 1e9, &d) < 0 || d <= 0)
            return -1;
        o->max_time = d;
        return 0;
    case OPT_NAME_PREFIX:
        return parse_prefix(v, o->name_prefix, sizeof(o->name_prefix));
    case OPT_HEADER: /* one line: a name, a colon, no line break */
        if (strchr(v, ':') == NULL || v[0] == ':' || strpbrk(v, "\r\n") != NULL ||
            strlen(v) + 3 > sizeof(o->header))
            return -1;
        snprintf(o->header, sizeof(o->header), "%s\r\n", v);
        return 0;
    case OPT_SIGN_KEY:
        return read_key(v, o);
    case OPT_EXPECT_THRESHOLD:
        if (sb_parse_size(v, &o->expect_threshold) < 0)
            return -1;
        o->expect = 1;
        return 0;
    case OPT_EXPECT_TIMEOUT:
        if (parse_num(v, 0, 1e6, &d) < 0 || d <= 0)
            return -1;
        o->expect_timeout = d;
        return 0;
    case OPT_NO_EXPECT:
        o->expect = 0;
        return 0;
    case OPT_NO_KEEPALIVE:
        o->keepalive = 0;
        return 0;
    case OPT_CHUNKED:
        o->chunked = 1;
        return 0;
    case OPT_VERIFY_GET:
        o->verify_get = 1;
        return 0;
    case OPT_NO_VERIFY:
        o->no_verify = 1;
        return 0;
    case OPT_JSON:
        o->json = 1;
        return 0;
    case OPT_PROGRESS:
    case OPT_NO_PROGRESS:
        o->progress = c == OPT_PROGRESS;
        return 0;
    }
    return -1;
}

/* The rules between flags, once all are known; 0, or -1 with the message in err. */
static int check_together(sb_opts_t *o, int n_given, int disconnect_given, char *err, size_t errlen)
{
    if (o->chunked && (o->mode == SB_TUS || o->mode == SB_MULTIPART)) {
        snprintf(err, errlen, "--chunked works only with --mode put or post (see --help)");
        return -1;
    }
    if (o->sign_keylen > 0 && o->query[0] != '\0') {
        snprintf(err, errlen, "--sign-key signs the URLs itself: give a URL without a query");
        return -1;
    }
    if (o->sign_keylen > 0) /* valid as long as the run may last */
        o->sign_expires = (long long)time(NULL) + (long long)o->max_time + 60;
    if (disconnect_given && o->mode != SB_TUS) {
        snprintf(err, errlen, "--disconnect works only with --mode tus (see --help)");
        return -1;
    }
    /* A duration alone bounds the run by time, not by a count. */
    if (o->duration > 0 && !n_given)
        o->uploads = 0;
    return 0;
}

int sb_parse_args(sb_opts_t *o, int argc, char **argv, char *err, size_t errlen)
{
    const char *url = NULL, *why;
    int c, n_given = 0, disconnect_given = 0;

    opterr = 0;
    optind = 0; /* restart getopt, which also rereads the optstring's leading "-" */
    while ((c = getopt_long(argc, argv, "-:c:n:d:s:h", long_opts, NULL)) != -1) {
        const char *name;

        switch (c) {
        case 1: /* a non-option argument: the URL */
            if (url != NULL) {
                snprintf(err, errlen, "unexpected argument '%s' (one URL only)", optarg);
                return -1;
            }
            url = optarg;
            continue;
        case 'h':
            sb_usage(stdout);
            return 1;
        case OPT_VERSION:
            printf("sluice-bench " SB_VERSION "\n");
            return 1;
        case ':':
            name = opt_name(optopt);
            snprintf(err, errlen, "option --%s needs a value (see --help)", name ? name : "?");
            return -1;
        case '?':
            /* glibc and musl: optopt is the option's value when a flag was given "=value", the
             * character of an unknown short option, and 0 for an unknown long one. */
            name = optopt != 0 ? opt_name(optopt) : NULL;
            if (name != NULL)
                snprintf(err, errlen, "option --%s takes no value (see --help)", name);
            else if (optopt > 0 && optopt < 256)
                snprintf(err, errlen, "unknown option '-%c' (see --help)", optopt);
            else
                snprintf(err, errlen, "unknown option '%s' (see --help)", argv[optind - 1]);
            return -1;
        }
        if (c == OPT_DISCONNECT)
            disconnect_given = 1;
        if (apply(o, c, optarg, &n_given) < 0) {
            snprintf(err, errlen, "invalid value '%s' for --%s (see --help)", optarg, opt_name(c));
            return -1;
        }
    }
    /* Whatever follows "--" is positional too. */
    for (; optind < argc; optind++) {
        if (url != NULL) {
            snprintf(err, errlen, "unexpected argument '%s' (one URL only)", argv[optind]);
            return -1;
        }
        url = argv[optind];
    }
    if (url == NULL) {
        snprintf(err, errlen, "no URL given, e.g. http://127.0.0.1:8080/ (see --help)");
        return -1;
    }
    if (parse_url(url, o, &why) < 0) {
        snprintf(err, errlen, "invalid URL '%s': %s", url, why);
        return -1;
    }
    return check_together(o, n_given, disconnect_given, err, errlen);
}
