/* SPDX-License-Identifier: MIT
 *
 * tus 1.0 under /uploads/ (server/proto/tus.c, tus_lock.c, tus_parse.c), through a fake
 * connection: the real server attached to a fake libmicrohttpd (tests/support/fake_mhd.h) that
 * calls the access handler as 0.9.75 does (first call, pieces, final calls; a suspended connection
 * is called again only after a resume and a kick), on a real libuv loop and a real store in a
 * mkdtemp root. A PATCH waits in its first call for its turn at the upload, so a refusal comes
 * before its body is read.
 *
 * Covered: OPTIONS; POST creating an upload (201, Location, Upload-Offset, Upload-Expires);
 * HEAD; PATCH with a wrong offset (409 with the offset to resume from, body unread); PATCHes
 * completing the upload (204s, the file committed under its metadata filename with its
 * Repr-Digest); creation-with-upload; DELETE; the Tus-Resumable check (412 with Tus-Version), the
 * PATCH content type (415), a body past Upload-Length (413), an Upload-Checksum mismatch (460,
 * nothing counted); a client gone mid-PATCH (its bytes kept); a second PATCH making the first
 * writer stop (tus_lock.c: the first one's bytes recorded, the newcomer told the new offset).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "support/doubles.h"
#include "support/fake_mhd.h"
#include "support/files.h"
#include "support/json.h"

#define OCTETS "application/offset+octet-stream"
#define DONE_TXT "ZG9uZS50eHQ=" /* base64("done.txt") */

static fc_conn_t *tus_new(fc_host_t *h, const char *method, const char *url)
{
    fc_conn_t *c = fc_new(h, method, url);

    fc_header(c, "Tus-Resumable", "1.0.0");
    return c;
}

/* POST an upload of `length`; its URL into url[cap]. */
static void create(fc_host_t *h, const char *length, const char *metadata, char *url, size_t cap)
{
    fc_conn_t *c = tus_new(h, "POST", "/uploads/");
    const char *loc;

    fc_header(c, "Upload-Length", length);
    if (metadata != NULL)
        fc_header(c, "Upload-Metadata", metadata);
    ck_assert_uint_eq(fc_run(c), 201);
    ck_assert_str_eq(fc_resp_header(c, "Upload-Offset"), "0");
    ck_assert_str_eq(fc_resp_header(c, "Tus-Resumable"), "1.0.0");
    ck_assert_ptr_nonnull(fc_resp_header(c, "Upload-Expires"));
    loc = fc_resp_header(c, "Location");
    ck_assert_ptr_nonnull(loc);
    ck_assert_uint_eq(strlen(loc), strlen("/uploads/") + 32);
    ck_assert_int_eq(strncmp(loc, "/uploads/", 9), 0);
    snprintf(url, cap, "%s", loc);
}

static fc_conn_t *patch(fc_host_t *h, const char *url, const char *offset, const char *data,
                        size_t len, unsigned pieces)
{
    fc_conn_t *c = tus_new(h, "PATCH", url);

    fc_header(c, "Content-Type", OCTETS);
    fc_header(c, "Upload-Offset", offset);
    fc_body(c, data, len, pieces);
    fc_run(c);
    return c;
}

/* HEAD: the offset recorded, as a string into out[cap]; the status. */
static unsigned head(fc_host_t *h, const char *url, char *out, size_t cap)
{
    fc_conn_t *c = tus_new(h, "HEAD", url);
    const char *v;

    fc_run(c);
    v = fc_resp_header(c, "Upload-Offset");
    snprintf(out, cap, "%s", v != NULL ? v : "");
    if (fc_status(c) == 200)
        ck_assert_str_eq(fc_resp_header(c, "Cache-Control"), "no-store");
    return fc_status(c);
}

