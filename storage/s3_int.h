/* SPDX-License-Identifier: MIT
 *
 * Private to storage/s3*.c: the S3 store's state, its requests (s3_http.c) and its sink
 * (s3_sink.c). See s3.h for the design.
 */
#ifndef SL_STORAGE_S3_INT_H
#define SL_STORAGE_S3_INT_H

#include <curl/curl.h>
#include <stdint.h>

#include "s3.h"

#define SL_S3_PART_DEFAULT (64u << 20)
#define SL_S3_PART_MIN (5u << 20)
#define SL_S3_PARTS_MAX 10000       /* S3's limit on parts of one upload */
#define SL_S3_ANSWER_MAX (1u << 20) /* the XML answers kept in memory (a listing page) */

typedef struct sl_s3_s sl_s3_t;
typedef struct sl_s3_req_s sl_s3_req_t;
typedef void (*sl_s3_cb)(sl_s3_req_t *q);

/* One HTTP request to the service. Embedded in the operation that makes it. */
struct sl_s3_req_s {
    void *data; /* the owner's */
    sl_s3_t *s3;
    CURL *easy;
    struct curl_slist *hdrs;
    sl_s3_req_t *next, *prev;
    int active;
    int owned; /* allocated alone (an abort that outlives its sink): freed when done */
    /* what is sent: in_len bytes of in_fd from in_off, or of in_mem */
    int in_fd;
    const char *in_mem;
    uint64_t in_off, in_len, in_pos;
    /* the answer: status, err (0, SL_ENOTFOUND, SL_EUNAVAILABLE, UV_EIO, …) */
    long status;
    int err, curl_err; /* curl_err: the CURLcode, for messages */
    int out_fd;        /* >= 0: the body goes here (GET) */
    /* else, when set: a 2xx answer's body goes here, piece by piece, on the loop; it returns
     * len (taken), CURL_WRITEFUNC_PAUSE (handed again after curl_easy_pause) or 0 (fail) */
    size_t (*on_data)(sl_s3_req_t *q, char *buf, size_t len);
    uint64_t out_len; /* bytes written to out_fd */
    char *body;       /* else up to SL_S3_ANSWER_MAX bytes kept here (owned, NUL-ended) */
    size_t body_len, body_cap;
    char etag[80];                  /* the ETag header, quotes kept */
    char sha256_hex[65];            /* x-amz-meta-sha256 */
    char crc32[16];                 /* x-amz-meta-crc32 */
    char content_range[96];         /* Content-Range (a 206) */
    char upload_id[256];            /* x-amz-meta-upload-id (a tus record's multipart upload) */
    uint64_t m_parts, m_part_bytes; /* x-amz-meta-parts, -part-bytes (a tus record's) */
    uint64_t length;                /* Content-Length of the answer */
    int64_t mtime_ns;               /* Last-Modified */
    /* sending it again (s3_retry.c): the policy (SL_S3_RETRY_*: by method at init, lowered by a
     * conditional header, raised by the owner), the tries made, the answer's bytes handed to
     * on_data, where out_fd started, and loop times in ms: when the first try failed, when the
     * next one goes, and a hard end for all tries (0: none; each try's timeout is cut to it) */
    int retry, is_read, waiting;
    unsigned tries;
    uint64_t data_len;
    int64_t out_start;
    uint64_t failed_ms, due_ms, deadline_ms;
    sl_s3_cb cb;
};

/* What may be sent again after a transient failure (s3_retry.c says why). */
enum {
    SL_S3_RETRY_NEVER = 0,     /* the first answer is the answer */
    SL_S3_RETRY_UNSENT = 1,    /* only when the failure proves it had no effect (503, 429, not
                                  connected): a conditional write, a POST */
    SL_S3_RETRY_IDEMPOTENT = 2 /* any transient failure: a repeat does what the first did */
};
#define SL_S3_RETRIES_DEFAULT 4
#define SL_S3_RETRY_BUDGET_MS                                                                      \
    30000u /* retrying stops this long after a request's first failure                             \
            */

