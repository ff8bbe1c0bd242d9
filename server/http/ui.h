/* SPDX-License-Identifier: MIT
 * The upload page (ui.c), private to server/: its files, read once from --ui-dir when the server
 * starts, and the protocol that answers GET / and GET /ui/<file> under the mount. */
#ifndef SL_SERVER_UI_H
#define SL_SERVER_UI_H

#include <stddef.h>
#include <stdint.h>

typedef struct sl_server_s sl_server_t;

/* One file of the page, held in memory for the server's life. */
typedef struct sl_ui_file_s {
    char name[64]; /* a safe file name (sl__ui_name_ok) */
    char *data;    /* owned; len bytes */
    size_t len;
    const char *type; /* Content-Type (static) */
    int immutable;    /* a content-hashed name: cached for a year */
    char etag[24];    /* "\"<16 hex digits>\"": a hash of the bytes */
} sl_ui_file_t;

typedef struct sl_ui_s {
    sl_ui_file_t *files; /* owned, n of them, index.html among them */
    size_t n;
    size_t bytes; /* their total size */
} sl_ui_t;

#define SL_UI_MAX_FILES 64
#define SL_UI_MAX_BYTES (16u << 20) /* all files together */

/* Read the page in dir (borrowed): its regular files with safe names (no subdirectory, no
 * symbolic link), at most SL_UI_MAX_FILES and SL_UI_MAX_BYTES. 0 and *out (returned owned, free
 * with sl__ui_free) when dir holds an index.html; UV_ENOENT when it does not, SL_ETOOLARGE when
 * it holds too much, another negative code when it cannot be read. */
int sl__ui_load(const char *dir, sl_ui_t **out);
void sl__ui_free(sl_ui_t *ui);
/* The file named name (borrowed), or NULL; names that are not safe are never found. */
const sl_ui_file_t *sl__ui_find(const sl_ui_t *ui, const char *name);

/* 1 if name is a safe file name of the page: 1 to 63 bytes of [A-Za-z0-9._-], not starting with
 * a dot (no "..", no "/", no "%": nothing that could reach outside the directory). */
int sl__ui_name_ok(const char *name);
/* The Content-Type for name's extension (application/octet-stream if unknown). */
const char *sl__ui_content_type(const char *name);
/* 1 if name carries a content hash, as the bundler writes it: "<stem>-<8+ of [A-Z0-9]>.<ext>". */
int sl__ui_hashed(const char *name);
/* The directory the page is read from: cfg_dir when set, else the build tree's page when the
 * running program lives in the build tree, else <program's dir>/../share/sluice/ui when that
 * exists (an install under any prefix), else the configured install prefix's. Into out[cap]. */
void sl__ui_default_dir(const char *cfg_dir, char *out, size_t cap);

/* The server's page: loaded from server_start unless --no-ui (srv->ui stays NULL when there is
 * none: GET / is then not the page's), freed with the server. */
void sl__ui_start(sl_server_t *srv);
void sl__ui_stop(sl_server_t *srv);

#endif
