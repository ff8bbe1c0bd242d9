/* SPDX-License-Identifier: MIT
 *
 * The commit of the S3 store's sink (below: a single PUT of the spool file, or the multipart
 * upload's completion and then its digests as metadata, and the checks after a lost answer), and
 * the create lock of a create-only upload on S3 (SL_SINK_NOREPLACE under a name: PUT with
 * If-None-Match: *, POST).
 *
 * A single PUT with If-None-Match: * is atomic on RGW and S3, but a multipart upload is not:
 * RGW 16 ignores If-None-Match on CompleteMultipartUpload and on a copy (tested: both replace the
 * object), so "HEAD, then complete" lets two creators of one large name both succeed, and a
 * large creator's completion can replace what a small creator's PUT created in between. So every
 * create-only commit under a name holds the name's lock across its check and its write:
 *
 *   PUT PREFIX/.sluice/create/<SHA-256 of the name>  If-None-Match: *   "held <node> <n> <until>"
 *     412 ─▶ GET it: held and not past its lease ─▶ SL_EEXISTS (another creator is committing)
 *            past its lease (its node died) ─▶ PUT If-Match: <its ETag> (of two, one wins)
 *            gone meanwhile ─▶ PUT If-None-Match again (3 times at most)
 *   held ─▶ multipart: HEAD the name (there: SL_EEXISTS), CompleteMultipartUpload
 *           single: PUT If-None-Match: * (412: SL_EEXISTS)
 *        ─▶ DELETE the lock as soon as that write answered (in the background)
 *   a single PUT whose answer was lost ─▶ HEAD the name, the lock still held: the object with
 *           our SHA-256 and length is ours (sl__s3_create_lost)
 *
 * The lease is --s3-lock-lease; the check and the write, retries included, are cut at three
 * quarters of it (sl__s3_create_deadline), so a lock that expired (a node that stalled or died)
 * is never taken over while its holder can still write. The lock's writes are conditional: they
 * are sent again only after a failure that proves nothing was done (s3_retry.c); any other
 * failure answers 503 and leaves a lock that expires. docs/s3.md states the guarantee.
 */
#include "s3_sink.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOCK_TRIES 3

static void on_lock_put(sl_s3_req_t *q);
static void on_lock_get(sl_s3_req_t *q);

/* The lock's key for k's name: PREFIX/.sluice/create/<hex SHA-256 of the key>. */
static char *lock_key(const s3_sink_t *k)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0, i;
    size_t n = strlen(k->s3->prefix) + 16 + 2 * EVP_MAX_MD_SIZE + 1, o;
    char *key = sl_xmalloc(n);

    EVP_Digest(k->key, strlen(k->key), md, &len, EVP_sha256(), NULL);
    o = (size_t)snprintf(key, n, "%s.sluice/create/", k->s3->prefix);
    for (i = 0; i < len; i++)
        o += (size_t)snprintf(key + o, n - o, "%02x", md[i]);
    return key;
}

void sl__s3_create_deadline(s3_sink_t *k, sl_s3_req_t *q)
{
    uint64_t now = uv_now(k->s3->base.loop);

    if (!k->locked)
        return;
    q->deadline_ms = k->lock_deadline_ms;
    curl_easy_setopt(q->easy, CURLOPT_TIMEOUT_MS,
                     (long)(k->lock_deadline_ms > now ? k->lock_deadline_ms - now : 1));
}

/* PUT the lock: If-None-Match: * (a new lock), or If-Match: etag (one past its lease). */
static void lock_put(s3_sink_t *k, const char *etag)
{
    char h[128];
    size_t n;

    if (sl__s3_req_init(&k->req, k->s3, "PUT", k->lock_key, NULL) < 0)
        return sl__s3_sink_fail(k, UV_ENOMEM);
    k->req.data = k;
    if (etag == NULL) {
        sl__s3_req_header(&k->req, "If-None-Match: *");
    } else { /* RGW compares If-Match on a PUT without the quotes */
        n = strlen(etag);
        if (n >= 2 && etag[0] == '"')
            snprintf(h, sizeof(h), "If-Match: %.*s", (int)(n - 2), etag + 1);
        else
            snprintf(h, sizeof(h), "If-Match: %s", etag);
        sl__s3_req_header(&k->req, h);
    }
    snprintf(k->lock_text, sizeof(k->lock_text), "held %s %llu %lld\n", sl_store_owner(),
             (unsigned long long)++k->s3->seq, (long long)time(NULL) + (long long)k->s3->lease);
    sl__s3_req_body_mem(&k->req, k->lock_text, strlen(k->lock_text));
    k->lock_deadline_ms = uv_now(k->s3->base.loop) + 750u * k->s3->lease;
    if (sl__s3_req_start(&k->req, on_lock_put) < 0)
        sl__s3_sink_fail(k, UV_ENOMEM);
}

