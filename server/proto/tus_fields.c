/* SPDX-License-Identifier: MIT
 *
 * The tus header fields. Written on answers (Upload-Offset, -Length, -Expires, Location,
 * Sluice-File, Upload-Metadata, Upload-Concat) from the upload's record; read from requests,
 * parsed strictly (docs/tus.md "Requests"): offsets and lengths are
 * digits only and below 2^63; Upload-Metadata is "key base64" pairs with unique keys of visible
 * ASCII and valid base64, so nothing echoed back by HEAD can carry a CR, LF or a stray byte;
 * Upload-Checksum names one of four algorithms and a digest of its exact length; Upload-Concat
 * names uploads by URL. Each returns 0 or SL_EBADREQUEST and touches no state beyond its outputs.
 * sl__tus_check applies them all to a request in its first call (with the version, the method,
 * the framing and the limits), so a bad request is refused before its body is read.
 */
#include "http/http.h"
#include "proto/proto.h"
#include "proto/resumable.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <strings.h>

/* Upload-Offset / Upload-Length: digits only, at most 2^63 - 1. */
int sl__tus_parse_u63(const char *v, int64_t *out)
{
    uint64_t x = 0;

    if (v == NULL || *v == '\0')
        return SL_EBADREQUEST;
    for (; *v; v++) {
        unsigned d = (unsigned)(*v - '0');
        if (d > 9 || x > ((uint64_t)INT64_MAX - d) / 10)
            return SL_EBADREQUEST;
        x = x * 10 + d;
    }
    *out = (int64_t)x;
    return 0;
}

/* Upload-Metadata: "key b64,key b64,key" with unique keys of visible ASCII. */
int sl__tus_metadata_valid(const char *v)
{
    const char *p = v;
    size_t nkeys = 0;
    const char *keys[256];
    size_t klens[256];

    if (strlen(v) > SL_TUS_METADATA_MAX)
        return SL_EBADREQUEST;
    while (*p != '\0') {
        const char *k, *e;
        size_t klen, i;
        for (k = p; *p > ' ' && *p < 127 && *p != ','; p++)
            ;
        klen = (size_t)(p - k);
        if (klen == 0 || klen > 255 || nkeys == 256)
            return SL_EBADREQUEST;
        for (i = 0; i < nkeys; i++)
            if (klens[i] == klen && memcmp(keys[i], k, klen) == 0)
                return SL_EBADREQUEST; /* keys are unique */
        keys[nkeys] = k;
        klens[nkeys++] = klen;
        if (*p == ' ') {
            unsigned char out[SL_TUS_METADATA_MAX];
            for (e = ++p; *p != '\0' && *p != ',' && *p != ' '; p++)
                ;
            if (p > e && sl__base64_decode(e, (size_t)(p - e), out, sizeof(out)) < 0)
                return SL_EBADREQUEST;
        }
        if (*p == ',' && p[1] != '\0')
            p++;
        else if (*p != '\0')
            return SL_EBADREQUEST; /* no spaces around pairs, no trailing comma */
    }
    return 0;
}

/* The decoded value of metadata `key` into out[cap] (NUL-terminated); -1 if absent or bad. */
int sl__tus_metadata_get(const char *v, const char *key, char *out, size_t cap)
{
    size_t klen = strlen(key);
    const char *p = v;

    while (*p != '\0') {
        const char *e;
        int n;
        while (*p == ' ')
            p++;
        if (strncmp(p, key, klen) == 0 && (p[klen] == ' ' || p[klen] == ',' || !p[klen])) {
            p += klen;
            if (*p != ' ')
                return -1;
            for (e = ++p; *p != '\0' && *p != ',' && *p != ' '; p++)
                ;
            if ((size_t)(p - e) / 4 * 3 >= cap)
                return -1;
            n = sl__base64_decode(e, (size_t)(p - e), (unsigned char *)out, cap - 1);
            if (n < 0 || memchr(out, '\0', (size_t)n) != NULL)
                return -1;
            out[n] = '\0';
            return n;
        }
        p = strchr(p, ',');
        if (p == NULL)
            break;
        p++;
    }
    return -1;
}

/* The name a finished upload is stored under: its relativePath metadata (a file of a folder,
 * as the upload page and Uppy send it) if that is a valid name with a folder in it (Uppy sends
 * "null" for a file of no folder); else the last
 * segment of its filename (else name) metadata if that is a valid name; else the id. */
