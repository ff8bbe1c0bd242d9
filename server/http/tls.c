/* SPDX-License-Identifier: MIT
 *
 * HTTPS with libmicrohttpd's GnuTLS support (--tls-cert, --tls-key), and a certificate that can
 * be replaced while the server runs.
 *
 * libmicrohttpd 0.9.75 loads a certificate given as MHD_OPTION_HTTPS_MEM_CERT/KEY once, into
 * credentials it never lets go of: the only way to change it would be a new daemon. Instead the
 * daemon gets MHD_OPTION_HTTPS_CERT_CALLBACK (gnutls_certificate_retrieve_function2): every
 * handshake asks us for the chain and key, and we answer with the current ones. sl__tls_load (at
 * start, and on SIGHUP) reads the PEM files into new credentials and makes them current; the
 * previous ones are kept until the next load, because a handshake in progress may still be
 * using them. Connections already established, and their uploads, are not touched: a reload
 * never drops anything in flight.
 *
 * The callback has no argument of its own; it finds the server through the session's pointer,
 * which libmicrohttpd sets to the connection, and a small registry daemon → credentials (servers
 * on several threads each register theirs; a mutex guards it).
 *
 * Protocols and ciphers: TLS 1.2 and 1.3 only, AEAD ciphers only (AES-GCM, ChaCha20-Poly1305),
 * forward-secret key exchange only (ECDHE), the server's order first.
 */
#include "http/http.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/socket.h>
#include <gnutls/x509.h>

#define TLS_CHAIN_MAX 16
#define TLS_REGISTRY 64

const char sl__tls_priorities[] =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:"
    "+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-RSA:+ECDHE-ECDSA:%SERVER_PRECEDENCE";

typedef struct cred_s {
    gnutls_pcert_st chain[TLS_CHAIN_MAX];
    unsigned n;
    gnutls_privkey_t key;
} cred_t;

struct sl_tls_s {
    cred_t *cur, *old;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    struct MHD_Daemon *d;
    struct sl_tls_s *tls;
} registry[TLS_REGISTRY];

static void cred_free(cred_t *c)
{
    unsigned i;

    if (c == NULL)
        return;
    for (i = 0; i < c->n; i++)
        gnutls_pcert_deinit(&c->chain[i]);
    if (c->key != NULL)
        gnutls_privkey_deinit(c->key);
    free(c);
}

