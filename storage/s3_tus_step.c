/* SPDX-License-Identifier: MIT
 *
 * How each step of a tus operation on S3 (s3_tus.c: the layout, the lock, the order of the steps)
 * is sent: its key under PREFIX.sluice/tus/, its method and query, its conditional headers and
 * its body (the record's text with the multipart upload's state as metadata, the lock's
 * "held <owner> <n> <until>", the tail from the spool file, the completion's XML, a copy's
 * source). The answers are s3_tus.c's (sl__s3_tus_answer).
 *
 * A commit whose SHA-256 did not come along the PATCHes (they went through another node, or the
 * server restarted) reads the completed data back once (S_DATA_READ: a GET of .data, hashed on
 * the loop as it arrives, before the copy to the final name) when the file is to keep its
 * SHA-256 or the creation's Repr-Digest names sha-256 or sha-512; a digest that differs refuses
 * the upload (SL_ECHECKSUM) and s3_tus.c removes it, as the filesystem store does
 * (storage/tus.c).
 */
#include "s3_tus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int key_of(const sl_s3_t *s3, const char *id, const char *what, uint64_t off, char *out,
                  size_t cap)
{
    int n = off ? snprintf(out, cap, "%s.sluice/tus/%s.%s-%llu", s3->prefix, id, what,
                           (unsigned long long)off)
                : snprintf(out, cap, "%s.sluice/tus/%s.%s", s3->prefix, id, what);

    return n < 0 || (size_t)n >= cap ? SL_ETOOLONG : 0;
}

/* The record's text with the state this op holds, as the body of a PUT. */
static void record_body(sl_s3_tus_op_t *op)
{
    char h[320];
    int n = sl_tus_format(&op->rec, op->text, sizeof(op->text));

    sl__s3_req_body_mem(&op->req, op->text, n < 0 ? 0 : (size_t)n);
    snprintf(h, sizeof(h), "x-amz-meta-upload-id: %s", op->upload_id);
    sl__s3_req_header(&op->req, h);
    snprintf(h, sizeof(h), "x-amz-meta-parts: %llu", (unsigned long long)op->nparts);
    sl__s3_req_header(&op->req, h);
    snprintf(h, sizeof(h), "x-amz-meta-part-bytes: %llu", (unsigned long long)op->part_bytes);
    sl__s3_req_header(&op->req, h);
}

static void if_match(sl_s3_tus_op_t *op, const char *etag)
{
    char h[128];
    size_t n = strlen(etag);

    /* RGW compares If-Match on a PUT without the quotes */
    if (n >= 2 && etag[0] == '"')
        snprintf(h, sizeof(h), "If-Match: %.*s", (int)(n - 2), etag + 1);
    else
        snprintf(h, sizeof(h), "If-Match: %s", etag);
    sl__s3_req_header(&op->req, h);
}

static void lock_body(sl_s3_tus_op_t *op)
{
    snprintf(op->text, sizeof(op->text), "held %s %llu %lld\n", sl_store_owner(),
             (unsigned long long)++op->s3->seq, (long long)time(NULL) + (long long)op->s3->lease);
    sl__s3_req_body_mem(&op->req, op->text, strlen(op->text));
}

/* "x-amz-copy-source: /BUCKET/<the data's key>" into out. */
static void copy_source(sl_s3_tus_op_t *op, char *out, size_t cap)
{
    char key[1200], enc[3 * sizeof(key)]; /* the data's key: the prefix and 47 bytes */

    key_of(op->s3, op->rec.id, "data", 0, key, sizeof(key));
    sl__s3_encode(key, 1, enc, sizeof(enc));
    snprintf(out, cap, "x-amz-copy-source: /%s/%s", op->s3->bucket, enc);
}

/* --- the read-back of a commit (above) ------------------------------------------------------ */

static int wants(const sl_s3_tus_op_t *op, const char *alg)
{
    char hex[129];

    return sl_tus_repr_get(op->rec.repr, alg, hex, sizeof(hex)) == 0;
}

int sl__s3_tus_read_back(const sl_s3_tus_op_t *op)
{
    return (op->sha256_hex[0] == '\0' && (op->digest || wants(op, "sha-256"))) ||
           wants(op, "sha-512");
}