void sl__tus_final_name(const sl_tus_info_t *info, char out[SL_NAME_MAX + 1])
{
    char buf[SL_NAME_MAX + 1];
    const char *base, *p;

    const char *md = info->metadata != NULL ? info->metadata : "";

    if (sl__tus_metadata_get(md, "relativePath", buf, sizeof(buf)) > 0 &&
        strchr(buf, '/') != NULL && sl_name_check(buf) == 0) {
        snprintf(out, SL_NAME_MAX + 1, "%s", buf);
        return;
    }
    if (sl__tus_metadata_get(md, "filename", buf, sizeof(buf)) > 0 ||
        sl__tus_metadata_get(md, "name", buf, sizeof(buf)) > 0) {
        for (base = p = buf; *p; p++)
            if (*p == '/' || *p == '\\')
                base = p + 1;
        if (sl_name_check(base) == 0 && strlen(base) <= SL_SEGMENT_MAX) {
            snprintf(out, SL_NAME_MAX + 1, "%s", base);
            return;
        }
    }
    snprintf(out, SL_NAME_MAX + 1, "%s", info->id);
}

/* Upload-Checksum: "<alg> <base64>". */
int sl__tus_parse_checksum(const char *v, int *alg, unsigned char out[64])
{
    static const struct {
        const char *name;
        int alg;
    } algs[] = {{"sha1", SL_DIGEST_SHA1},
                {"sha256", SL_DIGEST_SHA256},
                {"md5", SL_DIGEST_MD5},
                {"crc32", SL_DIGEST_CRC32}};
    const char *sp = strchr(v, ' ');
    unsigned char buf[66]; /* 88 base64 characters decode to 66 bytes, padding included */
    size_t i;

    if (sp == NULL)
        return SL_EBADREQUEST;
    for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
        if (strlen(algs[i].name) == (size_t)(sp - v) &&
            memcmp(v, algs[i].name, (size_t)(sp - v)) == 0)
            break;
    if (i == sizeof(algs) / sizeof(algs[0]) || strlen(sp + 1) > 88)
        return SL_EBADREQUEST;
    if (sl__base64_decode(sp + 1, strlen(sp + 1), buf, sizeof(buf)) !=
        (int)sl_digest_len(algs[i].alg))
        return SL_EBADREQUEST;
    memcpy(out, buf, sl_digest_len(algs[i].alg));
    *alg = algs[i].alg;
    return 0;
}

/* Upload-Concat: "partial" or "final;<url> <url> …", where each URL ends in /uploads/<id>. */
int sl__tus_parse_concat(sl_tus_req_t *t, const char *v)
{
    const char *p;

    if (strcmp(v, "partial") == 0) {
        t->concat = SL_TUS_PARTIAL;
        return 0;
    }
    if (strncmp(v, "final;", 6) != 0)
        return SL_EBADREQUEST;
    t->concat = SL_TUS_FINAL;
    t->parts = sl_xcalloc(SL_TUS_PARTS_MAX, sizeof(*t->parts));
    for (p = v + 6; *p != '\0';) {
        const char *e, *id;
        while (*p == ' ')
            p++;
        for (e = p; *e != '\0' && *e != ' '; e++)
            ;
        if (e == p)
            break;
        for (id = e; id > p && id[-1] != '/'; id--)
            ;
        if (memchr(p, ',', (size_t)(e - p)) != NULL ||
            (*p != '/' && strncmp(p, "http://", 7) != 0 && strncmp(p, "https://", 8) != 0))
            return SL_EBADREQUEST; /* a path or an absolute URL, space-separated */
        if (t->nparts == SL_TUS_PARTS_MAX || e - id != SL_TUS_ID_LEN || id - p < 9 ||
            strncmp(id - 9, "/uploads/", 9) != 0)
            return SL_EBADREQUEST;
        memcpy(t->parts[t->nparts], id, SL_TUS_ID_LEN);
        t->parts[t->nparts][SL_TUS_ID_LEN] = '\0';
        if (!sl_tus_id_valid(t->parts[t->nparts]))
            return SL_EBADREQUEST;
        for (size_t k = 0; k < t->nparts; k++)
            if (strcmp(t->parts[k], t->parts[t->nparts]) == 0)
                return SL_EBADREQUEST; /* a part named twice would be copied twice */
        t->nparts++;
        p = e;
    }
    return t->nparts == 0 ? SL_EBADREQUEST : 0;
}