struct sl_s3_s {
    sl_store_t base;       /* first: the interface's view */
    char *bucket, *prefix; /* prefix "" or ending in '/' */
    char *endpoint;        /* without a trailing '/' */
    char *spool;
    char sigv4[96];  /* "aws:amz:REGION:s3" */
    char *userpwd;   /* "ACCESS:SECRET" */
    char *token_hdr; /* "x-amz-security-token: …" or NULL */
    uint64_t part_size;
    unsigned lease; /* seconds: a tus PATCH's lock (s3_tus.h) */
    CURLM *multi;
    uv_timer_t timer;
    sl_s3_req_t *reqs; /* in flight */
    uint64_t seq;
    /* the tus expiry scan goes on after this key ("": from the first; s3_tus_jobs.c) */
    char scan_after[SL_NAME_MAX + 700];
    int closing, handles;
    uv_timer_t lease_timer; /* renews the locks of the PATCHes in progress (s3_sink_tus.c) */
    uv_timer_t probe;       /* asks HEAD of the bucket every few seconds (/healthz), and
                               sends again the aborts that could not reach the service */
    void *aborts;           /* those aborts (s3.c) */
    sl_s3_req_t probe_req;
    void *leases;           /* those PATCHes' sinks */
    unsigned retries;       /* --s3-retries: tries after the first of a failed request */
    uv_timer_t retry_timer; /* sends again the requests waiting for their backoff (s3_retry.c) */
};

/* --- requests (s3_http.c) --------------------------------------------------------------- */

/* Start the multi handle of s3 on its loop / stop it (requests in flight are cancelled). */
int sl__s3_http_init(sl_s3_t *s3);
void sl__s3_http_close(sl_s3_t *s3, uv_close_cb on_closed);
/* Prepare q (borrowed until its callback or cancel; q->data is kept, the rest reset) for METHOD on
 * the object `key` (NULL: the bucket) with the already encoded, sorted query `query` (NULL: none).
 * 0 or UV_ENOMEM. */
int sl__s3_req_init(sl_s3_req_t *q, sl_s3_t *s3, const char *method, const char *key,
                    const char *query);
/* Add a header line "Name: value" (borrowed, copied). */
void sl__s3_req_header(sl_s3_req_t *q, const char *line);
/* Send in_len bytes of fd (borrowed) from off / of mem (borrowed until the callback). */
void sl__s3_req_body_fd(sl_s3_req_t *q, int fd, uint64_t off, uint64_t len);
void sl__s3_req_body_mem(sl_s3_req_t *q, const char *mem, size_t len);
/* Run q on the loop; cb(q) runs on a later loop turn with q->status and q->err. 0 or an error
 * (no callback). */
int sl__s3_req_start(sl_s3_req_t *q, sl_s3_cb cb);
/* Run q now, blocking (start-up only). Returns q->err. */
int sl__s3_req_run(sl_s3_req_t *q);
/* The callback of an owned request: frees it. */
void sl__s3_req_free(sl_s3_req_t *q);
/* Stop q if it runs (no callback) and release what it holds; idempotent. */
void sl__s3_req_done(sl_s3_req_t *q);
/* Percent-encode s for a URL path (keep_slash) or a query value into out[cap]. 0 or
 * SL_ETOOLONG. */
int sl__s3_encode(const char *s, int keep_slash, char *out, size_t cap);
/* Seconds since the epoch of an ISO 8601 UTC time ("2026-12-06T23:57:14.123Z"), 0 if it is
 * none. */
int64_t sl__s3_iso_time(const char *s);
/* The text of the first <tag>…</tag> in xml[0..len) from *pos on, copied into out[cap] with
 * &amp; &lt; &gt; &quot; &apos; decoded; *pos moves past it. 1 found, 0 not. */
int sl__s3_xml_next(const char *xml, size_t len, size_t *pos, const char *tag, char *out,
                    size_t cap);

/* Abort the multipart upload `upload_id` (encoded) of `key` (both borrowed, copied), in the
 * background: an abort that cannot reach the service is sent again with the probe, every 2 s for
 * a minute (then the start-up sweep of a day-old upload is what is left). `again`: also at each
 * of the next 7 probes (~16 s), whatever they answer: a part cancelled in flight that RGW
 * finishes after the abort makes the upload listed again, and that may come after a 404. */
