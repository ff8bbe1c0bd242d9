/* SPDX-License-Identifier: MIT
 *
 * tus concatenation on the S3 store (store.h: tus_concat): a final upload made of partial
 * uploads becomes one object under its final name, whole or not at all, with its SHA-256.
 *
 * A partial's bytes live in a multipart upload that is never completed (s3_tus.c) and S3 can
 * only copy from objects, so the job runs, one request at a time:
 *
 *   load   each partial's record: unknown, not a partial or not complete is SL_EBADREQUEST,
 *          the sum past `max` SL_ETOOLARGE (as the filesystem store, in the partials' order);
 *          nothing has been written yet;
 *   seal   each non-empty partial is committed in place (s3_tus.c's commit with `seal`): its tail
 *          becomes its last part, its multipart upload is completed into .sluice/tus/<id>.data and
 *          its record names that object as its `file`. A sealed partial stays a valid partial
 *          (a later final may use it; it is sealed once), and its removal deletes the object;
 *   create the final upload as any tus upload (a multipart upload and its record);
 *   parts  sl__s3_concat_plan's parts, in order: a partial of at least 5 MiB that starts a part
 *          is copied by the service (UploadPartCopy of the whole object: RGW 16 refuses a ranged
 *          copy's signature), the others are read (GET, with Range when only some of an object
 *          is wanted) into a spool file and sent as the part's data (UploadPart), so every part
 *          but the last has S3's 5 MiB. The SHA-256 is computed over all the bytes in
 *          order: a copied partial is also read once (a GET
 *          streamed into the hash, nothing kept), a data part is hashed from its spool file on
 *          the thread pool;
 *   commit s3_tus.c's commit from that state: completion, a copy to the name (never replacing:
 *          <id>/<name> when it is taken) with the digests, the final's record with its `file`;
 *   clean  the partials are removed (records, sealed objects), as the filesystem store does.
 *
 * (A final carries no Repr-Digest to check: only the IETF protocol sends one, and it has no
 * concatenation.)
 *
 * Cost: every byte is read from the service once (for the hash; skipped when digests are
 * not kept) and the bytes of data parts are sent once more; copied partials
 * cost the service a server-side copy. Memory: the requests' buffers; disk: one data part at a
 * time (under --s3-part-size + 5 MiB). Nothing is visible under the name before the completion
 * and the copy: a failure after `create` removes the final upload (its multipart upload aborted,
 * its completed data deleted) and leaves the partials as they were (sealed or not).
 */
#include "s3_tus.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

enum { C_LOAD, C_SEAL, C_CREATE, C_PARTS, C_COMMIT, C_CLEAN, C_UNDO, C_UNDO_DATA };
enum { R_HASH, R_COPY, R_READ, R_PART, R_DELETE }; /* what c->req is doing */

typedef struct {
    sl_s3_tus_op_t fin; /* first: the final upload's (create, commit, remove) */
    sl_s3_tus_op_t sub; /* a partial's (load, seal, remove) */
    sl_s3_req_t req;    /* a part's GET, UploadPart or UploadPartCopy */
    sl_s3_t *s3;
    sl_tus_job_t *job;
    char *name;               /* the final name (owned) */
    uint64_t max;             /* 0: no limit */
    uint64_t *sizes, *starts; /* the partials' (owned) */
    uint64_t total;           /* the sum so far, then the final's length */
    sl_s3_plan_part_t *plan;  /* owned */
    size_t i, nplan, p;       /* the partial, the part being made */
    int phase, err, fd, what; /* fd: a data part's spool file, or -1 */
    int hashed;               /* a copied part's bytes went through the hash */
    uint64_t at, want;        /* a data part's bytes in the spool file; the read's */
    EVP_MD_CTX *sha256;       /* NULL: digests are not kept (--digests) */
    uv_work_t work;           /* a data part hashed from its spool file (thread pool) */
    int work_err;
} concat_t;

