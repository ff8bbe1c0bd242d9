/* SPDX-License-Identifier: MIT
 *
 * Resumable uploads (tus) kept in S3, so that any node behind a load balancer continues any
 * upload. Under PREFIX.sluice/tus/<id>:
 *
 *   .info        the record (tus.h's text) with, as metadata, the multipart upload of the data
 *                (upload-id), how many of its parts count (parts) and their bytes (part-bytes)
 *   .data        the multipart upload's key: parts of at least 5 MiB, numbered 1..parts (a
 *                partial upload sealed for a concatenation: the completed object, s3_concat.c)
 *   .tail-<off>  the bytes past the parts (offset - part-bytes of them, under 5 MiB), when any
 *   .lock        who is writing: "held <owner> <n> <until>" or "free"
 *
 * The record is the truth: its offset covers its parts and its tail, all stored before the
 * record was written (store.h S5). Parts and tails that no record names (a PATCH that failed or
 * whose node died) are ignored and overwritten by the next PATCH, which goes on from part
 * parts+1. So a PATCH's bytes count only once its sink finished (after every check upstream).
 *
 * One writer across nodes: a PATCH's sink takes the lock with a conditional write before any
 * byte is stored (PUT .lock with If-None-Match: *; a lock that is "free" or past its lease is
 * taken with If-Match: <its ETag>, so of two nodes only one wins), reads the record and refuses
 * an offset that is not the record's (SL_EOFFSET: 409); a lock held by another is SL_ELOCKED
 * (423). Before each part it renews the lease (If-Match: the ETag it wrote: a lost lock stops
 * the PATCH), and at its end it writes the tail and the record, then frees the lock. The
 * record's other writers (save, commit) write with If-Match: the ETag they read.
 *
 * The steps of every operation run one request at a time (s3_tus_step.c sends each); docs/s3.md has
 * the guarantees and what they rest on (RGW's and S3's conditional writes).
 */
#include "s3_tus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int sl__s3_tus_sealed_name(const char *id, char *out, size_t cap)
{
    int n = snprintf(out, cap, ".sluice/tus/%s.data", id);

    return n < 0 || (size_t)n >= cap ? SL_ETOOLONG : 0;
}

int sl__s3_tus_sealed(const sl_tus_info_t *rec)
{
    char name[64];

    return rec->file != NULL && sl__s3_tus_sealed_name(rec->id, name, sizeof(name)) == 0 &&
           strcmp(rec->file, name) == 0;
}

static void drop_body(sl_s3_req_t *q)
{
    free(q->body);
    q->body = NULL;
    q->body_len = q->body_cap = 0;
}

static void finish(sl_s3_tus_op_t *op, int err)
{
    sl__s3_req_done(&op->req);
    drop_body(&op->req);
    op->err = err;
    op->step = S_DONE;
    op->cb(op);
}

static void go(sl_s3_tus_op_t *op, int next)
{
    int r;

    drop_body(&op->req);
    op->step = next;
    if (next == S_DONE)
        return finish(op, 0);
    if ((r = sl__s3_tus_step(op)) < 0)
        finish(op, r);
}

/* The record just read: its text and state into the op. */
static int take_record(sl_s3_tus_op_t *op)
{
    sl_s3_req_t *q = &op->req;

    if (q->body == NULL || sl_tus_parse(q->body, q->body_len, &op->rec) < 0)
        return UV_EIO;
    snprintf(op->upload_id, sizeof(op->upload_id), "%s", q->upload_id);
    snprintf(op->rec_etag, sizeof(op->rec_etag), "%s", q->etag);
    op->nparts = q->m_parts;
    op->part_bytes = q->m_part_bytes;
    return op->part_bytes > op->rec.offset ? UV_EIO : 0;
}

/* ListParts: the ETags of parts 1..want_parts. 1 if another page is needed. */
static int take_parts(sl_s3_tus_op_t *op)
{
    sl_s3_req_t *q = &op->req;
    char num[32], etag[80];
    size_t pos = 0;

    while (op->netags < op->want_parts &&
           sl__s3_xml_next(q->body, q->body_len, &pos, "PartNumber", num, sizeof(num)) &&
           sl__s3_xml_next(q->body, q->body_len, &pos, "ETag", etag, sizeof(etag))) {
        if (strtoull(num, NULL, 10) != op->netags + 1)
            break; /* a hole: the record names parts that are not there */
        op->etags = sl_xrealloc(op->etags, (op->netags + 1) * sizeof(*op->etags));
        snprintf(op->etags[op->netags++], sizeof(op->etags[0]), "%s", etag);
    }
    pos = 0;
    return op->netags < op->want_parts &&
           sl__s3_xml_next(q->body, q->body_len, &pos, "IsTruncated", num, sizeof(num)) &&
           strcmp(num, "true") == 0;
}

