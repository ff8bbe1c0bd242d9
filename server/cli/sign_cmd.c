/* SPDX-License-Identifier: MIT
 *
 * `sluice sign`: print a signed URL (http/sign.c has the scheme), for scripts and for checking
 * what an application computes:
 *
 *   sluice sign --key FILE --method PUT --path /files/report.pdf --expires 3600 [--max-size 10M]
 *               [--base https://files.example.com]
 *   https://files.example.com/files/report.pdf?sl-expires=1767225600&sl-sig=4c1d…
 *
 * --expires is seconds from now; --path is the URL's path as the client will send it (with the
 * mount, percent-encoded as sent). The key never leaves this process: only the URL is printed.
 *
 * A link to the upload page that lets whoever opens it upload (docs/security.md, "The upload
 * page"): --page PAGE (the page's path, the mount with its slash: "/" or "/api/upload/") signs
 * POST PAGE "uploads/" (a tus creation there, each file at most --max-size) and prints the page's
 * URL with that query; the page passes it on to its creations unchanged:
 *
 *   sluice sign --key FILE --page / --expires 86400 --max-size 10G --base https://files.example.com
 *   https://files.example.com/?sl-expires=1767225600&sl-max=10737418240&sl-sig=9e0a…
 */
#include "http/auth.h"
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

static int usage(const char *why)
{
    fprintf(stderr,
            "sluice sign: %s\nusage: sluice sign --key FILE --method METHOD --path /files/NAME "
            "--expires SECS [--max-size N[K|M|G]] [--base URL]\n"
            "       sluice sign --key FILE --page /MOUNT/ --expires SECS [--max-size N[K|M|G]] "
            "[--base URL]   (a link to the upload page that may upload)\n",
            why);
    return 2;
}

int sl__sign_main(int argc, char **argv)
{
    const char *keyfile = NULL, *method = NULL, *path = NULL, *exp = NULL, *max = NULL;
    const char *base = "", *page = NULL, *shown;
    char signed_path[4200];
    unsigned char key[1024];
    char text[1025], sig[SL_SIG_HEX + 1];
    size_t keylen, n;
    uint64_t secs, limit = 0;
    FILE *f;
    int i;

    for (i = 1; i < argc; i++) {
        const char **slot = strcmp(argv[i], "--key") == 0        ? &keyfile
                            : strcmp(argv[i], "--method") == 0   ? &method
                            : strcmp(argv[i], "--path") == 0     ? &path
                            : strcmp(argv[i], "--expires") == 0  ? &exp
                            : strcmp(argv[i], "--max-size") == 0 ? &max
                            : strcmp(argv[i], "--base") == 0     ? &base
                            : strcmp(argv[i], "--page") == 0     ? &page
                                                                 : NULL;
        if (slot == NULL || i + 1 >= argc)
            return usage(slot == NULL ? "unknown argument" : "a value is missing");
        *slot = argv[++i];
    }
    if (page != NULL) { /* the page's grant: a creation under it */
        size_t plen = strlen(page);
        if (method != NULL || path != NULL)
            return usage("--page replaces --method and --path");
        if (plen == 0 || page[plen - 1] != '/' ||
            snprintf(signed_path, sizeof(signed_path), "%suploads/", page) >=
                (int)sizeof(signed_path))
            return usage("--page: the page's path, ending in '/', expected");
        method = "POST";
        path = signed_path;
    }
    if (keyfile == NULL || method == NULL || path == NULL || exp == NULL)
        return usage("--key, --method (or --page), --path and --expires are required");
    if (sl__method_of(method) == M_OTHER || path[0] != '/' || strpbrk(path, "?# \t\r\n") != NULL)
        return usage("a method (GET, HEAD, PUT, POST, DELETE, PATCH) and an absolute path without "
                     "query expected");
    if (sl_parse_size(exp, &secs) < 0 || secs == 0 || secs > 100ull * 365 * 86400)
        return usage("--expires: seconds from now expected");
    if (max != NULL && sl_parse_size(max, &limit) < 0)
        return usage("--max-size: a size expected");
    if ((f = fopen(keyfile, "rb")) == NULL)
        return usage("cannot read --key");
    n = fread(text, 1, sizeof(text), f);
    fclose(f);
    if (sl__sign_key_parse(text, n, key, sizeof(key), &keylen) < 0) {
        OPENSSL_cleanse(text, sizeof(text));
        return usage("--key: at least 32 bytes (and at most 1024) expected");
    }
    OPENSSL_cleanse(text, sizeof(text));
    secs += (uint64_t)time(NULL);
    sl__sign(key, keylen, method, path, (int64_t)secs, max != NULL, limit, sig);
    OPENSSL_cleanse(key, sizeof(key));
    shown = page != NULL ? page : path; /* the page's link carries the creation's signature */
    if (max != NULL)
        printf("%s%s?sl-expires=%llu&sl-max=%llu&sl-sig=%s\n", base, shown,
               (unsigned long long)secs, (unsigned long long)limit, sig);
    else
        printf("%s%s?sl-expires=%llu&sl-sig=%s\n", base, shown, (unsigned long long)secs, sig);
    return 0;
}
