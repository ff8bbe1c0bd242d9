/* SPDX-License-Identifier: MIT
 *
 * The private side of mem_store (mem_store.c: the table, sinks, jobs, groups; mem_tus.c: the
 * resumable-upload records): its structures and the helpers the two files share. Every helper
 * is called with the store's mutex held.
 */
#ifndef SL_TESTS_SUPPORT_MEM_STORE_INT_H
#define SL_TESTS_SUPPORT_MEM_STORE_INT_H

#include "mem_store.h"
#include "storage/tus.h"

typedef struct mem_file_s {
    struct mem_file_s *next;
    char *name; /* the public name, or "<stage>/<file>" while staged */
    int staged;
    char *data;
    size_t len;
    int64_t mtime_ns;
    sl_meta_t meta; /* sha256_hex "": none kept */
} mem_file_t;

typedef struct mem_upload_s {
    struct mem_upload_s *next;
    sl_tus_info_t rec; /* the record (owned strings) */
    char *data;
    size_t len, cap;
    int has_data; /* 0 once committed: the bytes became a file */
    int writing;  /* a sink holds it */
} mem_upload_t;

typedef struct mem_store_s {
    sl_store_t base;
    uv_mutex_t lock;
    mem_file_t *files;
    mem_upload_t *uploads;
    uint64_t cap, pending, seq;
} mem_store_t;

#define MEM(st) ((mem_store_t *)(st))

/* Grow *buf (of *cap bytes) to hold at least `need`. */
void mem__grow(char **buf, size_t *cap, size_t need);
/* 1 if `more` bytes fit under the store's cap. */
int mem__fits(const mem_store_t *st, uint64_t more);
/* What stands at `name` among the entries of the same kind (staged or not): 0 (free),
 * SL_EEXISTS (a file), UV_EISDIR (files below it: a directory), UV_ENOTDIR (a file where a parent
 * directory goes). */
int mem__conflict(mem_store_t *st, const char *name, int staged);
/* Put data[0..len) (taken) under `name` (taken), replacing a file of that name. */
mem_file_t *mem__put_file(mem_store_t *st, char *name, int staged, char *data, size_t len);
mem_upload_t *mem__find_upload(mem_store_t *st, const char *id);
void mem__free_upload(mem_store_t *st, mem_upload_t *u);

/* The tus entries of the ops table (mem_tus.c). */
int mem__tus_create(sl_store_t *base, sl_tus_job_t *j, sl_tus_info_t *info, sl_tus_job_cb cb);
int mem__tus_load(sl_store_t *base, sl_tus_job_t *j, const char *id, sl_tus_info_t *info,
                  sl_tus_job_cb cb);
int mem__tus_save(sl_store_t *base, sl_tus_job_t *j, sl_tus_info_t *info, int flush,
                  sl_tus_job_cb cb);
int mem__tus_commit(sl_store_t *base, sl_tus_job_t *j, sl_tus_info_t *info, const char *name,
                    sl_tus_job_cb cb);
int mem__tus_concat(sl_store_t *base, sl_tus_job_t *j, sl_tus_info_t *info, char (*parts)[33],
                    size_t n, uint64_t max, const char *name, sl_tus_job_cb cb);
int mem__tus_remove(sl_store_t *base, sl_tus_job_t *j, sl_tus_info_t *info, int64_t expired_before,
                    sl_tus_job_cb cb);
size_t mem__tus_expired(sl_store_t *base, int64_t now, char (*ids)[33], size_t cap);

#endif
