/* SPDX-License-Identifier: MIT
 *
 * Name rules (DESIGN.md §5). A name is one or more '/'-separated segments, each 1..255 bytes, no
 * segment "." or "..", no NUL or control byte, valid UTF-8, the first segment not ".sluice" (in
 * any case: the work area is not addressable), at most 1024 bytes in all. sluice disables
 * libmicrohttpd's own URL unescaping so that these checks see what the client sent: an encoded
 * NUL is refused before it can cut a name short, and an encoded '/' in a path is refused rather
 * than silently becoming a separator. A name that fails never reaches the file system.
 */
#include "fs.h"
#include "streams/hex.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/rand.h>

int sl_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int sl_name_decode(const char *raw, size_t len, int mode, char *out, size_t cap)
{
    size_t i, o = 0;

    if (cap == 0)
        return SL_ETOOLONG;
    for (i = 0; i < len; i++) {
        int ch = (unsigned char)raw[i];
        if (ch == '%') {
            int hi;
            if (i + 2 >= len)
                return SL_EBADNAME; /* truncated escape */
            hi = sl_hexval(raw[i + 1]);
            int lo = sl_hexval(raw[i + 2]);
            if (hi < 0 || lo < 0)
                return SL_EBADNAME;
            ch = hi * 16 + lo;
            i += 2;
            if (ch == 0 || (ch == '/' && mode == SL_DECODE_PATH))
                return SL_EBADNAME;
        } else if (ch == 0) {
            return SL_EBADNAME;
        }
        if (o + 1 >= cap)
            return SL_ETOOLONG;
        out[o++] = (char)ch;
    }
    out[o] = '\0';
    return 0;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t need, i;
    unsigned cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        need = 2, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        need = 3, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        need = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (n < need)
        return 0;
    for (i = 1; i < need; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((need == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (need == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return need;
}

int sl_utf8_valid(const char *s, size_t len)
{
    size_t i = 0, n;

    while (i < len) {
        n = utf8_len((const unsigned char *)s + i, len - i);
        if (n == 0)
            return 0;
        i += n;
    }
    return 1;
}

int sl_name_check(const char *name)
{
    const unsigned char *p = (const unsigned char *)name;
    size_t len = strlen(name), i = 0, seg_start = 0;

    if (len == 0)
        return SL_EBADNAME;
    if (len > SL_NAME_MAX)
        return SL_ETOOLONG;
    while (i <= len) {
        if (i == len || p[i] == '/') {
            size_t seg = i - seg_start;
            const char *s = name + seg_start;
            if (seg == 0 || seg > SL_SEGMENT_MAX)
                return SL_EBADNAME; /* empty (absolute, "//", trailing '/') or over-long */
            if ((seg == 1 && s[0] == '.') || (seg == 2 && s[0] == '.' && s[1] == '.'))
                return SL_EBADNAME;
            if (seg_start == 0 && seg == 7 && strncasecmp(s, ".sluice", 7) == 0)
                return SL_EBADNAME;
            seg_start = i + 1;
            i++;
            continue;
        }
        if (p[i] < 0x20 || p[i] == 0x7f)
            return SL_EBADNAME;
        size_t n = utf8_len(p + i, len - i);
        if (n == 0)
            return SL_EBADNAME;
        i += n;
    }
    return 0;
}

size_t sl_json_escape(const char *s, size_t n, size_t *used, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, o = 0;

    for (i = 0; i < n && o + 7 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            out[o++] = '\\';
            out[o++] = (char)ch;
        } else if (ch < 0x20) {
            memcpy(out + o, "\\u00", 4);
            out[o + 4] = hex[ch >> 4];
            out[o + 5] = hex[ch & 15];
            o += 6;
        } else {
            out[o++] = (char)ch;
        }
    }
    if (cap > 0)
        out[o] = '\0';
    if (used != NULL)
        *used = i;
    return o;
}

void sl_name_random(char out[33])
{
    unsigned char b[16];

    if (RAND_bytes(b, sizeof(b)) != 1)
        abort();
    sl_hex(b, sizeof(b), out);
}