/* --- the first call's judgement of a tus request ---------------------------------------------- */

static int is_offset_stream(const char *ct)
{
    static const char want[] = "application/offset+octet-stream";

    return ct != NULL && strncasecmp(ct, want, sizeof(want) - 1) == 0 &&
           (ct[sizeof(want) - 1] == '\0' || ct[sizeof(want) - 1] == ';');
}

int sl__tus_check(sl_req_t *r, sl_tus_req_t *t, int *body)
{
    sl_server_t *srv = r->srv;
    const char *v, *ul, *dl, *ct = sl__header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    int m = t->method, err;

    if (r->route == ROUTE_TUS_ID && !sl_tus_id_valid(r->name))
        return SL_ENOTFOUND;
    if (m != M_OPTIONS && ((v = sl__header(r, "Tus-Resumable")) == NULL || strcmp(v, "1.0.0") != 0))
        return SL_EVERSION;
    if (r->route == ROUTE_TUS ? (m != M_POST && m != M_OPTIONS)
                              : (m != M_HEAD && m != M_PATCH && m != M_DELETE && m != M_OPTIONS))
        return SL_EMETHOD;
    if ((err = sl__framing(r)) < 0)
        return err;
    *body = r->chunked || r->content_length > 0;
    if (srv->draining && !srv->retiring && (m == M_POST || m == M_PATCH))
        return SL_ESHUTDOWN;
    v = sl__header(r, MHD_HTTP_HEADER_CONTENT_ENCODING);
    if (v != NULL && strcasecmp(v, "identity") != 0)
        return SL_EUNSUPPORTED; /* offsets count the bytes stored */
    if ((v = sl__header(r, "Upload-Length")) != NULL && sl__tus_parse_u63(v, &t->length) < 0)
        return SL_EBADREQUEST;
    if (srv->cfg.max_size && t->length > (int64_t)srv->cfg.max_size)
        return SL_ETOOLARGE;
    if (m == M_POST) {
        ul = sl__header(r, "Upload-Length");
        dl = sl__header(r, "Upload-Defer-Length");
        if (dl != NULL && strcmp(dl, "1") != 0)
            return SL_EBADREQUEST;
        t->defer = dl != NULL;
        if ((v = sl__header(r, "Upload-Concat")) != NULL && sl__tus_parse_concat(t, v) < 0)
            return SL_EBADREQUEST;
        if (t->concat == SL_TUS_FINAL ? (ul != NULL || dl != NULL) : ((ul != NULL) == (dl != NULL)))
            return SL_EBADREQUEST; /* exactly one of them, none for a final upload */
        if ((v = sl__header(r, "Upload-Metadata")) != NULL && sl__tus_metadata_valid(v) < 0)
            return SL_EBADREQUEST;
        t->metadata = v;
        if (*body && t->concat == SL_TUS_FINAL)
            return SL_EFORBIDDEN;
        if (*body && !is_offset_stream(ct))
            return SL_EUNSUPPORTED;
        if (*body && (t->length == 0 ||
                      (t->length > 0 && !r->chunked && r->content_length > (uint64_t)t->length)))
            return SL_ETOOLARGE; /* a body past the length (the chain's limit needs one byte) */
        t->offset = 0;
    } else if (m == M_PATCH) {
        if (!is_offset_stream(ct))
            return SL_EUNSUPPORTED;
        if (sl__tus_parse_u63(sl__header(r, "Upload-Offset"), &t->offset) < 0)
            return SL_EBADREQUEST;
    }
    if (m == M_PATCH || m == M_POST) { /* a POST's body is the first PATCH */
        if ((v = sl__header(r, "Upload-Checksum")) != NULL &&
            sl__tus_parse_checksum(v, &t->check_alg, t->check) < 0)
            return SL_EBADREQUEST;
        if ((v = sl__header(r, "Trailer")) != NULL && strcasestr(v, "upload-checksum") != NULL) {
            if (!r->chunked || t->check_alg)
                return SL_EBADREQUEST;
            t->trailer = 1;
        }
    }
    return 0;
}

