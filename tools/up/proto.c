/* SPDX-License-Identifier: MIT
 *
 * What sluice-up reads from the server's answers, for tus 1.0 and the IETF draft alike:
 * Upload-Offset, Upload-Length, Upload-Complete, Location, Sluice-File (or, from the IETF draft,
 * Content-Location with Upload-Complete: ?1), Repr-Digest's sha-256 and Tus-Extension, from the
 * header lines libcurl hands over one by one; and the start of the body, for the one-line message
 * of an error (sluice's {"error": ...} or an RFC 9457 problem's "title"). Parsing is strict: an
 * offset that is not all digits counts as absent. Also the Upload-Metadata sluice-up sends for a
 * remote name (filename, and relativePath when the name has a folder, as the upload page does).
 */
#include "up.h"
#include "streams/hex.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

void su_resp_reset(su_resp_t *r)
{
    memset(r, 0, sizeof(*r));
    r->offset = r->length = -1;
    r->complete = -1;
}

static int64_t parse_u63(const char *v, size_t n)
{
    uint64_t x = 0;

    if (n == 0 || n > 19)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    return x > (uint64_t)INT64_MAX ? -1 : (int64_t)x;
}

static const unsigned char *b64_table(void)
{
    static unsigned char t[256];
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    if (t['B'] == 0) {
        memset(t, 0xff, sizeof(t));
        for (int i = 0; i < 64; i++)
            t[(unsigned char)a[i]] = (unsigned char)i;
    }
    return t;
}

int su_repr_sha256(const char *v, char hex[65])
{
    const unsigned char *t = b64_table();
    const char *p = strcasestr(v, "sha-256=:");
    unsigned char out[33];
    unsigned acc = 0, bits = 0, n = 0;

    if (p == NULL)
        return -1;
    for (p += 9; *p != ':' && *p != '\0'; p++) {
        if (*p == '=')
            continue;
        if (t[(unsigned char)*p] == 0xff)
            return -1;
        acc = (acc << 6) | t[(unsigned char)*p];
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n == sizeof(out))
                return -1;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    if (*p != ':' || n != 32)
        return -1;
    sl_hex(out, 32, hex);
    return 0;
}

static void copy(char *dst, size_t cap, const char *v, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

void su_resp_header(su_resp_t *r, const char *line, size_t len)
{
    const char *colon, *v;
    size_t nlen, vlen;

    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        const char *sp = memchr(line, ' ', len);
        su_resp_reset(r); /* a new response: a 100 Continue's fields are forgotten */
        if (sp != NULL && (size_t)(line + len - sp) >= 4)
            r->status = strtol(sp + 1, NULL, 10);
        return;
    }
    colon = memchr(line, ':', len);
    if (colon == NULL)
        return;
    nlen = (size_t)(colon - line);
    v = colon + 1;
    while (v < line + len && (*v == ' ' || *v == '\t'))
        v++;
    vlen = (size_t)(line + len - v);
    while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
        vlen--;
#define IS(s) (nlen == sizeof(s) - 1 && strncasecmp(line, s, nlen) == 0)
    if (IS("Upload-Offset"))
        r->offset = parse_u63(v, vlen);
    else if (IS("Upload-Length"))
        r->length = parse_u63(v, vlen);
    else if (IS("Upload-Complete"))
        r->complete = vlen == 2 && v[0] == '?' && (v[1] == '0' || v[1] == '1') ? v[1] - '0' : -1;
    else if (IS("Location"))
        copy(r->location, sizeof(r->location), v, vlen);
    else if (IS("Sluice-File") || (IS("Content-Location") && r->file[0] == '\0'))
        copy(r->file, sizeof(r->file), v, vlen);
    else if (IS("Tus-Extension"))
        copy(r->extensions, sizeof(r->extensions), v, vlen);
    else if (IS("Repr-Digest")) {
        char buf[256];
        copy(buf, sizeof(buf), v, vlen);
        if (su_repr_sha256(buf, r->sha256) < 0)
            r->sha256[0] = '\0';
    }
#undef IS
}

void su_resp_body(su_resp_t *r, const char *data, size_t len)
{
    size_t room = sizeof(r->body) - 1 - r->body_len;

    if (len > room)
        len = room;
    memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
}

/* The string value of "key" in a flat JSON object (escapes kept as they are) into out[cap]. */
static int json_member(const char *body, const char *key, char *out, size_t cap)
{
    char pat[32];
    const char *p, *e;

    snprintf(pat, sizeof(pat), "\"%s\"", key);
    p = strstr(body, pat);
    if (p == NULL)
        return -1;
    p += strlen(pat);
    while (*p == ' ' || *p == ':')
        p++;
    if (*p != '"')
        return -1;
    for (e = ++p; *e != '\0' && *e != '"'; e++)
        if (*e == '\\' && e[1] != '\0')
            e++;
    if (*e != '"')
        return -1;
    copy(out, cap, p, (size_t)(e - p));
    return 0;
}

void su_resp_message(const su_resp_t *r, char *out, size_t cap)
{
    char msg[512];

    if (json_member(r->body, "error", msg, sizeof(msg)) == 0 ||
        json_member(r->body, "title", msg, sizeof(msg)) == 0)
        snprintf(out, cap, "HTTP %ld: %s", r->status, msg);
    else
        snprintf(out, cap, "HTTP %ld", r->status);
}

void su_resolve(const char *origin, const char *loc, char *out, size_t cap)
{
    if (strncasecmp(loc, "http://", 7) == 0 || strncasecmp(loc, "https://", 8) == 0)
        snprintf(out, cap, "%s", loc);
    else
        snprintf(out, cap, "%s%s%s", origin, loc[0] == '/' ? "" : "/", loc);
}

static void b64(const unsigned char *in, size_t n, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i, o = 0;

    for (i = 0; i + 2 < n; i += 3) {
        out[o++] = a[in[i] >> 2];
        out[o++] = a[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
        out[o++] = a[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
        out[o++] = a[in[i + 2] & 63];
    }
    if (i < n) {
        out[o++] = a[in[i] >> 2];
        if (i + 1 < n) {
            out[o++] = a[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
            out[o++] = a[(in[i + 1] & 15) << 2];
        } else {
            out[o++] = a[(in[i] & 3) << 4];
            out[o++] = '=';
        }
        out[o++] = '=';
    }
    out[o] = '\0';
}

void su_metadata(const char *name, char *out, size_t cap)
{
    const char *base = strrchr(name, '/');
    char e1[1500], e2[1500];
    size_t bl;

    base = base != NULL ? base + 1 : name;
    bl = strlen(base);
    if (bl > 1024 || strlen(name) > 1024) {
        out[0] = '\0';
        return;
    }
    b64((const unsigned char *)base, bl, e1);
    if (base == name) {
        snprintf(out, cap, "filename %s", e1);
        return;
    }
    b64((const unsigned char *)name, strlen(name), e2);
    snprintf(out, cap, "filename %s,relativePath %s", e1, e2);
}
