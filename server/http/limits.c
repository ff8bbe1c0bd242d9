/* SPDX-License-Identifier: MIT
 *
 * Limits per client: what keeps one client, or many slow ones, from taking the server away from
 * everybody else (docs/security.md).
 *
 *   --max-conns-per-ip N   libmicrohttpd's accept policy callback counts the open connections of
 *                          each client, an IPv4 address or an IPv6 /64 (one host's share of a
 *                          network), and closes a connection past N at once: no slot, no
 *                          memory, no request read. libmicrohttpd's own per-IP limit would
 *                          count every IPv6 address apart, and one host has 2^64 of them.
 *   --header-timeout SECS  a connection that has not sent a whole request header SECS after it
 *                          opened (or after its last answer, on keep-alive) is closed, with a
 *                          408 when nothing was asked on it yet: the slowloris that sends a header
 *                          line every 50 s no longer holds a connection for ever.
 *   --min-rate B/S         an upload body must average B bytes a second over each window of
 *                          --min-rate-window seconds, else 408: a body trickled at a byte a
 *                          second is ended. A window in which the server itself held the upload
 *                          back (backpressure, the buffer budget, a store job) starts again.
 *   --max-header-size N    all header fields of a request together: 431.
 *
 * Loopback clients are exempt from --max-conns-per-ip unless --limit-loopback: on 127.0.0.1
 * they are the operator's own tools and benchmarks, and behind a local proxy every client is
 * loopback (that proxy then limits per client). The counts live here, in a hash table keyed by
 * the client's 16-byte address (IPv4 mapped into ::ffff:0:0/96, IPv6 cut to its /64); conns.c
 * tells us when a connection opens and closes. All on the loop's thread: no locks.
 *
 * With --workers N the limit is the server's, not each worker's: the kernel spreads one client's
 * connections over the workers (SO_REUSEPORT), so counting apart would let N times the limit
 * in. The supervisor maps a table shared by every worker (sl_peer_share_t): per worker slot, two
 * rows of SKETCH 16-bit counters, indexed by two halves of a keyed hash of the client (FNV-1a
 * from a random seed, so no one can aim at another client's counters). A worker counts its open
 * connections in its own rows only (one writer per row: relaxed atomic loads and stores, no
 * lock); at accept it sums every slot's rows and takes the smaller of the two sums, which is
 * never below the client's true count (a count-min sketch) and equal to it unless both of its
 * counters are shared with other busy clients. Decrements stop at 0. When a worker dies, the
 * supervisor zeroes its slot's rows (sl__peer_share_clear): its connections died with it.
 *
 * The check at accept and the count that follows are two steps, so two workers accepting the
 * same client at once could both pass it (both see MAX - 1): each counts its connection first
 * and sums again after (sequentially consistent stores and loads, as in Dekker's algorithm, so at
 * least one of two such workers sees both); one that finds more than MAX shuts the connection
 * down before reading anything from it, as refused. Two at once may both refuse: the limit errs
 * on the side of fewer, never more.
 */
#include "http/http.h"
#include "proto/proto.h"

#include <arpa/inet.h>
#include <stddef.h>
#include <stdio.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define PEER_BUCKETS 4096

typedef struct peer_s {
    struct peer_s *next;
    unsigned char key[16];
    unsigned conns;
    uint16_t h[2]; /* its counters in the shared rows */
} peer_t;

#define SKETCH 65536u

struct sl_peer_share_s {
    uint64_t seed;
    uint16_t rows[][2][SKETCH]; /* per worker slot */
};

size_t sl__peer_share_size(int nslots)
{
    return sizeof(sl_peer_share_t) + (size_t)nslots * sizeof(uint16_t[2][SKETCH]);
}

void sl__peer_share_clear(sl_peer_share_t *ps, int slot)
{
    memset(ps->rows[slot], 0, sizeof(ps->rows[slot]));
}

void sl__peer_share_seed(sl_peer_share_t *ps, uint64_t seed)
{
    ps->seed = seed;
}

static void share_hash(const sl_peer_share_t *ps, const unsigned char key[16], uint16_t h[2])
{
    uint64_t x = 14695981039346656037u ^ ps->seed;
    int i;

    for (i = 0; i < 16; i++)
        x = (x ^ key[i]) * 1099511628211u;
    x ^= x >> 29; /* fold the high bits into both halves */
    h[0] = (uint16_t)x;
    h[1] = (uint16_t)(x >> 32);
}

/* The client's connections over every worker (never fewer than it has). */
static unsigned share_count(const sl_server_t *srv, const uint16_t h[2])
{
    unsigned sum[2] = {0, 0};
    int s, k;

    for (s = 0; s < srv->nslots; s++)
        for (k = 0; k < 2; k++)
            sum[k] += __atomic_load_n(&srv->peer_share->rows[s][k][h[k]], __ATOMIC_SEQ_CST);
    return sum[0] < sum[1] ? sum[0] : sum[1];
}

