/* SPDX-License-Identifier: MIT
 *
 * fake_mhd: a link-time test double of libmicrohttpd, and a driver that plays the daemon, so the
 * real server/ sources can be unit-tested without a socket (the approach of h2o's t/00unit).
 *
 * check_server links sluice's objects with fake_mhd.c instead of -lmicrohttpd: every MHD_*
 * function server/ calls is defined here. The server is created with sl_server_attach (the
 * embedding mode where the host owns the daemon, sluice.h), so no daemon is ever started; a
 * daemon function being called is a violation. The test is the host: fc_host_start attaches a
 * server to a real libuv loop with a real store in a mkdtemp root, and its kick records that a
 * daemon run was asked for.
 *
 * A connection (struct MHD_Connection, fc_conn_t) is the test's: method, URL (its query split into
 * GET arguments, '+' as a space, no %-decoding: sluice's unescape callback), version, headers,
 * footers, and a body in pieces. The driver calls sl_server_handle the way libmicrohttpd 0.9.75
 * calls an access handler (research/mhd-libuv.md §2):
 *
 *   first call (upload_data NULL, size 0) ─▶ again with size 0 while suspended and resumed
 *     ─▶ a response queued there: the body is never read (no 100 Continue), the connection closes
 *   ─▶ one call per body piece (the handler must consume what it takes: *size set to the rest)
 *   ─▶ the final call (size 0) ─▶ again while no response is queued: after a resume, or at once
 *      when the handler returned neither a response nor a suspension (0.9.75 busy-loops there)
 *
 * A suspended connection is not called. MHD_resume_connection only marks it; it is called again
 * after the next daemon run, which happens when sluice kicked the host (nothing else wakes 0.9.75
 * in external mode) or when the client sends something (a new piece). Waiting is loop turns,
 * uv_run(UV_RUN_ONCE), bounded by FC_MAX_TURNS; no sleeps.
 *
 * MHD_queue_response succeeds only inside the handler, in the first call or in a final call
 * (0.9.75 refuses it mid-body; 1.0 refuses it outside the handler), once per request. Responses
 * are reference-counted like MHD's: the queued one is captured (status, headers, body: a buffer's
 * bytes or an fd's, read with pread as sendfile would; none for HEAD) and released when the
 * request completes. Header rules are 0.9.75's as measured: no empty name or value, no space in a
 * name, no CR/LF in a value, no Content-Length; MHD_del_response_header matches name and value
 * exactly.
 *
 * Misuse is recorded as a violation (the first message kept) and fails fc_host_stop: a call on a
 * completed connection, suspending outside the handler or twice, resuming a connection that is
 * not suspended, queueing outside the handler, a handler busy-looping, a stall. fc_host_stop also
 * checks that every response was destroyed and that the loop closes (uv_loop_close == 0).
 */
#ifndef SL_TESTS_SUPPORT_FAKE_MHD_H
#define SL_TESTS_SUPPORT_FAKE_MHD_H

#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>
#include <uv.h>

#include "sluice.h"

#define FC_MAX_TURNS 20000 /* loop turns a wait may take before it is called a stall */

typedef struct MHD_Connection fc_conn_t;

typedef struct fc_host_s {
    uv_loop_t loop;
    sl_config_t cfg; /* fc_host_init's; the test may change it before fc_host_start */
    sl_server_t *srv;
    char *root;       /* the store's root (mkdtemp), removed by fc_host_stop */
    unsigned kicks;   /* runs sluice asked for */
    int run_pending;  /* a kick not acted on yet */
    fc_conn_t *conns; /* every connection, freed by fc_host_stop */
    int stopped;      /* the stop callback ran */
} fc_host_t;

/* A loop, a root and the configuration of a test server (small buffers, durable, no free-space
 * floor). */
void fc_host_init(fc_host_t *h);
/* sl_server_attach on h->loop with h->cfg; asserts. */
void fc_host_start(fc_host_t *h);
/* fc_host_init then fc_host_start. */
void fc_host_up(fc_host_t *h);
/* Complete what is open, stop and free the server, close the loop, remove the root; fails the
 * test on any violation, a response not destroyed, or a loop that does not close. */
