/* SPDX-License-Identifier: MIT
 *
 * libFuzzer target for the configuration file (server/ops/config_file.c) and the option table
 * behind it (config.c, config_options.c): every flag's parser, from a file's text. From the top
 * of the tree, after a build:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. -Iserver -Iserver/api \
 *       -Ibuild/include $(pkg-config --cflags libmicrohttpd libuv) tests/fuzz/fuzz_config.c \
 *       server/ops/config_file.c server/ops/config.c server/ops/config_options.c \
 *       build/libsluice_server.a build/libsluice_storage.a build/libsluice_streams.a \
 *       $(pkg-config --libs libmicrohttpd libuv zlib libcrypto gnutls) -o build/fuzz_config
 *   ./build/fuzz_config -max_total_time=60 build/fuzz-corpus-config tests/fuzz/corpus_config
 *
 * Input: a configuration file's text, read from a memfd through its /proc/self/fd path.
 * Checked, with __builtin_trap(): a load that fails says why in a NUL-terminated message; a load
 * that succeeds prints (sl_config_print, what --check-config shows) a file that loads again
 * without error and prints the same text: what the parsers accept, the printers write back.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sluice.h"

static void check(int ok)
{
    if (!ok)
        __builtin_trap();
}

/* text[0..len) as a file: its path into path[64]; the fd, or -1. */
static int as_file(const void *text, size_t len, char path[64])
{
    int fd = memfd_create("sluice-config", 0);

    if (fd < 0)
        return -1;
    if (write(fd, text, len) != (ssize_t)len) {
        close(fd);
        return -1;
    }
    snprintf(path, 64, "/proc/self/fd/%d", fd);
    return fd;
}

/* cfg printed into a malloc'd string (its length in *len). */
static char *printed(const sl_config_t *cfg, size_t *len)
{
    char *out = NULL;
    FILE *f = open_memstream(&out, len);

    sl_config_print(cfg, f);
    fclose(f);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sl_config_t a, b;
    char path[64], err[512];
    char *one, *two;
    size_t n1, n2;
    int fd;

    if (size > 65536 || (fd = as_file(data, size, path)) < 0)
        return 0;
    sl_config_init(&a);
    memset(err, 'x', sizeof(err));
    if (sl_config_load_file(&a, path, err, sizeof(err)) < 0) {
        check(memchr(err, '\0', sizeof(err)) != NULL);
        close(fd);
        return 0;
    }
    close(fd);
    one = printed(&a, &n1);
    fd = as_file(one, n1, path);
    check(fd >= 0);
    sl_config_init(&b);
    check(sl_config_load_file(&b, path, err, sizeof(err)) == 0);
    close(fd);
    two = printed(&b, &n2);
    check(n1 == n2 && memcmp(one, two, n1) == 0);
    free(one);
    free(two);
    return 0;
}