/* This worker's counters of the client, one up or one down (never below 0). */
static void share_add(sl_server_t *srv, const uint16_t h[2], int d)
{
    int k;

    for (k = 0; k < 2; k++) {
        uint16_t *c = &srv->peer_share->rows[srv->peer_slot][k][h[k]];
        uint16_t v = __atomic_load_n(c, __ATOMIC_RELAXED);
        if (d > 0 ? v < UINT16_MAX : v > 0)
            __atomic_store_n(c, (uint16_t)(v + d), __ATOMIC_SEQ_CST);
    }
}

struct sl_peers_s {
    peer_t *bucket[PEER_BUCKETS];
};

/* The key of an address (family AF_INET or AF_INET6, its 4 or 16 bytes) and whether it is
 * loopback; -1 for another family. */
int sl__addr_key(int family, const unsigned char *addr, unsigned char key[16], int *loopback)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char one[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

    memset(key, 0, 16);
    if (family == AF_INET) {
        memcpy(key, mapped, 12);
        memcpy(key + 12, addr, 4);
    } else if (family == AF_INET6) {
        memcpy(key, addr, 16);
        if (memcmp(key, one, 16) == 0) {
            *loopback = 1;
            return 0;
        }
        if (memcmp(key, mapped, 12) != 0)
            memset(key + 8, 0, 8); /* the /64 */
    } else {
        return -1;
    }
    *loopback = memcmp(key, mapped, 12) == 0 && key[12] == 127;
    return 0;
}

/* The same from a socket address (read byte-wise: no aliasing of the sockaddr types). */
static int peer_key(const struct sockaddr *sa, unsigned char key[16], int *loopback)
{
    struct sockaddr_in6 s6;
    struct sockaddr_in s4;
    sa_family_t family;

    if (sa == NULL)
        return -1;
    memcpy(&family, (const char *)sa + offsetof(struct sockaddr, sa_family), sizeof(family));
    if (family == AF_INET) {
        memcpy(&s4, sa, sizeof(s4));
        return sl__addr_key(AF_INET, (const unsigned char *)&s4.sin_addr, key, loopback);
    }
    if (family == AF_INET6) {
        memcpy(&s6, sa, sizeof(s6));
        return sl__addr_key(AF_INET6, (const unsigned char *)&s6.sin6_addr, key, loopback);
    }
    return -1;
}

static peer_t **slot_of(struct sl_peers_s *p, const unsigned char key[16])
{
    uint32_t h = 2166136261u;
    peer_t **pp;
    int i;

    for (i = 0; i < 16; i++)
        h = (h ^ key[i]) * 16777619u;
    for (pp = &p->bucket[h % PEER_BUCKETS]; *pp != NULL; pp = &(*pp)->next)
        if (memcmp((*pp)->key, key, 16) == 0)
            break;
    return pp;
}

int sl__host_is_loopback(const char *host)
{
    unsigned char addr[16], key[16];
    int lo = 0;

    if (inet_pton(AF_INET, host, addr) == 1)
        return sl__addr_key(AF_INET, addr, key, &lo) == 0 && lo;
    if (inet_pton(AF_INET6, host, addr) == 1)
        return sl__addr_key(AF_INET6, addr, key, &lo) == 0 && lo;
    return 0;
}

int sl__req_is_loopback(sl_req_t *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    unsigned char key[16];
    int lo = 0;

    return ci != NULL && peer_key(ci->client_addr, key, &lo) == 0 && lo;
}

/* The key of a client the per-IP limit applies to: 0, or -1 (no limit for it). */
static int limited_key(sl_server_t *srv, const struct sockaddr *sa, unsigned char key[16])
{
    int lo = 0;

    if (srv->cfg.max_conns_per_ip == 0 || peer_key(sa, key, &lo) < 0)
        return -1;
    return lo && !srv->cfg.limit_loopback ? -1 : 0;
}

enum MHD_Result sl__limits_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    sl_server_t *srv = cls;
    unsigned char key[16];
    peer_t **pp;

    (void)addrlen;
    if ((srv->peers == NULL && srv->peer_share == NULL) || limited_key(srv, addr, key) < 0)
        return MHD_YES;
    if (srv->peer_share != NULL) { /* every worker's connections */
        uint16_t h[2];
        share_hash(srv->peer_share, key, h);
        if (share_count(srv, h) >= srv->cfg.max_conns_per_ip) {
            srv->m->refused[SL_REFUSE_CONNS_PER_IP]++;
            return MHD_NO;
        }
    }
    if (srv->peers == NULL)
        return MHD_YES;
    pp = slot_of(srv->peers, key);
    if (*pp != NULL && (*pp)->conns >= srv->cfg.max_conns_per_ip) {
        srv->m->refused[SL_REFUSE_CONNS_PER_IP]++;
        return MHD_NO; /* closed at accept */
    }
    return MHD_YES;
}

