/* SPDX-License-Identifier: MIT
 *
 * The S3 store behind the store interface (s3.h): opening it, and its jobs.
 *
 * Each job is one or two requests (s3_http.c) whose last answer calls the job back on the loop:
 *   preflight   HEAD the name (create-only uploads): SL_EEXISTS when it is there
 *   open_read   HEAD: size, time, ETag and the digests kept as x-amz-meta-sha256 / -crc32; the
 *               bytes are then streamed by read_new (s3_read.c), fd is -1
 *   remove      HEAD (S3 deletes a missing key without a word), then DELETE
 *   list        ListObjectsV2 pages under the prefix, the store's own ".sluice/" left out
 * The start-up (blocking, as the filesystem store's sweep is) asks HEAD of the bucket, so wrong
 * credentials or an unreachable endpoint are told at once, and aborts the multipart uploads of
 * this prefix started more than SWEEP_AGE ago: a node that died mid-upload leaves its parts;
 * an upload still running on another node is younger than that.
 */
#include "s3_tus.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SWEEP_AGE (24 * 3600)
#define PROBE_MS 2000  /* how often an idle store is asked whether it is there */
#define ABORT_TRIES 30 /* an abort is sent again with each probe for about a minute */
#define ABORT_AGAIN                                                                                \
    8 /* after cancelled parts: at each of the next probes (~16 s), whatever the                   \
         answer, for a part that lands late makes the upload listed again */

typedef struct s3_job_s {
    sl_s3_req_t req; /* first */
    sl_store_job_t *job;
    uint64_t limit, count;
    size_t cap;
    int truncated;
    char token[1024];
} s3_job_t;

/* An abort that outlives its sink (owned: the store frees it if it still runs at close). */
typedef struct abort_s {
    sl_s3_req_t req; /* first */
    struct abort_s *next;
    unsigned tries, again; /* again: sends left at the next probes (ABORT_AGAIN) */
    char key[SL_NAME_MAX + 600], query[600];
} abort_t;

static sl_s3_t *s3_of(sl_store_t *st)
{
    return (sl_s3_t *)st;
}

int sl_s3_is_url(const char *store)
{
    return store != NULL && strncmp(store, "s3://", 5) == 0;
}

/* --- jobs ------------------------------------------------------------------------------------- */

static void job_end(s3_job_t *sj, int status)
{
    sl_store_job_t *j = sj->job;

    sl__s3_req_done(&sj->req);
    free(sj->req.body);
    free(sj);
    j->status = status;
    j->cb(j);
}

static void job_deliver(void *arg)
{
    s3_job_t *sj = arg;

    job_end(sj, sj->req.err);
}

/* A new job for `name` (NULL: the bucket), its first request METHOD prepared. */
static int job_new(sl_s3_t *s3, sl_store_job_t *j, const char *method, const char *name,
                   const char *query, sl_store_job_cb cb, s3_job_t **out)
{
    s3_job_t *sj = sl_xcalloc(1, sizeof(*sj));
    char key[SL_NAME_MAX + 600];
    int r;

    j->fd = -1;
    j->json = NULL;
    j->json_len = 0;
    j->has_meta = 0;
    j->store = s3;
    j->cb = cb;
    sj->job = j;
    if (name != NULL)
        snprintf(j->name, sizeof(j->name), "%s", name);
    if ((r = name != NULL ? sl__s3_key(s3, name, key, sizeof(key)) : 0) < 0 ||
        (r = sl__s3_req_init(&sj->req, s3, method, name != NULL ? key : NULL, query)) < 0) {
        sl__s3_req_done(&sj->req);
        free(sj);
        return r;
    }
    sj->req.data = sj;
    *out = sj;
    return 0;
}

static int job_start(s3_job_t *sj, sl_s3_cb cb)
{
    int r = sl__s3_req_start(&sj->req, cb);

    if (r < 0) {
        sl__s3_req_done(&sj->req);
        free(sj);
    }
    return r;
}

