/* SPDX-License-Identifier: MIT
 *
 * libFuzzer target for what sluice reads from a hook's answer (server/cli/hook_cmd.c): the
 * top-level "name" of the JSON body of a --hook-http response or of a --hook-exec program's
 * output, which renames an upload. The file is included whole, so its static reader is called as
 * it is. From the top of the tree, after a build:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. -Iserver -Iserver/api \
 *       -Ibuild/include $(pkg-config --cflags libmicrohttpd libuv) tests/fuzz/fuzz_hook.c \
 *       build/libsluice_server.a build/libsluice_storage.a build/libsluice_streams.a \
 *       $(pkg-config --libs libmicrohttpd libuv zlib libcrypto gnutls) -o build/fuzz_hook
 *   ./build/fuzz_hook -max_total_time=60 build/fuzz-corpus-hook tests/fuzz/corpus_hook
 *
 * Input: the body, copied into an allocation of its own. Checked, with __builtin_trap(): a name
 * found fits its buffer, NUL-terminated, and the reader never writes past it (each call gets a
 * buffer of 1 to 64 bytes, the size taken from the input's first byte, with a guard after it).
 */
#include "server/cli/hook_cmd.c"

#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned which;
    size_t len, cap;
    char *text = sl_fuzz_text(data, size, 1u << 16, &which, &len), *out;

    if (text == NULL)
        return 0;
    cap = 1 + which % 64;
    out = malloc(cap + 8);
    memset(out, 'G', cap + 8);
    if (json_name(text, out, cap) == 0) {
        if (memchr(out, '\0', cap) == NULL)
            __builtin_trap();
    }
    for (size_t i = cap; i < cap + 8; i++)
        if (out[i] != 'G')
            __builtin_trap();
    free(out);
    free(text);
    return 0;
}
