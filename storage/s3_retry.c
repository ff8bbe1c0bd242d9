/* SPDX-License-Identifier: MIT
 *
 * Sending a request to the S3 service again after a transient failure.
 *
 * When a transfer ends (s3_http.c's check_done), sl__s3_retry_later decides whether its answer is
 * final. It is not when the failure is transient (no connection, a connection reset or timed
 * out, HTTP 500/502/503/504, 429, RGW's SlowDown 503), the request is safe to repeat, fewer than
 * --s3-retries tries followed the first (4) and the retrying began less than
 * SL_S3_RETRY_BUDGET_MS ago. The request then leaves curl's multi handle but stays in the
 * store's list of requests (so closing the store or cancelling it works as before), with a time
 * to go again: 100 ms doubling up to 5 s, the upper half random (so that nodes that failed
 * together do not come back together). One uv_timer_t of the store wakes at the earliest such
 * time and adds the waiting easy handles back to the multi handle; nothing blocks the loop.
 *
 * Safe to repeat, the rule (SL_S3_RETRY_*, set by sl__s3_req_init from the method, then lowered
 * by a conditional header, or raised by the owner of a request that knows better):
 *   IDEMPOTENT  GET, HEAD, PUT, DELETE, copies: a repeat does what the first try did. A body is
 *               read again from its file (pread from in_off) or memory, never kept whole.
 *               Owners also raise CreateMultipartUpload (a lost answer leaves at most an empty
 *               upload, aborted by the start-up sweep) and a file's CompleteMultipartUpload (a
 *               repeat after a lost success may get 404 NoSuchUpload: s3_sink.c then asks HEAD
 *               and compares the object's ETag with the one those parts make,
 *               sl__s3_multipart_etag). curl cannot send a body again by itself (no seek
 *               function: CURLE_SEND_FAIL_REWIND, retried here), but it does send a bodiless
 *               request again on a reused connection found closed, uncounted.
 *   UNSENT      any other POST, and every write with If-Match or If-None-Match (the create-only
 *               PUT, tus's lock and record): only a failure that proves the service did nothing
 *               (not connected, 503, 429) is retried. After a reset or a timeout the write may
 *               have happened: a repeat could get 412 for our own write (a lock we hold, a name
 *               we created) and answer wrongly, so the first failure is the answer (503).
 *   NEVER       a GET whose answer went to on_data or out_fd once bytes arrived (s3_read.c
 *               resumes its own GETs with a Range).
 * The blocking requests (start-up, the expiry scan on the thread pool) follow the same rule and
 * backoff, sleeping their thread between tries (sl__s3_retry_blocking).
 * Each try after the first counts in base.retries (sluice_store_retries_total). The last
 * failure's code is the request's err, mapped as before (s3_http.c's error_of: 503).
 */
#include "s3_int.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BACKOFF_FIRST_MS 100u
#define BACKOFF_MAX_MS 5000u
#define TRY_MIN_MS 1000u /* a try with a hard end gets at least this long, else none */

int sl__s3_retryable(int retry, int cc, long status)
{
    int unsent = cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
                 cc == CURLE_COULDNT_RESOLVE_PROXY || cc == CURLE_SSL_CONNECT_ERROR;

    if (retry == SL_S3_RETRY_NEVER)
        return 0;
    if (status == 503 || status == 429 || unsent) /* refused before doing anything */
        return 1;
    if (retry != SL_S3_RETRY_IDEMPOTENT)
        return 0;
    if (cc != CURLE_OK) /* cut, reset or timed out on the way: it may have happened */
        return cc == CURLE_OPERATION_TIMEDOUT || cc == CURLE_SEND_ERROR || cc == CURLE_RECV_ERROR ||
               cc == CURLE_GOT_NOTHING || cc == CURLE_PARTIAL_FILE || cc == CURLE_HTTP2 ||
               cc == CURLE_HTTP2_STREAM || cc == CURLE_WEIRD_SERVER_REPLY ||
               cc == CURLE_SEND_FAIL_REWIND; /* a reused connection found closed */
    return status == 500 || status == 502 || status == 504;
}