static void on_preflight(sl_s3_req_t *q)
{
    job_end(q->data, q->err == 0 ? SL_EEXISTS : q->err == SL_ENOTFOUND ? 0 : q->err);
}

static int s3_preflight(sl_store_t *st, sl_store_job_t *j, const char *name, uint64_t need,
                        sl_store_job_cb cb)
{
    s3_job_t *sj;
    int r;

    (void)need; /* a bucket has no free space to ask about */
    if ((r = job_new(s3_of(st), j, "HEAD", name, NULL, cb, &sj)) < 0)
        return r;
    if (name == NULL) { /* nothing to ask: answer on a later turn (S4) */
        sl_defer(st->loop, job_deliver, sj);
        return 0;
    }
    return job_start(sj, on_preflight);
}

/* The object's size, time, digests and ETag from HEAD; its bytes come through read_new, the
 * GET pinned to that ETag (s3_read.c). */
static void on_read(sl_s3_req_t *q)
{
    s3_job_t *sj = q->data;
    sl_store_job_t *j = sj->job;

    if (q->err == 0) {
        j->size = q->length;
        j->mtime_ns = q->mtime_ns;
        snprintf(j->tag, sizeof(j->tag), "%s", q->etag);
        if (strlen(q->sha256_hex) == 64) {
            memset(&j->meta, 0, sizeof(j->meta));
            memcpy(j->meta.sha256_hex, q->sha256_hex, 65);
            j->meta.crc32 = (uint32_t)strtoul(q->crc32, NULL, 16);
            j->meta.size = j->size;
            j->meta.mtime_ns = j->mtime_ns;
            j->has_meta = 1;
        }
    }
    job_end(sj, q->err);
}

static int s3_open_read(sl_store_t *st, sl_store_job_t *j, const char *name, sl_store_job_cb cb)
{
    s3_job_t *sj;
    int r;

    if ((r = job_new(s3_of(st), j, "HEAD", name, NULL, cb, &sj)) < 0)
        return r;
    return job_start(sj, on_read);
}

static void on_deleted(sl_s3_req_t *q)
{
    job_end(q->data, q->err);
}

static void on_remove_head(sl_s3_req_t *q)
{
    s3_job_t *sj = q->data;
    sl_s3_t *s3 = q->s3;
    char key[SL_NAME_MAX + 600];
    int r;

    if (q->err < 0)
        return job_end(sj, q->err);
    sl__s3_key(s3, sj->job->name, key, sizeof(key));
    if ((r = sl__s3_req_init(q, s3, "DELETE", key, NULL)) < 0 ||
        (r = sl__s3_req_start(q, on_deleted)) < 0)
        job_end(sj, r);
}

static int s3_remove(sl_store_t *st, sl_store_job_t *j, const char *name, sl_store_job_cb cb)
{
    s3_job_t *sj;
    int r;

    if ((r = job_new(s3_of(st), j, "HEAD", name, NULL, cb, &sj)) < 0)
        return r;
    return job_start(sj, on_remove_head);
}

/* --- listing ------------------------------------------------------------------------------------
 */

static void json_add(sl_store_job_t *j, size_t *cap, const char *s, size_t n)
{
    if (j->json_len + n + 1 > *cap) {
        *cap = (j->json_len + n + 1) * 2;
        j->json = sl_xrealloc(j->json, *cap);
    }
    memcpy(j->json + j->json_len, s, n);
    j->json_len += n;
    j->json[j->json_len] = '\0';
}

static int list_page(s3_job_t *sj);