void sl__s3_abort(sl_s3_t *s3, const char *key, const char *upload_id, int again);
/* Delete `key` (borrowed, copied) at the next probe (~2 s), retried like an abort: a staged
 * object whose cancelled PUT may still land. */
void sl__s3_delete_later(sl_s3_t *s3, const char *key);

/* --- retries (s3_retry.c) ---------------------------------------------------------------- */

/* 1 when a request of policy `retry` (SL_S3_RETRY_*) that ended with CURLcode cc and HTTP status
 * (0: no answer) may be sent again: a transient failure, and one that proves nothing was done
 * when the policy is SL_S3_RETRY_UNSENT. */
int sl__s3_retryable(int retry, int cc, long status);
/* The wait in ms before the try after `tries` tries (>= 1): 100 ms doubling, at most 5 s, its
 * upper half random (rnd). */
uint64_t sl__s3_backoff_ms(unsigned tries, uint32_t rnd);
/* The ETag S3 gives the object of a multipart upload of parts with these ETags (quoted hex MD5):
 * "\"<hex MD5 of the parts' MD5s>-<n>\"" into out[cap]. 0, or UV_EINVAL (an ETag that is no MD5).
 */
int sl__s3_multipart_etag(char (*etags)[80], size_t n, char *out, size_t cap);
/* Start / stop the timer of the requests waiting to be sent again. */
void sl__s3_retry_init(sl_s3_t *s3);
void sl__s3_retry_close(sl_s3_t *s3, uv_close_cb on_closed);
/* q (active, just answered with err set) failed: 1 when it waits to be sent again (its callback
 * comes later), 0 when its answer is final. */
int sl__s3_retry_later(sl_s3_req_t *q, CURLcode cc);
/* The same for a blocking request (sl__s3_req_run, off the loop): 1 after its backoff was slept
 * and its answer forgotten (perform it again), 0 when its answer is final. */
int sl__s3_retry_blocking(sl_s3_req_t *q, CURLcode cc);

/* --- staged groups (s3_stage.c): the store's stage_commit and stage_remove ------------- */

int sl__s3_stage_commit(sl_store_t *st, sl_store_job_t *j, const char *stage, const char *name,
                        const sl_meta_t *metas, const char *const *meta_names, size_t nmeta,
                        sl_store_job_cb cb);
int sl__s3_stage_remove(sl_store_t *st, sl_store_job_t *j, const char *stage, sl_store_job_cb cb);

/* --- reading (s3_read.c): the store's read_new and read_free ------------------------------ */

/* The Range header that asks for bytes [off, off + len) of an object of `size` bytes into
 * out[cap]: 1 (written), 0 (the whole object: no Range), or SL_ERANGE (len 0, or past the end). */
int sl__s3_range(uint64_t off, uint64_t len, uint64_t size, char *out, size_t cap);
/* A Content-Range value "bytes FIRST-LAST/TOTAL" (TOTAL may be '*'; *total is then UINT64_MAX):
 * 0 and the three numbers, or -1 when it is anything else. */
int sl__s3_content_range(const char *v, uint64_t *first, uint64_t *last, uint64_t *total);

sl_stream_t *sl__s3_read_new(sl_store_t *st, const sl_store_job_t *job, uint64_t off, uint64_t len,
                             size_t hwm);
void sl__s3_read_free(sl_stream_t *s);

/* --- the sink (s3_sink.c) --------------------------------------------------------------- */

sl_store_sink_t *sl__s3_sink_new(sl_store_t *st, const sl_sink_spec_t *spec);
void sl__s3_sink_free(sl_store_sink_t *sink);
/* An object's key for `name` into out[cap]: the prefix and the name. 0 or SL_ETOOLONG. */
int sl__s3_key(const sl_s3_t *s3, const char *name, char *out, size_t cap);
/* The headers that keep a file's digests with its object (GET's Repr-Digest and ETag). */
void sl__s3_meta_headers(sl_s3_req_t *q, const char *sha256_hex, uint32_t crc32);
/* A spool file (unlinked, O_TMPFILE): its fd or a negative code. Thread-pool side or start-up. */
int sl__s3_spool_open(const sl_s3_t *s3);

#endif
