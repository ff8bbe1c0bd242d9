/* SPDX-License-Identifier: MIT
 *
 * sluice-up: the uploader that never starts over (tools/README.md).
 *
 * One thread, one libcurl multi handle: every file is a resumable upload (tus 1.0, or the IETF
 * draft with --protocol ietf) driven by a small state machine; up to --parallel of them run at
 * once over libcurl's pool of kept-alive connections. libcurl rather than libuv with an HTTP
 * client of our own: HTTPS, IPv6, proxies (HTTPS_PROXY) and redirects come with it, and its multi
 * interface is already the event loop a client of many transfers needs.
 *
 *   main ─▶ su_args_parse ─▶ su_walk (files and names) ─▶ su_run (xfer.c) ─▶ exit status
 *
 *   an upload:  [state file?] ─yes─▶ HEAD ─▶ offset ─┐
 *                           └─no──▶ POST (create) ───┴─▶ PATCH from the offset ─▶ verify
 *               a dropped connection or a 5xx: wait (backoff), HEAD, PATCH from the server's
 *               offset; a 409: HEAD again. Never a byte below the offset the server reported.
 *
 * Files: args.c (options, --help), walk.c (FILE|DIR into files and remote names), state.c (the
 * upload URLs kept under $XDG_STATE_HOME so a killed run resumes), proto.c (the requests of each
 * protocol, response fields), xfer.c (the transfers), progress.c (terminal display, --json
 * events), main.c.
 */
#ifndef SU_UP_H
#define SU_UP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit statuses (documented in --help and tools/README.md). */
enum {
    SU_EXIT_OK = 0,       /* every file uploaded and verified */
    SU_EXIT_FAILED = 1,   /* a file failed: the server refused it, or retries ran out */
    SU_EXIT_USAGE = 2,    /* bad options or arguments */
    SU_EXIT_CONNECT = 3,  /* the server could not be reached (refused, unreachable, DNS) */
    SU_EXIT_DIGEST = 4,   /* the server's SHA-256 of a file differs from ours */
    SU_EXIT_LOCAL = 5,    /* a local file could not be read, or changed while uploading */
    SU_EXIT_INTERRUPT = 6 /* interrupted (SIGINT, SIGTERM): a re-run resumes */
};

typedef enum { SU_TUS, SU_IETF } su_protocol_t;

#define SU_MAX_HEADERS 32

typedef struct su_opts_s {
    char endpoint[2048];    /* the creation URL: <URL>[<mount>]/uploads/ */
    char origin[1024];      /* scheme://host[:port] of the endpoint, for relative Locations */
    su_protocol_t protocol; /* --protocol tus|ietf (default tus) */
    unsigned parallel;      /* --parallel N files at once (default 4) */
    unsigned retries;       /* --retries N per file without progress (default 10) */
    double retry_delay;     /* --retry-delay SECS: the first backoff (default 0.5, doubling) */
    double retry_max;       /* the longest backoff (default 30) */
    uint64_t small;         /* --small N: files up to N go with their creation (default 1M) */
    unsigned parts;         /* --parts N: a large file in N parallel parts (tus concatenation) */
    uint64_t part_min;      /* --part-min N: only files of at least N are split (default 64M) */
    const char *headers[SU_MAX_HEADERS]; /* --header "Name: value" (argv strings) */
    unsigned nheaders;
    const char *bearer;     /* --bearer TOKEN, or $SLUICE_UP_TOKEN */
    const char *dest;       /* --dest DIR: remote folder the names go under */
    const char *state_dir;  /* --state-dir DIR (default $XDG_STATE_HOME/sluice-up) */
    int json;               /* --json: events on stdout, one JSON object a line */
    int progress;           /* 1 when stderr is a terminal, unless --quiet / --no-progress */
    int quiet;              /* --quiet: errors only */
    int no_verify;          /* --no-verify: no SHA-256 comparison */
    int no_resume;          /* --no-resume: neither read nor keep state */
    int insecure;           /* --insecure: no TLS verification */
    double connect_timeout; /* --connect-timeout SECS (default 10) */
    double stall_timeout;   /* --stall-timeout SECS: a transfer without a byte (default 60) */
    char **paths;           /* FILE|DIR arguments (argv) */
    int npaths;
} su_opts_t;

/* args.c: parse argv into o; 0, 1 when --help or --version was printed, or -1 after printing a
 * one-line error (exit SU_EXIT_USAGE). */
int su_args_parse(su_opts_t *o, int argc, char **argv, FILE *out, FILE *err);
/* Parse a size "N[K|M|G|T]" (binary units); 0 or -1. */
int su_parse_size(const char *s, uint64_t *out);
/* The endpoint and origin from URL and the mount prefix; 0 or -1 (a URL sluice-up cannot use). */
int su_endpoint(const char *url, const char *mount, char *endpoint, size_t ecap, char *origin,
                size_t ocap);

/* --- files (walk.c) --------------------------------------------------------------------------- */

