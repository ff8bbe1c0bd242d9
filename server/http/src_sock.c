/* SPDX-License-Identifier: MIT
 *
 * Taking a body over from libmicrohttpd: the upload reads its client's socket itself.
 *
 * libmicrohttpd 0.9.75 reads a body through its per-connection pool: one recv of at most half
 * the pool per MHD_run (an epoll_wait each), a copy out of the pool into a chunk, and a pool that
 * is resident for the connection's life. A big pool makes fast uploads cheaper and every slow one
 * dearer (research/mhd-libuv.md, addendum): one number cannot serve both. So when a request's body
 * has not been read yet, sluice reads it itself, and libmicrohttpd keeps only the headers:
 *
 *   first call: Content-Length, "Expect: 100-continue" or none, and nothing of the body in
 *     libmicrohttpd's buffer yet: the socket's received bytes, minus what is still unread in
 *     the kernel, equal what libmicrohttpd read of the connection's earlier requests (conns.c
 *     counts them) plus this request's header
 *   ─▶ suspend the connection (libmicrohttpd then sends no 100 and reads nothing), send
 *      "100 Continue" ourselves if asked, uv_poll the socket and recv straight into chunks
 *      sized to what the kernel holds (up to SOCK_READ_MAX, FIONREAD): big reads for a fast
 *      client, small chunks for a slow one, no copy out of a pool, no MHD_run per piece
 *   ─▶ push each chunk into the chain's source (src_http); backpressure (R1) and the buffer
 *      budget stop the poll, the source's read (R2) and the budget waiter start it again
 *   ─▶ Content-Length bytes read: end of body. The chain's outcome resumes the connection,
 *      whose handler is called again as the first call: the answer is queued there, so
 *      libmicrohttpd sends it without a 100 and closes the connection (no keep-alive after a
 *      taken-over body).
 *
 * Without "Expect" (a browser, most libraries, curl below 1 MiB) the same holds when the header
 * came alone; when body bytes came with it, libmicrohttpd gives them to the handler, and after
 * such a piece (sl__takeover_mid, the first few pieces of a body with at least MID_MIN bytes
 * left) sluice takes the rest over if libmicrohttpd holds nothing more: the socket's received
 * bytes minus its unread ones equal the header plus the body bytes the handler was given. Then
 * libmicrohttpd waits for body bytes it will never see and would refuse any answer, so the
 * answer is written to the socket by sluice (sl__queue_self, respond.c), which then shuts the
 * socket down; resumed, libmicrohttpd reads the end of the stream and closes the connection.
 *
 * Why every body: a slow upload's cost is the pages of libmicrohttpd's pool that its body
 * touches. --conn-memory is 40 KiB so that libmicrohttpd mmaps the pool (pools of 32 KiB and
 * less are malloc'd) and only the pages written are resident; a taken-over body writes none.
 * Measured (2,000 uploads of 64 KiB at 8 KiB/s): 39 KiB per upload with a 32 KiB pool and only
 * "Expect" bodies taken over, 14 KiB with the mmap'd pool and every body taken over.
 *
 * Fuller reads from a fast client: a browser's bytes arrive in bursts of ~90 KiB, and a read per
 * burst costs a chunk, a write and a hash job each. After a read of LOWAT_FAST bytes or more, the
 * socket's SO_RCVLOWAT is raised to a slab (or the body's rest), so the poll wakes for fuller
 * reads; a smaller read sets it back to 1 (a slow client is read as it comes), and so does the
 * server's tick once a client paused LOWAT_IDLE ms with bytes below the mark. Measured on a
 * 1 GiB page upload from Chromium: 2.85 → 1.81 server CPU-s per GiB (curl -T: 1.71).
 *
 * Spliced bodies: when no stage of the chain reads the bytes (chain.piped: --digest none, no
 * digest fields, identity encoding; a file sink), a fast client's body (the low-water mark is
 * raised) with SL_CHAIN_SPLICE_FROM bytes or more left goes socket → pipe → file with splice(2) and
 * never through user memory (streams/pipe.c): the loop thread fills one of PIPES pipes with what
 * the socket holds and pushes a piped chunk; the sink's job empties it into the file. One chunk per
 * pipe, so the loop and a worker never wait on one pipe's lock (measured: one shared pipe cost
 * more in lock hand-offs than the copy it saved); all pipes busy stops the poll until a chunk is
 * written (pipe->drained), which is the backpressure. A pipe that cannot be had (descriptors,
 * pipe memory) leaves the body to recv. --no-splice turns it off.
 *
 * HTTPS: the socket carries records, so whether libmicrohttpd read body bytes with the header
 * cannot be told from its byte counts, and the first call never takes a body over; mid-way can:
 * libmicrohttpd gives the handler every body byte its buffer holds (identity encoding), so once
 * a piece is consumed, the rest is in the TLS session or the socket. sluice then reads through
 * the session (tls.c: gnutls_record_recv, with a reader of its own that fetches a fast client's
 * records a slab at a time instead of GnuTLS's two reads per 16 KiB record, never past the body)
 * and writes the answer through it. Bytes the session holds are not on the socket, so the poll
 * also waits for "writable" while there are any. Measured (1 GiB `curl -T`, --digest none):
 * 1.42–1.54 → 0.73–0.85 server CPU-s, 131,000 → 4,300 recvfrom, 93,000 → 5,900 epoll_wait.
 *
 * A client that goes away (recv 0 or an error before the end) aborts the chain; --idle-timeout
 * applies as for any upload. The poll handle is closed before the connection is resumed, so
 * libmicrohttpd alone owns the socket again when it closes it.
 */
