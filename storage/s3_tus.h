/* SPDX-License-Identifier: MIT
 *
 * Private to storage/s3*.c: resumable uploads kept in S3 (s3_tus.c has the layout and the lock).
 * One operation is a short sequence of requests on one upload, run by sl__s3_tus_start; the store's
 * tus jobs (s3_tus_jobs.c) and a PATCH's sink (s3_sink.c) are made of them.
 */
#ifndef SL_STORAGE_S3_TUS_H
#define SL_STORAGE_S3_TUS_H

#include "s3_int.h"
#include <openssl/evp.h>
#include "tus.h"

enum {
    SL_S3_TUS_CREATE,  /* the multipart upload, then the record (If-None-Match: *) */
    SL_S3_TUS_LOAD,    /* the record */
    SL_S3_TUS_SAVE,    /* the record with `from`'s fields, its offset and parts kept */
    SL_S3_TUS_COMMIT,  /* the tail as the last part, completion, a copy to `name`, the record */
    SL_S3_TUS_REMOVE,  /* abort the multipart upload, remove the lock, the tail, the record */
    SL_S3_TUS_OPEN,    /* a PATCH's start: the lock, the record (offset == want_offset), the tail */
    SL_S3_TUS_RENEW,   /* the lock's lease again */
    SL_S3_TUS_CLOSE,   /* a PATCH's end: the tail, the record (new_*), the lock freed */
    SL_S3_TUS_RELEASE, /* the lock freed (a PATCH that failed) */
};

/* A PATCH's lock lives s3->lease seconds without renewal; its sink renews it every quarter of
 * that and before each part, and a part's request may last three quarters of it at most, so a
 * PATCH that lost its lock cannot store a part after another node took it. */
#define SL_S3_RENEW_MS(s3) ((s3)->lease * 250u)
#define SL_S3_PART_TIMEOUT_MS(s3) ((s3)->lease * 750u)

/* The steps of an op, in the order of s3_tus.c's answers (S_DONE: none left). */
enum {
    S_MPU_CREATE,
    S_REC_NEW,
    S_REC_GET,
    S_REC_PUT,
    S_LOCK_NEW,
    S_LOCK_GET,
    S_LOCK_TAKE,
    S_LOCK_RENEW,
    S_LOCK_FREE,
    S_TAIL_GET,
    S_TAIL_PUT,
    S_TAIL_PART,
    S_LIST_PARTS,
    S_COMPLETE,
    S_NAME_HEAD,
    S_COPY,
    S_DATA_DELETE,
    S_TAIL_DELETE,
    S_MPU_ABORT,
    S_LOCK_DELETE,
    S_REC_DELETE,
    S_DATA_READ,
    S_DONE,
};

typedef struct sl_s3_tus_op_s sl_s3_tus_op_t;

struct sl_s3_tus_op_s {
    sl_s3_req_t req; /* first */
    sl_s3_t *s3;
    int kind, step, err;
    sl_tus_info_t rec;         /* the record as read or written (owned strings) */
    const sl_tus_info_t *from; /* save: the fields to write (borrowed) */
    char upload_id[256];       /* the data's multipart upload (as S3 gave it) */
    uint64_t nparts, part_bytes;
    char rec_etag[80], lock_etag[80]; /* lock_etag: of the lock we hold, else "" */
    char seen_etag[80];               /* of a lock another holds or held (to take it over) */
    uint64_t want_offset;             /* open */
    uint64_t new_offset, new_nparts, new_part_bytes; /* close */
    int64_t expired_before;                          /* remove */
    int spool_fd;        /* open: the tail is read into it; close, commit: the tail's bytes */
    uint64_t tail_len;   /* open: bytes read into spool_fd */
    char *name;          /* commit: the final name (owned) */
    char sha256_hex[65]; /* commit: kept with the file when not "" */
    int digest, refused; /* commit: keep a SHA-256 (--digest); refused: Repr-Digest differs */
    EVP_MD_CTX *md[2];   /* commit: the data read back: SHA-256, SHA-512 (EVP_MD_CTX, owned) */
    char (*etags)[80];   /* commit: the parts' */
    size_t netags;
    uint64_t want_parts;
    int empty, tail_gone, reread;
    /* commit: seal a partial upload (s3_concat.c): complete its data in place, its record's
     * `file` becomes SL_S3_SEALED's name, no copy and no name check */
    int seal;
    /* commit: the record's state is in the op already (rec, upload_id, nparts, part_bytes ==
     * rec.offset, rec_etag): start from the parts, not from reading the record */
    int have_record;
    uint64_t open_nparts; /* open: the record's parts when the PATCH began */
    char *xml;
    char text[SL_TUS_METADATA_MAX + 2 * SL_NAME_MAX + 512];
    void (*cb)(sl_s3_tus_op_t *op); /* on the loop, with op->err */
    void *data;
};