static void on_page(sl_s3_req_t *q)
{
    s3_job_t *sj = q->data;
    sl_store_job_t *j = sj->job;
    sl_s3_t *s3 = q->s3;
    size_t pos = 0, plen = strlen(s3->prefix);
    char key[SL_NAME_MAX + 600], num[128], esc[6 * SL_NAME_MAX + 1], more[8];
    int r;

    if (q->err < 0)
        return job_end(sj, q->err);
    while (!sj->truncated && sl__s3_xml_next(q->body, q->body_len, &pos, "Key", key, sizeof(key))) {
        char size[32] = "0", date[64] = "";
        size_t p2 = pos;
        sl__s3_xml_next(q->body, q->body_len, &p2, "LastModified", date, sizeof(date));
        p2 = pos;
        sl__s3_xml_next(q->body, q->body_len, &p2, "Size", size, sizeof(size));
        if (strncmp(key, s3->prefix, plen) != 0 || strncmp(key + plen, ".sluice/", 8) == 0 ||
            sl_name_check(key + plen) < 0)
            continue; /* the store's own objects, or a key that is no name */
        if (sj->count == sj->limit || j->json_len + 3 * strlen(key) + 64 > SL_LIST_MAX_BYTES) {
            sj->truncated = 1;
            break;
        }
        json_add(j, &sj->cap, sj->count ? ",{\"name\":\"" : "{\"name\":\"", sj->count ? 10 : 9);
        json_add(j, &sj->cap, esc,
                 sl_json_escape(key + plen, strlen(key + plen), NULL, esc, sizeof(esc)));
        snprintf(num, sizeof(num), "\",\"size\":%s,\"mtime\":%lld}", size,
                 (long long)sl__s3_iso_time(date));
        json_add(j, &sj->cap, num, strlen(num));
        sj->count++;
    }
    pos = 0;
    sj->token[0] = '\0';
    if (!sj->truncated &&
        sl__s3_xml_next(q->body, q->body_len, &pos, "IsTruncated", more, sizeof(more)) &&
        strcmp(more, "true") == 0) {
        pos = 0;
        sl__s3_xml_next(q->body, q->body_len, &pos, "NextContinuationToken", sj->token,
                        sizeof(sj->token));
    }
    free(q->body);
    q->body = NULL;
    q->body_len = q->body_cap = 0;
    if (sj->token[0] != '\0') {
        if ((r = list_page(sj)) < 0)
            job_end(sj, r);
        return;
    }
    snprintf(num, sizeof(num), "],\"truncated\":%s}\n", sj->truncated ? "true" : "false");
    json_add(j, &sj->cap, num, strlen(num));
    job_end(sj, 0);
}

/* The next page: its query's names in order, as SigV4 wants them. */
static int list_page(s3_job_t *sj)
{
    sl_s3_t *s3 = sj->req.s3;
    char q[8192], tok[3 * sizeof(sj->token)], pfx[3 * 600];
    int r;

    sl__s3_encode(sj->token, 0, tok, sizeof(tok));
    sl__s3_encode(s3->prefix, 0, pfx, sizeof(pfx));
    snprintf(q, sizeof(q), "%s%s%slist-type=2&max-keys=1000&prefix=%s",
             tok[0] ? "continuation-token=" : "", tok, tok[0] ? "&" : "", pfx);
    if ((r = sl__s3_req_init(&sj->req, s3, "GET", NULL, q)) < 0)
        return r;
    sj->req.data = sj;
    return sl__s3_req_start(&sj->req, on_page);
}

static int s3_list(sl_store_t *st, sl_store_job_t *j, uint64_t limit, sl_store_job_cb cb)
{
    s3_job_t *sj;
    int r;

    if ((r = job_new(s3_of(st), j, "GET", NULL, NULL, cb, &sj)) < 0)
        return r;
    sl__s3_req_done(&sj->req);
    sj->limit = limit;
    json_add(j, &sj->cap, "{\"files\":[", 10);
    if ((r = list_page(sj)) < 0) {
        sl__s3_req_done(&sj->req);
        free(j->json);
        j->json = NULL;
        free(sj);
    }
    return r;
}

/* --- staged groups -------------------------------------------------------------- */

static void s3_stage_name(sl_store_t *st, char out[64])
{
    snprintf(out, 64, ".sluice/stage/%s-%llu", sl_store_owner(),
             (unsigned long long)++s3_of(st)->seq);
}

/* --- opening and closing ---------------------------------------------------------------------- */

