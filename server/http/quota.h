/* SPDX-License-Identifier: MIT
 * Token quotas (quota.c), private to server/: the count of bytes each token's uploads have sent,
 * one count per token for every worker (a table in memory the supervisor maps shared), kept on
 * disk in the ledger <root>/.sluice/quota across restarts. The ledger's text is parsed and
 * written here without the server, so the Check tests (tests/server/test_quota.c) call these
 * functions directly. */
#ifndef SL_SERVER_QUOTA_H
#define SL_SERVER_QUOTA_H

#include <stddef.h>
#include <stdint.h>

/* Tokens with a count the table can hold; a token past them is refused its uploads (507). */
#define SL_QUOTA_SLOTS 16384
/* The ledger's first line; a v1 ledger ends with "end N", N its entries. */
#define SL_QUOTA_MAGIC "sluice-quota-v1"
/* A token's key in the table and the ledger: SHA-256(SL_QUOTA_MAGIC "\n" token hash), cut to 16
 * bytes, so the ledger holds neither a token nor its hash as the token file may have it. */
#define SL_QUOTA_KEY 16

typedef struct sl_quota_share_s sl_quota_share_t;

/* The bytes of a table (zeroed memory is an empty table: mmap MAP_ANONYMOUS or calloc). */
size_t sl__quota_share_size(void);
/* key[SL_QUOTA_KEY] of a token whose SHA-256 is hash[32] (both borrowed). */
void sl__quota_key(const unsigned char hash[32], unsigned char key[SL_QUOTA_KEY]);
/* The slot of key in qs (borrowed), added if new: 0..SL_QUOTA_SLOTS-1, or -ENOSPC (full). Safe
 * from any number of processes at once (atomics on the shared memory, no lock). */
int sl__quota_slot(sl_quota_share_t *qs, const unsigned char key[SL_QUOTA_KEY]);
/* Charge n bytes to slot if its count stays within quota: 0, or SL_EQUOTA (nothing charged). */
int sl__quota_charge(sl_quota_share_t *qs, int slot, uint64_t quota, uint64_t n);
/* Give n bytes back to slot (its count stops at 0). */
void sl__quota_refund(sl_quota_share_t *qs, int slot, uint64_t n);
uint64_t sl__quota_used(const sl_quota_share_t *qs, int slot);
/* Changes so far: a writer saves when it differs from the value it saved at. */
uint64_t sl__quota_gen(const sl_quota_share_t *qs);

/* The ledger's text of qs into a buffer returned owned (free) with *len: the magic line, a line
 * "KEYHEX USED" per token with bytes counted, "end N". NULL if out of memory. */
char *sl__quota_format(const sl_quota_share_t *qs, size_t *len);
/* Add a ledger's text[0..len) (borrowed) to qs: 0, or SL_EBADREQUEST with "line N: why" in
 * err[errlen] (qs may then hold part of it). An empty text is refused too: a ledger has at least
 * its magic and end lines, so an empty file is a write a crash cut short. */
int sl__quota_parse(sl_quota_share_t *qs, const char *text, size_t len, char *err, size_t errlen);
/* <root>/.sluice/quota into out[cap]: 0, or -ENAMETOOLONG. */
int sl__quota_path(const char *root, char *out, size_t cap);
/* Read the ledger at path into qs: 0 (a missing file is an empty ledger), SL_EBADREQUEST (a
 * corrupt one: "PATH: line N: why" in err), or a negative errno (err says it too). */
int sl__quota_load(sl_quota_share_t *qs, const char *path, char *err, size_t errlen);
/* Write text[0..len) (borrowed) to path atomically (PATH.tmp, fsync when durable, rename; the
 * folder made if missing). 0 or a negative errno. Any thread. */
int sl__quota_write(const char *path, const char *text, size_t len, int durable);
/* Write qs to path atomically (PATH.tmp, fsync when durable, rename; the folder made if
 * missing). 0 or a negative errno. */
int sl__quota_save(const sl_quota_share_t *qs, const char *path, int durable);
#endif