static void on_lock_put(sl_s3_req_t *q)
{
    s3_sink_t *k = q->data;

    free(q->body);
    q->body = NULL;
    if (q->err == SL_EEXISTS) { /* someone's lock: whose, and is it alive? */
        if (++k->lock_tries > LOCK_TRIES)
            return sl__s3_sink_fail(k, SL_EEXISTS);
        if (sl__s3_req_init(&k->req, k->s3, "GET", k->lock_key, NULL) < 0)
            return sl__s3_sink_fail(k, UV_ENOMEM);
        k->req.data = k;
        if (sl__s3_req_start(&k->req, on_lock_get) < 0)
            sl__s3_sink_fail(k, UV_ENOMEM);
        return;
    }
    if (q->err < 0)
        return sl__s3_sink_fail(k, q->err);
    k->locked = 1;
    snprintf(k->lock_etag, sizeof(k->lock_etag), "%s", q->etag);
    k->lock_then(k);
}

static void on_lock_get(sl_s3_req_t *q)
{
    s3_sink_t *k = q->data;
    long long until = 0;
    char etag[80];
    int held;

    if (q->err == SL_ENOTFOUND) { /* released meanwhile: try again */
        free(q->body);
        q->body = NULL;
        return lock_put(k, NULL);
    }
    if (q->err < 0) {
        free(q->body);
        q->body = NULL;
        return sl__s3_sink_fail(k, q->err);
    }
    held = q->body != NULL && sscanf(q->body, "held %*s %*s %lld", &until) == 1 &&
           until > (long long)time(NULL);
    free(q->body);
    q->body = NULL;
    if (held) /* another creator of this name is committing */
        return sl__s3_sink_fail(k, SL_EEXISTS);
    snprintf(etag, sizeof(etag), "%s", q->etag);
    lock_put(k, etag); /* past its lease: take it over, if no one else did */
}

void sl__s3_create_lock(s3_sink_t *k, void (*then)(s3_sink_t *k))
{
    if (k->lock_key == NULL)
        k->lock_key = lock_key(k);
    k->lock_then = then;
    k->lock_tries = 0;
    lock_put(k, NULL);
}

void sl__s3_create_unlock(s3_sink_t *k)
{
    sl_s3_req_t *q;

    if (!k->locked)
        return;
    k->locked = 0;
    if (k->s3->closing)
        return; /* it expires */
    q = sl_xcalloc(1, sizeof(*q));
    if (sl__s3_req_init(q, k->s3, "DELETE", k->lock_key, NULL) < 0) {
        sl__s3_req_done(q);
        free(q);
        return;
    }
    q->owned = 1;
    q->retry = SL_S3_RETRY_UNSENT; /* a repeat could delete the lock of the next creator */
    if (sl__s3_req_start(q, sl__s3_req_free) < 0) {
        sl__s3_req_done(q);
        free(q);
    }
}

/* A create-only PUT whose answer was lost (a reset or a timeout after it was sent) may have been
 * done: it is not sent again (s3_retry.c), but while this creator still holds the name's lock,
 * HEAD tells. The object there with our SHA-256 and length is ours: committed. */
static void on_put_confirmed(sl_s3_req_t *q)
{
    s3_sink_t *k = q->data;
    const char *sha = k->base.digest->sha256_hex;

    sl__s3_create_unlock(k);
    if (q->err == 0 && strcmp(q->sha256_hex, sha) == 0 && q->length == k->fill_len)
        return sl__s3_sink_committed(k);
    sl__s3_sink_fail(k, k->lost_err);
}