static void on_closed(uv_handle_t *h)
{
    sl_s3_t *s3 = h->data;

    if (--s3->handles > 0)
        return;
    free(s3->probe_req.body);
    while (s3->aborts != NULL) { /* left to the start-up sweep */
        abort_t *a = s3->aborts;
        s3->aborts = a->next;
        free(a);
    }
    free(s3->bucket);
    free(s3->prefix);
    free(s3->endpoint);
    free(s3->spool);
    free(s3->userpwd);
    free(s3->token_hdr);
    free((char *)s3->base.where);
    free(s3);
}

static void abort_send(sl_s3_t *s3, abort_t *a);

static void on_aborted(sl_s3_req_t *q)
{
    abort_t *a = (abort_t *)q;

    free(q->body);
    q->body = NULL;
    if (!q->s3->closing && ((q->err == SL_EUNAVAILABLE && ++a->tries < ABORT_TRIES) ||
                            (q->err != SL_EUNAVAILABLE && a->again > 0 && a->again--))) {
        a->next = q->s3->aborts; /* the probe sends it again */
        q->s3->aborts = a;
        return;
    }
    free(a);
}

static void abort_send(sl_s3_t *s3, abort_t *a)
{
    int r = sl__s3_req_init(&a->req, s3, "DELETE", a->key, a->query);

    if (r == 0)
        a->req.retry = SL_S3_RETRY_NEVER; /* the probe sends it again (on_aborted) */
    if (r < 0 || sl__s3_req_start(&a->req, on_aborted) < 0) {
        sl__s3_req_done(&a->req);
        free(a);
        return;
    }
    a->req.owned = 1;
}

void sl__s3_delete_later(sl_s3_t *s3, const char *key)
{
    abort_t *a = sl_xcalloc(1, sizeof(*a));

    snprintf(a->key, sizeof(a->key), "%s", key);
    a->next = s3->aborts; /* sent by the next probe, once the cancelled request has ended */
    s3->aborts = a;
}

void sl__s3_abort(sl_s3_t *s3, const char *key, const char *upload_id, int again)
{
    abort_t *a = sl_xcalloc(1, sizeof(*a));

    snprintf(a->key, sizeof(a->key), "%s", key);
    snprintf(a->query, sizeof(a->query), "uploadId=%s", upload_id);
    if (again) { /* at the next probes too: a cancelled part may still land (RGW lists the
                  * upload again then), and a 404 now says nothing of later */
        abort_t *b = sl_xcalloc(1, sizeof(*b));
        *b = *a;
        b->again = ABORT_AGAIN - 1;
        b->next = s3->aborts;
        s3->aborts = b;
    }
    abort_send(s3, a);
}

static void on_probed(sl_s3_req_t *q)
{
    free(q->body); /* its answer set base.unreachable (s3_http.c) */
    q->body = NULL;
}

static void on_probe(uv_timer_t *t)
{
    sl_s3_t *s3 = t->data;
    abort_t *a = s3->aborts, *next;

    for (s3->aborts = NULL; a != NULL; a = next) {
        next = a->next;
        abort_send(s3, a);
    }
    if (s3->probe_req.active)
        return;
    sl__s3_req_done(&s3->probe_req);
    if (sl__s3_req_init(&s3->probe_req, s3, "HEAD", NULL, NULL) < 0)
        return sl__s3_req_done(&s3->probe_req);
    s3->probe_req.retry = SL_S3_RETRY_NEVER; /* it reports; the next one comes in 2 s */
    if (sl__s3_req_start(&s3->probe_req, on_probed) < 0)
        sl__s3_req_done(&s3->probe_req);
}

static void s3_close(sl_store_t *st)
{
    sl_s3_t *s3 = s3_of(st);

    s3->closing = 1;
    uv_close((uv_handle_t *)&s3->lease_timer, on_closed);
    uv_close((uv_handle_t *)&s3->probe, on_closed);
    sl__s3_http_close(s3, on_closed);
}