/* The chain (PEM, leaf first) and key files into new credentials: 0 or a message in err. */
static int cred_load(const char *cert, const char *key, cred_t **out, const char **err)
{
    gnutls_datum_t cd = {NULL, 0}, kd = {NULL, 0};
    gnutls_x509_crt_t *crts = NULL;
    unsigned ncrts = 0, i;
    cred_t *c = sl_xcalloc(1, sizeof(*c));
    int r;

    *err = NULL;
    if ((r = gnutls_load_file(cert, &cd)) < 0)
        *err = "cannot read --tls-cert";
    else if ((r = gnutls_load_file(key, &kd)) < 0)
        *err = "cannot read --tls-key";
    else if ((r = gnutls_x509_crt_list_import2(&crts, &ncrts, &cd, GNUTLS_X509_FMT_PEM, 0)) < 0 ||
             ncrts == 0 || ncrts > TLS_CHAIN_MAX)
        *err = "--tls-cert: no PEM certificate, or more than 16";
    else if ((r = gnutls_pcert_import_x509_list(c->chain, crts, &ncrts, 0)) < 0)
        *err = "--tls-cert: unusable certificate";
    else {
        c->n = ncrts;
        if ((r = gnutls_privkey_init(&c->key)) < 0 ||
            (r = gnutls_privkey_import_x509_raw(c->key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0)
            *err = "--tls-key: not a PEM private key (or encrypted)";
    }
    for (i = 0; crts != NULL && i < ncrts; i++)
        gnutls_x509_crt_deinit(crts[i]);
    gnutls_free(crts);
    gnutls_free(cd.data);
    if (kd.data != NULL) {
        memset(kd.data, 0, kd.size);
        gnutls_free(kd.data);
    }
    if (*err != NULL) {
        cred_free(c);
        return -EINVAL;
    }
    *out = c;
    return 0;
}

/* gnutls_certificate_retrieve_function2: the current chain and key of the session's server. */
static int retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                    const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                    gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *privkey)
{
    struct MHD_Connection *conn = gnutls_session_get_ptr(session);
    const union MHD_ConnectionInfo *ci =
        conn != NULL ? MHD_get_connection_info(conn, MHD_CONNECTION_INFO_DAEMON) : NULL;
    cred_t *c = NULL;
    int i;

    (void)req_ca_rdn;
    (void)nreqs;
    (void)pk_algos;
    (void)pk_algos_length;
    if (ci == NULL)
        return -1;
    pthread_mutex_lock(&registry_lock);
    for (i = 0; i < TLS_REGISTRY; i++)
        if (registry[i].d == ci->daemon && registry[i].tls != NULL)
            c = registry[i].tls->cur;
    pthread_mutex_unlock(&registry_lock);
    if (c == NULL)
        return -1; /* the handshake fails */
    *pcert = c->chain;
    *pcert_length = c->n;
    *privkey = c->key;
    return 0;
}

int sl__tls_load(sl_server_t *srv)
{
    const char *err;
    cred_t *c;
    int r;

    if (srv->cfg.tls_cert[0] == '\0' && srv->cfg.tls_key[0] == '\0')
        return 0;
    if (srv->cfg.tls_cert[0] == '\0' || srv->cfg.tls_key[0] == '\0') {
        sl__log(srv, SL_LOG_ERROR, "--tls-cert and --tls-key go together");
        return UV_EINVAL;
    }
    if ((r = cred_load(srv->cfg.tls_cert, srv->cfg.tls_key, &c, &err)) < 0) {
        sl__log(srv, SL_LOG_ERROR, "%s (%s, %s)", err, srv->cfg.tls_cert, srv->cfg.tls_key);
        return UV_EINVAL;
    }
    if (srv->tls == NULL)
        srv->tls = sl_xcalloc(1, sizeof(*srv->tls));
    pthread_mutex_lock(&registry_lock); /* a handshake on another thread may be reading cur */
    cred_free(srv->tls->old);           /* older than any handshake still in progress */
    srv->tls->old = srv->tls->cur;
    srv->tls->cur = c;
    pthread_mutex_unlock(&registry_lock);
    return 0;
}

int sl__tls_options(sl_server_t *srv, struct MHD_OptionItem *opt)
{
    if (srv->tls == NULL)
        return 0;
    opt[0].option = MHD_OPTION_HTTPS_CERT_CALLBACK;
    opt[0].value = 0;
    opt[0].ptr_value = (void *)retrieve;
    opt[1].option = MHD_OPTION_HTTPS_PRIORITIES;
    opt[1].value = 0;
    opt[1].ptr_value = (void *)sl__tls_priorities;
    return 2;
}

int sl__tls_register(sl_server_t *srv)
{
    int i, r = UV_ENOSPC;

    if (srv->tls == NULL || srv->mhd == NULL)
        return 0;
    pthread_mutex_lock(&registry_lock);
    for (i = 0; i < TLS_REGISTRY && r < 0; i++)
        if (registry[i].d == NULL) {
            registry[i].d = srv->mhd;
            registry[i].tls = srv->tls;
            r = 0;
        }
    pthread_mutex_unlock(&registry_lock);
    return r;
}

void sl__tls_free(sl_server_t *srv)
{
    int i;

    if (srv->tls == NULL)
        return;
    pthread_mutex_lock(&registry_lock);
    for (i = 0; i < TLS_REGISTRY; i++)
        if (registry[i].tls == srv->tls)
            registry[i].d = NULL, registry[i].tls = NULL;
    pthread_mutex_unlock(&registry_lock);
    cred_free(srv->tls->cur);
    cred_free(srv->tls->old);
    free(srv->tls);
    srv->tls = NULL;
}

/* --- a body read by sluice through the connection's session (src_sock.c) ---------------------- */

/* GnuTLS reads a record in two reads of the socket, its header, then the rest: two system calls
 * and a window update per 16 KiB. The reader reads ahead into a buffer of its own instead, a
 * slab at a time, but never past the body's records: the caller says how much of the body is
 * still to come (`left`), records are never shorter than what they carry, and a record the
 * session has begun may carry at most SL_TLS_RECORD_MAX of it, so what the socket still owes the
 * body is at least left - pending - SL_TLS_RECORD_MAX. So the buffer is empty when the body ends,
 * and the socket is libmicrohttpd's again as it would have left it. Only a fast client (`ahead`)
 * gets a buffer; a slow one is read as GnuTLS asks. */
#define AHEAD_MAX (256u << 10)

struct sl_tls_reader_s {
    gnutls_session_t session;
    int fd;
    uint64_t ahead; /* what the next socket read may take beyond GnuTLS's request */
    char *buf;      /* owned: AHEAD_MAX, once a fast client needs it */
    size_t off, len;
};

static ssize_t reader_pull(gnutls_transport_ptr_t ptr, void *data, size_t size)
{
    sl_tls_reader_t *rd = ptr;
    size_t want;
    ssize_t n;

    if (rd->len == rd->off) {
        want = rd->ahead > size ? (rd->ahead < AHEAD_MAX ? (size_t)rd->ahead : AHEAD_MAX) : 0;
        if (want > 0 && rd->buf == NULL && (rd->buf = malloc(AHEAD_MAX)) == NULL)
            want = 0;
        if (want == 0) { /* exactly what GnuTLS asks */
            n = recv(rd->fd, data, size, 0);
            gnutls_transport_set_errno(rd->session, n < 0 ? errno : 0);
            return n;
        }
        if ((n = recv(rd->fd, rd->buf, want, 0)) <= 0) {
            gnutls_transport_set_errno(rd->session, n < 0 ? errno : 0);
            return n;
        }
        rd->off = 0;
        rd->len = (size_t)n;
        rd->ahead = rd->ahead > (uint64_t)n ? rd->ahead - (uint64_t)n : 0;
    }
    n = (ssize_t)(rd->len - rd->off < size ? rd->len - rd->off : size);
    memcpy(data, rd->buf + rd->off, (size_t)n);
    rd->off += (size_t)n;
    return n;
}

/* libmicrohttpd's transport again: GnuTLS's own reads of the socket (the descriptor as pointer) */
static ssize_t fd_pull(gnutls_transport_ptr_t ptr, void *data, size_t size)
{
    return recv((int)(intptr_t)ptr, data, size, 0);
}

sl_tls_reader_t *sl__tls_reader_new(sl_req_t *r, int fd)
{
    const union MHD_ConnectionInfo *ci;
    sl_tls_reader_t *rd;

    if (r->srv->tls == NULL ||
        (ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION)) == NULL ||
        gnutls_transport_is_ktls_enabled(ci->tls_session) & GNUTLS_KTLS_RECV)
        return NULL; /* kernel TLS reads the descriptor itself, never the pull function */
    rd = sl_xcalloc(1, sizeof(*rd));
    rd->session = ci->tls_session;
    rd->fd = fd;
    gnutls_transport_set_ptr2(rd->session, rd, (gnutls_transport_ptr_t)(intptr_t)fd);
    gnutls_transport_set_pull_function(rd->session, reader_pull);
    return rd;
}