int sl__s3_concat_plan(const uint64_t *sizes, size_t n, uint64_t min, uint64_t chunk,
                       sl_s3_plan_part_t *out, size_t cap)
{
    uint64_t off = 0, pend_off = 0, pend = 0;
    size_t i, k = 0, first = 0;

    for (i = 0; i <= n; i++) {
        uint64_t s = i < n ? sizes[i] : 0;
        if (i < n && s == 0)
            continue;
        if (i < n && pend == 0 && s >= min && s <= SL_S3_COPY_MAX) {
            if (k == cap)
                return SL_ETOOLONG;
            out[k++] = (sl_s3_plan_part_t){.off = off, .len = s, .src = i, .copy = 1};
            off += s;
            continue;
        }
        if (i < n && pend == 0)
            pend_off = off, first = i;
        pend += s, off += s;
        if (pend == 0 || (pend < min && i < n))
            continue; /* more to gather (the last part may be small) */
        while (pend > 0) {
            uint64_t len = pend >= chunk + min ? chunk : pend;
            if (k == cap)
                return SL_ETOOLONG;
            out[k++] = (sl_s3_plan_part_t){.off = pend_off, .len = len, .src = first, .copy = 0};
            pend_off += len, pend -= len;
        }
    }
    return (int)k;
}

static void step(concat_t *c);
static void on_req(sl_s3_req_t *q);

/* The key of upload `id`'s data (a partial's sealed object, the final's multipart upload). */
static int data_key(const concat_t *c, const char *id, char *out, size_t cap)
{
    char name[64];
    int r = sl__s3_tus_sealed_name(id, name, sizeof(name));

    return r < 0 ? r : sl__s3_key(c->s3, name, out, cap);
}

/* The job's end: its result into the server's record, everything freed, the callback. */
static void deliver(concat_t *c)
{
    sl_tus_job_t *job = c->job;
    sl_tus_info_t *info = job->info;

    job->status = c->err;
    if (c->err == 0) {
        info->length = (int64_t)c->total;
        info->offset = c->total;
        sl_tus_info_set(&info->file, c->fin.rec.file);
        job->size = c->total;
        memcpy(job->sha256_hex, c->fin.sha256_hex, sizeof(job->sha256_hex));
    }
    sl__s3_tus_op_clear(&c->fin);
    sl__s3_tus_op_clear(&c->sub);
    sl__s3_req_done(&c->req);
    free(c->req.body);
    if (c->fd >= 0)
        close(c->fd);
    if (c->sub.spool_fd >= 0) /* a seal that could not start */
        close(c->sub.spool_fd);
    EVP_MD_CTX_free(c->sha256);
    free(c->name), free(c->sizes), free(c->starts), free(c->plan);
    free(c);
    job->cb(job);
}

/* Stop with err: after the final upload exists, remove it first. */
static void fail(concat_t *c, int err)
{
    char key[SL_NAME_MAX + 700], enc[768];

    c->err = err;
    if (c->phase == C_CREATE && c->fin.upload_id[0] != '\0' &&
        data_key(c, c->fin.rec.id, key, sizeof(key)) == 0 &&
        sl__s3_encode(c->fin.upload_id, 0, enc, sizeof(enc)) == 0)
        sl__s3_abort(c->s3, key, enc, 0); /* its record was not written: no removal reads it */
    if (c->phase <= C_CREATE || c->phase >= C_UNDO)
        return deliver(c);
    c->phase = C_UNDO;
    step(c);
}

/* A copied partial's bytes, read only for the hash. */
static size_t hash_data(sl_s3_req_t *q, char *buf, size_t len)
{
    concat_t *c = q->data;

    EVP_DigestUpdate(c->sha256, buf, len);
    c->at += len;
    return len;
}

/* Thread pool: the data part in the spool file, into the hash (nothing else touches c meanwhile:
 * the job makes one request at a time, and none is in flight). */
static void hash_spool(uv_work_t *w)
{
    concat_t *c = w->data;
    char *buf = sl_xmalloc(1u << 16);
    uint64_t off = 0;
    ssize_t n = 0;

    while (off < c->at && (n = pread(c->fd, buf, 1u << 16, (off_t)off)) > 0) {
        EVP_DigestUpdate(c->sha256, buf, (size_t)n);
        off += (uint64_t)n;
    }
    free(buf);
    c->work_err = off == c->at ? 0 : UV_EIO;
}

