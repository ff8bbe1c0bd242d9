/* SPDX-License-Identifier: MIT
 * Resumable uploads (tus), private to server/: tus.c, tus_fields.c, tus_lock.c. */
#ifndef SL_SERVER_RESUMABLE_H
#define SL_SERVER_RESUMABLE_H

#include "http/http.h"

/* --- resumable uploads (tus.c, tus_lock.c) --- */

typedef struct sl_tus_wait_s sl_tus_wait_t;
/* A turn at an upload: run(u, w) is called once nobody else holds it (and, with needs_load, once
 * its record was read). */
struct sl_tus_wait_s {
    sl_tus_wait_t *next;
    void (*run)(sl_tus_t *u, sl_tus_wait_t *w);
    int needs_load;
};

/* One resumable upload in memory, while some request (or the expiry sweep) refers to it. Every
 * request for it takes a turn, in order; the PATCH holding `writer` keeps it until its chain has
 * finished and its offset is recorded, and a newcomer makes that writer stop (tus_lock.c). */
struct sl_tus_s {
    sl_server_t *srv;
    sl_tus_t *next; /* hash bucket */
    int refs;
    int loaded;   /* info read from disk (or just created) */
    int load_err; /* 0, SL_ENOTFOUND (never created, terminated, expired) or another error */
    int busy;     /* a job on the record in flight */
    uint64_t checkpoint_from; /* the offset before the checkpoint in flight */
    sl_req_t *writer;
    sl_tus_wait_t *wait_head, **wait_tail;
    void (*after_job)(sl_tus_t *u); /* then, once the job in flight is done */
    sl_tus_job_t job;
    sl_tus_info_t info;
    void *md;           /* EVP_MD_CTX: the SHA-256 of the upload's bytes [0, md_offset), or NULL */
    uint64_t md_offset; /* (tus_lock.c keeps it while no request refers to the upload) */
};

/* The answers of a protocol on the upload records: tus 1.0 (tus_fields.c) or the IETF draft
 * (ietf.c). created: a creation's answer; head: an offset retrieval's; appended: an append's
 * success (after a commit too); error: any failure (u: the upload, or NULL before its turn). */
typedef struct sl_tus_answers_s {
    void (*created)(sl_req_t *r, const sl_tus_info_t *info);
    void (*head)(sl_req_t *r, const sl_tus_info_t *info);
    void (*appended)(sl_req_t *r, const sl_tus_info_t *info);
    void (*deleted)(sl_req_t *r);
    void (*error)(sl_req_t *r, const sl_tus_t *u, int err);
} sl_tus_answers_t;

extern const sl_tus_answers_t sl__tus_answers;

/* A request under /uploads/: its tus headers, parsed in the first call. */
struct sl_tus_req_s {
    const sl_tus_answers_t *ans; /* how it is answered (borrowed, static) */
    int ietf;                    /* the IETF draft's interop version, 0 for tus */
    int complete;                /* IETF: Upload-Complete: ?1 (the length is learnt at the end) */
    int inconsistent;            /* IETF: the request's own length indicators differ */
    int method;                  /* M_*, after X-HTTP-Method-Override */
    int64_t offset;              /* Upload-Offset, -1 if absent */
    int64_t length;              /* Upload-Length, -1 if absent */
    int64_t prev_length; /* the upload's length before this PATCH (a failed PATCH restores it) */
    int defer;           /* Upload-Defer-Length: 1 */
    int concat;          /* SL_TUS_* from Upload-Concat */
    size_t nparts;       /* final: the parts */
    char (*parts)[33];
    const char *metadata;           /* borrowed from libmicrohttpd, valid for the request */
    char repr[SL_TUS_REPR_MAX + 1]; /* IETF creation: its Repr-Digest as the record keeps it */
    int check_alg; /* SL_DIGEST_* of Upload-Checksum (header or trailer), 0 if none */
    int trailer;   /* the checksum comes as a trailer */
    unsigned char check[64];
    int status;     /* the chain's outcome, while the record is written */
    int body;       /* the request has a body */
    int committing; /* its record job commits the upload */
    sl_tus_wait_t wait;
    sl_req_t *owner;
    sl_tus_t *u; /* holds a reference */
};

