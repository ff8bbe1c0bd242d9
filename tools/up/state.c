/* SPDX-License-Identifier: MIT
 *
 * The resumable state: for each upload in progress, a file named by its key holding its upload
 * URL (or its parts' URLs, one a line), under $XDG_STATE_HOME/sluice-up. It is written once the
 * server has created the upload and before a byte of it is sent, and removed once the file is
 * verified, so a killed run finds it and asks the server for the offset; the offset itself is
 * never kept here (the server's is the truth). The key hashes what makes an upload the same one:
 * protocol, endpoint, absolute path, size, modification time, remote name, parts. A file that
 * changed gets a new key, so its old upload is never appended to.
 */
#include "up.h"
#include "streams/hex.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

static int mkdirs(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0700) < 0 && errno != EEXIST) {
            *p = '/';
            return -1;
        }
        *p = '/';
    }
    return mkdir(path, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

int su_state_dir(const char *given, char *out, size_t cap)
{
    const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    int n;

    if (given != NULL)
        n = snprintf(out, cap, "%s", given);
    else if (xdg != NULL && xdg[0] == '/')
        n = snprintf(out, cap, "%s/sluice-up", xdg);
    else if (home != NULL && home[0] != '\0')
        n = snprintf(out, cap, "%s/.local/state/sluice-up", home);
    else
        return -1;
    if (n < 0 || (size_t)n >= cap)
        return -1;
    return mkdirs(out);
}

void su_state_key(const su_opts_t *o, const su_file_t *f, unsigned parts, char key[65])
{
    char abs[PATH_MAX], line[512];
    unsigned char md[32];
    unsigned int len = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int n;

    if (c == NULL || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1)
        abort();
    if (realpath(f->path, abs) == NULL)
        snprintf(abs, sizeof(abs), "%s", f->path);
    n = snprintf(line, sizeof(line), "%d\n%llu\n%lld\n%u\n", (int)o->protocol,
                 (unsigned long long)f->size, (long long)f->mtime_ns, parts);
    EVP_DigestUpdate(c, line, (size_t)n);
    EVP_DigestUpdate(c, o->endpoint, strlen(o->endpoint) + 1);
    EVP_DigestUpdate(c, abs, strlen(abs) + 1);
    EVP_DigestUpdate(c, f->name, strlen(f->name) + 1);
    EVP_DigestFinal_ex(c, md, &len);
    EVP_MD_CTX_free(c);
    sl_hex(md, 32, key);
}

int su_state_load(const char *dir, const char *key, char (*urls)[2048], int n)
{
    char path[4096];
    FILE *f;
    int got = 0;

    snprintf(path, sizeof(path), "%s/%s", dir, key);
    f = fopen(path, "r");
    if (f == NULL)
        return 0;
    while (got < n && fgets(urls[got], 2048, f) != NULL) {
        size_t l = strlen(urls[got]);
        if (l == 0 || urls[got][l - 1] != '\n')
            break; /* a torn or overlong line: as if there were no state */
        urls[got][l - 1] = '\0';
        if (strncmp(urls[got], "http://", 7) != 0 && strncmp(urls[got], "https://", 8) != 0)
            break;
        got++;
    }
    if (!feof(f) && got == n && fgetc(f) != EOF)
        got = 0; /* more lines than parts: not ours */
    fclose(f);
    return got == n ? n : 0;
}

int su_state_save(const char *dir, const char *key, char (*urls)[2048], int n)
{
    char path[4096], tmp[4200];
    FILE *f;
    int ok;

    snprintf(path, sizeof(path), "%s/%s", dir, key);
    snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
    f = fopen(tmp, "w");
    if (f == NULL)
        return -1;
    for (int i = 0; i < n; i++)
        fprintf(f, "%s\n", urls[i]);
    ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) < 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

void su_state_remove(const char *dir, const char *key)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/%s", dir, key);
    unlink(path);
}
