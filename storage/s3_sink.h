/* SPDX-License-Identifier: MIT
 *
 * Private to s3_sink.c and s3_sink_tus.c: the S3 store's sink, and what a resumable one (a tus
 * PATCH's) adds to it.
 */
#ifndef SL_STORAGE_S3_SINK_H
#define SL_STORAGE_S3_SINK_H

#include "s3_tus.h"

#define SL_S3_INFLIGHT 4 /* parts of one upload sent at once (each its own spool file) */

typedef struct s3_sink_s s3_sink_t;

/* A part being sent: its spool file, its request. */
typedef struct s3_part_s {
    sl_s3_req_t req;
    s3_sink_t *k;
    int fd; /* -1: a free slot */
    uint64_t len;
    size_t num; /* 1-based within this sink (the record's parts come before, resumable) */
} s3_part_t;

struct s3_sink_s {
    sl_store_sink_t base; /* first: the interface's view */
    sl_s3_t *s3;
    char *key;
    unsigned flags;
    int err, destroying, fs_busy, final, meta_copied, confirming;
    int creating; /* CreateMultipartUpload in flight: a destroy waits for it, then aborts it */
    int lost_err; /* a create-only PUT's lost answer, while HEAD tells whether it was done */
    int fill_fd;
    uint64_t fill_len;
    s3_part_t parts[SL_S3_INFLIGHT];
    size_t ninflight; /* parts spooled and not yet stored */
    uv_work_t work;   /* a batch written to the spool file (and hashed behind, base.hash) */
    sl_chunk_t *chunks[SL_STREAM_MAX_BATCH];
    size_t nchunks;
    uint64_t wlen, written;
    int work_err, hash_done;
    sl_done_cb write_done, held_done, final_done, destroy_done;
    sl_s3_req_t req;
    char *upload_id;
    char (*etags)[80];
    size_t nparts, cap;
    char *xml;
    /* resumable (s3_sink_tus.c): parts go on from the record's, the lock is held throughout */
    int resumable, opened, renewing;
    char id[SL_TUS_ID_LEN + 1];
    sl_s3_tus_op_t *tus; /* owned: the PATCH's lock, record and tail */
    uint64_t start_offset, part_base, bytes_base, sent_bytes, patch_bytes;
    sl_chunk_t **pend; /* a write waiting for the open */
    size_t npend;
    sl_done_cb pend_done;
    int part_waiting;                           /* a part waits for the renewal in flight */
    struct s3_sink_s *lease_next, **lease_prev; /* in the store's list while the lock is held */
    /* create-only under a name (s3_sink_create.c): the name's create lock */
    int create_lock, locked, lock_tries;
    uint64_t lock_deadline_ms; /* loop time by which the commit's requests end */
    char *lock_key;
    char lock_etag[80], lock_text[128];
    void (*lock_then)(s3_sink_t *k);
};

/* s3_sink.c */
void sl__s3_sink_fail(s3_sink_t *k, int err);
void sl__s3_sink_write_now(s3_sink_t *k, sl_chunk_t **chunks, size_t n, sl_done_cb done);
void sl__s3_sink_send_part(s3_sink_t *k);
/* 1 while a part, the upload's creation or a lock renewal is in flight. */
int sl__s3_sink_busy(const s3_sink_t *k);
void sl__s3_sink_upload_part(s3_sink_t *k);
void sl__s3_sink_final_step(s3_sink_t *k);
void sl__s3_sink_committed(s3_sink_t *k);

/* s3_sink_create.c: take the create lock of k's name, then `then(k)` (a failure, or a lock held
 * by another creator, fails the sink: SL_EEXISTS); release it (a DELETE in the background; no-op
 * when not held); cut q's time (and its retries) to the lock's lease while it is held. */
void sl__s3_create_lock(s3_sink_t *k, void (*then)(s3_sink_t *k));
void sl__s3_create_unlock(s3_sink_t *k);
void sl__s3_create_deadline(s3_sink_t *k, sl_s3_req_t *q);
/* k's write q failed: when it was a create-only single PUT whose answer was lost, ask HEAD
 * whether it was done (then k commits, or fails with q's error) and return 1; else 0. */
int sl__s3_create_lost(s3_sink_t *k, sl_s3_req_t *q);
/* The last step of k's final (s3_sink_create.c): a single PUT of the spool file, or the
 * completion (a create-only one after HEAD), then the digests as metadata; k commits or fails. */
void sl__s3_sink_commit(s3_sink_t *k);

/* s3_sink_tus.c: open (then write the chunks), renew the lease (then upload the part), the end
 * (a last part of at least 5 MiB, or the tail; the record; the lock freed), release the lock of
 * a PATCH that failed, free. */
void sl__s3_rsink_open(s3_sink_t *k, sl_chunk_t **chunks, size_t n, sl_done_cb done);
void sl__s3_rsink_renew(s3_sink_t *k);
void sl__s3_rsink_final(s3_sink_t *k);
void sl__s3_rsink_release(s3_sink_t *k);
void sl__s3_rsink_free(s3_sink_t *k);

#endif