static void after_hash_spool(uv_work_t *w, int status)
{
    concat_t *c = w->data;

    if (status < 0 || c->work_err < 0)
        return fail(c, status < 0 ? status : c->work_err);
    step(c);
}

/* The SHA-256 of the whole, as hex, for the commit to keep with the object. */
static void sha256_done(concat_t *c)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0, i;

    EVP_DigestFinal_ex(c->sha256, md, &len);
    for (i = 0; i < len && 2 * i + 2 < sizeof(c->fin.sha256_hex); i++)
        snprintf(c->fin.sha256_hex + 2 * i, 3, "%02x", md[i]);
}

/* The next request of the current part: 0 (started) or a negative code. */
static int part_step(concat_t *c)
{
    const sl_s3_plan_part_t *pt = &c->plan[c->p];
    char key[SL_NAME_MAX + 700], src[sizeof(key)], enc[3 * sizeof(key)], uid[768], q[1024];
    char h[sizeof(enc) + 300];
    const char *method = "PUT", *query = q;
    size_t j = pt->src;
    uint64_t o = 0;
    int r, range = 0;

    sl__s3_encode(c->fin.upload_id, 0, uid, sizeof(uid));
    snprintf(q, sizeof(q), "partNumber=%zu&uploadId=%s", c->p + 1, uid);
    if (pt->copy) {
        c->what = c->sha256 != NULL && !c->hashed ? R_HASH : R_COPY;
    } else if (c->at < pt->len) {
        c->what = R_READ;
        if (c->fd < 0 && (c->fd = sl__s3_spool_open(c->s3)) < 0)
            return c->fd;
        for (j = 0; c->starts[j] + c->sizes[j] <= pt->off + c->at; j++)
            ; /* the partial that holds the next byte (plans cover what the sizes sum to) */
        o = pt->off + c->at - c->starts[j];
        c->want = c->sizes[j] - o < pt->len - c->at ? c->sizes[j] - o : pt->len - c->at;
        if ((range = sl__s3_range(o, c->want, c->sizes[j], h, sizeof(h))) < 0)
            return range;
    } else {
        c->what = R_PART;
    }
    if (c->what == R_HASH || c->what == R_READ)
        method = "GET", query = NULL;
    r = data_key(c, c->what == R_HASH || c->what == R_READ ? c->job->parts[j] : c->fin.rec.id, key,
                 sizeof(key));
    if (r < 0 || (r = sl__s3_req_init(&c->req, c->s3, method, key, query)) < 0)
        return r;
    if (c->what == R_HASH) {
        c->at = 0;
        c->req.on_data = hash_data;
    } else if (c->what == R_READ) {
        c->req.out_fd = c->fd;
        if (range > 0)
            sl__s3_req_header(&c->req, h);
    } else if (c->what == R_COPY) {
        if ((r = data_key(c, c->job->parts[pt->src], src, sizeof(src))) < 0)
            return r;
        sl__s3_encode(src, 1, enc, sizeof(enc));
        snprintf(h, sizeof(h), "x-amz-copy-source: /%s/%s", c->s3->bucket, enc);
        sl__s3_req_header(&c->req, h);
        sl__s3_req_body_mem(&c->req, "", 0); /* RGW wants its Content-Length: 0 (else 411) */
    } else {
        sl__s3_req_body_fd(&c->req, c->fd, 0, pt->len);
    }
    return sl__s3_req_start(&c->req, on_req);
}

/* A part's request answered. */
static void on_req(sl_s3_req_t *q)
{
    concat_t *c = q->data;
    const sl_s3_plan_part_t *pt = c->phase == C_PARTS ? &c->plan[c->p] : NULL;
    int err = q->err;

    if (err == 0 && q->body != NULL && strstr(q->body, "<Error>") != NULL)
        err = UV_EIO; /* a copy can fail with 200 */
    sl__s3_req_done(q);
    free(q->body);
    q->body = NULL;
    q->body_len = q->body_cap = 0;
    if (c->what == R_DELETE) /* the undo's last: a 404 is the usual answer */
        return deliver(c);
    if (err == 0 && c->what == R_HASH && c->at != pt->len)
        err = UV_EIO; /* the sealed object is not what its record says */
    if (err == 0 && c->what == R_READ && q->out_len != c->want)
        err = UV_EIO;
    if (err < 0)
        return fail(c, err);
    if (c->what == R_HASH) {
        c->hashed = 1;
    } else if (c->what == R_READ) {
        c->at += c->want;
        if (c->at == pt->len && c->sha256 != NULL) { /* a whole data part: hashed off the loop */
            c->work.data = c;
            uv_queue_work(c->s3->base.loop, &c->work, hash_spool, after_hash_spool);
            return;
        }
    } else { /* the part is stored */
        if (c->fd >= 0)
            close(c->fd);
        c->fd = -1;
        c->at = 0;
        c->hashed = 0;
        c->p++;
    }
    step(c);
}