/* After the record was read: what each kind does next. */
static void after_record(sl_s3_tus_op_t *op)
{
    uint64_t tail = sl__s3_tus_tail(op);

    switch (op->kind) {
    case SL_S3_TUS_LOAD:
        return finish(op, 0);
    case SL_S3_TUS_OPEN:
        if (op->rec.offset != op->want_offset || op->rec.file != NULL)
            return finish(op, SL_EOFFSET); /* another node went on meanwhile */
        op->open_nparts = op->nparts;
        return go(op, tail > 0 ? S_TAIL_GET : S_DONE);
    case SL_S3_TUS_CLOSE: /* our write met another's (a save): is the upload where we left it? */
        if (op->rec.offset != op->want_offset || op->nparts != op->open_nparts)
            return finish(op, SL_EOFFSET);
        op->rec.offset = op->new_offset;
        op->nparts = op->new_nparts;
        op->part_bytes = op->new_part_bytes;
        return go(op, S_REC_PUT);
    case SL_S3_TUS_SAVE: /* the server's fields; the offset and parts stay the record's */
        op->rec.length = op->from->length;
        op->rec.expires = op->from->expires;
        op->rec.concat = op->from->concat;
        sl_tus_info_set(&op->rec.metadata, op->from->metadata);
        sl_tus_info_set(&op->rec.parts, op->from->parts);
        sl_tus_info_set(&op->rec.repr, op->from->repr);
        return go(op, S_REC_PUT);
    case SL_S3_TUS_COMMIT:
        if (op->rec.file != NULL)
            return finish(op, 0); /* committed already (by another node) */
        op->empty = op->rec.offset == 0;
        if (op->seal && op->empty)
            return finish(op, 0); /* nothing to seal: it adds no byte */
        op->want_parts = op->nparts;
        if (op->empty && sl__s3_tus_read_back(op)) { /* the digests of nothing */
            sl__s3_tus_hash_start(op);
            if (sl__s3_tus_hash_check(op) < 0) {
                op->refused = 1;
                return go(op, S_DATA_DELETE);
            }
        }
        return go(op, op->empty ? S_NAME_HEAD : tail > 0 ? S_TAIL_GET : S_LIST_PARTS);
    default: /* remove */
        if (op->expired_before > 0 &&
            (op->rec.expires == 0 || op->rec.expires >= op->expired_before))
            return finish(op, SL_EEXISTS);
        return go(op, sl__s3_tus_sealed(&op->rec) ? S_DATA_DELETE
                                                  : S_MPU_ABORT); /* a sealed one: its object */
    }
}

