/* SPDX-License-Identifier: MIT
 *
 * The upload page: GET / under the mount answers index.html, GET /ui/<file> the page's scripts
 * and styles (ui/ in the source tree, bundled at build time into <build>/ui and installed in
 * <prefix>/share/sluice/ui).
 *
 * The page is a handful of small files, so they are read once, when the server starts, into
 * memory (at most SL_UI_MAX_FILES files and SL_UI_MAX_BYTES): a request never waits for the disk
 * on the loop thread, and no request path ever reaches the filesystem. A request's name is only
 * looked up in that table, and only a safe name (a single segment of [A-Za-z0-9._-], no leading
 * dot) can match: "/ui/../x", "/ui/%2e%2e/x" or "/ui/a/b" are 404 whatever the disk holds.
 *
 *   GET /            index.html  Cache-Control: no-cache (revalidated: ETag, 304)
 *   GET /ui/app-3F2A1B7C.js      Cache-Control: public, max-age=31536000, immutable
 *   GET /ui/other.txt            no-cache (a name without a content hash)
 *
 * Every answer carries a strict Content-Security-Policy (scripts, styles and requests from the
 * page's own origin only, no inline code, no frames), nosniff and no referrer. The mount without
 * its trailing slash ("/api/upload") redirects to the slash, so the page's relative URLs
 * (uploads/, files/, ui/…) resolve under the mount, and behind a reverse proxy that keeps it.
 */
#include "http/ui.h"
#include "http/http.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef SL_UI_BUILD_DIR
#define SL_UI_BUILD_DIR ""
#endif
#ifndef SL_UI_INSTALL_DIR
#define SL_UI_INSTALL_DIR "/usr/local/share/sluice/ui"
#endif

#define CSP                                                                                        \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

int sl__ui_name_ok(const char *name)
{
    size_t i, n = strlen(name);

    if (n == 0 || n >= sizeof(((sl_ui_file_t *)0)->name) || name[0] == '.')
        return 0;
    for (i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

const char *sl__ui_content_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".woff2", "font/woff2"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(name, '.');
    size_t i;

    if (dot != NULL)
        for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
            if (strcmp(dot, types[i].ext) == 0)
                return types[i].type;
    return "application/octet-stream";
}

int sl__ui_hashed(const char *name)
{
    const char *dot = strrchr(name, '.'), *p;
    size_t n = 0;

    if (dot == NULL)
        return 0;
    for (p = dot; p > name && ((p[-1] >= 'A' && p[-1] <= 'Z') || (p[-1] >= '0' && p[-1] <= '9'));
         p--)
        n++;
    return n >= 8 && p > name + 1 && p[-1] == '-';
}

/* FNV-1a, 64 bits: the ETag of a file's bytes. */
static uint64_t fnv1a(const char *p, size_t n)
{
    uint64_t h = 14695981039346656037ull;

    while (n-- > 0) {
        h ^= (unsigned char)*p++;
        h *= 1099511628211ull;
    }
    return h;
}

/* Read dir/name into f: 0, 1 to skip it (not a regular file), or a negative code. */
static int read_file(int dfd, const char *name, size_t room, sl_ui_file_t *f)
{
    struct stat st;
    size_t got = 0;
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

    if (fd < 0)
        return errno == ELOOP ? 1 : -errno; /* a symbolic link is not served */
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return 1;
    }
    if ((uint64_t)st.st_size > room) {
        close(fd);
        return SL_ETOOLARGE;
    }
    f->len = (size_t)st.st_size;
    f->data = sl_xmalloc(f->len + 1);
    while (got < f->len) {
        ssize_t n = read(fd, f->data + got, f->len - got);
        if (n <= 0) {
            int err = n < 0 ? -errno : UV_EIO; /* shorter than it was: changed while read */
            close(fd);
            free(f->data);
            f->data = NULL;
            return err;
        }
        got += (size_t)n;
    }
    close(fd);
    memcpy(f->name, name, strlen(name) + 1); /* fits: sl__ui_name_ok */
    f->type = sl__ui_content_type(name);
    f->immutable = sl__ui_hashed(name);
    snprintf(f->etag, sizeof(f->etag), "\"%016llx\"", (unsigned long long)fnv1a(f->data, f->len));
    return 0;
}

int sl__ui_load(const char *dir, sl_ui_t **out)
{
    sl_ui_t *ui;
    struct dirent *e;
    DIR *d;
    int dfd, err = 0;

    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -errno;
    d = fdopendir(dfd);
    if (d == NULL) {
        err = -errno;
        close(dfd);
        return err;
    }
    ui = sl_xcalloc(1, sizeof(*ui));
    ui->files = sl_xcalloc(SL_UI_MAX_FILES, sizeof(*ui->files));
    while (err == 0 && (e = readdir(d)) != NULL) {
        int r;
        if (!sl__ui_name_ok(e->d_name))
            continue; /* ".", "..", hidden files, names no request could ask for */
        if (ui->n == SL_UI_MAX_FILES) {
            err = SL_ETOOLARGE;
            break;
        }
        r = read_file(dfd, e->d_name, SL_UI_MAX_BYTES - ui->bytes, &ui->files[ui->n]);
        if (r < 0)
            err = r;
        else if (r == 0)
            ui->bytes += ui->files[ui->n++].len;
    }
    closedir(d);
    if (err == 0 && sl__ui_find(ui, "index.html") == NULL)
        err = UV_ENOENT;
    if (err < 0) {
        sl__ui_free(ui);
        return err;
    }
    *out = ui;
    return 0;
}