#include "http/http.h"
#include "proto/proto.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#define SOCK_READ_MAX SL_CHUNK_SLAB /* one recv at most */
#define SOCK_TURN_MAX (2u << 20)    /* then the loop serves the others */
#define MID_MIN (16u << 10)         /* a body's rest worth taking over mid-way */
#define MID_TRIES 4                 /* handler calls that may try it */
#define LOWAT_FAST (32u << 10)      /* a read this big: a fast client, read it in fuller pieces */
#define LOWAT_IDLE 200              /* ms without a read: back to every byte (sl__takeover_tick) */
#define PIPES 4                     /* a spliced upload's pipes: one chunk in each at a time */
#define PIPE_CAP (1u << 20)         /* the size asked for each */
#define PIPE_MIN (64u << 10)        /* a smaller one (pipe memory used up): recv instead */

/* The kernel's tcp_info goes on after the fields glibc's struct names (Linux uAPI, stable): the
 * bytes received on the connection come 3 counters after them. */
struct tcp_info_ext {
    struct tcp_info base;
    uint64_t pacing_rate, max_pacing_rate, bytes_acked, bytes_received;
};

struct sl_takeover_s {
    uv_poll_t poll;
    sl_req_t *req; /* NULL once the request is done with it */
    int fd, polling;
    int events;              /* what the poll waits for while polling (UV_READABLE, |UV_WRITABLE) */
    int lowat;               /* the socket's SO_RCVLOWAT: 1, or more for a fast client */
    sl_pipe_t *pipes[PIPES]; /* owned: the body is spliced through them (streams/pipe.c) */
    int npipes;
    int pipe_full;        /* every pipe holds a chunk: the poll stopped until one is written */
    int no_pipe;          /* splice is not for this body: recv to the end */
    sl_tls_reader_t *tls; /* owned, HTTPS: the body read through the connection's session */
};

/* Wake the poll only once v bytes are there (a fast client's fuller reads), or at each byte. */
static void set_lowat(sl_takeover_t *tk, int v)
{
    if (v != tk->lowat && setsockopt(tk->fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof(v)) == 0)
        tk->lowat = v;
}

static void fail(sl_req_t *r, int err);

/* Let go of the pipes: chunks still in the chain keep theirs until written or dropped. */
static void drop_pipes(sl_takeover_t *tk)
{
    while (tk->npipes > 0) {
        sl_pipe_t *p = tk->pipes[--tk->npipes];
        p->drained = NULL;
        sl_pipe_release(p);
    }
}

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

void sl__takeover_stop(sl_req_t *r)
{
    sl_takeover_t *tk = r->tk;

    if (tk == NULL)
        return;
    r->tk = NULL;
    tk->req = NULL;
    drop_pipes(tk);
    sl__tls_reader_free(tk->tls); /* the session reads the socket itself again */
    tk->tls = NULL;
    set_lowat(tk, 1); /* libmicrohttpd's socket again, as it was */
    uv_close((uv_handle_t *)&tk->poll, on_closed);
}

void sl__takeover_tick(sl_req_t *r, uint64_t now)
{
    if (r->tk != NULL && r->tk->lowat > 1 && now - r->last_progress >= LOWAT_IDLE)
        set_lowat(r->tk, 1); /* a fast client paused: read what it sent */
}

