/* SPDX-License-Identifier: MIT
 *
 * Reading an object as it arrives: the S3 store's read_new, a readable stream over one GET.
 *
 * open_read asked HEAD only (s3.c): size, time, digests and the object's ETag. read_new sends
 *   GET key   Range: bytes=OFF-LAST (left out for the whole object)   If-Match: <that ETag>
 * so a Range costs the store exactly the bytes asked for, and an object replaced between the HEAD
 * and the GET fails (412: SL_EUNAVAILABLE) instead of mixing two versions under one ETag.
 *
 * Each piece libcurl hands over (at most BUFFER bytes) is copied into a chunk and pushed. When a
 * push says the reader is full (R1), or the loop's buffer budget is exhausted, the next piece is
 * refused with CURL_WRITEFUNC_PAUSE: libcurl keeps that one piece and stops reading the socket,
 * so TCP flow control reaches the service. do_read (R2) and the budget's wake-up clear their
 * reason and curl_easy_pause(CURLPAUSE_CONT) goes on (curl hands the kept piece again at once).
 * Memory per read: the readable's hwm, one piece held by curl, curl's receive buffer.
 *
 * A paused transfer is not subject to curl's low-speed limit, so a slow reader may hold the GET
 * open as long as it reads; the service may close the idle connection meanwhile (RGW after about
 * a minute), or restart. A GET cut that way (a transport error, not an answer) is sent again
 * for the bytes still wanted, Range from where it stopped and the same If-Match, up to RETRIES
 * times in a row without a byte between; then the stream is destroyed with SL_EUNAVAILABLE.
 * The end is pushed only when exactly the bytes asked for arrived; anything else destroys the
 * stream, so a reader never takes a short answer for the whole.
 */
#include "s3_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUFFER (64L << 10) /* CURLOPT_BUFFERSIZE: the pieces curl hands over */
#define RETRIES 3          /* GETs cut in a row before a read fails */

int sl__s3_range(uint64_t off, uint64_t len, uint64_t size, char *out, size_t cap)
{
    if (len == 0 || off >= size || len > size - off)
        return SL_ERANGE;
    if (off == 0 && len == size)
        return 0;
    snprintf(out, cap, "Range: bytes=%llu-%llu", (unsigned long long)off,
             (unsigned long long)(off + len - 1));
    return 1;
}

/* Digits at *p into *out (no sign, no overflow): 0, or -1 without any. */
static int number(const char **p, uint64_t *out)
{
    uint64_t v = 0;
    const char *s = *p;

    if (*s < '0' || *s > '9')
        return -1;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    *p = s;
    return 0;
}

int sl__s3_content_range(const char *v, uint64_t *first, uint64_t *last, uint64_t *total)
{
    if (strncmp(v, "bytes ", 6) != 0)
        return -1;
    v += 6;
    if (number(&v, first) < 0 || *v++ != '-' || number(&v, last) < 0 || *v++ != '/' ||
        *last < *first)
        return -1;
    if (*v == '*') {
        *total = UINT64_MAX;
        v++;
    } else if (number(&v, total) < 0 || *last >= *total) {
        return -1;
    }
    return *v == '\0' ? 0 : -1;
}

typedef struct s3_read_s {
    sl_stream_t s; /* first: the readable */
    sl_s3_req_t req;
    sl_s3_t *s3;
    sl_budget_waiter_t budget;
    uint64_t off, want, got, size;
    uint64_t from;  /* the GET in flight asked from off + from */
    int ranged;     /* it sent a Range: only a 206 of exactly those bytes will do */
    int checked;    /* its answer's first piece was checked */
    int full;       /* a push returned 0: the next piece pauses the transfer */
    int paused;     /* curl holds a piece (CURL_WRITEFUNC_PAUSE) */
    int running;    /* the GET is in flight */
    unsigned tries; /* GETs cut in a row without a byte */
    char tag[80];   /* the ETag open_read saw (If-Match) */
    char key[SL_NAME_MAX + 600];
} s3_read_t;

static void go_on(s3_read_t *rd)
{
    if (rd->full || rd->budget.queued || !rd->paused || !rd->running)
        return;
    rd->paused = 0;
    curl_easy_pause(rd->req.easy, CURLPAUSE_CONT); /* may hand the kept piece to on_data now */
}

static void on_budget(void *arg)
{
    go_on(arg);
}