/* --- the answers' fields
 * -------------------------------------------------------------------------------- */

void sl__tus_respond_empty(sl_req_t *r, unsigned status)
{
    sl__respond(r, status, MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT));
}

void sl__tus_add_u64(sl_req_t *r, const char *name, uint64_t v)
{
    char buf[24];

    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
    sl__respond_header(r, name, buf);
}

/* The headers that describe the upload: offset, length, expiry, file. */
void sl__tus_describe(sl_req_t *r, const sl_tus_info_t *info)
{
    char buf[3 * SL_NAME_MAX + 16];

    sl__tus_add_u64(r, "Upload-Offset", info->offset);
    if (info->length >= 0)
        sl__tus_add_u64(r, "Upload-Length", (uint64_t)info->length);
    else
        sl__respond_header(r, "Upload-Defer-Length", "1");
    if (info->expires > 0 && info->file == NULL) {
        time_t t = (time_t)info->expires;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        sl__respond_header(r, "Upload-Expires", buf);
    }
    if (info->file != NULL) {
        int n = snprintf(buf, sizeof(buf), "%s/files/", r->srv->prefix);
        sl__url_escape(info->file, buf + n, sizeof(buf) - (size_t)n);
        sl__respond_header(r, "Sluice-File", buf);
        if (r->tr != NULL && r->tr->u != NULL && r->tr->u->job.digest &&
            r->tr->u->job.sha256_hex[0] != '\0') { /* the commit kept the file's SHA-256 */
            char hdr[64];
            sl__repr_digest_header(r->tr->u->job.sha256_hex, hdr);
            sl__respond_header(r, "Repr-Digest", hdr);
        }
    }
}

void sl__tus_respond_created(sl_req_t *r, const sl_tus_info_t *info)
{
    char loc[640];

    sl__tus_respond_empty(r, MHD_HTTP_CREATED);
    snprintf(loc, sizeof(loc), "%s/uploads/%s", r->srv->prefix, info->id);
    sl__auth_location(r, loc, sizeof(loc)); /* a signed creation: the upload's signed URL */
    sl__respond_header(r, MHD_HTTP_HEADER_LOCATION, loc);
    sl__tus_describe(r, info);
}

void sl__tus_respond_head(sl_req_t *r, const sl_tus_info_t *info)
{
    sl__tus_respond_empty(r, MHD_HTTP_OK);
    sl__tus_describe(r, info);
    sl__respond_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (info->metadata != NULL && info->metadata[0] != '\0')
        sl__respond_header(r, "Upload-Metadata", info->metadata);
    if (info->concat == SL_TUS_PARTIAL)
        sl__respond_header(r, "Upload-Concat", "partial");
    if (info->concat == SL_TUS_FINAL && info->parts != NULL) {
        char buf[SL_TUS_PARTS_MAX * 48];
        const char *p = info->parts;
        size_t n = (size_t)snprintf(buf, sizeof(buf), "final;");
        while (*p != '\0' && n + 48 < sizeof(buf)) {
            n +=
                (size_t)snprintf(buf + n, sizeof(buf) - n, "%s/uploads/%.32s", n > 6 ? " " : "", p);
            p += strlen(p) > SL_TUS_ID_LEN ? SL_TUS_ID_LEN + 1 : strlen(p);
        }
        sl__respond_header(r, "Upload-Concat", buf);
    }
}

/* --- the tus answers -------------------------------------------------------------------------- */

static void tus_appended(sl_req_t *r, const sl_tus_info_t *info)
{
    sl__tus_respond_empty(r, MHD_HTTP_NO_CONTENT);
    sl__tus_describe(r, info);
}

static void tus_deleted(sl_req_t *r)
{
    sl__tus_respond_empty(r, MHD_HTTP_NO_CONTENT);
}

static void tus_error(sl_req_t *r, const sl_tus_t *u, int err)
{
    sl__respond_error(r, err);
    if (err == SL_EOFFSET && u != NULL)
        sl__tus_add_u64(r, "Upload-Offset", u->info.offset); /* where the client should resume */
}

const sl_tus_answers_t sl__tus_answers = {
    .created = sl__tus_respond_created,
    .head = sl__tus_respond_head,
    .appended = tus_appended,
    .deleted = tus_deleted,
    .error = tus_error,
};
