/* SPDX-License-Identifier: MIT
 *
 * Access control: who may do what to which names, decided in the first call of every request,
 * before on_request, before any body byte is read (routes.c calls sl__auth_check).
 *
 *   no --token-file, no --sign-key          everything is allowed (the default, for 127.0.0.1;
 *                                            a warning at start on any other address)
 *   /healthz, the upload page, OPTIONS      open (liveness; static files; preflights and tus
 *                                            discovery carry no credentials)
 *   /metrics                                loopback clients, tokens with `metrics`, or anyone
 *                                            with --metrics-public
 *   everything else                         Authorization: Bearer TOKEN, or a signed URL:
 *       no credentials, an unknown token    401 + WWW-Authenticate
 *       a right or prefix it lacks, a bad,  403
 *       expired or foreign signature
 *       a token's uploads=N reached          429
 *       a token's quota=N used up            507 (a body's Content-Length is charged when it is
 *                                            admitted, what did not arrive is given back when
 *                                            the request ends; a chunked body is 411; one count
 *                                            for all workers, kept on disk: quota.c)
 *       a signed sl-max exceeded             413 (Content-Length, or tus Upload-Length)
 *
 * What a request needs: GET/HEAD /files/<name> read, GET /files/ list, PUT /files/<name> and
 * POST /files/ write, DELETE /files/<name> delete; tus creation write, and HEAD/PATCH/DELETE of
 * /uploads/<id> write (the id, 128 random bits, is known only to whoever created it under the
 * same rules). A token confined to a prefix reaches only names under it: the decoded, checked
 * name (so "../" and its encodings are 400 before this), a raw POST's ?name=, a tus upload's
 * final name from its Upload-Metadata; a listing, a form and a nameless POST are not confined,
 * so such a token is refused them.
 *
 * A signed URL allows exactly the method and path it was made for (sign.c). A tus creation made
 * with one answers a Location signed for the new upload (method PATCH, which allows its HEAD,
 * PATCH and DELETE) with the same expiry, so a tus client resumes without other credentials.
 *
 * The tokens and the key are read at start and again on SIGHUP (sl__auth_load); a request keeps
 * the token set it was admitted with until it ends. Neither a token nor a signature is ever
 * written to a log: the access log has the path without its query, and no header.
 */
#include "http/http.h"
#include "http/auth.h"
#include "proto/resumable.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define AUTH_FILE_MAX (1u << 20)

struct sl_auth_s {
    sl_tokens_t *tokens; /* NULL without --token-file */
    unsigned char key[1024];
    size_t keylen; /* 0 without --sign-key */
};

/* path's contents, at most AUTH_FILE_MAX bytes, returned owned with *len; NULL and errno. */
static char *read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char *buf;
    ssize_t n;
    size_t have = 0;

    if (fd < 0)
        return NULL;
    buf = sl_xmalloc(AUTH_FILE_MAX + 1);
    while ((n = read(fd, buf + have, AUTH_FILE_MAX + 1 - have)) > 0 && have < AUTH_FILE_MAX + 1)
        have += (size_t)n;
    close(fd);
    if (n < 0 || have > AUTH_FILE_MAX) {
        free(buf);
        errno = n < 0 ? errno : EFBIG;
        return NULL;
    }
    *len = have;
    return buf;
}

int sl__auth_load(sl_server_t *srv)
{
    const sl_config_t *cfg = &srv->cfg;
    struct sl_auth_s *a;
    char err[256], *text;
    size_t len;
    int r = 0;

    if (cfg->token_file[0] == '\0' && cfg->sign_key[0] == '\0')
        return 0;
    a = sl_xcalloc(1, sizeof(*a));
    if (cfg->token_file[0] != '\0') {
        if ((text = read_file(cfg->token_file, &len)) == NULL) {
            r = -errno;
            sl__log(srv, SL_LOG_ERROR, "--token-file %s: %s", cfg->token_file, sl_strerror(r));
        } else if ((r = sl__tokens_parse(text, len, &a->tokens, err, sizeof(err))) < 0) {
            sl__log(srv, SL_LOG_ERROR, "--token-file %s: %s", cfg->token_file, err);
        }
        if (text != NULL)
            OPENSSL_cleanse(text, len);
        free(text);
    }
    if (r == 0 && cfg->sign_key[0] != '\0') {
        if ((text = read_file(cfg->sign_key, &len)) == NULL) {
            r = -errno;
            sl__log(srv, SL_LOG_ERROR, "--sign-key %s: %s", cfg->sign_key, sl_strerror(r));
        } else if ((r = sl__sign_key_parse(text, len, a->key, sizeof(a->key), &a->keylen)) < 0) {
            sl__log(srv, SL_LOG_ERROR,
                    "--sign-key %s: at least %d bytes (and at most %zu) expected", cfg->sign_key,
                    SL_SIGN_KEY_MIN, sizeof(a->key));
        }
        if (text != NULL)
            OPENSSL_cleanse(text, len);
        free(text);
    }
    if (r < 0) { /* the old rules stay (a reload), or the server does not start */
        sl__tokens_unref(a->tokens);
        OPENSSL_cleanse(a, sizeof(*a));
        free(a);
        return r;
    }
    sl__auth_free(srv);
    srv->auth = a;
    return 0;
}

