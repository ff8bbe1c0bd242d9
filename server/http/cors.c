/* SPDX-License-Identifier: MIT
 *
 * CORS for browser clients (--cors-origin): preflights answered, the tus and sluice headers
 * exposed to pages of the allowed origins. Every answer passes here on its way out (sl__queue),
 * which also adds Tus-Resumable (and Tus-Version to a 412) under /uploads/.
 */
#include "http/http.h"

#include <string.h>
#include <strings.h>

static int origin_allowed(const char *list, const char *origin)
{
    size_t n = strlen(origin);
    const char *p = list, *e;

    if (n == 0)
        return 0; /* an empty Origin names no origin (and is no header value to echo) */
    if (strcmp(list, "*") == 0)
        return 1;
    for (;;) { /* the list is comma-separated: compare whole elements, one pass */
        e = strchr(p, ',');
        if ((size_t)((e != NULL ? e : p + strlen(p)) - p) == n && memcmp(p, origin, n) == 0)
            return 1;
        if (e == NULL)
            return 0;
        p = e + 1;
    }
}

int sl__cors_preflight(sl_req_t *r)
{
    return r->srv->cfg.cors_origin[0] != '\0' && r->method == M_OPTIONS &&
           sl__header(r, "Origin") != NULL &&
           sl__header(r, "Access-Control-Request-Method") != NULL;
}

void sl__cors_headers(sl_req_t *r)
{
    const char *origin = sl__header(r, "Origin"), *ask;

    if (r->tr != NULL && r->proto != &sl__proto_ietf) {
        sl__respond_header(r, "Tus-Resumable", "1.0.0");
        if (r->status == MHD_HTTP_PRECONDITION_FAILED)
            sl__respond_header(r, "Tus-Version", "1.0.0");
    }
    if (r->srv->cfg.cors_origin[0] == '\0' || origin == NULL ||
        !origin_allowed(r->srv->cfg.cors_origin, origin))
        return;
    sl__respond_header(r, "Access-Control-Allow-Origin", origin);
    sl__respond_header(r, "Vary", "Origin");
    if (sl__cors_preflight(r)) {
        sl__respond_header(r, "Access-Control-Allow-Methods",
                           "POST, GET, HEAD, PATCH, DELETE, OPTIONS, PUT");
        ask = sl__header(r, "Access-Control-Request-Headers");
        sl__respond_header(r, "Access-Control-Allow-Headers",
                           ask != NULL && ask[0] != '\0'
                               ? ask
                               : "Content-Type, Upload-Offset, Upload-Length, "
                                 "Upload-Metadata, Upload-Concat, Upload-Checksum, "
                                 "Upload-Defer-Length, Tus-Resumable, "
                                 "Upload-Complete, Upload-Draft-Interop-Version, "
                                 "Content-Digest, X-HTTP-Method-Override, X-Requested-With");
        sl__respond_header(r, "Access-Control-Max-Age", "86400");
        return;
    }
    sl__respond_header(r, "Access-Control-Expose-Headers",
                       "Location, Upload-Offset, Upload-Length, Upload-Defer-Length, "
                       "Upload-Metadata, Upload-Concat, Upload-Expires, Tus-Resumable, "
                       "Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm, "
                       "Sluice-File, ETag, Repr-Digest, Upload-Complete, Upload-Limit");
}