void sl__s3_tus_answer(sl_s3_req_t *q)
{
    sl_s3_tus_op_t *op = q->data;
    int err = q->err;
    long long until = 0;
    size_t pos = 0;
    char v[sizeof(op->upload_id)];

    if (err == 0 && q->body != NULL && strstr(q->body, "<Error>") != NULL)
        err = UV_EIO; /* a completion or a copy can fail with 200 */
    switch (op->step) {
    case S_MPU_CREATE:
        if (err < 0)
            return finish(op, err);
        if (!sl__s3_xml_next(q->body, q->body_len, &pos, "UploadId", v, sizeof(v)))
            return finish(op, UV_EIO);
        snprintf(op->upload_id, sizeof(op->upload_id), "%s", v);
        return go(op, S_REC_NEW);
    case S_REC_GET:
        if (err < 0 || (err = take_record(op)) < 0)
            return finish(op, err);
        return after_record(op);
    case S_REC_PUT:
        /* 412: the record changed under us. A save (the other fields: length, expiry, written
         * after a PATCH outside the lock) or a PATCH's end that met one reads it again, once:
         * neither ever moves the offset back. */
        if (err == SL_EEXISTS && !op->reread &&
            (op->kind == SL_S3_TUS_SAVE || op->kind == SL_S3_TUS_CLOSE)) {
            op->reread = 1;
            return go(op, S_REC_GET);
        }
        if (err == SL_EEXISTS)
            return finish(op, SL_EOFFSET);
        if (err < 0)
            return finish(op, err);
        snprintf(op->rec_etag, sizeof(op->rec_etag), "%s", q->etag);
        return go(op, op->kind == SL_S3_TUS_CLOSE    ? S_LOCK_FREE
                      : op->kind == SL_S3_TUS_COMMIT ? S_LOCK_DELETE
                                                     : S_DONE);
    case S_LOCK_NEW:
        if (err == SL_EEXISTS)
            return go(op, S_LOCK_GET);
        if (err < 0)
            return finish(op, err);
        snprintf(op->lock_etag, sizeof(op->lock_etag), "%s", q->etag);
        return go(op, S_REC_GET);
    case S_LOCK_GET:
        if (err < 0)
            return finish(op, err == SL_ENOTFOUND ? SL_ELOCKED : err); /* it just went */
        snprintf(op->seen_etag, sizeof(op->seen_etag), "%s", q->etag); /* not ours */
        if (q->body != NULL && strncmp(q->body, "held ", 5) == 0 &&
            (sscanf(q->body, "held %*s %*s %lld", &until) != 1 || until > (long long)time(NULL)))
            return finish(op, SL_ELOCKED);
        return go(op, S_LOCK_TAKE); /* free, or its lease ran out */
    case S_LOCK_TAKE:
    case S_LOCK_RENEW:
        if (err == SL_EEXISTS)
            return finish(op, SL_ELOCKED); /* another node took it first */
        if (err < 0)
            return finish(op, err);
        snprintf(op->lock_etag, sizeof(op->lock_etag), "%s", q->etag);
        return go(op, op->kind == SL_S3_TUS_OPEN ? S_REC_GET : S_DONE);
    case S_TAIL_GET:
        if (err < 0)
            return finish(op, err == SL_ENOTFOUND ? UV_EIO : err);
        op->tail_len = q->out_len;
        if (op->tail_len != sl__s3_tus_tail(op))
            return finish(op, UV_EIO);
        return go(op, op->kind == SL_S3_TUS_COMMIT ? S_TAIL_PART : S_DONE);
    case S_TAIL_PUT:
        if (err < 0)
            return finish(op, err);
        return go(op, S_REC_PUT);
    case S_TAIL_PART:
        if (err < 0)
            return finish(op, err);
        op->want_parts = op->nparts + 1;
        return go(op, S_LIST_PARTS);
    case S_LIST_PARTS:
        if (err < 0)
            return finish(op, err);
        if (take_parts(op))
            return go(op, S_LIST_PARTS);
        return op->netags != op->want_parts ? finish(op, UV_EIO) : go(op, S_COMPLETE);
    case S_COMPLETE:
        if (err < 0)
            return finish(op, err);
        if (op->seal) {
            if ((err = sl__s3_tus_sealed_name(op->rec.id, v, sizeof(v))) < 0)
                return finish(op, err);
            sl_tus_info_set(&op->rec.file, v); /* the data is whole where it is */
            return go(op, sl__s3_tus_tail(op) > 0 ? S_TAIL_DELETE : S_REC_PUT);
        }
        if (!sl__s3_tus_read_back(op))
            return go(op, S_NAME_HEAD);
        sl__s3_tus_hash_start(op);
        return go(op, S_DATA_READ);
    case S_DATA_READ:
        if (err < 0)
            return finish(op, err);
        op->refused = sl__s3_tus_hash_check(op) < 0;
        return go(op, op->refused ? S_DATA_DELETE : S_NAME_HEAD);
    case S_NAME_HEAD:
        if (err == 0 && strncmp(op->name, op->rec.id, SL_TUS_ID_LEN) != 0) {
            char alt[SL_NAME_MAX + 1]; /* taken: the id makes a free name */
            snprintf(alt, sizeof(alt), "%s/%s", op->rec.id, op->name);
            free(op->name);
            op->name = sl_xstrdup(alt);
            return go(op, S_NAME_HEAD);
        }
        return err != SL_ENOTFOUND ? finish(op, err == 0 ? SL_EEXISTS : err) : go(op, S_COPY);
    case S_COPY:
        if (err < 0)
            return finish(op, err);
        sl_tus_info_set(&op->rec.file, op->name);
        return go(op, S_DATA_DELETE);
    case S_DATA_DELETE: /* leftovers of a commit only cost space: errors are not the client's */
        if (op->refused || op->kind == SL_S3_TUS_REMOVE) /* the upload is over (refused), or a
                                                              sealed partial's: as a remove */
            return go(op, S_LOCK_DELETE);
        return go(op, !op->empty && sl__s3_tus_tail(op) > 0 ? S_TAIL_DELETE : S_REC_PUT);
    case S_TAIL_DELETE:
        return op->kind == SL_S3_TUS_CLOSE
                   ? finish(op, 0)
                   : go(op,
                        op->kind == SL_S3_TUS_COMMIT && !op->refused ? S_REC_PUT : S_REC_DELETE);
    case S_MPU_ABORT:
        return go(op, S_LOCK_DELETE);
    case S_LOCK_DELETE:
        if (op->kind == SL_S3_TUS_COMMIT && !op->refused)
            return finish(op, 0);
        return go(op, sl__s3_tus_tail(op) > 0 ? S_TAIL_DELETE : S_REC_DELETE);
    case S_LOCK_FREE: /* a lock not freed runs out with its lease; then the tail it replaced */
        if (op->kind == SL_S3_TUS_CLOSE && op->tail_len > 0 && op->want_offset != op->new_offset)
            return go(op, S_TAIL_DELETE);
        return finish(op, 0);
    case S_REC_DELETE:
        return finish(op, op->refused ? SL_ECHECKSUM : err);
    case S_REC_NEW:
        if (err == 0) /* a commit that follows (a concatenation's) writes with If-Match it */
            snprintf(op->rec_etag, sizeof(op->rec_etag), "%s", q->etag);
        return finish(op, err);
    default:
        return finish(op, err);
    }
}