void sl__ui_free(sl_ui_t *ui)
{
    size_t i;

    if (ui == NULL)
        return;
    for (i = 0; i < ui->n; i++)
        free(ui->files[i].data);
    free(ui->files);
    free(ui);
}

const sl_ui_file_t *sl__ui_find(const sl_ui_t *ui, const char *name)
{
    size_t i;

    if (ui == NULL || !sl__ui_name_ok(name))
        return NULL;
    for (i = 0; i < ui->n; i++)
        if (strcmp(ui->files[i].name, name) == 0)
            return &ui->files[i];
    return NULL;
}

void sl__ui_default_dir(const char *cfg_dir, char *out, size_t cap)
{
    char exe[4096];
    struct stat st;
    char *slash;
    ssize_t n;

    if (cfg_dir != NULL && cfg_dir[0] != '\0') {
        snprintf(out, cap, "%s", cfg_dir);
        return;
    }
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    slash = n > 0 ? (exe[n] = '\0', strrchr(exe, '/')) : NULL;
    if (slash != NULL) {
        size_t blen = strlen(SL_UI_BUILD_DIR) - strlen("/ui"); /* the build tree */
        *slash = '\0';                                         /* exe: the program's directory */
        if (SL_UI_BUILD_DIR[0] != '\0' && strlen(exe) == blen &&
            strncmp(exe, SL_UI_BUILD_DIR, blen) == 0) {
            snprintf(out, cap, "%s", SL_UI_BUILD_DIR); /* run from the build tree */
            return;
        }
        /* Installed under another prefix than the configured one: PREFIX/bin/../share. */
        if ((size_t)snprintf(out, cap, "%s/../share/sluice/ui", exe) < cap && stat(out, &st) == 0 &&
            S_ISDIR(st.st_mode))
            return;
    }
    snprintf(out, cap, "%s", SL_UI_INSTALL_DIR);
}

void sl__ui_start(sl_server_t *srv)
{
    char dir[4096];
    int err;

    if (srv->cfg.no_ui)
        return;
    sl__ui_default_dir(srv->cfg.ui_dir, dir, sizeof(dir));
    err = sl__ui_load(dir, &srv->ui);
    if (err < 0)
        sl__log(srv, srv->cfg.ui_dir[0] != '\0' ? SL_LOG_WARN : SL_LOG_DEBUG,
                "no upload page (%s/index.html: %s); GET / is not served", dir, sl_strerror(err));
}

void sl__ui_stop(sl_server_t *srv)
{
    sl__ui_free(srv->ui);
    srv->ui = NULL;
}

/* --- the protocol ---------------------------------------------------------------------------- */

static enum MHD_Result ui_first(sl_req_t *r)
{
    if (r->method != M_GET && r->method != M_HEAD)
        return sl__refuse_first(r, SL_EMETHOD);
    r->phase = PH_NOBODY; /* answered from the final call: the connection stays alive */
    return MHD_YES;
}

/* "/api/upload" → "upload/": relative, so it holds behind a proxy that renames the prefix. */
static void redirect_to_slash(sl_req_t *r)
{
    const char *last = strrchr(r->url, '/');
    char loc[300];

    snprintf(loc, sizeof(loc), "%s/", last != NULL ? last + 1 : r->url);
    sl__respond(r, MHD_HTTP_FOUND,
                MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT));
    sl__respond_header(r, MHD_HTTP_HEADER_LOCATION, loc);
}

static int etag_matches(const char *inm, const char *etag)
{
    return inm != NULL && (strcmp(inm, "*") == 0 || strstr(inm, etag) != NULL);
}

static enum MHD_Result ui_final(sl_req_t *r, const char *method)
{
    const char *path = r->path, *name;
    const sl_ui_file_t *f;
    size_t ulen = strlen(r->url);

    (void)method;
    if (strcmp(path, "/") == 0 && (ulen == 0 || r->url[ulen - 1] != '/')) {
        redirect_to_slash(r);
        return sl__queue(r);
    }
    name = strcmp(path, "/") == 0 ? "index.html" : path + 4; /* after "/ui/" */
    f = sl__ui_find(r->srv->ui, name);
    if (f == NULL) {
        sl__respond_error(r, SL_ENOTFOUND);
        return sl__queue(r);
    }
    if (etag_matches(sl__header(r, MHD_HTTP_HEADER_IF_NONE_MATCH), f->etag)) {
        sl__respond(r, MHD_HTTP_NOT_MODIFIED,
                    MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT));
    } else {
        sl__respond(r, MHD_HTTP_OK,
                    MHD_create_response_from_buffer(f->len, f->data, MHD_RESPMEM_PERSISTENT));
        sl__respond_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, f->type);
        r->bytes_out = r->method == M_HEAD ? 0 : f->len;
    }
    sl__respond_header(r, MHD_HTTP_HEADER_ETAG, f->etag);
    sl__respond_header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
                       f->immutable ? "public, max-age=31536000, immutable" : "no-cache");
    sl__respond_header(r, "Content-Security-Policy", CSP);
    sl__respond_header(r, "X-Content-Type-Options", "nosniff");
    sl__respond_header(r, "Referrer-Policy", "no-referrer");
    sl__respond_header(r, "X-Frame-Options", "DENY");
    return sl__queue(r);
}

const sl_proto_t sl__proto_ui = {.name = "ui", .first = ui_first, .final = ui_final};
