/* SPDX-License-Identifier: MIT
 * The files protocol, private to server/: an upload (upload.c), reading and listing (files.c),
 * digest fields (digests.c). */
#ifndef SL_SERVER_PROTO_H
#define SL_SERVER_PROTO_H

#include "http/http.h"

/* A request's upload: its source and its chain (chain.c), for every kind of upload. */
struct sl_upload_s {
    sl_src_http_t src;
    sl_chain_t chain;
    sl_form_t *form; /* multipart/form-data requests only (owned) */
    int running;     /* the pipeline callback has not run yet */
    int eof;         /* the body ended (final call seen) */
    uint64_t discarded;
};

/* upload.c: start the chain for r (r->name set); body data; end of body; abort. */
int sl__upload_start(sl_req_t *r);
enum MHD_Result sl__upload_data(sl_req_t *r, const char *data, size_t *size);
enum MHD_Result sl__upload_end(sl_req_t *r);
void sl__upload_abort(sl_req_t *r, int err);

/* upload.c: the first call of a PUT or POST once on_request allowed it: its checks (framing,
 * encoding, digests, size, name), then the free-space preflight or the chain. */
enum MHD_Result sl__upload_first(sl_req_t *r);

/* download.c: a file of a remote store streamed to the client. start: the answer's body, bytes
 * [off, off + len) of the file j found (borrowed; len >= 1), returned owned (a callback
 * response of len bytes; NULL if libmicrohttpd could not make one, and ready still follows);
 * the store's read starts now and ready(r, err) runs once, on a later turn, when the first bytes
 * arrived (err 0: queue the answer) or the read failed first (an error answer instead); r is
 * held until then. head: a body-less answer of len bytes (HEAD: nothing is read). gone: the
 * files protocol's, when libmicrohttpd completed r. */
typedef void (*sl_download_ready_cb)(sl_req_t *r, int err);
struct MHD_Response *sl__download_start(sl_req_t *r, sl_store_job_t *j, uint64_t off, uint64_t len,
                                        sl_download_ready_cb ready);
struct MHD_Response *sl__download_head(uint64_t len);
void sl__download_gone(sl_req_t *r);

/* digests.c: RFC 9530 fields. parse: 0 or SL_EBADREQUEST (unknown algorithms skipped). */
int sl__digests_parse(const char *v, sl_digests_t *d);
void sl__base64(const unsigned char *in, size_t n, char *out);
/* Strict base64 (padded, standard alphabet) of p[0..len) into out (cap >= len/4*3): the byte
 * count or -1. */
int sl__base64_decode(const char *p, size_t len, unsigned char *out, size_t cap);
void sl__hex_to_bytes(const char *hex, unsigned char *out, size_t n);
/* The digests an upload computes over its stored bytes: --digest plus what the client asks for
 * (Want-Repr-Digest; Want-Content-Digest too for an identity body): SL_DIGEST_* bits. want: the
 * sha-256 / sha-512 a Want-* value asks for with a preference above 0. */
int sl__want_digests(const char *v);
int sl__upload_digests(sl_req_t *r);
/* Make x compute r's digests (before its first write). */
void sl__digest_setup(sl_req_t *r, sl_xf_digest_t *x);
/* The JSON members of what x computed (",\"crc32\":…,\"sha256\":…,\"sha512\":…") into out[cap]. */
size_t sl__digest_json(const sl_xf_digest_t *d, char *out, size_t cap);
/* `field` (Repr-Digest, Content-Digest) with the sha-256 / sha-512 x computed, if any. */
void sl__digest_headers(sl_req_t *r, const sl_xf_digest_t *d, const char *field);
/* "sha-256=:<base64>:" for a hex SHA-256, into out[64]. */
void sl__repr_digest_header(const char *sha256_hex, char out[64]);

#endif
