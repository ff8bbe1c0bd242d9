/* SPDX-License-Identifier: MIT
 *
 * Request heads and incremental response parsing for sluice-bench (design in http.h).
 *
 * The parser is re-run on the whole buffer each time bytes arrive (answers are small: a head and
 * a JSON body of a few hundred bytes; a --verify-get download is hashed as it streams by the
 * engine, not buffered here). It accepts what sluice, nginx and Node.js send: Content-Length
 * bodies, chunked bodies, bodies ended by the close, 1xx interim answers (skipped; a 100 is
 * reported in `continued`, which tells the engine to send a body it held back).
 */
#include "http.h"
#include "http/auth.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char sb_multipart_tail[] = "\r\n--" SB_BOUNDARY "--\r\n";

size_t sb_multipart_head(const char *name, char *out, size_t cap)
{
    int n = snprintf(out, cap,
                     "--" SB_BOUNDARY "\r\nContent-Disposition: form-data; name=\"file\"; "
                     "filename=\"%s\"\r\nContent-Type: application/octet-stream\r\n\r\n",
                     name);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

int sb_request_expects(const sb_opts_t *o, int kind, const char *name, uint64_t len)
{
    char mp[512];

    if (!o->expect || (kind != SB_REQ_UPLOAD && kind != SB_REQ_TUS_PATCH))
        return 0;
    if (kind == SB_REQ_UPLOAD && o->mode == SB_MULTIPART) /* the body is the framed file */
        len += sb_multipart_head(name, mp, sizeof(mp)) + (sizeof(sb_multipart_tail) - 1);
    return len > o->expect_threshold;
}

/* A signed URL's query, signed by sluice's own code (server/http/sign.c), no size limit. */
int sb_sign_query(const sb_opts_t *o, const char *method, const char *path, char *out, size_t cap)
{
    char sig[SL_SIG_HEX + 1];
    int n;

    sl__sign(o->sign_key, o->sign_keylen, method, path, o->sign_expires, 0, 0, sig);
    if (sig[0] == '\0')
        return -1; /* no MAC */
    n = snprintf(out, cap, "?sl-expires=%lld&sl-sig=%s", o->sign_expires, sig);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* The query of an upload's or a creation's target (base + name): the URL's, or a signature
 * (--sign-key). */
static const char *query_of(const sb_opts_t *o, const char *method, const char *name, char *q,
                            size_t cap)
{
    char path[1024];

    if (o->sign_keylen == 0)
        return o->query;
    snprintf(path, sizeof(path), "%s%s", o->base, name);
    return sb_sign_query(o, method, path, q, cap) == 0 ? q : "";
}

size_t sb_request_head(const sb_opts_t *o, int kind, const char *name, const char *path,
                       uint64_t len, uint64_t offset, char *out, size_t cap)
{
    char host[300], mp[512], conn[640], q[160];
    int n = -1;

    snprintf(conn, sizeof(conn), "%s%s%s", o->keepalive ? "" : "Connection: close\r\n",
             sb_request_expects(o, kind, name, len) ? "Expect: 100-continue\r\n" : "", o->header);
    snprintf(host, sizeof(host), strchr(o->host, ':') ? "[%s]:%u" : "%s:%u", o->host, o->port);
    switch (kind) {
    case SB_REQ_UPLOAD:
        if (o->mode == SB_MULTIPART) {
            uint64_t total =
                sb_multipart_head(name, mp, sizeof(mp)) + len + (sizeof(sb_multipart_tail) - 1);
            n = snprintf(out, cap,
                         "POST %s%s HTTP/1.1\r\nHost: %s\r\n%sContent-Type: multipart/form-data; "
                         "boundary=" SB_BOUNDARY "\r\nContent-Length: %llu\r\n\r\n",
                         o->base, query_of(o, "POST", "", q, sizeof(q)), host, conn,
                         (unsigned long long)total);
        } else if (o->mode == SB_POST) {
            n = snprintf(out, cap, "POST %s%s HTTP/1.1\r\nHost: %s\r\n%s", o->base,
                         query_of(o, "POST", "", q, sizeof(q)), host,
                         conn); /* the server names it: Location says where */
        } else {
            n = snprintf(out, cap, "PUT %s%s%s HTTP/1.1\r\nHost: %s\r\n%s", o->base, name,
                         query_of(o, "PUT", name, q, sizeof(q)), host, conn);
        }
        if (n > 0 && (size_t)n < cap && o->mode != SB_MULTIPART)
            n += snprintf(out + n, cap - (size_t)n,
                          o->chunked ? "Transfer-Encoding: chunked\r\n\r\n"
                                     : "Content-Length: %llu\r\n\r\n",
                          (unsigned long long)len);
        break;
    case SB_REQ_TUS_CREATE: {
        char b64[256];
        size_t i, j = 0, l = strlen(name);
        static const char tab[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for (i = 0; i < l && j + 4 < sizeof(b64); i += 3) { /* base64 of the file name */
            unsigned v = (unsigned char)name[i] << 16 |
                         (i + 1 < l ? (unsigned char)name[i + 1] << 8 : 0) |
                         (i + 2 < l ? (unsigned char)name[i + 2] : 0);
            b64[j++] = tab[v >> 18 & 63];
            b64[j++] = tab[v >> 12 & 63];
            b64[j++] = i + 1 < l ? tab[v >> 6 & 63] : '=';
            b64[j++] = i + 2 < l ? tab[v & 63] : '=';
        }
        b64[j] = '\0';
        n = snprintf(out, cap,
                     "POST %s%s HTTP/1.1\r\nHost: %s\r\n%sTus-Resumable: 1.0.0\r\nUpload-Length: "
                     "%llu\r\nUpload-Metadata: filename %s\r\nContent-Length: 0\r\n\r\n",
                     o->base, query_of(o, "POST", "", q, sizeof(q)), host, conn,
                     (unsigned long long)len, b64);
        break;
    }
    case SB_REQ_TUS_PATCH:
        n = snprintf(out, cap,
                     "PATCH %s HTTP/1.1\r\nHost: %s\r\n%sTus-Resumable: 1.0.0\r\nUpload-Offset: "
                     "%llu\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: "
                     "%llu\r\n\r\n",
                     path, host, conn, (unsigned long long)offset, (unsigned long long)len);
        break;
    case SB_REQ_TUS_HEAD:
        n = snprintf(out, cap, "HEAD %s HTTP/1.1\r\nHost: %s\r\n%sTus-Resumable: 1.0.0\r\n\r\n",
                     path, host, conn);
        break;
    case SB_REQ_GET:
        if (o->sign_keylen == 0 || sb_sign_query(o, "GET", path, q, sizeof(q)) < 0)
            q[0] = '\0';
        n = snprintf(out, cap, "GET %s%s HTTP/1.1\r\nHost: %s\r\n%s\r\n", path, q, host, conn);
        break;
    }
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* The value of header `name` in head[0..len) into out[cap] ("" if absent); 1 if present. */
static int header(const char *head, size_t len, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    const char *p = head, *end = head + len;

    out[0] = '\0';
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            eol = end;
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1, *e = eol;
            size_t n;
            while (v < e && (*v == ' ' || *v == '\t'))
                v++;
            while (e > v && (e[-1] == '\r' || e[-1] == ' '))
                e--;
            n = (size_t)(e - v) < cap - 1 ? (size_t)(e - v) : cap - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return 1;
        }
        p = eol + 1;
    }
    return 0;
}

/* A chunked body starting at p: its end (the byte after the last CRLF), or NULL if incomplete;
 * *bad on garbage. The body itself is not kept (answers with a chunked body carry no digest). */
static const char *chunked_end(const char *p, const char *end, int *bad)
{
    for (;;) {
        char *e;
        unsigned long long n;
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            return NULL;
        n = strtoull(p, &e, 16);
        if (e == p) {
            *bad = 1;
            return NULL;
        }
        p = eol + 1;
        if (n == 0) { /* trailers, then an empty line */
            for (;;) {
                eol = memchr(p, '\n', (size_t)(end - p));
                if (eol == NULL)
                    return NULL;
                if (eol == p || (eol == p + 1 && *p == '\r'))
                    return eol + 1;
                p = eol + 1;
            }
        }
        if ((unsigned long long)(end - p) < n + 2)
            return NULL;
        p += n + 2;
    }
}

long sb_resp_parse(const char *buf, size_t len, int head_only, int eof, sb_resp_t *out)
{
    const char *start = buf, *end = buf + len, *hend, *body;
    char v[64];
    int bad = 0;

    out->continued = 0;
    for (;;) {
        if ((size_t)(end - start) >= 5 && memcmp(start, "HTTP/", 5) != 0)
            return -1;
        hend = memmem(start, (size_t)(end - start), "\r\n\r\n", 4);
        if (hend == NULL)
            return (end - start) > 65536 ? -1 : 0; /* no head is that long */
        if ((size_t)(hend - start) < 12 || !isdigit((unsigned char)start[9]))
            return -1;
        out->status = (unsigned)strtoul(start + 9, NULL, 10); /* digits: checked above */
        if (out->status < 100 || out->status > 599)
            return -1;
        if (out->status >= 200)
            break;
        if (out->status == 100)
            out->continued = 1;
        start = hend + 4; /* 100 Continue and other interim answers */
    }
    body = hend + 4;
    out->close = strncmp(start, "HTTP/1.0", 8) == 0;
    if (header(start, (size_t)(hend - start), "Connection", v, sizeof(v)))
        out->close = strcasecmp(v, "close") == 0;
    out->has_offset = header(start, (size_t)(hend - start), "Upload-Offset", v, sizeof(v));
    out->offset = out->has_offset ? strtoull(v, NULL, 10) : 0;
    header(start, (size_t)(hend - start), "Location", out->location, sizeof(out->location));
    header(start, (size_t)(hend - start), "Sluice-File", out->file, sizeof(out->file));
    out->sha256[0] = '\0';
    out->has_length = header(start, (size_t)(hend - start), "Content-Length", v, sizeof(v));
    out->content_length = out->has_length ? strtoull(v, NULL, 10) : 0;
    out->body = body;
    out->body_len = 0;
    if (head_only || out->status == 204 || out->status == 304)
        return (long)(body - buf);
    if (header(start, (size_t)(hend - start), "Content-Length", v, sizeof(v))) {
        unsigned long long n = strtoull(v, NULL, 10);
        if ((unsigned long long)(end - body) < n)
            return 0;
        out->body_len = (size_t)n;
    } else if (header(start, (size_t)(hend - start), "Transfer-Encoding", v, sizeof(v))) {
        const char *e = chunked_end(body, end, &bad);
        if (bad)
            return -1;
        if (e == NULL)
            return 0;
        return (long)(e - buf);
    } else if (!eof) {
        return 0; /* the body ends with the connection */
    } else {
        out->body_len = (size_t)(end - body);
    }
    if (out->body_len > 0) {
        const char *k = memmem(body, out->body_len, "\"sha256\":\"", 10);
        if (k != NULL && (size_t)(body + out->body_len - (k + 10)) >= 64) {
            memcpy(out->sha256, k + 10, 64);
            out->sha256[64] = '\0';
        }
    }
    return (long)(body + out->body_len - buf);
}