static const sl_store_ops_t s3_ops = {
    .kind = "s3",
    .close = s3_close,
    .sink_new = sl__s3_sink_new,
    .sink_free = sl__s3_sink_free,
    .preflight = s3_preflight,
    .open_read = s3_open_read,
    .read_new = sl__s3_read_new,
    .read_free = sl__s3_read_free,
    .remove = s3_remove,
    .list = s3_list,
    .stage_name = s3_stage_name,
    .stage_commit = sl__s3_stage_commit,
    .stage_remove = sl__s3_stage_remove,
    .tus_create = sl__s3_tus_create,
    .tus_load = sl__s3_tus_load,
    .tus_save = sl__s3_tus_save,
    .tus_commit = sl__s3_tus_commit,
    .tus_concat = sl__s3_tus_concat,
    .tus_remove = sl__s3_tus_remove,
    .tus_expired = sl__s3_tus_expired,
};

/* conf's value, else the environment's, else `def`. */
static const char *pick(const char *v, const char *env, const char *def)
{
    const char *e = env != NULL ? getenv(env) : NULL;

    return v != NULL && *v ? v : e != NULL && *e ? e : def;
}

/* Abort the multipart uploads of this prefix started before SWEEP_AGE ago (one page: the rest
 * at the next start). Returns how many. Blocking, at start-up. */
static size_t sweep(sl_s3_t *s3)
{
    sl_s3_req_t q = {0}, a = {0};
    char query[2048], pfx[1800], key[SL_NAME_MAX + 600], id[512], eid[1536], when[64];
    size_t pos = 0, n = 0;
    time_t old = time(NULL) - SWEEP_AGE;

    sl__s3_encode(s3->prefix, 0, pfx, sizeof(pfx));
    snprintf(query, sizeof(query), "prefix=%s&uploads=", pfx);
    if (sl__s3_req_init(&q, s3, "GET", NULL, query) < 0 || sl__s3_req_run(&q) < 0) {
        sl__s3_req_done(&q);
        free(q.body);
        return 0;
    }
    while (q.body != NULL && sl__s3_xml_next(q.body, q.body_len, &pos, "Key", key, sizeof(key)) &&
           sl__s3_xml_next(q.body, q.body_len, &pos, "UploadId", id, sizeof(id)) &&
           sl__s3_xml_next(q.body, q.body_len, &pos, "Initiated", when, sizeof(when))) {
        if (sl__s3_iso_time(when) > old)
            continue;
        sl__s3_encode(id, 0, eid, sizeof(eid));
        snprintf(query, sizeof(query), "uploadId=%s", eid);
        if (sl__s3_req_init(&a, s3, "DELETE", key, query) == 0 && sl__s3_req_run(&a) == 0)
            n++;
        sl__s3_req_done(&a);
        free(a.body);
    }
    sl__s3_req_done(&q);
    free(q.body);
    return n;
}

