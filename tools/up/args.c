/* SPDX-License-Identifier: MIT
 *
 * sluice-up's options: parsed strictly (a bad value is a one-line error and exit 2, never a
 * guess), --help with the exit statuses, and the endpoint from the URL: a server's base URL
 * (http://host:8080, http://[::1]:8080/mount) gets <mount>/uploads/ appended; a URL that already
 * ends in /uploads/ is used as it is.
 */
#include "up.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#ifndef SU_VERSION
#define SU_VERSION "dev"
#endif

static const char usage_text[] =
    "usage: sluice-up [options] FILE|DIR... URL\n"
    "Upload files and directories to a sluice server, resumably: a dropped connection is\n"
    "retried and resumed from the server's offset, and a killed sluice-up run again with the\n"
    "same arguments goes on where the server stands. Each file's SHA-256, computed while\n"
    "reading, is checked against the server's.\n"
    "\n"
    "URL is the server (http://host:8080, https://host/mount, http://[::1]:8080) or its\n"
    "creation URL (.../uploads/, a signed URL's query kept). A DIR is uploaded recursively\n"
    "under its own name.\n"
    "\n"
    "  -p, --parallel N         files uploaded at once (default 4)\n"
    "      --protocol P         tus (tus 1.0, default) or ietf (the IETF resumable-upload draft)\n"
    "      --parts N            split files of at least --part-min into N parts uploaded in\n"
    "                           parallel and joined by the server (tus concatenation; default 1)\n"
    "      --part-min N         smallest file split into parts (default 64M)\n"
    "      --small N            files up to N bytes go with their creation request, without a\n"
    "                           resumable state (default 1M)\n"
    "  -H, --header 'K: V'      an extra request header (repeatable)\n"
    "      --bearer TOKEN       Authorization: Bearer TOKEN (default $SLUICE_UP_TOKEN)\n"
    "      --mount PREFIX       the server's mount prefix (sluice --prefix), e.g. /data\n"
    "      --dest DIR           remote folder the files go under\n"
    "      --retries N          attempts per file without progress (default 10)\n"
    "      --retry-delay SECS   first wait before a retry, doubling up to 30 s (default 0.5)\n"
    "      --connect-timeout S  (default 10)     --stall-timeout S  no byte for S (default 60)\n"
    "      --state-dir DIR      resumable state (default $XDG_STATE_HOME/sluice-up, else\n"
    "                           ~/.local/state/sluice-up)\n"
    "      --no-resume          keep no state, start every file anew\n"
    "      --no-verify          compute and compare no SHA-256 (sending speed only)\n"
    "      --json               events on stdout, one JSON object a line\n"
    "  -q, --quiet              errors only (no progress display)\n"
    "  -k, --insecure           do not verify the server's TLS certificate\n"
    "  -h, --help               this text;  --version\n"
    "\n"
    "Exit status: 0 all files uploaded and verified; 1 a file failed (refused by the server, or\n"
    "retries exhausted); 2 bad usage; 3 the server could not be reached; 4 a SHA-256 mismatch;\n"
    "5 a local file could not be read or changed while uploading; 6 interrupted (run again to\n"
    "resume).\n";

