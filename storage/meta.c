/* SPDX-License-Identifier: MIT
 *
 * Metadata: the digests of a stored file, kept so that GET and HEAD can answer Repr-Digest and a
 * strong ETag without reading the file again.
 *
 * The record lives in an extended attribute of the file itself (user.sluice.meta), set on the
 * temp file just before its rename, so it travels with the data and costs one system call; on a
 * filesystem without user extended attributes it falls back to one small JSON file per stored
 * name, ROOT/.sluice/meta/<sha256 of the name>.json (a flat
 * directory: names of any depth, no clash between "a" and "a/b"), holding the digests and the
 * size and mtime of the file they describe. It is written by the commit job right after the data
 * file is renamed into place (write a temp file, rename it over the old one) and removed by
 * DELETE. It is a cache, not a second source of truth: a reader uses it only when its size and
 * mtime match the file it opened, so a crash between the two renames, a file replaced by hand or
 * a torn metadata file all read as "no metadata", never as a wrong digest. That is also why it
 * needs no fsync of its own.
 */
#include "fs.h"
#include "streams/hex.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <openssl/evp.h>

/* ".sluice/meta/<64 hex>.json" for `name`. */
static void meta_path(const char *name, char out[96])
{
    unsigned char h[32];
    unsigned int len = 0;
    char *p;

    EVP_Digest(name, strlen(name), h, &len, EVP_sha256(), NULL);
    p = out + snprintf(out, 96, ".sluice/meta/");
    sl_hex(h, 32, p);
    memcpy(p + 64, ".json", 6);
}

#define XATTR "user.sluice.meta"

/* The record's text (the same in a file and in an extended attribute) into buf[512]. */
static int format(const sl_meta_t *m, char *buf)
{
    return snprintf(buf, 512,
                    "{\"size\":%" PRIu64 ",\"mtime_ns\":%" PRId64 ",\"crc32\":\"%08x\","
                    "\"sha256\":\"%s\"}\n",
                    m->size, m->mtime_ns, (unsigned)m->crc32, m->sha256_hex);
}

/* Parse buf[0..n) into *m if it is whole and describes this size and mtime. */
static int parse(char *buf, ssize_t n, uint64_t size, int64_t mtime_ns, sl_meta_t *m)
{
    unsigned crc;

    if (n < 2)
        return SL_ENOTFOUND;
    buf[n] = '\0';
    if (buf[n - 2] != '}' || buf[n - 1] != '\n')
        return SL_ENOTFOUND; /* torn: a record is whole or ignored */
    if (sscanf(buf,
               "{\"size\":%" SCNu64 ",\"mtime_ns\":%" SCNd64 ",\"crc32\":\"%8x\",\"sha256\":\"%64["
               "0-9a-f]\"}",
               &m->size, &m->mtime_ns, &crc, m->sha256_hex) != 4 ||
        strlen(m->sha256_hex) != 64 || m->size != size || m->mtime_ns != mtime_ns)
        return SL_ENOTFOUND; /* absent, torn or about another version of the file */
    m->crc32 = crc;
    return 0;
}

int sl__meta_set_fd(int fd, const sl_meta_t *m)
{
    char buf[512];
    int n = format(m, buf);

    return fsetxattr(fd, XATTR, buf, (size_t)n, 0) < 0 ? -errno : 0;
}

int sl__meta_get_fd(int fd, uint64_t size, int64_t mtime_ns, sl_meta_t *m)
{
    char buf[512];
    ssize_t n = fgetxattr(fd, XATTR, buf, sizeof(buf) - 1);

    return n <= 0 ? SL_ENOTFOUND : parse(buf, n, size, mtime_ns, m);
}

int sl__meta_write(int root_fd, const char *name, const sl_meta_t *m, uint64_t seq)
{
    char path[96], tmp[128], buf[512];
    int fd, n, r = 0;

    meta_path(name, path);
    snprintf(tmp, sizeof(tmp), ".sluice/meta/%s-%" PRIu64 ".tmp", sl_store_owner(), seq);
    n = format(m, buf);
    fd = openat(root_fd, tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    if (write(fd, buf, (size_t)n) != n)
        r = UV_EIO;
    close(fd);
    if (r == 0 && renameat(root_fd, tmp, root_fd, path) < 0)
        r = -errno;
    if (r < 0)
        unlinkat(root_fd, tmp, 0);
    return r;
}

int sl__meta_read(int root_fd, const char *name, uint64_t size, int64_t mtime_ns, sl_meta_t *m)
{
    char path[96], buf[512];
    ssize_t n;
    int fd;

    meta_path(name, path);
    fd = openat(root_fd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return SL_ENOTFOUND;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    return parse(buf, n, size, mtime_ns, m);
}

void sl__meta_remove(int root_fd, const char *name)
{
    char path[96];

    meta_path(name, path);
    unlinkat(root_fd, path, 0);
}