void sl__tls_reader_free(sl_tls_reader_t *rd)
{
    if (rd == NULL)
        return;
    gnutls_transport_set_pull_function(rd->session, fd_pull);
    gnutls_transport_set_int(rd->session, rd->fd);
    free(rd->buf);
    free(rd);
}

size_t sl__tls_pending(sl_tls_reader_t *rd)
{
    return gnutls_record_check_pending(rd->session) + (rd->len - rd->off);
}

ssize_t sl__tls_recv(sl_tls_reader_t *rd, void *buf, size_t len, uint64_t left, int ahead)
{
    size_t got = 0;

    while (got < len) {
        uint64_t owed = left - got,
                 held = gnutls_record_check_pending(rd->session) + SL_TLS_RECORD_MAX;
        ssize_t n;

        rd->ahead =
            ahead && owed > held + (rd->len - rd->off) ? owed - held - (rd->len - rd->off) : 0;
        n = gnutls_record_recv(rd->session, (char *)buf + got, len - got);
        if (n == GNUTLS_E_INTERRUPTED)
            continue;
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        if (got > 0)
            break; /* what came; the end or the error shows at the next call */
        return n == 0 ? 0 : n == GNUTLS_E_AGAIN ? UV_EAGAIN : UV_EPROTO;
    }
    return (ssize_t)got;
}

int sl__tls_send_all(sl_req_t *r, const void *buf, size_t len)
{
    const union MHD_ConnectionInfo *ci;
    size_t sent = 0;
    ssize_t n;

    if ((ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION)) == NULL)
        return 0;
    while (sent < len) { /* a record at a time (16 KiB, or the client's maximum fragment) */
        n = gnutls_record_send(ci->tls_session, (const char *)buf + sent, len - sent);
        if (n == GNUTLS_E_INTERRUPTED)
            continue;
        if (n <= 0)
            return 0; /* a full send buffer, as for plain HTTP: the answer is lost */
        sent += (size_t)n;
    }
    gnutls_bye(ci->tls_session, GNUTLS_SHUT_WR); /* close_notify: the answer is all there is */
    return 1;
}