void fc_host_stop(fc_host_t *h);
/* One loop turn (UV_RUN_ONCE, NOWAIT when a run is due), then the daemon run sluice asked for. */
void fc_turn(fc_host_t *h);
/* Turn until cond(arg) holds; asserts it does within FC_MAX_TURNS. */
void fc_turn_until(fc_host_t *h, int (*cond)(void *arg), void *arg);

/* A request. url may carry a query ("/files/?name=a"). Owned by the host (freed at its stop). */
fc_conn_t *fc_new(fc_host_t *h, const char *method, const char *url);
void fc_version(fc_conn_t *c, const char *version); /* "HTTP/1.1" unless set */
void fc_header(fc_conn_t *c, const char *name, const char *value);
void fc_footer(fc_conn_t *c, const char *name, const char *value); /* seen from the final call */
/* The body, sent in `pieces` nearly equal pieces by fc_run; adds Content-Length unless a
 * Transfer-Encoding header was given. */
void fc_body(fc_conn_t *c, const void *data, size_t len, unsigned pieces);
/* Transfer-Encoding: chunked. */
void fc_chunked(fc_conn_t *c);
/* For a chunked body: up to n more pieces are delivered in the same pass after the handler
 * suspended (libmicrohttpd 0.9.75 does that inside one read buffer). */
void fc_overrun(fc_conn_t *c, unsigned n);

/* Drive: the first call(s), until the request is past its headers, answered or closed. Returns
 * the status queued, or 0. */
unsigned fc_start(fc_conn_t *c);
/* Only what can be done now, without turning the loop. */
void fc_poll(fc_conn_t *c);
/* One body piece: delivered once the connection can take it (waits while suspended). 1 if the
 * handler got it, 0 if the request was answered or closed before. */
int fc_send(fc_conn_t *c, const void *data, size_t len);
/* The client's body is complete: final call(s) until a response is queued or the connection is
 * closed. Returns the status, or 0. */
unsigned fc_end(fc_conn_t *c);
/* fc_start, fc_body's pieces, fc_end. */
unsigned fc_run(fc_conn_t *c);
/* The request-completed callback (toe: enum MHD_RequestTerminationCode). A suspended connection
 * is first waited for (libmicrohttpd notices nothing on one). The response is released. */
void fc_complete(fc_conn_t *c, int toe);

/* What came back. */
unsigned fc_status(const fc_conn_t *c);
const char *fc_resp_header(const fc_conn_t *c, const char *name); /* NULL if absent */
int fc_resp_header_count(const fc_conn_t *c, const char *name);
const char *fc_resp_body(const fc_conn_t *c); /* NUL-terminated, "" if none */
size_t fc_resp_body_len(const fc_conn_t *c);
uint64_t fc_resp_size(const fc_conn_t *c); /* the Content-Length libmicrohttpd would send */
int fc_closed(const fc_conn_t *c);         /* the handler returned MHD_NO */
int fc_early(const fc_conn_t *c);          /* answered in the first call with a body unread */
int fc_suspended(const fc_conn_t *c);
uint64_t fc_delivered(const fc_conn_t *c); /* body bytes the handler consumed */
unsigned fc_suspends(const fc_conn_t *c);  /* MHD_suspend_connection calls */
unsigned fc_final_calls(const fc_conn_t *c);
unsigned fc_conn_timeout(const fc_conn_t *c); /* MHD_CONNECTION_OPTION_TIMEOUT set, 0 if not */

/* Conveniences. A PUT of `data` in `pieces`, run to its answer; a request without body. */
fc_conn_t *fc_put(fc_host_t *h, const char *url, const void *data, size_t len, unsigned pieces);
fc_conn_t *fc_request(fc_host_t *h, const char *method, const char *url);
/* Assert an error answer: `status`, Content-Type application/json, and a body that is exactly
 * {"error":"<a message>","status":<status>,"code":"<code>"}. */
void fc_assert_error(const fc_conn_t *c, unsigned status, const char *code);
/* Entries of h->root/sub ("" for the root), "." and ".." aside; -1 if it is no directory. */
int fc_entries(const fc_host_t *h, const char *sub);

/* The violations recorded so far (0 and "" when none). */
int fc_violations(void);
const char *fc_violation(void);

#endif