static size_t on_data(sl_s3_req_t *q, char *buf, size_t len)
{
    s3_read_t *rd = q->data;
    sl_chunk_t *c;
    long status = 0;
    int r;

    if (rd->s.flags & SL_STREAM_DESTROYED)
        return 0;
    if (rd->full || rd->budget.queued) {
        rd->paused = 1;
        return CURL_WRITEFUNC_PAUSE; /* not taken: handed again */
    }
    rd->s3->base.read_bytes += len;
    if (!rd->checked && rd->ranged) { /* a service that ignored the Range: not these bytes */
        uint64_t first, last, total;
        curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &status);
        if (status != 206 || sl__s3_content_range(q->content_range, &first, &last, &total) < 0 ||
            first != rd->off + rd->from || last != rd->off + rd->want - 1)
            return 0;
    }
    rd->checked = 1;
    if (len > rd->want - rd->got)
        return 0; /* more than asked for */
    c = sl_chunk_copy(rd->s.loop, buf, len);
    rd->got += len;
    rd->tries = 0;
    r = sl_stream_push(&rd->s, c);
    sl_chunk_unref(c);
    if (r < 0)
        return 0;
    rd->full = r == 0;
    if (sl_budget_exhausted(rd->s.loop) && !rd->budget.queued)
        sl_budget_wait(rd->s.loop, &rd->budget, on_budget, rd);
    return len;
}

static void on_done(sl_s3_req_t *q);

/* Send the GET of what is still wanted: bytes [off + got, off + want). */
static int start(s3_read_t *rd)
{
    char line[160];
    int r;

    rd->from = rd->got;
    rd->checked = 0;
    if ((r = sl__s3_req_init(&rd->req, rd->s3, "GET", rd->key, NULL)) < 0)
        return r;
    rd->req.on_data = on_data;
    curl_easy_setopt(rd->req.easy, CURLOPT_BUFFERSIZE, BUFFER);
    if ((r = sl__s3_range(rd->off + rd->got, rd->want - rd->got, rd->size, line, sizeof(line))) < 0)
        return r;
    rd->ranged = r == 1;
    if (rd->ranged)
        sl__s3_req_header(&rd->req, line);
    if (rd->tag[0] != '\0') {
        snprintf(line, sizeof(line), "If-Match: %s", rd->tag);
        sl__s3_req_header(&rd->req, line);
    }
    if ((r = sl__s3_req_start(&rd->req, on_done)) < 0)
        return r;
    rd->running = 1;
    return 0;
}

/* A transfer that failed on the way (not an answer of the service, not our own refusal). */
static int cut(int cc)
{
    return cc == CURLE_PARTIAL_FILE || cc == CURLE_RECV_ERROR || cc == CURLE_SEND_ERROR ||
           cc == CURLE_GOT_NOTHING || cc == CURLE_COULDNT_CONNECT;
}

static void on_done(sl_s3_req_t *q)
{
    s3_read_t *rd = q->data;
    int err = q->err;

    rd->running = 0;
    free(q->body); /* an error's XML */
    q->body = NULL;
    q->body_len = q->body_cap = 0;
    if (cut(q->curl_err) && rd->got < rd->want && ++rd->tries <= RETRIES) {
        /* the connection was cut (an idle timeout of the service while the reader paused, a
         * restart): ask again from where it stopped, the same version (If-Match) */
        if ((err = start(rd)) == 0)
            return;
    }
    if (err == SL_EEXISTS)
        err = SL_EUNAVAILABLE; /* 412: the object changed since open_read */
    if (err == 0 && rd->got != rd->want)
        err = UV_EIO;
    if (err < 0)
        sl_stream_destroy(&rd->s, err);
    else
        sl_stream_push(&rd->s, NULL);
}

static void do_read(sl_stream_t *s)
{
    s3_read_t *rd = (s3_read_t *)s;

    rd->full = 0;
    go_on(rd);
}

static void do_destroy(sl_stream_t *s, int err, sl_done_cb done)
{
    s3_read_t *rd = (s3_read_t *)s;

    (void)err;
    rd->running = 0;
    sl_budget_cancel(&rd->budget);
    sl__s3_req_done(&rd->req); /* a GET still running is cancelled: no callback */
    free(rd->req.body);
    rd->req.body = NULL;
    done(s, 0);
}

static void fail_later(void *arg)
{
    s3_read_t *rd = arg;

    sl_stream_destroy(&rd->s, rd->req.err);
}

static const sl_stream_type_t s3_read_type = {
    .name = "s3_read",
    .do_read = do_read,
    .do_destroy = do_destroy,
};

sl_stream_t *sl__s3_read_new(sl_store_t *st, const sl_store_job_t *job, uint64_t off, uint64_t len,
                             size_t hwm)
{
    sl_s3_t *s3 = (sl_s3_t *)st;
    s3_read_t *rd = sl_xcalloc(1, sizeof(*rd));
    int r;

    sl_stream_init(&rd->s, st->loop, &s3_read_type, SL_STREAM_READABLE, 0, hwm);
    rd->s3 = s3;
    rd->off = off;
    rd->want = len;
    rd->size = job->size;
    rd->req.data = rd;
    snprintf(rd->tag, sizeof(rd->tag), "%s", job->tag);
    if ((r = sl__s3_key(s3, job->name, rd->key, sizeof(rd->key))) < 0 || (r = start(rd)) < 0) {
        rd->req.err = r; /* the reader sees it through on_close, once it watches (S4) */
        sl_defer(st->loop, fail_later, rd);
    }
    return &rd->s;
}

void sl__s3_read_free(sl_stream_t *s)
{
    free(s);
}
