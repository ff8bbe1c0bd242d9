/* SPDX-License-Identifier: MIT
 * The one builder of upload chains (chain.c): what a chain is asked to do, and what it holds. */
#ifndef SL_SERVER_CHAIN_H
#define SL_SERVER_CHAIN_H

#include "storage/store.h"
#include "streams/pipeline.h"
#include "streams/xf.h"

#define SL_CHAIN_HWM (64u << 10)        /* the transforms' high-water mark */
#define SL_CHAIN_SPLICE_FROM (4u << 20) /* a fast body with this much left is spliced */

/* The digests a request names (RFC 9530 fields, digests.c). */
typedef struct sl_digests_s {
    int algs; /* SL_DIGEST_* present */
    unsigned char sha256[32], sha512[64];
} sl_digests_t;

/* What one chain does, stage by stage, left to right. Zero means "no such stage". */
typedef struct sl_chain_spec_s {
    sl_stream_t *src; /* the head (borrowed), or NULL: the owner writes into sl__chain_head */
    /* the body as sent */
    int encoding;                /* SL_INFLATE_* (0: identity): an inflate stage */
    const sl_digests_t *content; /* Content-Digest to match (NULL): as sent when encoded */
    int check_alg;               /* an upload checksum over the bytes as sent (tus) */
    const unsigned char *check;  /* its value (borrowed until the build returns) */
    int check_late;              /* a trailer names the checksum at the end (sl__chain_expect) */
    uint64_t max_expansion;      /* inflate's ratio limit */
    /* the bytes stored */
    uint64_t max;             /* SL_ETOOLARGE past this many (0: no limit) */
    int digests;              /* SL_DIGEST_* to compute and keep with the file */
    const sl_digests_t *repr; /* Repr-Digest to match (NULL) */
    void *carry;              /* an EVP_MD_CTX whose SHA-256 goes on over these bytes (NULL) */
    sl_stream_t *tail;        /* ends the chain instead of a sink (a form: its parts) */
    sl_sink_spec_t sink;      /* else: the store's sink, which commits at the end */
    size_t hwm;               /* the sink's high-water mark (--upload-buffer) */
    int splice; /* the source may splice the body into the file (src_sock.c): the digests are
                   then taken behind the sink, from what it wrote (sl_xf_digest_behind) */
} sl_chain_spec_t;

/* A built chain: its stages (each NULL when absent; owned) and its pipeline. */
typedef struct sl_chain_s {
    sl_pipeline_t pl;         /* pl.data: the owner's */
    sl_store_t *store;        /* borrowed */
    sl_xf_digest_t *sent;     /* digests of the body as sent: Content-Digest, upload checksums */
    sl_xf_digest_t *sent_md5; /* a trailer's MD5 (a digest stage holds one second digest) */
    sl_xf_inflate_t *inflate;
    sl_xf_limit_t *limit;
    sl_xf_digest_t *digest; /* the stored bytes' digests, checked against Repr-Digest */
    sl_xf_digest_t *carry;  /* the upload's SHA-256 going on across requests (tus) */
    sl_store_sink_t *sink;  /* NULL when spec.tail ended the chain */
    sl_stream_t *head;      /* the first stage */
    int piped; /* 1: no stage looks at the bytes, the source may push piped chunks (chunk.h) */
} sl_chain_t;

/* Build and run the chain of `spec` on `loop`, sinking into `store` (borrowed until
 * sl__chain_free): cb(pl, status) runs once, as for sl_pipeline_run, when it has ended. */
void sl__chain_build(sl_chain_t *c, uv_loop_t *loop, sl_store_t *store, const sl_chain_spec_t *spec,
                     sl_pipeline_cb cb, void *data);
/* The stage a source without stream writes into (spec.src NULL). */
static inline sl_stream_t *sl__chain_head(sl_chain_t *c)
{
    return c->head;
}
/* A late checksum (a trailer) for spec.check_late: 0, or SL_EBADREQUEST for an algorithm the
 * chain did not compute. Before the end of the body. */
int sl__chain_expect(sl_chain_t *c, int alg, const unsigned char *value);
/* Release the stages, once the callback has run (or before the build). */
void sl__chain_free(sl_chain_t *c);

#endif