/* tus.c: requests under /uploads/ (docs/tus.md), the protocol sl__proto_tus (first call, final
 * call, gone, free); body_start: after the first call's wait, start the PATCH chain;
 * body_end: the body ended (trailers are readable). */
int sl__tus_body_start(sl_req_t *r);
int sl__tus_body_end(sl_req_t *r);
void sl__tus_gone(sl_req_t *r);
/* The first call once t's headers were judged (err: 0 or a code, body: the request has one);
 * the final call for every method but OPTIONS. */
enum MHD_Result sl__tus_go(sl_req_t *r, int err, int body);
enum MHD_Result sl__tus_final(sl_req_t *r);
void sl__tus_free(sl_req_t *r);

/* tus_fields.c: the tus header fields, read from a request and written on an answer. An empty
 * answer with `status`; a header with a decimal value; 201 with Location and the upload's fields;
 * HEAD's 200 with its fields, metadata and concatenation. */
void sl__tus_respond_empty(sl_req_t *r, unsigned status);
void sl__tus_add_u64(sl_req_t *r, const char *name, uint64_t v);
/* The fields that describe the upload: offset, length, expiry, its file once committed. */
void sl__tus_describe(sl_req_t *r, const sl_tus_info_t *info);
void sl__tus_respond_created(sl_req_t *r, const sl_tus_info_t *info);
void sl__tus_respond_head(sl_req_t *r, const sl_tus_info_t *info);
/* Parsing: 0 or SL_EBADREQUEST. */
int sl__tus_parse_u63(const char *v, int64_t *out);
int sl__tus_metadata_valid(const char *v);
/* The decoded value of metadata `key` into out[cap] (NUL-terminated): its length, or -1 when
 * absent, valueless or not text. */
int sl__tus_metadata_get(const char *v, const char *key, char *out, size_t cap);
/* The name a finished upload is stored under (docs/tus.md "Where a finished upload lands"). */
void sl__tus_final_name(const sl_tus_info_t *info, char out[SL_NAME_MAX + 1]);
int sl__tus_parse_checksum(const char *v, int *alg, unsigned char out[64]);
/* Fills t->concat, and for a final upload t->parts (owned by t) and t->nparts. */
int sl__tus_parse_concat(sl_tus_req_t *t, const char *v);
/* Everything the first call can judge of a tus request (sets *body); 0 or a code. */
int sl__tus_check(sl_req_t *r, sl_tus_req_t *t, int *body);

/* tus_lock.c: the registry of uploads in use, turns, the writer, checkpoints, expiry. */
/* Take a turn at upload `id` for w; returns the upload (referenced: sl__tus_unref). */
sl_tus_t *sl__tus_acquire(sl_server_t *srv, const char *id, sl_tus_wait_t *w);
/* Register a new upload's record (owned: taken over), held by nobody yet. */
sl_tus_t *sl__tus_register(sl_server_t *srv, sl_tus_info_t *info);
void sl__tus_unref(sl_tus_t *u);
/* Give up a turn that has not run yet (the request went away). */
int sl__tus_cancel(sl_tus_t *u, sl_tus_wait_t *w); /* 1 if it was waiting */
/* Let the next turn run (after a turn that started no job and took no writer). */
void sl__tus_next(sl_tus_t *u);
/* Run a job on the record; then `after`, then the next turn. */
void sl__tus_job_started(sl_tus_t *u, void (*after)(sl_tus_t *u));
void sl__tus_job_done(sl_tus_t *u);
/* Once a second: checkpoint long PATCHes, stop idle or orphaned writers, sweep expired uploads. */
void sl__tus_tick(sl_server_t *srv, uint64_t now);
/* Free the registry and the hash states it keeps between PATCHes (the server is freed). */
void sl__tus_registry_free(sl_server_t *srv);
/* Make the writer of u stop, keeping what it received. */
void sl__tus_release(sl_tus_t *u);

#endif