int sl__s3_create_lost(s3_sink_t *k, sl_s3_req_t *q)
{
    if (q->err >= 0 || q->status != 0 || q->curl_err == CURLE_COULDNT_CONNECT ||
        k->upload_id != NULL || !(k->flags & SL_SINK_NOREPLACE) || k->lost_err < 0 ||
        k->base.digest == NULL || k->base.digest->sha256_hex[0] == '\0')
        return 0;
    k->lost_err = q->err; /* the answer if the object is not ours */
    free(q->body);
    q->body = NULL;
    if (sl__s3_req_init(&k->req, k->s3, "HEAD", k->key, NULL) == 0) {
        k->req.data = k;
        sl__s3_create_deadline(k, &k->req); /* within the lock's lease */
        if (sl__s3_req_start(&k->req, on_put_confirmed) == 0)
            return 1;
    }
    sl__s3_create_unlock(k);
    sl__s3_sink_fail(k, k->lost_err);
    return 1;
}

/* --- the commit: a single PUT or the completion, then the digests as metadata ----------------- */

void sl__s3_meta_headers(sl_s3_req_t *q, const char *sha256_hex, uint32_t crc32)
{
    char h[128];

    snprintf(h, sizeof(h), "x-amz-meta-sha256: %s", sha256_hex);
    sl__s3_req_header(q, h);
    snprintf(h, sizeof(h), "x-amz-meta-crc32: %08x", (unsigned)crc32);
    sl__s3_req_header(q, h);
}

/* The digests as the object's metadata headers, when there are any. */
static void meta_headers(s3_sink_t *k)
{
    const sl_xf_digest_t *d = k->base.digest;

    if (d != NULL && d->sha256_hex[0] != '\0')
        sl__s3_meta_headers(&k->req, d->sha256_hex, d->crc32);
}

static void on_committed(sl_s3_req_t *q);

/* A completion sent again after a lost answer finds the upload already completed: 404
 * NoSuchUpload. The object is ours when its ETag is the one our parts make (s3_retry.c). */
static void on_confirmed(sl_s3_req_t *q)
{
    s3_sink_t *k = q->data;
    char want[80];

    if (q->err == 0 && sl__s3_multipart_etag(k->etags, k->nparts, want, sizeof(want)) == 0 &&
        strcmp(want, q->etag) == 0) {
        k->confirming = 0;
        return on_committed(q); /* completed: go on with its metadata */
    }
    sl__s3_sink_fail(k, q->err == 0 || q->err == SL_ENOTFOUND ? UV_EIO : q->err);
}

static void on_committed(sl_s3_req_t *q)
{
    s3_sink_t *k = q->data;
    int err = q->err;

    if (sl__s3_create_lost(k, q))
        return;
    sl__s3_create_unlock(k); /* the write answered: the next creator sees the name (or not) */
    if (err == SL_ENOTFOUND && k->upload_id != NULL && !k->meta_copied && !k->confirming) {
        k->confirming = 1;
        free(q->body);
        q->body = NULL;
        if (sl__s3_req_init(&k->req, k->s3, "HEAD", k->key, NULL) < 0)
            return sl__s3_sink_fail(k, UV_ENOMEM);
        k->req.data = k;
        if (sl__s3_req_start(&k->req, on_confirmed) < 0)
            sl__s3_sink_fail(k, UV_ENOMEM);
        return;
    }
    if (err == 0 && q->body != NULL && strstr(q->body, "<Error>") != NULL)
        err = UV_EIO; /* a completion or a copy can fail with 200 and an <Error> body */
    free(q->body);
    q->body = NULL;
    if (err < 0)
        return sl__s3_sink_fail(k, err);
    if (k->upload_id != NULL && !k->meta_copied && k->base.digest != NULL &&
        k->base.digest->sha256_hex[0] != '\0') { /* completed: now its metadata */
        char src[3 * (SL_NAME_MAX + 256) + 64], enc[3 * (SL_NAME_MAX + 256)];
        k->meta_copied = 1;
        if (sl__s3_req_init(&k->req, k->s3, "PUT", k->key, NULL) < 0)
            return sl__s3_sink_fail(k, UV_ENOMEM);
        k->req.data = k;
        sl__s3_encode(k->key, 1, enc, sizeof(enc));
        snprintf(src, sizeof(src), "x-amz-copy-source: /%s/%s", k->s3->bucket, enc);
        sl__s3_req_header(&k->req, src);
        sl__s3_req_header(&k->req, "x-amz-metadata-directive: REPLACE");
        meta_headers(k);
        if (sl__s3_req_start(&k->req, on_committed) < 0)
            sl__s3_sink_fail(k, UV_ENOMEM);
        return;
    }
    sl__s3_sink_committed(k);
}