START_TEST(options_describes_the_server)
{
    fc_host_t h;
    fc_conn_t *c;

    fc_host_init(&h);
    h.cfg.max_size = 1 << 20;
    fc_host_start(&h);
    c = fc_request(&h, "OPTIONS", "/uploads/");
    ck_assert_uint_eq(fc_status(c), 204);
    ck_assert_str_eq(fc_resp_header(c, "Tus-Version"), "1.0.0");
    ck_assert_ptr_nonnull(strstr(fc_resp_header(c, "Tus-Extension"), "creation"));
    ck_assert_str_eq(fc_resp_header(c, "Tus-Max-Size"), "1048576");
    fc_host_stop(&h);
}
END_TEST

START_TEST(create_patch_patch_complete)
{
    char url[128], off[32], buf[32];
    fc_host_t h;
    fc_conn_t *c;

    fc_host_up(&h);
    create(&h, "10", "filename " DONE_TXT, url, sizeof(url));
    ck_assert_uint_eq(head(&h, url, off, sizeof(off)), 200);
    ck_assert_str_eq(off, "0");
    /* a wrong offset: 409 from the first call, with where to resume, the body unread */
    c = patch(&h, url, "5", "56789", 5, 1);
    fc_assert_error(c, 409, "SL_EOFFSET");
    ck_assert_str_eq(fc_resp_header(c, "Upload-Offset"), "0");
    ck_assert_int_eq(fc_early(c), 1);
    ck_assert_uint_eq(fc_delivered(c), 0);
    /* the first part */
    c = patch(&h, url, "0", "0123", 4, 2);
    ck_assert_msg(fc_status(c) == 204, "%u %s", fc_status(c), fc_resp_body(c));
    ck_assert_str_eq(fc_resp_header(c, "Upload-Offset"), "4");
    ck_assert_str_eq(fc_resp_header(c, "Upload-Length"), "10");
    ck_assert_ptr_null(fc_resp_header(c, "Sluice-File"));
    ck_assert_uint_eq(head(&h, url, off, sizeof(off)), 200);
    ck_assert_str_eq(off, "4");
    ck_assert_int_eq(slurp(h.root, "done.txt", buf, sizeof(buf)), -1); /* not yet */
    /* the rest: the upload completes and is committed under its filename */
    c = patch(&h, url, "4", "456789", 6, 3);
    ck_assert_msg(fc_status(c) == 204, "%u %s", fc_status(c), fc_resp_body(c));
    ck_assert_str_eq(fc_resp_header(c, "Upload-Offset"), "10");
    ck_assert_str_eq(fc_resp_header(c, "Sluice-File"), "/files/done.txt");
    ck_assert_ptr_nonnull(fc_resp_header(c, "Repr-Digest"));
    ck_assert_int_eq(slurp(h.root, "done.txt", buf, sizeof(buf)), 10);
    ck_assert_str_eq(buf, "0123456789");
    /* a finished upload is still described */
    c = tus_new(&h, "HEAD", url);
    ck_assert_uint_eq(fc_run(c), 200);
    ck_assert_str_eq(fc_resp_header(c, "Sluice-File"), "/files/done.txt");
    fc_host_stop(&h);
}
END_TEST

START_TEST(creation_with_upload)
{
    fc_host_t h;
    fc_conn_t *c;
    char buf[32];

    fc_host_up(&h);
    c = tus_new(&h, "POST", "/uploads/");
    fc_header(c, "Upload-Length", "6");
    fc_header(c, "Upload-Metadata", "filename " DONE_TXT);
    fc_header(c, "Content-Type", OCTETS);
    fc_body(c, "abcdef", 6, 2);
    ck_assert_msg(fc_run(c) == 201, "%u %s", fc_status(c), fc_resp_body(c));
    ck_assert_str_eq(fc_resp_header(c, "Upload-Offset"), "6");
    ck_assert_ptr_nonnull(fc_resp_header(c, "Location"));
    ck_assert_int_eq(slurp(h.root, "done.txt", buf, sizeof(buf)), 6);
    ck_assert_str_eq(buf, "abcdef");
    fc_host_stop(&h);
}
END_TEST

