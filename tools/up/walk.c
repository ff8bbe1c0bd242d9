/* SPDX-License-Identifier: MIT
 *
 * FILE|DIR arguments into the list of files to upload and their remote names. A FILE is named by
 * its base name, a DIR's files by DIR's base name and their path under it, so a tree arrives as
 * it is ("photos/2024/a.jpg"); --dest puts everything under a remote folder. Directories are read
 * with nftw without following symbolic links (no cycles); a link to a regular file is followed.
 * Names are checked here rather than refused by the server mid-run: no empty segment, no "." or
 * "..", no control bytes. The list is sorted by name, so runs and their output are repeatable.
 */
#define _XOPEN_SOURCE 700
#include "up.h"

#include <errno.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static su_list_t *walking;
static const char *walk_root_name, *walk_dest;
static size_t walk_root_len;
static FILE *walk_err;
static int walk_failed;

static int name_ok(const char *name)
{
    const char *seg = name;

    if (*name == '\0' || strlen(name) > 1024)
        return 0;
    for (const char *p = name;; p++) {
        if (*p == '/' || *p == '\0') {
            size_t n = (size_t)(p - seg);
            if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
                return 0;
            if (*p == '\0')
                return 1;
            seg = p + 1;
        } else if ((unsigned char)*p < 32 || *p == 127) {
            return 0;
        }
    }
}

static int add(su_list_t *l, const char *path, const char *name, const char *dest,
               const struct stat *st, FILE *err)
{
    su_file_t *f;
    size_t dl = dest != NULL ? strlen(dest) : 0, cap;

    while (dl > 0 && dest[dl - 1] == '/')
        dl--;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->v = realloc(l->v, l->cap * sizeof(*l->v));
        if (l->v == NULL)
            abort();
    }
    f = &l->v[l->n];
    f->path = strdup(path);
    cap = dl + strlen(name) + 2;
    f->name = malloc(cap);
    if (f->path == NULL || f->name == NULL)
        abort();
    snprintf(f->name, cap, "%.*s%s%s", (int)dl, dl ? dest : "", dl ? "/" : "", name);
    if (!name_ok(f->name)) {
        fprintf(err, "sluice-up: %s: cannot be uploaded under the name \"%s\"\n", path, f->name);
        free(f->path);
        free(f->name);
        return -1;
    }
    f->size = (uint64_t)st->st_size;
    f->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    l->n++;
    return 0;
}

static int on_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    struct stat tst;

    (void)ftw;
    if (type == FTW_SL && stat(path, &tst) == 0 && S_ISREG(tst.st_mode)) {
        st = &tst; /* a link to a file: its file */
        type = FTW_F;
    }
    if (type == FTW_DNR || type == FTW_NS) {
        fprintf(walk_err, "sluice-up: %s: cannot be read\n", path);
        walk_failed = 1;
        return 0;
    }
    if (type != FTW_F || !S_ISREG(st->st_mode))
        return 0; /* directories, links to directories, devices, sockets */
    {
        char name[4096];
        snprintf(name, sizeof(name), "%s%s", walk_root_name, path + walk_root_len);
        if (add(walking, path, name, walk_dest, st, walk_err) < 0)
            walk_failed = 1;
    }
    return 0;
}

static const char *base_name(const char *p, size_t *len)
{
    size_t n = strlen(p);
    const char *b;

    while (n > 1 && p[n - 1] == '/')
        n--;
    b = p + n;
    while (b > p && b[-1] != '/')
        b--;
    *len = (size_t)(p + n - b);
    return b;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const su_file_t *)a)->name, ((const su_file_t *)b)->name);
}

int su_walk(su_list_t *l, char **paths, int npaths, const char *dest, FILE *err)
{
    int i, failed = 0;

    for (i = 0; i < npaths; i++) {
        struct stat st;
        size_t blen;
        const char *b = base_name(paths[i], &blen);
        char root[4096];

        if (stat(paths[i], &st) < 0) {
            fprintf(err, "sluice-up: %s: %s\n", paths[i], strerror(errno));
            failed = 1;
            continue;
        }
        if (S_ISREG(st.st_mode)) {
            snprintf(root, sizeof(root), "%.*s", (int)blen, b);
            failed |= add(l, paths[i], root, dest, &st, err) < 0;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            fprintf(err, "sluice-up: %s: not a file or directory\n", paths[i]);
            failed = 1;
            continue;
        }
        /* the tree's names start with the directory's own name ("." and "/": its contents) */
        if ((blen == 1 && b[0] == '.') || (blen == 1 && b[0] == '/') ||
            (blen == 2 && b[0] == '.' && b[1] == '.'))
            blen = 0;
        snprintf(root, sizeof(root), "%.*s", (int)blen, b);
        walking = l;
        walk_root_name = root;
        walk_dest = dest;
        walk_err = err;
        walk_failed = 0;
        {
            size_t pl = strlen(paths[i]);
            while (pl > 1 && paths[i][pl - 1] == '/')
                pl--;
            /* without the root's name, a name starts after the root's '/' */
            walk_root_len = pl + (blen == 0 && paths[i][pl - 1] != '/');
            char tree[4096];
            snprintf(tree, sizeof(tree), "%.*s", (int)pl, paths[i]);
            if (nftw(tree, on_entry, 32, FTW_PHYS) != 0) {
                fprintf(err, "sluice-up: %s: %s\n", paths[i], strerror(errno));
                failed = 1;
            }
        }
        failed |= walk_failed;
    }
    if (l->n > 1)
        qsort(l->v, l->n, sizeof(*l->v), by_name);
    for (size_t k = 1; k < l->n; k++)
        if (strcmp(l->v[k - 1].name, l->v[k].name) == 0) {
            fprintf(err, "sluice-up: %s and %s would both be uploaded as \"%s\"\n",
                    l->v[k - 1].path, l->v[k].path, l->v[k].name);
            failed = 1;
        }
    return failed ? -1 : 0;
}

void su_list_free(su_list_t *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].path);
        free(l->v[i].name);
    }
    free(l->v);
    memset(l, 0, sizeof(*l));
}