typedef struct su_file_s {
    char *path; /* local path (owned) */
    char *name; /* remote name, '/'-separated (owned) */
    uint64_t size;
    int64_t mtime_ns;
} su_file_t;

typedef struct su_list_s {
    su_file_t *v;
    size_t n, cap;
} su_list_t;

/* Add every regular file under each path: a FILE as its base name, a DIR as DIR's base name and
 * the path under it (names kept), sorted; dest prefixes every name. 0, or -1 after printing why
 * to err. Symbolic links to files are followed, to directories not (no cycles). */
int su_walk(su_list_t *l, char **paths, int npaths, const char *dest, FILE *err);
void su_list_free(su_list_t *l);

/* --- state (state.c) -------------------------------------------------------------------------- */

/* The directory: opts->state_dir, else $XDG_STATE_HOME/sluice-up, else ~/.local/state/sluice-up
 * into out[cap]; 0 or -1. */
int su_state_dir(const char *given, char *out, size_t cap);
/* The key of an upload: the SHA-256 (hex) of protocol, endpoint, absolute path, size, mtime, name
 * and parts: the same file to the same place resumes, a changed file starts over. */
void su_state_key(const su_opts_t *o, const su_file_t *f, unsigned parts, char key[65]);
/* The upload URLs stored under key (one a line: 1, or parts + ...) into urls[n][cap]; the count
 * read, 0 when there is none. */
int su_state_load(const char *dir, const char *key, char (*urls)[2048], int n);
/* Store urls[0..n) (atomically: a temporary file renamed); 0 or -1. */
int su_state_save(const char *dir, const char *key, char (*urls)[2048], int n);
void su_state_remove(const char *dir, const char *key);

/* --- protocol fields (proto.c) ---------------------------------------------------------------- */

/* What a response says, gathered from its header lines and (the start of) its body. */
typedef struct su_resp_s {
    long status;
    int64_t offset; /* Upload-Offset, -1 if absent */
    int64_t length; /* Upload-Length, -1 if absent */
    int complete;   /* Upload-Complete: 1, 0, -1 if absent */
    char location[2048];
    char file[2048];      /* Sluice-File (or Content-Location with Upload-Complete: ?1) */
    char sha256[65];      /* from Repr-Digest sha-256, hex; "" if absent */
    char extensions[256]; /* Tus-Extension */
    char body[2048];      /* the start of the body (errors: the server's JSON) */
    size_t body_len;
} su_resp_t;

void su_resp_reset(su_resp_t *r);
/* One header line as libcurl gives it (with its CRLF); a status line starts a new response
 * (interim 1xx answers are forgotten). */
void su_resp_header(su_resp_t *r, const char *line, size_t len);
void su_resp_body(su_resp_t *r, const char *data, size_t len);
/* The one-line message of an error response: the JSON "error" or problem "title", else the
 * status line's meaning; into out[cap]. */
void su_resp_message(const su_resp_t *r, char *out, size_t cap);
/* Resolve a Location against origin into out[cap]. */
void su_resolve(const char *origin, const char *loc, char *out, size_t cap);
/* The Upload-Metadata value for a remote name (filename, and relativePath when it has a folder)
 * into out[cap]. */
void su_metadata(const char *name, char *out, size_t cap);
/* hex of a "sha-256=:<base64>:" member of a Repr-Digest value into hex[65]; 0 or -1. */
int su_repr_sha256(const char *v, char hex[65]);

/* --- progress and events (progress.c) --------------------------------------------------------- */

/* "1.5 MiB" style, into out[cap]. */
void su_fmt_bytes(double n, char *out, size_t cap);
/* "1:02:03", "4:05" or "--:--" (unknown) into out[cap]. */
void su_fmt_eta(double secs, char *out, size_t cap);
/* A JSON event on stdout: "{\"event\":\"<ev>\"<members>}\n" (members: ",\"k\":v..." or ""). */
void su_event(const su_opts_t *o, const char *ev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Escape s as a JSON string's inside into out[cap]. */
void su_json_str(const char *s, char *out, size_t cap);

/* One line of the display: a file (or the total: name NULL). rate in bytes/s, < 0 unknown. */
typedef struct su_bar_s {
    const char *name;
    uint64_t done, size;
    double rate;
} su_bar_t;
/* One display line into out[cap] (width columns at most). */
void su_bar_line(const su_bar_t *b, unsigned width, char *out, size_t cap);
/* Redraw the display on tty: the previous *drawn lines are replaced by bars[0..n) and total. */
void su_render(FILE *tty, const su_bar_t *bars, int n, const su_bar_t *total, int *drawn);
/* Clear what su_render drew (before a message or at the end). */
void su_render_clear(FILE *tty, int *drawn);

/* --- the transfers (xfer.c) ------------------------------------------------------------------- */

/* Upload every file of l; the exit status. */
int su_run(const su_opts_t *o, su_list_t *l);

#endif
