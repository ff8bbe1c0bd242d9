/* SPDX-License-Identifier: MIT
 *
 * CORS for browser clients (--cors-origin): preflights answered, the tus and sluice headers
 * exposed to pages of the allowed origins. Every answer passes here on its way out (sl__queue),
 * which also adds Tus-Resumable (and Tus-Version to a 412) under /uploads/.
 */
#include "internal.h"

#include <string.h>
#include <strings.h>

static int origin_allowed(const char *list, const char *origin)
{
    size_t n = strlen(origin);
    const char *p = list;

    if (strcmp(list, "*") == 0)
        return 1;
    while ((p = strstr(p, origin)) != NULL) {
        if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return 1;
        p += n;
    }
    return 0;
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

    if (r->tr != NULL) {
        MHD_add_response_header(r->resp, "Tus-Resumable", "1.0.0");
        if (r->status == MHD_HTTP_PRECONDITION_FAILED)
            MHD_add_response_header(r->resp, "Tus-Version", "1.0.0");
    }
    if (r->srv->cfg.cors_origin[0] == '\0' || origin == NULL ||
        !origin_allowed(r->srv->cfg.cors_origin, origin))
        return;
    MHD_add_response_header(r->resp, "Access-Control-Allow-Origin", origin);
    MHD_add_response_header(r->resp, "Vary", "Origin");
    if (sl__cors_preflight(r)) {
        MHD_add_response_header(r->resp, "Access-Control-Allow-Methods",
                                "POST, GET, HEAD, PATCH, DELETE, OPTIONS, PUT");
        ask = sl__header(r, "Access-Control-Request-Headers");
        MHD_add_response_header(r->resp, "Access-Control-Allow-Headers",
                                ask != NULL ? ask
                                            : "Content-Type, Upload-Offset, Upload-Length, "
                                              "Upload-Metadata, Upload-Concat, Upload-Checksum, "
                                              "Upload-Defer-Length, Tus-Resumable, "
                                              "X-HTTP-Method-Override, X-Requested-With");
        MHD_add_response_header(r->resp, "Access-Control-Max-Age", "86400");
        return;
    }
    MHD_add_response_header(r->resp, "Access-Control-Expose-Headers",
                            "Location, Upload-Offset, Upload-Length, Upload-Defer-Length, "
                            "Upload-Metadata, Upload-Concat, Upload-Expires, Tus-Resumable, "
                            "Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm, "
                            "Sluice-File, ETag, Repr-Digest");
}
