/* SPDX-License-Identifier: MIT
 *
 * The S3 store: finished files are objects of one bucket (under an optional key prefix) of an
 * S3-compatible service (Ceph RGW, MinIO, AWS S3), spoken to with libcurl's multi interface on
 * the loop (s3_http.c) and signed by libcurl (CURLOPT_AWS_SIGV4). docs/s3.md has the design.
 *
 * How the promises of store.h hold here:
 *   S1  A sink spools its bytes to --spool in parts (64 MiB, --s3-part-size); a body that ends
 * within one part is one PUT at the sink's end, a longer one a multipart upload whose parts go out
 * while the next part is spooled and which is completed only at the end, once every stage upstream
 *       (the digests) has verified the body. S3 makes an object visible only when its PUT or
 *       its CompleteMultipartUpload succeeds; destroy aborts the multipart upload.
 *   S2  A commit is durable when the service answered 200 (RGW: written to its OSDs).
 *   S3  Keys are PREFIX + the checked name; the prefix's ".sluice/" holds the store's own objects.
 *   S4  Every request runs on the loop through curl_multi_socket_action; spool files are written
 *       on the thread pool (uv_fs_write).
 *   S5  (tus is not yet kept in S3: its jobs answer SL_ENOTIMPL.)
 *
 * A request that cannot reach the service, or that the service refuses for its credentials,
 * fails with SL_EUNAVAILABLE (503).
 */
#ifndef SL_STORAGE_S3_H
#define SL_STORAGE_S3_H

#include <stdint.h>

#include "store.h"

/* Where and how to reach the bucket; every string borrowed, copied by sl_s3_store_new. */
typedef struct sl_s3_conf_s {
    const char *url;      /* "s3://BUCKET[/PREFIX]" */
    const char *endpoint; /* "http://127.0.0.1:7480": path-style requests go to ENDPOINT/BUCKET */
    const char *region;   /* NULL or "": AWS_REGION, else us-east-1 */
    const char *access_key, *secret_key, *session_token; /* NULL or "": AWS_* variables */
    const char *spool;   /* the directory parts are spooled in (NULL or "": TMPDIR or /tmp) */
    uint64_t part_size;  /* 0: 64 MiB (at least 5 MiB: S3's smallest part but the last) */
    unsigned lock_lease; /* seconds a tus PATCH's lock lives unrenewed (0: 60) */
    unsigned retries;    /* tries after the first of a request that failed transiently (0: none) */
} sl_s3_conf_t;

/* 1 if `store` (borrowed) names an S3 store ("s3://..."). */
int sl_s3_is_url(const char *store);
/* Open the S3 store `conf` (borrowed) on `loop` as an sl_store_t (returned owned in *out:
 * sl_store_close): checks the configuration and the spool directory, then asks the bucket once
 * (HEAD, blocking, at start-up only) and aborts the multipart uploads of this prefix that were
 * started more than a day ago. 0; SL_EBADREQUEST with a message in err[errlen] for a bad
 * configuration; SL_EUNAVAILABLE (and a message) when the bucket cannot be reached or the
 * credentials are refused. */
int sl_s3_store_new(uv_loop_t *loop, const sl_s3_conf_t *conf, sl_store_t **out, char *err,
                    size_t errlen);

#endif