void sl__auth_free(sl_server_t *srv)
{
    if (srv->auth == NULL)
        return;
    sl__tokens_unref(srv->auth->tokens);
    OPENSSL_cleanse(srv->auth, sizeof(*srv->auth));
    free(srv->auth);
    srv->auth = NULL;
}

void sl__auth_warn(sl_server_t *srv, const char *host)
{
    if (srv->auth == NULL && !sl__host_is_loopback(host))
        sl__log(srv, SL_LOG_WARN,
                "listening on %s with no access control: anyone who reaches the port may read, "
                "write and delete every file (--token-file, --sign-key; docs/security.md)",
                host);
}

/* The method the request acts with: tus lets X-HTTP-Method-Override stand for it. */
static int effective_method(sl_req_t *r)
{
    const char *v;

    if ((r->route == ROUTE_TUS || r->route == ROUTE_TUS_ID) &&
        (v = sl__header(r, "X-HTTP-Method-Override")) != NULL)
        return sl__method_of(v);
    return r->method;
}

/* The right a request needs, and the name it acts on into name[] ("" when none can be told: a
 * listing, a form, a nameless POST; NULL name: no name rule, a tus upload's id). */
static unsigned needs(sl_req_t *r, int m, char name[SL_NAME_MAX + 1], int *named)
{
    const char *v;

    name[0] = '\0';
    *named = 1;
    switch (r->route) {
    case ROUTE_FILE:
        snprintf(name, SL_NAME_MAX + 1, "%s", r->name);
        return m == M_GET || m == M_HEAD ? SL_RIGHT_READ
               : m == M_DELETE           ? SL_RIGHT_DELETE
                                         : SL_RIGHT_WRITE;
    case ROUTE_FILES:
        if (m == M_GET || m == M_HEAD)
            return SL_RIGHT_LIST;
        v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "name");
        if (v != NULL &&
            (sl_name_decode(v, strlen(v), SL_DECODE_QUERY, name, SL_NAME_MAX + 1) < 0 ||
             sl_name_check(name) < 0))
            name[0] = '\0'; /* a bad name: no prefix covers it (and the upload is a 400) */
        v = sl__header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
        if (v != NULL && strncasecmp(v, "multipart/", 10) == 0)
            name[0] = '\0'; /* a form's parts are named by the client's file names */
        return SL_RIGHT_WRITE;
    case ROUTE_TUS: {
        sl_tus_info_t info;
        memset(&info, 0, sizeof(info));
        info.metadata = (char *)sl__header(r, "Upload-Metadata");
        sl__tus_final_name(&info, name); /* "" (the empty id) without a usable name */
        return SL_RIGHT_WRITE;
    }
    case ROUTE_TUS_ID:
        *named = 0;
        return m == M_DELETE ? SL_RIGHT_DELETE : SL_RIGHT_WRITE;
    default: /* /metrics */
        *named = 0;
        return SL_RIGHT_METRICS;
    }
}

static int by_token(sl_req_t *r, struct sl_auth_s *a, const char *token, int m)
{
    char name[SL_NAME_MAX + 1];
    sl_token_t *t = sl__tokens_find(a->tokens, token, strlen(token));
    unsigned need, limit;
    int named;

    if (t == NULL)
        return SL_EUNAUTHORIZED;
    need = needs(r, m, name, &named);
    if ((t->rights & need) != need || (named && !sl__prefix_covers(t->prefix, name)))
        return SL_EDENIED;
    limit = t->max_uploads ? t->max_uploads : r->srv->cfg.max_uploads_per_token;
    if (r->has_body && need == SL_RIGHT_WRITE) {
        int err;
        if (limit && t->active >= limit)
            return SL_ETOOMANY;
        if (t->quota > 0) { /* charged what the body declares, before it is read */
            if ((err = sl__framing(r)) < 0)
                return err;
            if (r->chunked)
                return SL_ELENGTHREQUIRED;
            if ((err = sl__quota_admit(r, t, r->content_length)) < 0)
                return err; /* one count for every worker, kept across restarts (quota.c) */
        }
        t->active++;
        r->token_upload = 1;
    }
    r->token = t;
    r->tokens = a->tokens;
    a->tokens->refs++;
    return 0;
}

