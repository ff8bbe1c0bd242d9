/* SPDX-License-Identifier: MIT
 * sluice-up's transfers, private to tools/up/: the items (files) and their jobs (uploads), the
 * requests (xfer.c) and the steps and loop (run.c). */
#ifndef SU_XFER_H
#define SU_XFER_H

#include "up.h"

#include <curl/curl.h>
#include <pthread.h>
#include <openssl/evp.h>

enum { S_START, S_HEAD, S_CREATE, S_PATCH, S_WAIT, S_DONE, S_FINAL, S_VERIFY };

typedef struct item_s item_t;
typedef struct job_s {
    item_t *it;
    int idx;
    uint64_t base, len; /* the bytes of the file this upload holds */
    char url[2048];
    uint64_t offset;   /* acknowledged by the server */
    uint64_t pos, end; /* the request being sent: [pos, end) relative to base */
    int step, after;   /* after: the step a wait leads to */
    int with_body;     /* the request in flight sends [pos, end) */
    CURL *h;
    struct curl_slist *hdrs;
    su_resp_t resp;
    unsigned attempts;
    double wake;
    int local_err;
} job_t;

struct item_s {
    su_file_t *f;
    int fd;
    char key[65];
    unsigned nparts, parts_done;
    job_t *jobs;
    job_t fin; /* the item's own requests: FINAL, VERIFY */
    EVP_MD_CTX *md;
    uint64_t md_off;
    pthread_t hasher;       /* a thread hashing the whole file (large files, parts) */
    int hashing;            /* it runs: the sends hash nothing */
    volatile int hash_stop; /* asks it to stop */
    int hash_err;           /* it could not read the file */
    char file_url[2048], server_sha[65], sha[65];
    int status; /* SU_EXIT_* once finished, -1 while running */
    int started;
    uint64_t sent; /* bytes sent this run */
    double t0;
    double rate;
    uint64_t rate_bytes;
    double rate_t;
};

/* One run: the multi handle and every item. */
typedef struct run_s {
    const su_opts_t *o;
    CURLM *multi;
    char state_dir[4096];
    item_t *items;
    size_t n, next, active;
    uint64_t total, sent_total;
    unsigned parts; /* --parts, when the server offers concatenation */
    int drawn;
    double t0;
} run_t;

/* xfer.c. The requests of a job's steps: each starts one transfer on R->multi (j->h), with the
 * protocol's fields; su__release ends it and frees its header list. */
void su__request(run_t *R, job_t *j, const char *method, const char *url, int with_body);
void su__release(run_t *R, job_t *j);
void su__head(run_t *R, job_t *j);
void su__create(run_t *R, job_t *j);
/* PATCH from j->offset (hashes up to it first: on a local read error sets j->local_err and
 * starts nothing). */
void su__patch(run_t *R, job_t *j);
void su__add_header(job_t *j, const char *fmt, const char *v);
void su__add_u64(job_t *j, const char *name, uint64_t v);
/* Hash the item's file up to `to` (from md_off); 0 or -1. Then the hex digest into it->sha. */
int su__hash_to(item_t *it, uint64_t to);
void su__hash_final(item_t *it);
/* A file in parts, or of at least SU_HASH_THREAD bytes on a machine with cores to spare
 * (su__hash_thread_pays), is hashed by a thread of its own, a second sequential reader beside the
 * sends. join: wait for it (0, or -1 when it could not read); stop: make it end early (an item
 * that failed). */
#define SU_HASH_THREAD (8u << 20)
#define SU_SPARE_CORES 4
int su__hash_thread_pays(void);
void su__hash_start(item_t *it);
int su__hash_join(item_t *it);
void su__hash_stop(item_t *it);

#endif