int sl_s3_store_new(uv_loop_t *loop, const sl_s3_conf_t *conf, sl_store_t **out, char *err,
                    size_t errlen)
{
    const char *b = conf->url + 5, *slash = strchr(b, '/');
    const char *ep = pick(conf->endpoint, "AWS_ENDPOINT_URL", NULL);
    const char *ak = pick(conf->access_key, "AWS_ACCESS_KEY_ID", NULL);
    const char *sk = pick(conf->secret_key, "AWS_SECRET_ACCESS_KEY", NULL);
    const char *tok = pick(conf->session_token, "AWS_SESSION_TOKEN", NULL);
    const char *region = pick(conf->region, "AWS_REGION", "us-east-1");
    const char *spool = pick(conf->spool, "TMPDIR", "/tmp");
    sl_s3_t *s3;
    sl_s3_req_t q = {0};
    size_t n;
    int r, fd;

    if (!sl_s3_is_url(conf->url) || *b == '\0' || *b == '/') {
        snprintf(err, errlen, "--store: expected s3://BUCKET[/PREFIX]");
        return SL_EBADREQUEST;
    }
    if (ep == NULL || ak == NULL || sk == NULL) {
        snprintf(err, errlen,
                 "the S3 store needs --s3-endpoint (or AWS_ENDPOINT_URL), "
                 "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
        return SL_EBADREQUEST;
    }
    s3 = sl_xcalloc(1, sizeof(*s3));
    s3->base.ops = &s3_ops;
    s3->base.loop = loop;
    s3->base.durable = 1;
    s3->bucket = slash ? sl_xmalloc((size_t)(slash - b) + 1) : sl_xstrdup(b);
    if (slash) {
        memcpy(s3->bucket, b, (size_t)(slash - b));
        s3->bucket[slash - b] = '\0';
        n = strlen(slash + 1);
        s3->prefix = sl_xmalloc(n + 2);
        snprintf(s3->prefix, n + 2, "%s%s", slash + 1, n && slash[n] != '/' ? "/" : "");
    } else {
        s3->prefix = sl_xstrdup("");
    }
    s3->endpoint = sl_xstrdup(ep);
    n = strlen(s3->endpoint);
    while (n > 0 && s3->endpoint[n - 1] == '/')
        s3->endpoint[--n] = '\0';
    s3->spool = sl_xstrdup(spool);
    snprintf(s3->sigv4, sizeof(s3->sigv4), "aws:amz:%s:s3", region);
    n = strlen(ak) + strlen(sk) + 2;
    s3->userpwd = sl_xmalloc(n);
    snprintf(s3->userpwd, n, "%s:%s", ak, sk);
    if (tok != NULL) {
        n = strlen(tok) + 32;
        s3->token_hdr = sl_xmalloc(n);
        snprintf(s3->token_hdr, n, "x-amz-security-token: %s", tok);
    }
    s3->part_size = conf->part_size ? conf->part_size : SL_S3_PART_DEFAULT;
    s3->lease = conf->lock_lease ? conf->lock_lease : 60;
    s3->retries = conf->retries;
    if (s3->part_size < SL_S3_PART_MIN)
        s3->part_size = SL_S3_PART_MIN;
    n = strlen(s3->bucket) + strlen(s3->prefix) + 8;
    s3->base.where = sl_xmalloc(n);
    snprintf((char *)s3->base.where, n, "s3://%s/%s", s3->bucket, s3->prefix);
    if ((fd = sl__s3_spool_open(s3)) < 0) {
        snprintf(err, errlen, "--spool %s: %s (a directory on a filesystem with O_TMPFILE)",
                 s3->spool, uv_strerror(fd));
        r = SL_EBADREQUEST;
        goto fail;
    }
    close(fd);
    r = sl__s3_req_init(&q, s3, "HEAD", NULL, NULL) < 0 ? UV_ENOMEM : sl__s3_req_run(&q);
    if (r < 0) {
        snprintf(err, errlen, "S3 bucket %s at %s: %s", s3->bucket, s3->endpoint,
                 q.status == 403   ? "access denied (check the credentials and the region)"
                 : q.status == 404 ? "no such bucket"
                 : q.status != 0   ? "refused"
                                   : curl_easy_strerror((CURLcode)q.curl_err));
        sl__s3_req_done(&q);
        free(q.body);
        r = q.status == 404 ? SL_EBADREQUEST : SL_EUNAVAILABLE;
        goto fail;
    }
    sl__s3_req_done(&q);
    free(q.body);
    s3->base.swept = sweep(s3);
    if ((r = sl__s3_http_init(s3)) < 0)
        goto fail;
    uv_timer_init(loop, &s3->lease_timer);
    uv_timer_init(loop, &s3->probe);
    s3->lease_timer.data = s3->probe.data = s3;
    uv_timer_start(&s3->probe, on_probe, PROBE_MS, PROBE_MS);
    uv_unref((uv_handle_t *)&s3->probe); /* it never keeps a loop alive by itself */
    s3->handles = 4;
    *out = &s3->base;
    return 0;
fail:
    s3->timer.data = s3;
    on_closed((uv_handle_t *)&s3->timer);
    return r;
}
