/* SPDX-License-Identifier: MIT
 *
 * mem_store: a second implementation of the store interface (storage/store.h), in memory, for
 * tests. It exists to show that the interface is enough for a store that is not a filesystem and
 * that code above it (the chain builder, the server) depends on nothing else.
 *
 *   files     a small table sorted by name; a sink buffers its bytes and puts them under its
 *             name only at do_final (S1), NOREPLACE gives SL_EEXISTS, destroy discards them
 *   staged    files of a group live in the table hidden until stage_commit publishes them all
 *   jobs      done at once on the loop thread (nothing here blocks), their callback deferred to a
 *             later loop turn (S4); open_read hands back a memfd holding a copy of the bytes
 *   tus       records and data in memory: create, load, save, commit, concat, remove, expired
 *
 * Not durable (durable = 0): S2 and the flush half of S5 are vacuous. Every call is made on the
 * loop thread except tus_expired, which takes the store's mutex like every other entry point.
 */
#ifndef SL_TESTS_SUPPORT_MEM_STORE_H
#define SL_TESTS_SUPPORT_MEM_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "storage/store.h"

/* A new store on `loop` (borrowed) holding at most `cap` bytes (0: no limit; past it writes,
 * preflight and tus_create give UV_ENOSPC). Returned owned: sl_store_close. */
sl_store_t *mem_store_new(uv_loop_t *loop, uint64_t cap);

/* The committed (visible) file `name`: its bytes (borrowed until the store changes), its length
 * into *len and, if meta is not NULL, its metadata into *meta (sha256_hex "" when none was kept).
 * NULL when there is no such file. */
const char *mem_store_get(sl_store_t *st, const char *name, size_t *len, sl_meta_t *meta);
/* Visible files; everything held (visible + staged files + resumable uploads). */
size_t mem_store_count(sl_store_t *st);
size_t mem_store_entries(sl_store_t *st);
/* The data of upload `id` so far (borrowed), its length into *len, or NULL. */
const char *mem_store_upload(sl_store_t *st, const char *id, size_t *len);
/* Bytes buffered by sinks that have not committed (nor been destroyed) yet. */
uint64_t mem_store_pending(sl_store_t *st);

#endif