uint64_t sl__s3_backoff_ms(unsigned tries, uint32_t rnd)
{
    uint64_t base = tries <= 1   ? BACKOFF_FIRST_MS
                    : tries >= 7 ? BACKOFF_MAX_MS
                                 : (uint64_t)BACKOFF_FIRST_MS << (tries - 1);

    if (base > BACKOFF_MAX_MS)
        base = BACKOFF_MAX_MS;
    return base / 2 + rnd % (base / 2 + 1);
}

int sl__s3_multipart_etag(char (*etags)[80], size_t n, char *out, size_t cap)
{
    unsigned char md[EVP_MAX_MD_SIZE], raw[16];
    unsigned len = 0, i;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    size_t k;
    int r = 0;

    if (c == NULL || EVP_DigestInit_ex(c, EVP_md5(), NULL) != 1) {
        EVP_MD_CTX_free(c);
        return UV_ENOMEM;
    }
    for (k = 0; k < n && r == 0; k++) {
        const char *e = etags[k] + (etags[k][0] == '"');
        for (i = 0; i < 16 && r == 0; i++) {
            int hi = sl_hexval(e[2 * i]), lo = hi < 0 ? -1 : sl_hexval(e[2 * i + 1]);
            if (lo < 0)
                r = UV_EINVAL; /* not an MD5 ETag */
            else
                raw[i] = (unsigned char)(hi << 4 | lo);
        }
        if (r == 0)
            EVP_DigestUpdate(c, raw, sizeof(raw));
    }
    if (r == 0 && EVP_DigestFinal_ex(c, md, &len) == 1 && cap > 2 * len + 24) {
        size_t o = 0;
        out[o++] = '"';
        for (i = 0; i < len; i++)
            o += (size_t)snprintf(out + o, cap - o, "%02x", md[i]);
        snprintf(out + o, cap - o, "-%zu\"", n);
    } else if (r == 0) {
        r = SL_ETOOLONG;
    }
    EVP_MD_CTX_free(c);
    return r;
}

/* --- the waiting requests -------------------------------------------------------------------- */

static void on_retry_timer(uv_timer_t *t);

/* Wake at the earliest time a waiting request goes again (none: stop). */
static void arm(sl_s3_t *s3)
{
    uint64_t now = uv_now(s3->base.loop), due = UINT64_MAX;
    sl_s3_req_t *q;

    for (q = s3->reqs; q != NULL; q = q->next)
        if (q->waiting && q->due_ms < due)
            due = q->due_ms;
    if (due == UINT64_MAX)
        uv_timer_stop(&s3->retry_timer);
    else
        uv_timer_start(&s3->retry_timer, on_retry_timer, due > now ? due - now : 0, 0);
}

/* Forget the failed answer: q is sent again from its first byte. */
static void reset_answer(sl_s3_req_t *q)
{
    q->status = 0;
    q->err = q->curl_err = 0;
    q->in_pos = 0;
    q->body_len = 0;
    if (q->body != NULL)
        q->body[0] = '\0';
    q->etag[0] = q->sha256_hex[0] = q->crc32[0] = q->content_range[0] = q->upload_id[0] = '\0';
    q->m_parts = q->m_part_bytes = q->length = 0;
    q->mtime_ns = 0;
    if (q->out_fd >= 0) { /* the failed answer's bytes (an error's XML) are not the body */
        if (ftruncate(q->out_fd, (off_t)q->out_start) < 0 ||
            lseek(q->out_fd, (off_t)q->out_start, SEEK_SET) < 0)
            q->err = UV_EIO;
        q->out_len = 0;
    }
}