static void fail(sl_req_t *r, int err)
{
    sl__takeover_stop(r);
    sl__upload_abort(r, err); /* a resumable upload keeps what arrived */
}

/* A piped chunk went (written, or dropped by a failed chain): its pipe is free again. */
static void on_drained(void *arg)
{
    sl_takeover_t *tk = arg;
    sl_req_t *r = tk->req;

    if (tk->pipe_full && r != NULL) {
        tk->pipe_full = 0;
        if (!r->need_read && !r->budget_wait.queued)
            sl__takeover_read(r);
    }
}

/* A free pipe (none of its bytes in a live chunk), a new one if all are busy, or NULL. */
static sl_pipe_t *free_pipe(sl_takeover_t *tk)
{
    sl_pipe_t *p;
    int i, err;

    for (i = 0; i < tk->npipes; i++)
        if (tk->pipes[i]->queued == 0)
            return tk->pipes[i];
    if (tk->npipes == PIPES)
        return NULL;
    if ((p = sl_pipe_new(PIPE_CAP, PIPE_MIN, &err)) == NULL) {
        if (tk->npipes == 0)
            tk->no_pipe = 1; /* out of descriptors or of pipe memory: recv serves */
        return NULL;
    }
    p->drained = on_drained;
    p->arg = tk;
    return tk->pipes[tk->npipes++] = p;
}

static void stop_poll(sl_takeover_t *tk)
{
    uv_poll_stop(&tk->poll);
    tk->polling = 0;
}

static void on_readable(uv_poll_t *h, int status, int events);

/* Poll for the body's next bytes. Bytes a TLS session already decrypted are not on the socket,
 * so its poll would not wake for them: then it also waits for "writable", which is at once. */
static int start_poll(sl_takeover_t *tk)
{
    int events = UV_READABLE | (tk->tls != NULL && sl__tls_pending(tk->tls) > 0 ? UV_WRITABLE : 0);
    int err;

    if (tk->polling && tk->events == events)
        return 0; /* as it is: uv_poll_start would stop and start it again */
    err = uv_poll_start(&tk->poll, events, on_readable);
    tk->polling = err == 0;
    tk->events = events;
    return err;
}

/* Splice what the socket holds (up to the body's `left`; `avail` unread, -1 unknown) into a free
 * pipe: the bytes moved, with *c their piped chunk (owned); 0 when there is nothing to read, or
 * when every pipe holds a chunk (the poll stops until one is written); or a negative errno (the
 * socket's end, an error). One chunk per pipe: the loop fills one while a worker empties
 * another, and the two never wait on one pipe's lock. */
static ssize_t splice_some(sl_takeover_t *tk, sl_req_t *r, uint64_t left, int avail, sl_chunk_t **c)
{
    sl_pipe_t *p = free_pipe(tk);
    ssize_t n;

    if (p == NULL) {
        if (!tk->no_pipe) {
            tk->pipe_full = 1;
            stop_poll(tk);
        }
        return 0;
    }
    n = sl_pipe_fill(p, tk->fd, left < p->cap ? (size_t)left : p->cap);
    if (n == UV_EAGAIN) {
        if (avail > 0) /* bytes to read, an empty pipe that takes none: recv instead */
            tk->no_pipe = 1;
        return 0;
    }
    if (n <= 0)
        return n == 0 ? UV_EOF : n;
    *c = sl_chunk_piped(r->srv->loop, p, (size_t)n);
    r->srv->m->spliced_bytes += (uint64_t)n;
    return n;
}

/* The low-water mark after a read of n bytes with `left` to come: 1 for a slow client or at the
 * end, else a slab or the rest. A TLS session may hold a record's first part, read from the
 * socket but not decrypted, so the socket may never see the whole rest: less by a record. */
