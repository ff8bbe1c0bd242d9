/* SPDX-License-Identifier: MIT
 *
 * Private to sluice-bench's run: the run and its connections (engine.c: requests and answers;
 * run.c: the loop, connecting, reading, the tick).
 */
#ifndef SB_ENGINE_H
#define SB_ENGINE_H

#include <uv.h>

#include <openssl/evp.h>

#include "bench.h"
#include "http.h"

#define SB_WRITE_MAX (256u << 10) /* body bytes per write */
#define SB_CACHE 64               /* digests of body sizes already sent */

typedef struct sb_run_s sb_run_t;

/* A request with "Expect: 100-continue": its head is sent, its body waits for the server. */
enum {
    SB_EXPECT_NONE, /* no Expect: the body follows the head */
    SB_EXPECT_WAIT, /* the body is held until a 100, a final answer or --expect-timeout */
    SB_EXPECT_GO    /* 100 Continue, or the wait is over: the body is sent */
};

typedef struct sb_conn_s {
    sb_run_t *run;
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_timer_t pace; /* --rate and --ramp */
    uv_timer_t wait; /* Expect: --expect-timeout */
    int open, connected, closing, writing;
    int wfail;  /* a write failed: the server may have answered early; read what it said */
    int done;   /* no more uploads for this connection */
    int busy;   /* an upload is under way */
    int keep;   /* the connection can carry the next request */
    int resume; /* tus: the PATCH was cut on purpose; HEAD on a new connection */
    uint64_t rng;
    /* the upload */
    uint64_t index, size, t0, tus_off;
    char name[160];
    char path[512]; /* tus: the upload; then the file to GET */
    EVP_MD_CTX *md; /* SHA-256 of the body as it is sent, when no digest is cached */
    int hashing;
    /* the request being sent */
    int kind;        /* SB_REQ_* */
    char head[1536]; /* multipart: the HTTP head, then the part's head (body bytes) */
    size_t head_len, head_sent;
    size_t head_http; /* the HTTP head's bytes: all that goes before a 100 Continue */
    int expect;       /* SB_EXPECT_* */
    uint64_t body_off, body_len, body_sent, cut_at;
    char tail[64];
    size_t tail_len, tail_sent;
    double tokens;
    uint64_t tokens_t;
    uint64_t last_progress; /* uv_now */
    /* the answer */
    char *rbuf;
    size_t rlen, rcap;
    int got_head;      /* GET: the head is parsed, the body streams into getmd */
    uint64_t get_left; /* GET: body bytes still to come */
    int get_ok;
    EVP_MD_CTX *getmd;
} sb_conn_t;

typedef struct sb_wbuf_s {
    uv_write_t req;
    sb_conn_t *c;
    uv_buf_t buf;
    char data[];
} sb_wbuf_t;

typedef struct sb_cached_s {
    uint64_t size;
    char hex[65];
    int valid;
} sb_cached_t;

struct sb_run_s {
    uv_loop_t *loop;
    const sb_opts_t *opts;
    sb_report_t *report;
    struct sockaddr_storage addr;
    sb_conn_t *conns;
    unsigned live; /* connections not finished */
    uint64_t next_index, rng;
    uint64_t start_ms, deadline, hard_deadline, last_print;
    int stopping;
    char err[256];
    uv_timer_t tick;
    uv_signal_t sigint;
    sb_cached_t cache[SB_CACHE];
    size_t cache_next;
    uint64_t srv_cpu0;
    char rbuf[64 << 10]; /* every read lands here first (one thread) */
};

/* engine.c */
void sb__conn_start(sb_conn_t *c);
void sb__conn_connected(sb_conn_t *c);
void sb__conn_drop(sb_conn_t *c);
void sb__fail(sb_conn_t *c, int cause);
void sb__handle_response(sb_conn_t *c, const sb_resp_t *resp);
/* A 100 Continue came: send the body held back for it. */
void sb__expect_continue(sb_conn_t *c);
/* The SHA-256 (hex) of the first `size` bytes of the seed's stream (cached). */
const char *sb__expected_digest(sb_run_t *run, uint64_t size);

/* run.c */
void sb__connect(sb_conn_t *c);
void sb__conn_finished(sb_conn_t *c);
void sb__stop(sb_run_t *run, const char *why);

#endif
