/* SPDX-License-Identifier: MIT
 *
 * Resumable uploads on disk (the state behind tus, docs/tus.md).
 *
 * An upload is two files under ROOT/.sluice/tus/: <id>.data, the bytes received, and <id>.info,
 * its record (a line format, below), rewritten atomically: write "<owner>-<id>.tmp", rename over
 * the record. The record's offset is the truth: it only ever covers bytes that were flushed
 * (fdatasync) before the record was written, so after a crash, a kill -9 or a power cut the
 * upload resumes from an offset whose bytes are all correct. Bytes past it in the data file (an
 * unflushed or unverified tail) are cut by the next append (sl_sink_file_init_append).
 *
 *   sluice-tus 1
 *   offset <bytes>          durable bytes received
 *   length <bytes>|-1       -1: deferred (creation-defer-length)
 *   expires <unix seconds>  0: never
 *   concat partial|final    absent for a plain upload
 *   metadata <Upload-Metadata as received, validated>
 *   parts <id> <id> …       a final upload's parts
 *   file <name>             once committed into ROOT/<name>
 *   repr sha-256=<hex>[,sha-512=<hex>]   the Repr-Digest sent at creation (IETF draft): the
 *                           commit refuses a file whose digest differs (tus_record.c)
 *
 * Every job runs on libuv's thread pool; only the pure functions run anywhere. Nothing here knows
 * HTTP: the server validates ids (sl_tus_id_valid) before naming one.
 */
#ifndef SL_STORAGE_TUS_H
#define SL_STORAGE_TUS_H

#include <stdint.h>

#include "store.h"

#define SL_TUS_ID_LEN 32 /* hex digits: 128 random bits */
#define SL_TUS_METADATA_MAX 8192
#define SL_TUS_PARTS_MAX 64 /* parts of one concatenation */
#define SL_TUS_REPR_MAX 256 /* the record's repr value: two hex digests and their names */

enum { SL_TUS_PLAIN = 0, SL_TUS_PARTIAL = 1, SL_TUS_FINAL = 2 };

struct sl_tus_info_s {
    char id[SL_TUS_ID_LEN + 1];
    uint64_t offset;
    int64_t length; /* -1: not known yet */
    int64_t expires;
    int concat; /* SL_TUS_* */
    /* Owned strings, NULL when absent (an upload in memory stays small: ~100 bytes). */
    char *metadata; /* Upload-Metadata as received, at most SL_TUS_METADATA_MAX bytes */
    char *parts;    /* final: the part ids, space-separated */
    char *file;     /* the committed name, NULL until committed */
    char *repr;     /* the expected digests, "sha-256=<hex>[,sha-512=<hex>]", or NULL */
};

/* Free the strings of `info` (zero-initialised or filled by these functions) and NULL them. */
void sl_tus_info_clear(sl_tus_info_t *info);
/* Replace *field with a copy of s (NULL: none). */
void sl_tus_info_set(char **field, const char *s);

/* 1 if id is SL_TUS_ID_LEN lowercase hex digits. */
int sl_tus_id_valid(const char *id);
/* The record text of `in` into out[cap]; returns its length, or SL_ETOOLONG. */
int sl_tus_format(const sl_tus_info_t *in, char *out, size_t cap);
/* Parse a record (text[0..len), borrowed) into *out (its id is left alone; its strings are
 * replaced). 0 or SL_EBADREQUEST for anything that is not a whole, valid record. */
int sl_tus_parse(const char *text, size_t len, sl_tus_info_t *out);
/* The hex digest for `alg` ("sha-256", "sha-512") in a record's repr value (borrowed; NULL is
 * none) into hex[cap]: 0, or -1 when it has none (or it does not fit). */
int sl_tus_repr_get(const char *repr, const char *alg, char *hex, size_t cap);

typedef void (*sl_tus_job_cb)(sl_tus_job_t *job);
/* The jobs themselves are the store's (store.h: tus_create, tus_load, …). */

struct sl_tus_job_s {
    void *data;          /* public: the owner's */
    int status;          /* result: 0 or a negative code */
    sl_tus_info_t *info; /* borrowed: in and out */
    uint64_t size;       /* concat: the assembled length */
    /* commit: with `digest`, the committed file gets its SHA-256 kept with it (GET's Repr-Digest
     * and ETag): sha256_hex as given (the hash the PATCHes carried along), or, when it is "",
     * computed by reading the file once (the hash state was lost: a restart, another worker) */
    int digest;
    char sha256_hex[65];
    /* commit: an info->repr digest that differs from the file's fails the job with SL_ECHECKSUM
     * and removes the upload; a store reads the file for what sha256_hex does not give (the
     * server compares a sha256_hex it has before any job; S3: a GET of the completed data) */
    /* private */
    uv_work_t work;
    void *store;
    int kind, flush;
    uint64_t max;                     /* concat: the size limit (0: none) */
    char *name;                       /* owned while the job runs */
    char (*parts)[SL_TUS_ID_LEN + 1]; /* concat: borrowed until cb */
    size_t nparts;
    sl_tus_job_cb cb;
};

#endif