int sl__s3_tus_start(sl_s3_tus_op_t *op)
{
    static const int first[] = {
        [SL_S3_TUS_CREATE] = S_MPU_CREATE, [SL_S3_TUS_LOAD] = S_REC_GET,
        [SL_S3_TUS_SAVE] = S_REC_GET,      [SL_S3_TUS_COMMIT] = S_REC_GET,
        [SL_S3_TUS_REMOVE] = S_REC_GET,    [SL_S3_TUS_OPEN] = S_LOCK_NEW,
        [SL_S3_TUS_RENEW] = S_LOCK_RENEW,  [SL_S3_TUS_CLOSE] = S_TAIL_PUT,
        [SL_S3_TUS_RELEASE] = S_LOCK_FREE,
    };
    int r;

    op->step = first[op->kind];
    op->reread = op->refused = 0;
    if (op->kind == SL_S3_TUS_CLOSE) {
        op->rec.offset = op->new_offset;
        op->nparts = op->new_nparts;
        op->part_bytes = op->new_part_bytes;
        if (op->new_offset == op->new_part_bytes)
            op->step = S_REC_PUT; /* no tail */
    }
    if (op->kind == SL_S3_TUS_LOAD || op->kind == SL_S3_TUS_COMMIT)
        op->netags = 0;
    if (op->kind == SL_S3_TUS_COMMIT && op->have_record) { /* after_record's, without a tail */
        if (op->part_bytes != op->rec.offset)
            return UV_EINVAL;
        op->empty = op->rec.offset == 0;
        op->want_parts = op->nparts;
        op->step = op->empty ? S_NAME_HEAD : S_LIST_PARTS;
    }
    if ((r = sl__s3_tus_step(op)) < 0)
        sl__s3_req_done(&op->req);
    return r;
}

void sl__s3_tus_op_clear(sl_s3_tus_op_t *op)
{
    sl__s3_req_done(&op->req);
    drop_body(&op->req);
    sl_tus_info_clear(&op->rec);
    free(op->name);
    free(op->etags);
    free(op->xml);
    EVP_MD_CTX_free(op->md[0]);
    EVP_MD_CTX_free(op->md[1]);
    op->md[0] = op->md[1] = NULL;
    op->name = op->xml = NULL;
    op->etags = NULL;
    op->netags = 0;
}