START_TEST(delete_terminates)
{
    char url[128], off[32];
    fc_host_t h;
    fc_conn_t *c;

    fc_host_up(&h);
    create(&h, "10", NULL, url, sizeof(url));
    ck_assert_uint_eq(fc_status(patch(&h, url, "0", "01", 2, 1)), 204);
    c = tus_new(&h, "DELETE", url);
    ck_assert_uint_eq(fc_run(c), 204);
    ck_assert_uint_eq(head(&h, url, off, sizeof(off)), 404);
    fc_assert_error(patch(&h, url, "2", "23", 2, 1), 404, "SL_ENOTFOUND");
    ck_assert_int_eq(fc_entries(&h, ".sluice/tus"), 0);
    /* an id that never existed, and one that is no id */
    ck_assert_uint_eq(head(&h, "/uploads/0123456789abcdef0123456789abcdef", off, sizeof(off)), 404);
    ck_assert_uint_eq(head(&h, "/uploads/zzz", off, sizeof(off)), 404);
    fc_host_stop(&h);
}
END_TEST

START_TEST(protocol_refusals)
{
    char url[128], off[32];
    fc_host_t h;
    fc_conn_t *c;

    fc_host_up(&h);
    create(&h, "5", NULL, url, sizeof(url));
    /* no Tus-Resumable: 412 naming the version sluice speaks */
    c = fc_new(&h, "PATCH", url);
    fc_header(c, "Content-Type", OCTETS);
    fc_header(c, "Upload-Offset", "0");
    fc_body(c, "abc", 3, 1);
    fc_run(c);
    fc_assert_error(c, 412, "SL_EVERSION");
    ck_assert_str_eq(fc_resp_header(c, "Tus-Version"), "1.0.0");
    ck_assert_int_eq(fc_early(c), 1);
    /* a PATCH that is no offset stream */
    c = tus_new(&h, "PATCH", url);
    fc_header(c, "Content-Type", "text/plain");
    fc_header(c, "Upload-Offset", "0");
    fc_body(c, "abc", 3, 1);
    fc_run(c);
    fc_assert_error(c, 415, "SL_EUNSUPPORTED");
    /* a body past Upload-Length */
    c = patch(&h, url, "0", "abcdef", 6, 1);
    fc_assert_error(c, 413, "SL_ETOOLARGE");
    ck_assert_int_eq(fc_early(c), 1);
    /* POST without a length */
    c = tus_new(&h, "POST", "/uploads/");
    fc_run(c);
    fc_assert_error(c, 400, "SL_EBADREQUEST");
    ck_assert_uint_eq(head(&h, url, off, sizeof(off)), 200);
    ck_assert_str_eq(off, "0");
    fc_host_stop(&h);
}
END_TEST

START_TEST(checksum_mismatch_counts_nothing)
{
    unsigned char md[20];
    char url[128], off[32], b64[40], field[64];
    unsigned int n = 20;
    fc_host_t h;
    fc_conn_t *c;

    fc_host_up(&h);
    create(&h, "10", NULL, url, sizeof(url));
    ck_assert_int_eq(EVP_Digest("other", 5, md, &n, EVP_sha1(), NULL), 1);
    EVP_EncodeBlock((unsigned char *)b64, md, 20);
    snprintf(field, sizeof(field), "sha1 %s", b64);
    c = tus_new(&h, "PATCH", url);
    fc_header(c, "Content-Type", OCTETS);
    fc_header(c, "Upload-Offset", "0");
    fc_header(c, "Upload-Checksum", field);
    fc_body(c, "01234", 5, 2);
    fc_run(c);
    fc_assert_error(c, 460, "SL_EUPLOADCHECKSUM");
    ck_assert_uint_eq(head(&h, url, off, sizeof(off)), 200);
    ck_assert_str_eq(off, "0");
    /* the right checksum: counted */
    ck_assert_int_eq(EVP_Digest("01234", 5, md, &n, EVP_sha1(), NULL), 1);
    EVP_EncodeBlock((unsigned char *)b64, md, 20);
    snprintf(field, sizeof(field), "sha1 %s", b64);
    c = tus_new(&h, "PATCH", url);
    fc_header(c, "Content-Type", OCTETS);
    fc_header(c, "Upload-Offset", "0");
    fc_header(c, "Upload-Checksum", field);
    fc_body(c, "01234", 5, 2);
    ck_assert_uint_eq(fc_run(c), 204);
    ck_assert_str_eq(fc_resp_header(c, "Upload-Offset"), "5");
    fc_host_stop(&h);
}
END_TEST