/* Start sub as `kind` on partial i (what it held cleared first): 0 or a negative code. */
static int start_sub(concat_t *c, int kind)
{
    sl__s3_tus_op_clear(&c->sub);
    memset(&c->sub, 0, sizeof(c->sub));
    c->sub.s3 = c->s3;
    c->sub.kind = kind;
    c->sub.spool_fd = -1;
    c->sub.cb = c->fin.cb;
    c->sub.data = c;
    c->sub.seal = kind == SL_S3_TUS_COMMIT;
    memcpy(c->sub.rec.id, c->job->parts[c->i], sizeof(c->sub.rec.id));
    if (kind == SL_S3_TUS_COMMIT && (c->sub.spool_fd = sl__s3_spool_open(c->s3)) < 0)
        return c->sub.spool_fd; /* the tail becomes the last part from here */
    return sl__s3_tus_start(&c->sub);
}

/* A partial's record just read: its checks (those of storage/tus.c's do_concat), its size. */
static int take_partial(concat_t *c, int err)
{
    const sl_tus_info_t *r = &c->sub.rec;

    if (err == SL_ENOTFOUND || (err == 0 && (r->concat != SL_TUS_PARTIAL || r->length < 0 ||
                                             r->offset != (uint64_t)r->length)))
        return SL_EBADREQUEST;
    if (err == 0 && r->file != NULL && !sl__s3_tus_sealed(r))
        return SL_EBADREQUEST;
    if (err == 0 && c->max && c->total + r->offset > c->max)
        return SL_ETOOLARGE;
    if (err == 0) {
        c->sizes[c->i] = r->offset;
        c->starts[c->i] = c->total;
        c->total += r->offset;
    }
    return err;
}

/* The final's plan, once every partial's size is known. */
static int make_plan(concat_t *c)
{
    size_t cap = c->job->nparts + (size_t)(c->total / SL_S3_PART_MIN) + 2;
    int n;

    c->plan = sl_xcalloc(cap, sizeof(*c->plan));
    n = sl__s3_concat_plan(c->sizes, c->job->nparts, SL_S3_PART_MIN, c->s3->part_size, c->plan,
                           cap);
    if (n > SL_S3_PARTS_MAX)
        return SL_ETOOLARGE;
    c->nplan = n < 0 ? 0 : (size_t)n;
    return n < 0 ? n : 0;
}

/* Any op's end (the final's or a partial's). */
static void on_op(sl_s3_tus_op_t *op)
{
    concat_t *c = op->data;
    int err = op->err;

    if (op == &c->sub) {
        if (c->phase == C_LOAD)
            err = take_partial(c, err);
        if (c->sub.spool_fd >= 0)
            close(c->sub.spool_fd);
        c->sub.spool_fd = -1;
        if (c->phase == C_CLEAN)
            err = 0; /* a partial left behind only costs space until it expires */
        if (err < 0)
            return fail(c, err);
        c->i++;
        return step(c);
    }
    if (c->phase == C_UNDO) {
        c->phase = C_UNDO_DATA;
        return step(c);
    }
    if (err < 0)
        return fail(c, err);
    if (c->phase == C_CREATE)
        c->phase = C_PARTS;
    else
        c->phase = C_CLEAN, c->i = 0;
    step(c);
}