static size_t hash_data(sl_s3_req_t *q, char *buf, size_t len)
{
    sl_s3_tus_op_t *op = q->data;
    int i;

    for (i = 0; i < 2; i++)
        if (op->md[i] != NULL)
            EVP_DigestUpdate(op->md[i], buf, len);
    return len;
}

/* Before the read: the hashes it feeds. */
void sl__s3_tus_hash_start(sl_s3_tus_op_t *op)
{
    const EVP_MD *type[2] = {EVP_sha256(), EVP_sha512()};
    int i;

    for (i = 0; i < 2; i++) {
        if (op->md[i] == NULL && (i == 1 ? wants(op, "sha-512") : op->sha256_hex[0] == '\0'))
            op->md[i] = EVP_MD_CTX_new();
        if (op->md[i] != NULL && EVP_DigestInit_ex(op->md[i], type[i], NULL) != 1)
            abort();
    }
}

/* After it: the SHA-256 kept (sha256_hex), and 0 or SL_ECHECKSUM against the creation's. */
int sl__s3_tus_hash_check(sl_s3_tus_op_t *op)
{
    static const char *const alg[2] = {"sha-256", "sha-512"};
    unsigned char md[EVP_MAX_MD_SIZE];
    char got[129], want[129];
    unsigned len = 0, i, k;
    int r = 0;

    for (i = 0; i < 2; i++) {
        if (op->md[i] == NULL)
            continue;
        EVP_DigestFinal_ex(op->md[i], md, &len);
        for (k = 0; k < len; k++)
            snprintf(got + 2 * k, 3, "%02x", md[k]);
        if (i == 0)
            memcpy(op->sha256_hex, got, 65);
    }
    for (i = 0; i < 2 && r == 0; i++)
        if (sl_tus_repr_get(op->rec.repr, alg[i], want, sizeof(want)) == 0 &&
            strcmp(want, i == 0 ? op->sha256_hex : got) != 0)
            r = SL_ECHECKSUM;
    return r;
}