START_TEST(client_gone_mid_patch_keeps_its_bytes)
{
    char url[128], off[32];
    fc_host_t h;
    fc_conn_t *c;

    fc_host_up(&h);
    create(&h, "10", NULL, url, sizeof(url));
    c = tus_new(&h, "PATCH", url);
    fc_header(c, "Content-Type", OCTETS);
    fc_header(c, "Upload-Offset", "0");
    fc_header(c, "Content-Length", "10");
    ck_assert_uint_eq(fc_start(c), 0);
    ck_assert_int_eq(fc_send(c, "0123", 4), 1);
    fc_complete(c, MHD_REQUEST_TERMINATED_CLIENT_ABORT);
    ck_assert_uint_eq(head(&h, url, off, sizeof(off)), 200); /* its turn comes after the record */
    ck_assert_str_eq(off, "4");
    ck_assert_uint_eq(fc_status(patch(&h, url, "4", "456789", 6, 1)), 204);
    fc_host_stop(&h);
}
END_TEST

/* A client whose connection died unseen comes back: its new request makes the old PATCH stop,
 * what the old one received is recorded, and the newcomer learns where to resume. */
START_TEST(a_newcomer_stops_the_old_writer)
{
    char url[128];
    fc_host_t h;
    fc_conn_t *old, *c;

    fc_host_up(&h);
    create(&h, "10", NULL, url, sizeof(url));
    old = tus_new(&h, "PATCH", url);
    fc_header(old, "Content-Type", OCTETS);
    fc_header(old, "Upload-Offset", "0");
    fc_header(old, "Content-Length", "10");
    ck_assert_uint_eq(fc_start(old), 0);
    ck_assert_int_eq(fc_send(old, "0123", 4), 1);
    c = patch(&h, url, "0", "012", 3, 1);
    fc_assert_error(c, 409, "SL_EOFFSET");
    ck_assert_str_eq(fc_resp_header(c, "Upload-Offset"), "4");
    ck_assert_uint_eq(fc_conn_timeout(old), 1); /* libmicrohttpd is told to close the old one */
    ck_assert_uint_eq(fc_status(old), 0);       /* mid-body: nothing can be queued for it */
    fc_complete(old, MHD_REQUEST_TERMINATED_TIMEOUT_REACHED);
    c = patch(&h, url, "4", "456789", 6, 2);
    ck_assert_uint_eq(fc_status(c), 204);
    ck_assert_str_eq(fc_resp_header(c, "Upload-Offset"), "10");
    fc_host_stop(&h);
}
END_TEST

Suite *tus_suite(void)
{
    Suite *s = suite_create("tus");
    TCase *tc = add_tcase(s, "tus");

    tcase_add_test(tc, options_describes_the_server);
    tcase_add_test(tc, create_patch_patch_complete);
    tcase_add_test(tc, creation_with_upload);
    tcase_add_test(tc, delete_terminates);
    tcase_add_test(tc, protocol_refusals);
    tcase_add_test(tc, checksum_mismatch_counts_nothing);
    tcase_add_test(tc, client_gone_mid_patch_keeps_its_bytes);
    tcase_add_test(tc, a_newcomer_stops_the_old_writer);
    return s;
}