/* Start what comes next in c's phase; a failure to start fails the job. */
static void step(concat_t *c)
{
    size_t n = c->job->nparts;
    char key[SL_NAME_MAX + 700];
    int r = 0;

    switch (c->phase) {
    case C_LOAD:
        if (c->i < n)
            break;
        if ((r = make_plan(c)) < 0)
            return fail(c, r);
        c->phase = C_SEAL, c->i = 0;
        /* fall through */
    case C_SEAL:
        while (c->i < n && c->sizes[c->i] == 0)
            c->i++; /* an empty partial adds nothing: left as it is */
        if (c->i < n)
            break;
        c->phase = C_CREATE;
        r = sl__s3_tus_start(&c->fin);
        return r < 0 ? fail(c, r) : (void)0;
    case C_PARTS:
        if (c->p < c->nplan) {
            if ((r = part_step(c)) < 0)
                return fail(c, r);
            return;
        }
        if (c->sha256 != NULL)
            sha256_done(c);
        c->phase = C_COMMIT;
        c->fin.kind = SL_S3_TUS_COMMIT;
        c->fin.have_record = 1;
        c->fin.rec.offset = c->total;
        c->fin.rec.length = (int64_t)c->total;
        c->fin.nparts = c->nplan;
        c->fin.part_bytes = c->total;
        c->fin.name = sl_xstrdup(c->name);
        r = sl__s3_tus_start(&c->fin);
        return r < 0 ? fail(c, r) : (void)0;
    case C_CLEAN:
        if (c->i < n)
            break;
        return deliver(c);
    case C_UNDO:
        c->fin.kind = SL_S3_TUS_REMOVE;
        c->fin.expired_before = 0;
        r = sl__s3_tus_start(&c->fin);
        if (r == 0)
            return;
        /* fall through */
    default: /* C_UNDO_DATA: the final's data, completed if the commit went that far */
        c->what = R_DELETE;
        if (data_key(c, c->fin.rec.id, key, sizeof(key)) < 0 ||
            sl__s3_req_init(&c->req, c->s3, "DELETE", key, NULL) < 0 ||
            sl__s3_req_start(&c->req, on_req) < 0)
            return deliver(c);
        return;
    }
    r = start_sub(c, c->phase == C_LOAD   ? SL_S3_TUS_LOAD
                     : c->phase == C_SEAL ? SL_S3_TUS_COMMIT
                                          : SL_S3_TUS_REMOVE);
    if (r < 0)
        fail(c, r);
}

static void begin(void *arg)
{
    step(arg);
}

int sl__s3_tus_concat(sl_store_t *st, sl_tus_job_t *job, sl_tus_info_t *info, char (*parts)[33],
                      size_t nparts, uint64_t max, const char *name, void (*cb)(sl_tus_job_t *))
{
    concat_t *c;

    if (nparts == 0 || nparts > SL_TUS_PARTS_MAX)
        return SL_EBADREQUEST;
    c = sl_xcalloc(1, sizeof(*c));
    job->info = info;
    job->cb = cb;
    job->store = st;
    job->parts = parts;
    job->nparts = nparts;
    c->job = job;
    c->s3 = (sl_s3_t *)st;
    c->name = sl_xstrdup(name);
    c->max = max;
    c->fd = c->sub.spool_fd = -1;
    c->sizes = sl_xcalloc(nparts, sizeof(*c->sizes));
    c->starts = sl_xcalloc(nparts, sizeof(*c->starts));
    c->req.data = c;
    if (job->digest && ((c->sha256 = EVP_MD_CTX_new()) == NULL ||
                        EVP_DigestInit_ex(c->sha256, EVP_sha256(), NULL) != 1))
        abort();
    /* the final upload: created as any tus upload once the partials are checked and sealed */
    c->fin.s3 = c->s3;
    c->fin.kind = SL_S3_TUS_CREATE;
    c->fin.spool_fd = -1;
    c->fin.cb = on_op;
    c->fin.data = c;
    memcpy(c->fin.rec.id, info->id, sizeof(c->fin.rec.id));
    c->fin.rec.length = info->length;
    c->fin.rec.expires = info->expires;
    c->fin.rec.concat = info->concat;
    sl_tus_info_set(&c->fin.rec.metadata, info->metadata);
    sl_tus_info_set(&c->fin.rec.parts, info->parts);
    sl_defer(st->loop, begin, c); /* every answer on a later turn (S4) */
    return 0;
}
