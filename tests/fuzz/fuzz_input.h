/* SPDX-License-Identifier: MIT
 * What the text-parser fuzz targets (fuzz_auth.c, fuzz_fields.c) share: byte 0 of an input picks
 * the parser, the rest is its text. */
#ifndef SL_FUZZ_INPUT_H
#define SL_FUZZ_INPUT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* data[1..size) as a NUL-terminated string in an allocation of its own (so that reading past it
 * is a sanitizer report), returned owned (free), its length in *len and the selector byte in
 * *which; NULL for an empty input or one over max bytes. */
static inline char *sl_fuzz_text(const uint8_t *data, size_t size, size_t max, unsigned *which,
                                 size_t *len)
{
    char *text;

    if (size < 1 || size > max || (text = malloc(size)) == NULL)
        return NULL;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    *which = data[0];
    *len = size - 1;
    return text;
}

#endif