void sl__limits_peer_opened(sl_server_t *srv, struct MHD_Connection *c, int fd, void **peer)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    unsigned char key[16];
    peer_t **pp;

    *peer = NULL;
    if (srv->cfg.max_conns_per_ip == 0 || ci == NULL || limited_key(srv, ci->client_addr, key) < 0)
        return;
    if (srv->peers == NULL)
        srv->peers = sl_xcalloc(1, sizeof(*srv->peers));
    pp = slot_of(srv->peers, key);
    if (*pp == NULL) {
        *pp = sl_xcalloc(1, sizeof(**pp));
        memcpy((*pp)->key, key, 16);
        if (srv->peer_share != NULL)
            share_hash(srv->peer_share, key, (*pp)->h);
    }
    (*pp)->conns++;
    *peer = *pp;
    if (srv->peer_share == NULL)
        return;
    share_add(srv, (*pp)->h, 1);
    if (share_count(srv, (*pp)->h) > srv->cfg.max_conns_per_ip) { /* another worker took one too */
        srv->m->refused[SL_REFUSE_CONNS_PER_IP]++;
        if (fd >= 0)
            shutdown(fd, SHUT_RDWR); /* closed by libmicrohttpd, counted down then */
    }
}

void sl__limits_peer_closed(sl_server_t *srv, void *peer)
{
    peer_t *p = peer, **pp;

    if (p == NULL || srv->peers == NULL)
        return;
    if (srv->peer_share != NULL)
        share_add(srv, p->h, -1);
    if (--p->conns > 0)
        return;
    pp = slot_of(srv->peers, p->key);
    if (*pp == p) {
        *pp = p->next;
        free(p);
    }
}

void sl__limits_free(sl_server_t *srv)
{
    size_t i;
    peer_t *p, *next;

    if (srv->peers == NULL)
        return;
    for (i = 0; i < PEER_BUCKETS; i++)
        for (p = srv->peers->bucket[i]; p != NULL; p = next) {
            next = p->next;
            free(p);
        }
    free(srv->peers);
    srv->peers = NULL;
}

/* --header-timeout: a connection still waiting for its request header. */
static void header_late(sl_server_t *srv, struct MHD_Connection *c, int fd, int first)
{
    static const char body[] = "{\"error\":\"request header not received in time\",\"status\":408,"
                               "\"code\":\"SL_EIDLE\"}\n";
    char answer[320];
    int n;

    (void)c;
    srv->m->refused[SL_REFUSE_HEADER_TIMEOUT]++;
    n = snprintf(answer, sizeof(answer),
                 "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                 sizeof(body) - 1, body);
    if (first && srv->tls == NULL) /* TLS: nothing plain can be written, it is only closed */
        (void)!send(fd, answer, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    shutdown(fd, SHUT_RDWR); /* libmicrohttpd reads the end and closes it */
}

/* --min-rate over each window of an upload's body. */
static void rate_check(sl_server_t *srv, sl_req_t *r, uint64_t now)
{
    uint64_t window = (uint64_t)srv->cfg.min_rate_window * 1000;
    int paused =
        r->need_read || r->budget_wait.queued || (r->suspended && r->tk == NULL) || r->up->eof;

    if (r->rate_t0 == 0 || paused) { /* a new window: the server held it back, or it began */
        r->rate_t0 = now;
        r->rate_mark = r->received;
        return;
    }
    if (now - r->rate_t0 < window)
        return;
    if (r->received - r->rate_mark < srv->cfg.min_rate * srv->cfg.min_rate_window) {
        srv->m->refused[SL_REFUSE_SLOW]++;
        sl__log(srv, SL_LOG_INFO, "%s %s: %llu bytes in %u s, below --min-rate: ended",
                sl__method_name(r->method), r->url != NULL ? r->url : "?",
                (unsigned long long)(r->received - r->rate_mark), srv->cfg.min_rate_window);
        sl__upload_abort(r, SL_ETOOSLOW);
        if (!r->gone)
            MHD_set_connection_option(r->conn, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)2);
        sl__http_kick(srv);
        return;
    }
    r->rate_t0 = now;
    r->rate_mark = r->received;
}

void sl__limits_tick(sl_server_t *srv, uint64_t now)
{
    sl_req_t *r, *next;

    if (srv->cfg.min_rate > 0)
        for (r = srv->reqs; r != NULL; r = next) {
            next = r->next;
            if (r->up != NULL && r->up->running && !r->gone && !srv->draining)
                rate_check(srv, r, now);
        }
    if (srv->cfg.header_timeout > 0 && now > (uint64_t)srv->cfg.header_timeout * 1000)
        sl__conns_waiting(srv, now - (uint64_t)srv->cfg.header_timeout * 1000, header_late);
}

struct hsize {
    size_t n;
};

static enum MHD_Result size_cb(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                               const char *value, size_t value_size)
{
    struct hsize *h = cls;

    (void)kind;
    (void)key;
    (void)value;
    h->n += key_size + value_size + 4; /* "key: value\r\n" */
    return MHD_YES;
}

int sl__limits_header_size(sl_req_t *r)
{
    struct hsize h = {0};

    MHD_get_connection_values_n(r->conn, MHD_HEADER_KIND, size_cb, &h);
    if (h.n <= r->srv->cfg.max_header_size)
        return 0;
    r->srv->m->refused[SL_REFUSE_HEADER_SIZE]++;
    return SL_EHEADERSIZE;
}