static int lowat_for(sl_takeover_t *tk, size_t n, uint64_t left)
{
    uint64_t v = n < LOWAT_FAST || left == 0 ? 1 : left < SL_CHUNK_SLAB ? left : SL_CHUNK_SLAB;

    if (tk->tls != NULL && v > 1)
        v = v > 2 * SL_TLS_RECORD_MAX ? v - SL_TLS_RECORD_MAX : 1;
    return (int)v;
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    sl_takeover_t *tk = h->data;
    sl_req_t *r = tk->req;
    size_t turn = 0;

    (void)events; /* "writable" too when a TLS session held bytes: start_poll resets it */
    if (r == NULL)
        return;
    if (status < 0) {
        fail(r, SL_EPREMATURE);
        return;
    }
    while (turn < SOCK_TURN_MAX && r->received < r->content_length) {
        uint64_t left = r->content_length - r->received;
        int avail = 0, ret;
        size_t want;
        sl_chunk_t *c;
        ssize_t n;

        if (ioctl(tk->fd, FIONREAD, &avail) < 0)
            avail = -1;
        n = 0;
        /* spliced: a fast client's body, with enough left, that no stage of its chain reads */
        if (!tk->no_pipe && (tk->npipes > 0 || (tk->lowat > 1 && left >= SL_CHAIN_SPLICE_FROM &&
                                                r->up->chain.piped && !r->srv->cfg.no_splice))) {
            n = splice_some(tk, r, left, avail, &c);
            if (n == 0 && !tk->no_pipe)
                return; /* nothing to read, or every pipe is full: wait */
        }
        if (n == 0) {
            if (avail <= 0)
                avail = 4096;    /* EOF or an error shows in the recv */
            if (tk->tls != NULL) /* records, at least as long as what they carry, and the rest */
                avail += (int)sl__tls_pending(tk->tls);
            want = (size_t)avail < SOCK_READ_MAX ? (size_t)avail : SOCK_READ_MAX;
            if (want > left)
                want = (size_t)left;
            /* a fast client: a recycled slab; a slow one: exactly what arrived (bounded memory) */
            c = sl_chunk_new(r->srv->loop, want >= SL_CHUNK_SLAB / 2 ? SL_CHUNK_SLAB : want);
            if (want >= SL_CHUNK_SLAB / 2)
                want = left < SL_CHUNK_SLAB ? (size_t)left : SL_CHUNK_SLAB;
            if (tk->tls != NULL) {
                n = sl__tls_recv(tk->tls, c->base, want, left, tk->lowat > 1);
            } else if ((n = recv(tk->fd, c->base, want, 0)) < 0) {
                n = -errno;
            }
            if (n > 0)
                c->len = (size_t)n;
            else
                sl_chunk_unref(c);
        }
        if (n <= 0) {
            if (n == -EAGAIN || n == -EWOULDBLOCK || n == -EINTR) {
                if (tk->tls != NULL) /* what to wait for: bytes held (after a TLS 1.3 KeyUpdate */
                    start_poll(tk);  /* GnuTLS says EAGAIN with records still held), or none */
                return;
            }
            fail(r, SL_EPREMATURE); /* the client went away before the end of its body */
            return;
        }
        turn += (size_t)n;
        r->received += (uint64_t)n;
        left = r->content_length - r->received;
        /* a browser's bytes come in bursts of ~90 KiB: wait for a slab's worth, or the rest */
        set_lowat(tk, lowat_for(tk, (size_t)n, left));
        r->srv->m->bytes_received += (uint64_t)n;
        r->last_progress = uv_now(r->srv->loop);
        ret = sl_stream_push(&r->up->src.s, c);
        sl_chunk_unref(c);
        if (ret < 0) { /* the chain failed or ended: its callback answers */
            uv_poll_stop(h);
            tk->polling = 0;
            return;
        }
        if (r->received == r->content_length) {
            uv_poll_stop(h);
            tk->polling = 0;
            r->up->eof = 1;
            r->eof_ns = uv_hrtime();
            sl_stream_push(&r->up->src.s, NULL);
            return;
        }
        if (ret == 0)
            r->need_read = 1;
        if (sl_budget_exhausted(r->srv->loop))
            sl_budget_wait(r->srv->loop, &r->budget_wait, sl__src_http_budget, r);
        if (ret == 0 || r->budget_wait.queued) {
            uv_poll_stop(h); /* backpressure: the kernel's window fills, the client slows */
            tk->polling = 0;
            return;
        }
    }
    if (tk->tls != NULL && r->received < r->content_length)
        start_poll(tk); /* the turn ended: bytes held wake the poll at once */
}

void sl__takeover_read(sl_req_t *r)
{
    sl_takeover_t *tk = r->tk;
    int err;

    if (tk != NULL && !tk->polling && r->received < r->content_length && (err = start_poll(tk)) < 0)
        fail(r, err);
}

/* Nothing of the body is in libmicrohttpd's buffer: every byte it took from the socket is the
 * request's header or a body byte the handler was given (r->received). */