int su_parse_size(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    int shift = 0;

    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    v = strtoull(s, &end, 10);
    switch (*end) {
    case '\0':
        break;
    case 'K':
    case 'k':
        shift = 10;
        break;
    case 'M':
    case 'm':
        shift = 20;
        break;
    case 'G':
    case 'g':
        shift = 30;
        break;
    case 'T':
    case 't':
        shift = 40;
        break;
    default:
        return -1;
    }
    if (*end != '\0' && end[1] != '\0')
        return -1;
    if (shift && v > (UINT64_MAX >> shift))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

static int parse_uint(const char *s, unsigned max, unsigned *out)
{
    uint64_t v;

    if (su_parse_size(s, &v) < 0 || strpbrk(s, "KkMmGgTt") != NULL || v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int parse_secs(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);

    if (end == s || *end != '\0' || !(v >= 0) || v > 86400)
        return -1;
    *out = v;
    return 0;
}

int su_endpoint(const char *url, const char *mount, char *endpoint, size_t ecap, char *origin,
                size_t ocap)
{
    const char *p, *path, *q;
    size_t n, olen, qlen = 0;

    if (strncasecmp(url, "http://", 7) == 0)
        p = url + 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        p = url + 8;
    else
        return -1;
    if (*p == '\0' || *p == '/')
        return -1;
    if (*p == '[' && strchr(p, ']') == NULL)
        return -1; /* an IPv6 literal without its bracket */
    path = strchr(*p == '[' ? strchr(p, ']') : p, '/');
    if (path == NULL)
        path = url + strlen(url);
    if (strpbrk(url, "?#") != NULL && strpbrk(url, "?#") < path)
        return -1;
    olen = (size_t)(path - url);
    if (olen >= ocap)
        return -1;
    memcpy(origin, url, olen);
    origin[olen] = '\0';
    if (mount != NULL && mount[0] != '\0' && (mount[0] != '/' || strstr(mount, "//") != NULL))
        return -1;
    q = strpbrk(path, "?#"); /* a signed creation URL keeps its query */
    n = q != NULL ? (size_t)(q - path) : strlen(path);
    if (q == NULL || *q == '#')
        q = "";
    else
        qlen = strcspn(q, "#");
    while (n > 0 && path[n - 1] == '/')
        n--;
    if (n >= 8 && strncmp(path + n - 8, "/uploads", 8) == 0)
        n = (size_t)snprintf(endpoint, ecap, "%.*s/%.*s", (int)(path + n - url), url, (int)qlen, q);
    else
        n = (size_t)snprintf(
            endpoint, ecap, "%.*s%.*s/uploads/%.*s", (int)(path + n - url), url,
            mount != NULL ? (int)(strlen(mount) - (mount[0] && mount[strlen(mount) - 1] == '/'))
                          : 0,
            mount != NULL ? mount : "", (int)qlen, q);
    return n < ecap ? 0 : -1;
}

int su_args_parse(su_opts_t *o, int argc, char **argv, FILE *out, FILE *err)
{
    enum {
        O_PROTOCOL = 256,
        O_PARTS,
        O_PART_MIN,
        O_SMALL,
        O_BEARER,
        O_MOUNT,
        O_DEST,
        O_RETRIES,
        O_RETRY_DELAY,
        O_CONNECT,
        O_STALL,
        O_STATE,
        O_NO_RESUME,
        O_NO_VERIFY,
        O_JSON,
        O_NO_PROGRESS,
        O_VERSION
    };
    static const struct option longs[] = {
        {"parallel", required_argument, NULL, 'p'},
        {"protocol", required_argument, NULL, O_PROTOCOL},
        {"parts", required_argument, NULL, O_PARTS},
        {"part-min", required_argument, NULL, O_PART_MIN},
        {"small", required_argument, NULL, O_SMALL},
        {"header", required_argument, NULL, 'H'},
        {"bearer", required_argument, NULL, O_BEARER},
        {"mount", required_argument, NULL, O_MOUNT},
        {"dest", required_argument, NULL, O_DEST},
        {"retries", required_argument, NULL, O_RETRIES},
        {"retry-delay", required_argument, NULL, O_RETRY_DELAY},
        {"connect-timeout", required_argument, NULL, O_CONNECT},
        {"stall-timeout", required_argument, NULL, O_STALL},
        {"state-dir", required_argument, NULL, O_STATE},
        {"no-resume", no_argument, NULL, O_NO_RESUME},
        {"no-verify", no_argument, NULL, O_NO_VERIFY},
        {"json", no_argument, NULL, O_JSON},
        {"quiet", no_argument, NULL, 'q'},
        {"no-progress", no_argument, NULL, O_NO_PROGRESS},
        {"insecure", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, O_VERSION},
        {NULL, 0, NULL, 0},
    };
    const char *mount = NULL, *bad = NULL;
    int c, no_progress = 0;

    memset(o, 0, sizeof(*o));
    o->parallel = 4;
    o->retries = 10;
    o->retry_delay = 0.5;
    o->retry_max = 30;
    o->small = 1u << 20;
    o->parts = 1;
    o->part_min = 64u << 20;
    o->connect_timeout = 10;
    o->stall_timeout = 60;
    o->bearer = getenv("SLUICE_UP_TOKEN");
    optind = 1;
    opterr = 0;
    while (bad == NULL && (c = getopt_long(argc, argv, ":p:H:qkh", longs, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (parse_uint(optarg, 1024, &o->parallel) < 0 || o->parallel == 0)
                bad = "--parallel needs a number from 1 to 1024";
            break;
        case O_PROTOCOL:
            if (strcmp(optarg, "tus") == 0)
                o->protocol = SU_TUS;
            else if (strcmp(optarg, "ietf") == 0)
                o->protocol = SU_IETF;
            else
                bad = "--protocol is tus or ietf";
            break;
        case O_PARTS:
            if (parse_uint(optarg, 64, &o->parts) < 0 || o->parts == 0)
                bad = "--parts needs a number from 1 to 64";
            break;
        case O_PART_MIN:
            if (su_parse_size(optarg, &o->part_min) < 0 || o->part_min == 0)
                bad = "--part-min needs a size such as 64M";
            break;
        case O_SMALL:
            if (su_parse_size(optarg, &o->small) < 0)
                bad = "--small needs a size such as 1M";
            break;
        case 'H':
            if (strchr(optarg, ':') == NULL || optarg[0] == ':' || strpbrk(optarg, "\r\n"))
                bad = "--header needs 'Name: value'";
            else if (o->nheaders == SU_MAX_HEADERS)
                bad = "too many --header options";
            else
                o->headers[o->nheaders++] = optarg;
            break;
        case O_BEARER:
            o->bearer = optarg;
            break;
        case O_MOUNT:
            mount = optarg;
            break;
        case O_DEST:
            o->dest = optarg;
            break;
        case O_RETRIES:
            if (parse_uint(optarg, 1000, &o->retries) < 0)
                bad = "--retries needs a number from 0 to 1000";
            break;
        case O_RETRY_DELAY:
            if (parse_secs(optarg, &o->retry_delay) < 0)
                bad = "--retry-delay needs seconds";
            break;
        case O_CONNECT:
            if (parse_secs(optarg, &o->connect_timeout) < 0 || o->connect_timeout == 0)
                bad = "--connect-timeout needs seconds";
            break;
        case O_STALL:
            if (parse_secs(optarg, &o->stall_timeout) < 0 || o->stall_timeout < 1)
                bad = "--stall-timeout needs seconds (at least 1)";
            break;
        case O_STATE:
            o->state_dir = optarg;
            break;
        case O_NO_RESUME:
            o->no_resume = 1;
            break;
        case O_NO_VERIFY:
            o->no_verify = 1;
            break;
        case O_JSON:
            o->json = 1;
            break;
        case 'q':
            o->quiet = 1;
            break;
        case O_NO_PROGRESS:
            no_progress = 1;
            break;
        case 'k':
            o->insecure = 1;
            break;
        case 'h':
            fputs(usage_text, out);
            return 1;
        case O_VERSION:
            fprintf(out, "sluice-up %s\n", SU_VERSION);
            return 1;
        case ':':
            bad = "an option needs a value (see --help)";
            break;
        default:
            bad = "unknown option (see --help)";
            break;
        }
    }
    if (bad == NULL && argc - optind < 2)
        bad = "need at least one FILE or DIR and a URL (see --help)";
    if (bad == NULL && o->bearer != NULL && strpbrk(o->bearer, "\r\n") != NULL)
        bad = "the bearer token has a line break";
    if (bad == NULL && su_endpoint(argv[argc - 1], mount, o->endpoint, sizeof(o->endpoint),
                                   o->origin, sizeof(o->origin)) < 0)
        bad = "URL must be http:// or https://host[:port][/path] (and --mount /prefix)";
    if (bad != NULL) {
        fprintf(err, "sluice-up: %s\n", bad);
        return -1;
    }
    o->paths = argv + optind;
    o->npaths = argc - optind - 1;
    o->progress = !o->quiet && !no_progress && !o->json && isatty(2);
    return 0;
}