void sl__s3_complete_body(sl_s3_req_t *q, char **xml, char (*etags)[80], size_t n)
{
    size_t i, cap = 64 + n * 160, o;

    free(*xml);
    *xml = sl_xmalloc(cap);
    o = (size_t)snprintf(*xml, cap, "<CompleteMultipartUpload>");
    for (i = 0; i < n; i++)
        o += (size_t)snprintf(*xml + o, cap - o,
                              "<Part><PartNumber>%zu</PartNumber><ETag>%s</ETag></Part>", i + 1,
                              etags[i]);
    o += (size_t)snprintf(*xml + o, cap - o, "</CompleteMultipartUpload>");
    sl__s3_req_body_mem(q, *xml, o);
}

static void complete(s3_sink_t *k)
{
    char q[600];

    snprintf(q, sizeof(q), "uploadId=%s", k->upload_id);
    if (sl__s3_req_init(&k->req, k->s3, "POST", k->key, q) < 0)
        return sl__s3_sink_fail(k, UV_ENOMEM);
    k->req.data = k;
    sl__s3_complete_body(&k->req, &k->xml, k->etags, k->nparts);
    k->req.retry = SL_S3_RETRY_IDEMPOTENT; /* a 404 on a retry is confirmed: on_committed */
    sl__s3_create_deadline(k, &k->req);
    if (sl__s3_req_start(&k->req, on_committed) < 0)
        sl__s3_sink_fail(k, UV_ENOMEM);
}

static void put_whole(s3_sink_t *k)
{
    if (sl__s3_req_init(&k->req, k->s3, "PUT", k->key, NULL) < 0)
        return sl__s3_sink_fail(k, UV_ENOMEM);
    k->req.data = k;
    if (k->flags & SL_SINK_NOREPLACE) /* 412 (SL_EEXISTS) if it is there */
        sl__s3_req_header(&k->req, "If-None-Match: *");
    meta_headers(k);
    sl__s3_req_body_fd(&k->req, k->fill_fd, 0, k->fill_len);
    sl__s3_create_deadline(k, &k->req);
    if (sl__s3_req_start(&k->req, on_committed) < 0)
        sl__s3_sink_fail(k, UV_ENOMEM);
}

static void commit_now(s3_sink_t *k)
{
    if (k->upload_id == NULL)
        put_whole(k);
    else
        complete(k);
}

static void on_head(sl_s3_req_t *q)
{
    s3_sink_t *k = q->data;

    if (q->err != SL_ENOTFOUND)
        sl__s3_create_unlock(k);
    if (q->err == 0)
        return sl__s3_sink_fail(k, SL_EEXISTS);
    if (q->err != SL_ENOTFOUND)
        return sl__s3_sink_fail(k, q->err);
    commit_now(k);
}

/* Called at do_final and after each part while final: send what is left, then commit. */

void sl__s3_sink_commit(s3_sink_t *k)
{
    if ((k->flags & SL_SINK_NOREPLACE) && k->upload_id != NULL) {
        if (sl__s3_req_init(&k->req, k->s3, "HEAD", k->key, NULL) < 0)
            return sl__s3_sink_fail(k, UV_ENOMEM);
        k->req.data = k;
        sl__s3_create_deadline(k, &k->req);
        if (sl__s3_req_start(&k->req, on_head) < 0)
            sl__s3_sink_fail(k, UV_ENOMEM);
        return;
    }
    commit_now(k);
}