static int mhd_holds_nothing(sl_req_t *r, int fd)
{
    struct tcp_info_ext ti;
    socklen_t len = sizeof(ti);
    uint64_t before;
    int unread = 0;

    /* unread first: bytes arriving between the two readings can only make them disagree */
    if (sl__conn_read_before(r, &before) < 0 || ioctl(fd, FIONREAD, &unread) < 0 ||
        getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ||
        len < sizeof(ti)) /* an older kernel: no byte count, no takeover */
        return 0;
    return ti.bytes_received - (uint64_t)unread == before + r->received;
}

/* A request whose body sluice may read: HTTP/1.1, a Content-Length, through libmicrohttpd's own
 * sockets (whether libmicrohttpd holds none of it is mhd_holds_nothing's to say). */
static int may_take(sl_req_t *r)
{
    return r->srv->mhd != NULL && !r->srv->cfg.no_takeover && r->http11 && !r->chunked &&
           r->content_length > 0 && r->sock != NULL;
}

int sl__takeover_may_splice(sl_req_t *r)
{
    /* a TLS socket carries records: its bytes must be decrypted */
    return may_take(r) && r->srv->tls == NULL && !r->srv->cfg.no_splice &&
           r->content_length >= SL_CHAIN_SPLICE_FROM;
}

static sl_takeover_t *take(sl_req_t *r, int fd)
{
    sl_takeover_t *tk = sl_xcalloc(1, sizeof(*tk));

    /* HTTPS: records, decrypted into chunks, never spliced; no session, no takeover */
    if ((r->srv->tls != NULL && (tk->tls = sl__tls_reader_new(r, fd)) == NULL) ||
        uv_poll_init_socket(r->srv->loop, &tk->poll, fd) < 0) {
        sl__tls_reader_free(tk->tls);
        free(tk);
        return NULL;
    }
    tk->poll.data = tk;
    tk->req = r;
    tk->fd = fd;
    tk->lowat = 1;
    tk->no_pipe = tk->tls != NULL;
    return tk;
}

int sl__takeover_mid(sl_req_t *r)
{
    const union MHD_ConnectionInfo *ci;

    if (r->tk != NULL || r->self_answer || r->mid_tries >= MID_TRIES ||
        r->content_length - r->received < MID_MIN || !may_take(r))
        return 0;
    r->mid_tries++;
    ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    /* HTTPS: libmicrohttpd gives the handler every body byte it holds (identity encoding), and
     * this piece was consumed whole; what it read past it is in the session, which sluice reads */
    if (ci == NULL || (r->srv->tls == NULL && !mhd_holds_nothing(r, ci->connect_fd)) ||
        (r->tk = take(r, ci->connect_fd)) == NULL)
        return 0;
    r->self_answer = 1; /* libmicrohttpd will wait for the body's end: sluice answers */
    r->srv->m->direct_reads++;
    sl__req_suspend(r);
    if (!r->need_read && !r->budget_wait.queued)
        sl__takeover_read(r);
    return 1;
}

int sl__takeover_start(sl_req_t *r)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    const char *expect = sl__header(r, MHD_HTTP_HEADER_EXPECT);
    const union MHD_ConnectionInfo *ci;
    sl_takeover_t *tk;
    ssize_t n;
    int fd;

    /* HTTPS: whether libmicrohttpd read some body with the header cannot be told: mid-way only */
    if (!may_take(r) || r->srv->tls != NULL ||
        (expect != NULL && strcasecmp(expect, "100-continue") != 0) ||
        (expect == NULL && r->content_length < MID_MIN)) /* a small body comes with its header */
        return 0;
    ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci == NULL || !mhd_holds_nothing(r, ci->connect_fd))
        return 0;
    fd = ci->connect_fd;
    if ((tk = take(r, fd)) == NULL)
        return 0;
    n = expect == NULL ? 0 : send(fd, cont, sizeof(cont) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (expect != NULL && n != (ssize_t)sizeof(cont) - 1) {
        uv_close((uv_handle_t *)&tk->poll, on_closed);
        /* nothing sent: libmicrohttpd carries on; a part of it: the connection is unusable */
        return n <= 0 ? 0 : UV_EIO;
    }
    r->tk = tk;
    r->phase = PH_TAKEOVER;
    r->srv->m->direct_reads++;
    sl__req_suspend(r); /* libmicrohttpd reads nothing more, and sends no 100 */
    sl__takeover_read(r);
    return 1;
}