/* The name (relative to the prefix) a sealed partial's record keeps as its `file`: its data
 * completed in place, ".sluice/tus/<id>.data", into out[cap]. 0 or SL_ETOOLONG. */
int sl__s3_tus_sealed_name(const char *id, char *out, size_t cap);
/* 1 when the record `rec` (borrowed) is that of a sealed partial. */
int sl__s3_tus_sealed(const sl_tus_info_t *rec);

/* Start op (its kind, s3, rec.id, cb and the kind's inputs set; spool_fd -1 or a spool file):
 * 0 or an error (no callback). The op is borrowed until cb. */
int sl__s3_tus_start(sl_s3_tus_op_t *op);
/* Release what op holds (its strings, its request); not spool_fd. */
void sl__s3_tus_op_clear(sl_s3_tus_op_t *op);
/* The store's tus jobs (s3_tus_jobs.c), as store.h describes them. */
int sl__s3_tus_create(sl_store_t *st, sl_tus_job_t *job, sl_tus_info_t *info,
                      void (*cb)(sl_tus_job_t *));
int sl__s3_tus_load(sl_store_t *st, sl_tus_job_t *job, const char *id, sl_tus_info_t *info,
                    void (*cb)(sl_tus_job_t *));
int sl__s3_tus_save(sl_store_t *st, sl_tus_job_t *job, sl_tus_info_t *info, int flush,
                    void (*cb)(sl_tus_job_t *));
int sl__s3_tus_commit(sl_store_t *st, sl_tus_job_t *job, sl_tus_info_t *info, const char *name,
                      void (*cb)(sl_tus_job_t *));
int sl__s3_tus_concat(sl_store_t *st, sl_tus_job_t *job, sl_tus_info_t *info, char (*parts)[33],
                      size_t nparts, uint64_t max, const char *name, void (*cb)(sl_tus_job_t *));
int sl__s3_tus_remove(sl_store_t *st, sl_tus_job_t *job, sl_tus_info_t *info,
                      int64_t expired_before, void (*cb)(sl_tus_job_t *));
size_t sl__s3_tus_expired(sl_store_t *st, int64_t now, char (*ids)[33], size_t cap);
/* Send op's step (s3_tus_step.c): 0, or an error (nothing sent). */
int sl__s3_tus_step(sl_s3_tus_op_t *op);
/* The bytes of the record's offset past its parts: the tail. */
static inline uint64_t sl__s3_tus_tail(const sl_s3_tus_op_t *op)
{
    return op->rec.offset - op->part_bytes;
}
/* A commit: 1 if its data is to be read back for its digests; before the read, the hashes it
 * feeds; after it, sha256_hex kept and 0 or SL_ECHECKSUM against the creation's Repr-Digest. */
int sl__s3_tus_read_back(const sl_s3_tus_op_t *op);
void sl__s3_tus_hash_start(sl_s3_tus_op_t *op);
int sl__s3_tus_hash_check(sl_s3_tus_op_t *op);
/* --- concatenation (s3_concat.c) ------------------------------------------------------------ */

/* One part of a final upload's multipart upload: bytes [off, off + len) of the concatenated
 * partials, either the whole partial `src` copied by the service (copy: UploadPartCopy without a
 * range) or read through sluice and sent as the part's data. */
typedef struct {
    uint64_t off, len;
    size_t src;
    int copy;
} sl_s3_plan_part_t;

#define SL_S3_COPY_MAX ((uint64_t)5 << 30) /* S3's largest source of one UploadPartCopy */

/* Plan the parts of n partials of sizes[] (borrowed): a partial of at least `min` bytes (and at
 * most SL_S3_COPY_MAX) that starts a part is copied whole; runs of smaller ones (and what follows
 * them up to a partial's end) are data parts of at least `min` bytes (the last may be smaller),
 * cut at most `chunk` + `min` long (chunk >= min). Empty partials add nothing. Writes up to cap
 * parts into out (the caller's): their count, or SL_ETOOLONG when more are needed. */
int sl__s3_concat_plan(const uint64_t *sizes, size_t n, uint64_t min, uint64_t chunk,
                       sl_s3_plan_part_t *out, size_t cap);

/* The callback of every request of an op. */
void sl__s3_tus_answer(sl_s3_req_t *q);
/* The body of a CompleteMultipartUpload of parts 1..n into *xml (owned, replaced) as q's body. */
void sl__s3_complete_body(sl_s3_req_t *q, char **xml, char (*etags)[80], size_t n);

#endif