static void on_retry_timer(uv_timer_t *t)
{
    sl_s3_t *s3 = t->data;
    uint64_t now = uv_now(s3->base.loop);
    sl_s3_req_t *q, *next, *failed = NULL;

    for (q = s3->reqs; q != NULL; q = next) {
        next = q->next;
        if (!q->waiting || q->due_ms > now)
            continue;
        q->waiting = 0;
        reset_answer(q);
        if (q->deadline_ms != 0) /* this try ends by the request's hard end */
            curl_easy_setopt(q->easy, CURLOPT_TIMEOUT_MS,
                             (long)(q->deadline_ms > now ? q->deadline_ms - now : 1));
        if (q->err == 0 && curl_multi_add_handle(s3->multi, q->easy) == CURLM_OK)
            continue;
        q->err = q->err < 0 ? q->err : UV_ENOMEM;
        q->waiting = 2; /* answered below, once the list is walked */
        failed = q;
    }
    while (failed != NULL) {
        for (failed = NULL, q = s3->reqs; q != NULL; q = q->next)
            if (q->waiting == 2)
                failed = q;
        if (failed != NULL) {
            int err = failed->err;
            failed->waiting = 0;
            sl__s3_req_done(failed);
            failed->err = err;
            failed->cb(failed);
        }
    }
    arm(s3);
}

/* The wait before q (just answered with err set, at now ms) goes again; 0: its answer is final. */
static uint64_t plan(sl_s3_req_t *q, CURLcode cc, uint64_t now)
{
    sl_s3_t *s3 = q->s3;
    uint64_t wait;
    int retry = q->retry;
    long status = q->status;

    if (q->data_len > 0 || (q->out_fd >= 0 && q->out_start < 0))
        retry = SL_S3_RETRY_NEVER; /* bytes of the answer were handed on */
    if (q->err == 0 && !q->is_read && q->status >= 200 && q->status < 300 && q->body != NULL &&
        strstr(q->body, "<Error>") != NULL)
        status = 500; /* a completion or a copy failed with 200 and an <Error> body */
    if (q->err == 0 && status != 500)
        return 0;
    if (s3->closing || q->tries >= s3->retries || !sl__s3_retryable(retry, (int)cc, status))
        return 0;
    if (q->tries == 0)
        q->failed_ms = now;
    wait = sl__s3_backoff_ms(q->tries + 1,
                             (uint32_t)((uv_hrtime() ^ (uint64_t)getpid()) * 2654435761u >> 7));
    if (now + wait - q->failed_ms > SL_S3_RETRY_BUDGET_MS ||
        (q->deadline_ms != 0 && now + wait + TRY_MIN_MS > q->deadline_ms))
        return 0;
    q->tries++; /* (the blocking requests of the thread pool count too: atomically) */
    __atomic_fetch_add(&s3->base.retries, 1, __ATOMIC_RELAXED);
    return wait;
}

int sl__s3_retry_later(sl_s3_req_t *q, CURLcode cc)
{
    sl_s3_t *s3 = q->s3;
    uint64_t now = uv_now(s3->base.loop), wait = plan(q, cc, now);

    if (wait == 0)
        return 0;
    curl_multi_remove_handle(s3->multi, q->easy);
    q->waiting = 1;
    q->due_ms = now + wait;
    arm(s3);
    return 1;
}

int sl__s3_retry_blocking(sl_s3_req_t *q, CURLcode cc)
{
    uint64_t wait = plan(q, cc, uv_hrtime() / 1000000u);
    struct timespec ts;

    if (wait == 0)
        return 0;
    ts.tv_sec = (time_t)(wait / 1000u);
    ts.tv_nsec = (long)(wait % 1000u) * 1000000L;
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
    reset_answer(q);
    return q->err == 0;
}

void sl__s3_retry_init(sl_s3_t *s3)
{
    uv_timer_init(s3->base.loop, &s3->retry_timer);
    s3->retry_timer.data = s3;
}

void sl__s3_retry_close(sl_s3_t *s3, uv_close_cb on_closed)
{
    uv_timer_stop(&s3->retry_timer);
    uv_close((uv_handle_t *)&s3->retry_timer, on_closed);
}
