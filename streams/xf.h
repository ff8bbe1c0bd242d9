/* SPDX-License-Identifier: MIT
 *
 * Transforms of the upload chain. xf_inflate decodes gzip/deflate bodies; the others pass bytes
 * through unchanged:
 *   xf_limit   fails with SL_ETOOLARGE as soon as more than `max` bytes went through (0 = none);
 *   xf_digest  computes the digests asked for (SHA-256, crc32 by default; sl_xf_digest_set) of
 *              everything that passes; a batch of SL_XF_DIGEST_INLINE bytes or more is forwarded
 *              at once and hashed on the thread pool at the same time, so the sink writes it
 *              while a worker hashes it, and the loop thread keeps reading the socket.
 * Both forward each chunk by reference (no copy) and hold their done while the destination is
 * above its high-water mark (T2).
 */
#ifndef SL_STREAMS_XF_H
#define SL_STREAMS_XF_H

#include <stdint.h>

#include <zlib.h>

#include "stream.h"

#define SL_XF_INFLATE_CHUNK (64u << 10)
#define SL_XF_DIGEST_INLINE (8u << 10)

typedef struct sl_xf_limit_s {
    sl_stream_t s;
    uint64_t max;
    uint64_t seen;
} sl_xf_limit_t;

typedef struct sl_xf_digest_s {
    sl_stream_t s;
    uint32_t crc32;
    unsigned char sha256[32];
    char sha256_hex[65]; /* set once the stream finished */
    uint64_t size;
    union { /* the second digest, set once finished if one was asked for (xalg) */
        unsigned char sha512[64];
        unsigned char sha1[20];
        unsigned char md5[16];
    };
    int failed_alg; /* SL_DIGEST_* whose expected value did not match */
    int algs;       /* SL_DIGEST_* computed (sl_xf_digest_set, want, expect) */
    /* private */
    void *md;  /* EVP_MD_CTX, SHA-256 */
    void *mdx; /* EVP_MD_CTX of the second digest (xalg: SHA-512, SHA-1 or MD5) */
    int xalg;
    unsigned char expect256[32];
    union {
        unsigned char expect512[64];
        unsigned char expectx[64];
    };
    uint32_t expect_crc;
    int expects;
    uv_work_t work;
    sl_chunk_t **batch;
    size_t batch_n;
    sl_done_cb batch_done, destroy_done;
    int hashing, forwarding; /* a batch's two halves: its hash job, its push downstream */
    int borrowed;            /* md is the caller's (sl_xf_digest_adopt): never final, never freed */
    int hash_status, fwd_status;
    int behind; /* the sink hashes what it wrote (sl_xf_digest_behind), until its release */
    int orphan; /* destroyed while behind: the release frees the hash */
} sl_xf_digest_t;

enum { SL_INFLATE_GZIP = 1, SL_INFLATE_DEFLATE = 2 };

typedef struct sl_xf_inflate_s {
    sl_stream_t s;
    uint64_t in_total, out_total; /* read-only */
    /* private */
    z_stream z;
    int mode, ended, zinit, nhead;
    Bytef head[2]; /* deflate: the first two bytes, to tell zlib from raw deflate */
    uint64_t max_ratio;
    sl_chunk_t **batch;
    size_t batch_n, batch_i;
    sl_done_cb done;
    sl_chunk_t *out;
} sl_xf_inflate_t;

/* `x` is borrowed (caller-allocated) until its on_close. */
void sl_xf_limit_init(sl_xf_limit_t *x, uv_loop_t *loop, uint64_t max, size_t hwm);
void sl_xf_digest_init(sl_xf_digest_t *x, uv_loop_t *loop, size_t hwm);
enum {
    SL_DIGEST_SHA256 = 1,
    SL_DIGEST_SHA512 = 2,
    SL_DIGEST_SHA1 = 4,
    SL_DIGEST_MD5 = 8,
    SL_DIGEST_CRC32 = 16,
};

/* Compute exactly `algs` (SL_DIGEST_SHA256 and/or SL_DIGEST_CRC32; a second digest comes with
 * want/expect) instead of the default SHA-256 + crc32. Before the first write. */
void sl_xf_digest_set(sl_xf_digest_t *x, int algs);
/* Hash into the caller's SHA-256 context (an EVP_MD_CTX, borrowed until the stream is destroyed)
 * instead of one of its own: it is neither finalised at the end nor freed, so a resumable upload
 * carries one hash across its appends. Before the first write. */
void sl_xf_digest_adopt(sl_xf_digest_t *x, void *md);
/* The size in bytes of alg's digest (crc32: 4, big-endian). */
size_t sl_digest_len(int alg);
/* Also compute alg: SL_DIGEST_SHA256, _CRC32, or a second digest SL_DIGEST_SHA512, _SHA1 or _MD5
 * (one second digest at most: SL_EUNSUPPORTED for another). Before the first write. */
int sl_xf_digest_want(sl_xf_digest_t *x, int alg);
/* Expect `digest` (borrowed, copied; sl_digest_len(alg) bytes) for alg: at the end the stream
 * fails with SL_ECHECKSUM and sets failed_alg if the body's digest differs, before anything
 * downstream commits. Before the end of the stream (a trailer may supply it late). Returns 0 or
 * SL_EUNSUPPORTED (a second digest of another algorithm was asked for already). */
int sl_xf_digest_expect(sl_xf_digest_t *x, int alg, const unsigned char *digest);

/* Hashing behind the sink: the stage forwards every chunk (piped ones included) untouched, and
 * the writable at the end feeds it, in order, what it wrote (sl_xf_digest_update, off the loop
 * thread while nothing else touches x), then calls sl_xf_digest_finish before it commits. Before
 * the first write. A borrowed hash (an upload's carried SHA-256) is fed the same way and left
 * unfinished: its owner goes on from it. */
void sl_xf_digest_behind(sl_xf_digest_t *x);
/* The sink is done with x's hash (after sl_xf_digest_finish, or when it is destroyed): once the
 * stage is destroyed too, the hash is freed. */
void sl_xf_digest_release(sl_xf_digest_t *x);
/* Hash len bytes at p (borrowed) into every digest x computes. */
void sl_xf_digest_update(sl_xf_digest_t *x, const void *p, size_t len);
/* The digests final (sha256_hex set) and compared with what was expected: 0, or SL_ECHECKSUM
 * with failed_alg set. Once, at the end of the body (the stage's flush does it, unless behind). */
int sl_xf_digest_finish(sl_xf_digest_t *x);

/* mode: SL_INFLATE_GZIP (one or more gzip members) or SL_INFLATE_DEFLATE (zlib stream, or raw
 * deflate as some clients send). Output comes in chunks of at most SL_XF_INFLATE_CHUNK bytes and
 * stops whenever the destination waits (T2), so a small input cannot buffer a large output.
 * Fails with SL_EDECODE on corrupt or truncated input, SL_EBOMB once the output exceeds
 * max_ratio times the input plus 1 MiB (0 = no ratio limit). */
void sl_xf_inflate_init(sl_xf_inflate_t *x, uv_loop_t *loop, int mode, uint64_t max_ratio,
                        size_t hwm);

#endif