int sl__s3_tus_step(sl_s3_tus_op_t *op)
{
    static const char *const methods[S_DONE] = {
        [S_MPU_CREATE] = "POST",  [S_REC_NEW] = "PUT",        [S_REC_GET] = "GET",
        [S_REC_PUT] = "PUT",      [S_LOCK_NEW] = "PUT",       [S_LOCK_GET] = "GET",
        [S_LOCK_TAKE] = "PUT",    [S_LOCK_RENEW] = "PUT",     [S_LOCK_FREE] = "PUT",
        [S_TAIL_GET] = "GET",     [S_TAIL_PUT] = "PUT",       [S_TAIL_PART] = "PUT",
        [S_LIST_PARTS] = "GET",   [S_COMPLETE] = "POST",      [S_NAME_HEAD] = "HEAD",
        [S_COPY] = "PUT",         [S_DATA_DELETE] = "DELETE", [S_TAIL_DELETE] = "DELETE",
        [S_MPU_ABORT] = "DELETE", [S_LOCK_DELETE] = "DELETE", [S_REC_DELETE] = "DELETE",
        [S_DATA_READ] = "GET",
    };
    sl_s3_t *s3 = op->s3;
    char key[SL_NAME_MAX + 700], q[1024], enc[768], h[3700];
    const char *query = NULL, *id = op->rec.id;
    int r;

    sl__s3_encode(op->upload_id, 0, enc, sizeof(enc));
    switch (op->step) {
    case S_REC_NEW:
    case S_REC_GET:
    case S_REC_PUT:
    case S_REC_DELETE:
        r = key_of(s3, id, "info", 0, key, sizeof(key));
        break;
    case S_LOCK_NEW:
    case S_LOCK_GET:
    case S_LOCK_TAKE:
    case S_LOCK_RENEW:
    case S_LOCK_FREE:
    case S_LOCK_DELETE:
        r = key_of(s3, id, "lock", 0, key, sizeof(key));
        break;
    case S_TAIL_PUT:
        r = key_of(s3, id, "tail", op->new_offset, key, sizeof(key));
        break;
    case S_TAIL_GET:
        r = key_of(s3, id, "tail", op->rec.offset, key, sizeof(key));
        break;
    case S_TAIL_DELETE: /* a PATCH's end: the tail it started from */
        r = key_of(s3, id, "tail", op->kind == SL_S3_TUS_CLOSE ? op->want_offset : op->rec.offset,
                   key, sizeof(key));
        break;
    case S_NAME_HEAD:
    case S_COPY:
        r = sl__s3_key(s3, op->name, key, sizeof(key));
        break;
    case S_TAIL_PART:
        snprintf(q, sizeof(q), "partNumber=%llu&uploadId=%s", (unsigned long long)op->nparts + 1,
                 enc);
        query = q;
        r = key_of(s3, id, "data", 0, key, sizeof(key));
        break;
    case S_LIST_PARTS:
        snprintf(q, sizeof(q), "max-parts=1000&part-number-marker=%zu&uploadId=%s", op->netags,
                 enc);
        query = q;
        r = key_of(s3, id, "data", 0, key, sizeof(key));
        break;
    case S_MPU_CREATE:
        query = "uploads=";
        r = key_of(s3, id, "data", 0, key, sizeof(key));
        break;
    case S_DATA_READ: /* the completed data, before it is copied to its name */
        r = key_of(s3, id, "data", 0, key, sizeof(key));
        break;
    default: /* complete, abort, the data's delete (an empty upload: its abort) */
        snprintf(q, sizeof(q), "uploadId=%s", enc);
        query = op->step == S_DATA_DELETE && !op->empty ? NULL : q;
        r = key_of(s3, id, "data", 0, key, sizeof(key));
        break;
    }
    if (r < 0 || (r = sl__s3_req_init(&op->req, s3, methods[op->step], key, query)) < 0)
        return r;
    switch (op->step) {
    case S_REC_NEW:
    case S_LOCK_NEW:
        sl__s3_req_header(&op->req, "If-None-Match: *");
        if (op->step == S_REC_NEW)
            record_body(op);
        else
            lock_body(op);
        break;
    case S_REC_PUT:
        if_match(op, op->rec_etag);
        record_body(op);
        break;
    case S_LOCK_TAKE:
    case S_LOCK_RENEW:
        if_match(op, op->step == S_LOCK_TAKE ? op->seen_etag : op->lock_etag);
        lock_body(op);
        break;
    case S_LOCK_FREE:
        if_match(op, op->lock_etag);
        sl__s3_req_body_mem(&op->req, "free\n", 5);
        break;
    case S_TAIL_GET:
        op->req.out_fd = op->spool_fd;
        break;
    case S_DATA_READ:
        op->req.on_data = hash_data;
        break;
    case S_MPU_CREATE: /* a lost answer: an empty upload the sweep aborts (s3_retry.c) */
        op->req.retry = SL_S3_RETRY_IDEMPOTENT;
        break;
    case S_LOCK_DELETE: /* a repeat could delete a lock another node took meanwhile */
        op->req.retry = SL_S3_RETRY_UNSENT;
        break;
    case S_TAIL_PUT:
        sl__s3_req_body_fd(&op->req, op->spool_fd, 0, op->new_offset - op->new_part_bytes);
        break;
    case S_TAIL_PART:
        sl__s3_req_body_fd(&op->req, op->spool_fd, 0, sl__s3_tus_tail(op));
        break;
    case S_COMPLETE:
        sl__s3_complete_body(&op->req, &op->xml, op->etags, op->netags);
        break;
    case S_COPY:
        if (op->empty) {
            sl__s3_req_body_mem(&op->req, "", 0);
        } else {
            copy_source(op, h, sizeof(h));
            sl__s3_req_header(&op->req, h);
            sl__s3_req_header(&op->req, "x-amz-metadata-directive: REPLACE");
        }
        if (op->sha256_hex[0] != '\0')
            sl__s3_meta_headers(&op->req, op->sha256_hex, 0);
        break;
    }
    op->req.data = op;
    return sl__s3_req_start(&op->req, sl__s3_tus_answer);
}