static int by_signature(sl_req_t *r, struct sl_auth_s *a, const char *sig, int m)
{
    struct MHD_Connection *c = r->conn;
    const char *exp = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "sl-expires");
    const char *max = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "sl-max");
    const char *v;
    uint64_t limit;
    int64_t length;
    int err;

    if (r->route == ROUTE_TUS_ID && (m == M_HEAD || m == M_PATCH || m == M_DELETE))
        m = M_PATCH; /* what a creation's Location was signed for */
    err = sl__sign_check(a->key, a->keylen, sl__method_name(m), r->url, exp, max, sig,
                         (int64_t)time(NULL), &limit, &r->sig_expires);
    if (err == SL_EBADREQUEST)
        err = SL_EDENIED; /* a mangled signed URL is still no permission */
    if (err < 0)
        return err;
    if (limit == UINT64_MAX)
        return 0;
    if (r->route == ROUTE_TUS) { /* a creation: its whole length, declared now */
        v = sl__header(r, "Upload-Length");
        if (v == NULL || sl__tus_parse_u63(v, &length) < 0)
            return SL_ELENGTHREQUIRED;
        return (uint64_t)length > limit ? SL_ETOOLARGE : 0;
    }
    if (r->has_body && (err = sl__framing(r)) < 0)
        return err;
    if (r->has_body && r->chunked)
        return SL_ELENGTHREQUIRED; /* the limit is checked before the body: it needs a length */
    return r->content_length > limit ? SL_ETOOLARGE : 0;
}

int sl__auth_check(sl_req_t *r)
{
    struct sl_auth_s *a = r->srv->auth;
    const char *authz, *sig;
    int m = effective_method(r), err;

    if (a == NULL || r->route == ROUTE_HEALTH || r->route == ROUTE_HOST || r->route == ROUTE_UI ||
        m == M_OPTIONS)
        return 0;
    if (r->route == ROUTE_METRICS && (r->srv->cfg.metrics_public || sl__req_is_loopback(r)))
        return 0;
    authz = sl__header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    sig = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "sl-sig");
    if (authz != NULL && strncasecmp(authz, "Bearer ", 7) == 0 && a->tokens != NULL)
        err = by_token(r, a, authz + 7 + strspn(authz + 7, " "), m);
    else if (sig != NULL && a->keylen > 0 && r->route != ROUTE_METRICS)
        err = by_signature(r, a, sig, m);
    else
        err = SL_EUNAUTHORIZED;
    if (err == SL_EUNAUTHORIZED)
        r->srv->m->refused[SL_REFUSE_UNAUTHORIZED]++;
    else if (err == SL_EDENIED)
        r->srv->m->refused[SL_REFUSE_DENIED]++;
    else if (err == SL_ETOOMANY)
        r->srv->m->refused[SL_REFUSE_TOKEN_UPLOADS]++;
    else if (err == SL_EQUOTA)
        r->srv->m->refused[SL_REFUSE_QUOTA]++;
    return err;
}

void sl__auth_release(sl_req_t *r)
{
    if (r->token_upload && r->token != NULL && r->token->active > 0)
        r->token->active--;
    sl__quota_release(r); /* what never arrived is not spent */
    r->quota_charged = 0;
    r->token_upload = 0;
    r->token = NULL;
    sl__tokens_unref(r->tokens);
    r->tokens = NULL;
}

void sl__auth_location(sl_req_t *r, char *loc, size_t cap)
{
    struct sl_auth_s *a = r->srv->auth;
    char sig[SL_SIG_HEX + 1];
    size_t n = strlen(loc);

    if (a == NULL || a->keylen == 0 || r->sig_expires == 0)
        return;
    sl__sign(a->key, a->keylen, "PATCH", loc, r->sig_expires, 0, 0, sig);
    snprintf(loc + n, cap - n, "?sl-expires=%lld&sl-sig=%s", (long long)r->sig_expires, sig);
}

int sl__server_reload(sl_server_t *srv)
{
    int a = sl__auth_load(srv), t = srv->tls != NULL ? sl__tls_load(srv) : 0;

    sl__log(srv, a < 0 || t < 0 ? SL_LOG_WARN : SL_LOG_INFO, "reload: %s%s%s",
            a < 0 ? "access rules kept (bad files)" : "access rules read",
            srv->tls != NULL ? ", " : "",
            srv->tls == NULL ? ""
            : t < 0          ? "certificate kept (bad files)"
                             : "certificate read");
    return a < 0 ? a : t;
}
