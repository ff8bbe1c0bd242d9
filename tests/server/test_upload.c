/* SPDX-License-Identifier: MIT
 *
 * PUT and raw POST uploads (server/proto/upload.c, chain.c, digests.c; the first-call checks of
 * routes.c), through a fake connection: the real server attached to a fake libmicrohttpd
 * (tests/support/fake_mhd.h) that calls the access handler as 0.9.75 does (first call, one call
 * per body piece, final calls; a suspended connection is called again only after a resume and a
 * kick) on a real libuv loop, storing into a real store in a mkdtemp root.
 *
 * Covered: the 201 (JSON name/size/sha256, Location, ETag, Repr-Digest) and the file on disk; a
 * body in many pieces with backpressure (suspends); chunked bodies, also with pieces delivered
 * after a suspend; If-None-Match: * and POST ?name= on an existing name (412, 409) refused before
 * the body; Content-Length over --max-size (413 before the body); bad names (400, nothing written
 * anywhere); a chunked body crossing --max-size mid-body (413 from the final call, no temp file);
 * Content-Digest mismatch (400 with expected/actual) and match; a gzip body; a client that goes
 * away mid-body (temp file removed). Error bodies are checked for their JSON shape.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "support/doubles.h"
#include "support/fake_mhd.h"
#include "support/files.h"
#include "support/json.h"

static void sha256(const void *data, size_t len, unsigned char md[32])
{
    unsigned int n = 32;

    ck_assert_int_eq(EVP_Digest(data, len, md, &n, EVP_sha256(), NULL), 1);
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    int i;

    sha256(data, len, md);
    for (i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void sha256_b64(const void *data, size_t len, char out[64])
{
    unsigned char md[32];

    sha256(data, len, md);
    EVP_EncodeBlock((unsigned char *)out, md, 32);
}

static char *pattern(size_t len)
{
    char *p = malloc(len);

    ck_assert_ptr_nonnull(p);
    pattern_fill(p, len, 0);
    return p;
}

/* The file `name` under the root holds exactly data[0..len). */
static void assert_file(fc_host_t *h, const char *name, const void *data, size_t len)
{
    char path[4200];
    char *buf = malloc(len + 1);
    FILE *fp;

    ck_assert_ptr_nonnull(buf);
    snprintf(path, sizeof(path), "%s/%s", h->root, name);
    fp = fopen(path, "rb");
    ck_assert_msg(fp != NULL, "%s: not stored", name);
    ck_assert_uint_eq(fread(buf, 1, len + 1, fp), len);
    fclose(fp);
    ck_assert_int_eq(memcmp(buf, data, len), 0);
    free(buf);
}

/* Nothing left behind by an upload that failed: no temp file, and the root holds `entries`. */
static void assert_clean(fc_host_t *h, int entries)
{
    ck_assert_int_eq(fc_entries(h, ".sluice/tmp"), 0);
    ck_assert_int_eq(fc_entries(h, ""), entries);
}

static int tmp_empty(void *arg)
{
    return fc_entries(arg, ".sluice/tmp") == 0;
}

static int tmp_used(void *arg)
{
    return fc_entries(arg, ".sluice/tmp") > 0;
}

START_TEST(put_created)
{
    static const char data[] = "hello, sluice\n";
    char hex[65], b64[64], v[128], digest[80];
    fc_host_t h;
    fc_conn_t *c;

    fc_host_up(&h);
    c = fc_put(&h, "/files/dir/a%20b.txt", data, sizeof(data) - 1, 1);
    ck_assert_msg(fc_status(c) == 201, "%u %s", fc_status(c), fc_resp_body(c));
    ck_assert_int_eq(fc_early(c), 0);
    ck_assert_uint_ge(fc_suspends(c), 1); /* the final call waited for the commit */
    ck_assert_str_eq(fc_resp_header(c, "Content-Type"), "application/json");
    ck_assert(json_valid(fc_resp_body(c)));
    ck_assert(json_get(fc_resp_body(c), "name", v, sizeof(v)));
    ck_assert_str_eq(v, "dir/a b.txt");
    ck_assert(json_get(fc_resp_body(c), "size", v, sizeof(v)));
    ck_assert_str_eq(v, "14");
    sha256_hex(data, sizeof(data) - 1, hex);
    ck_assert(json_get(fc_resp_body(c), "sha256", v, sizeof(v)));
    ck_assert_str_eq(v, hex);
    ck_assert_str_eq(fc_resp_header(c, "Location"), "/files/dir/a%20b.txt");
    snprintf(v, sizeof(v), "\"%s\"", hex);
    ck_assert_str_eq(fc_resp_header(c, "ETag"), v); /* strong, from the content */
    sha256_b64(data, sizeof(data) - 1, b64);
    snprintf(digest, sizeof(digest), "sha-256=:%s:", b64);
    ck_assert_str_eq(fc_resp_header(c, "Repr-Digest"), digest);
    assert_file(&h, "dir/a b.txt", data, sizeof(data) - 1);
    ck_assert_int_eq(fc_entries(&h, ".sluice/tmp"), 0);
    fc_host_stop(&h);
}
END_TEST

START_TEST(put_in_many_pieces_with_backpressure)
{
    size_t len = (1u << 20) + 12345;
    char *data = pattern(len), hex[65], v[128];
    fc_host_t h;
    fc_conn_t *c;

    fc_host_init(&h);
    h.cfg.upload_buffer = 16 << 10; /* the chain says wait long before the body ends */
    fc_host_start(&h);
    c = fc_put(&h, "/files/big.bin", data, len, 97);
    ck_assert_msg(fc_status(c) == 201, "%u %s", fc_status(c), fc_resp_body(c));
    ck_assert_uint_eq(fc_delivered(c), len);
    ck_assert_uint_gt(fc_suspends(c), 2); /* backpressure reached the connection */
    sha256_hex(data, len, hex);
    ck_assert(json_get(fc_resp_body(c), "sha256", v, sizeof(v)));
    ck_assert_str_eq(v, hex);
    assert_file(&h, "big.bin", data, len);
    free(data);
    fc_host_stop(&h);
}
END_TEST

START_TEST(put_chunked)
{
    size_t len = 300000;
    char *data = pattern(len), v[64];
    fc_host_t h;
    fc_conn_t *c;

    fc_host_up(&h);
    c = fc_new(&h, "PUT", "/files/chunked.bin");
    fc_chunked(c);
    fc_body(c, data, len, 13);
    ck_assert_uint_eq(fc_run(c), 201);
    ck_assert(json_get(fc_resp_body(c), "size", v, sizeof(v)));
    ck_assert_uint_eq(strtoull(v, NULL, 10), len);
    assert_file(&h, "chunked.bin", data, len);
    free(data);
    fc_host_stop(&h);
}
END_TEST

/* libmicrohttpd 0.9.75 may call the handler with more chunks after it suspended (they come from
 * the same read buffer): they are accepted, in order. */
START_TEST(chunks_after_a_suspend_are_accepted)
{
    size_t len = 200000;
    char *data = pattern(len);
    fc_host_t h;
    fc_conn_t *c;

    fc_host_init(&h);
    h.cfg.upload_buffer = 8 << 10;
    fc_host_start(&h);
    c = fc_new(&h, "PUT", "/files/overrun.bin");
    fc_chunked(c);
    fc_overrun(c, 3);
    fc_body(c, data, len, 50);
    ck_assert_uint_eq(fc_run(c), 201);
    ck_assert_uint_eq(fc_delivered(c), len);
    assert_file(&h, "overrun.bin", data, len);
    free(data);
    fc_host_stop(&h);
}
END_TEST

START_TEST(put_replaces_unless_if_none_match)
{
    fc_host_t h;
    fc_conn_t *c;

    fc_host_up(&h);
    ck_assert_uint_eq(fc_status(fc_put(&h, "/files/a.txt", "first", 5, 1)), 201);
    ck_assert_uint_eq(fc_status(fc_put(&h, "/files/a.txt", "second", 6, 1)), 201);
    assert_file(&h, "a.txt", "second", 6);
    /* If-None-Match: * on an existing name: refused in the first call, the body never read */
    c = fc_new(&h, "PUT", "/files/a.txt");
    fc_header(c, "If-None-Match", "*");
    fc_body(c, "third", 5, 1);
    fc_run(c);
    fc_assert_error(c, 412, "SL_EEXISTS");
    ck_assert_int_eq(fc_early(c), 1);
    ck_assert_uint_eq(fc_delivered(c), 0);
    assert_file(&h, "a.txt", "second", 6);
    /* ... and on a new one, created */
    c = fc_new(&h, "PUT", "/files/b.txt");
    fc_header(c, "If-None-Match", "*");
    fc_body(c, "new", 3, 1);
    ck_assert_uint_eq(fc_run(c), 201);
    assert_file(&h, "b.txt", "new", 3);
    ck_assert_int_eq(fc_entries(&h, ".sluice/tmp"), 0);
    fc_host_stop(&h);
}
END_TEST

START_TEST(post_raw_named_and_random)
{
    fc_host_t h;
    fc_conn_t *c;
    char name[128];

    fc_host_up(&h);
    c = fc_new(&h, "POST", "/files/?name=posted+file.txt");
    fc_body(c, "raw", 3, 1);
    ck_assert_uint_eq(fc_run(c), 201);
    ck_assert(json_get(fc_resp_body(c), "name", name, sizeof(name)));
    ck_assert_str_eq(name, "posted file.txt");
    assert_file(&h, "posted file.txt", "raw", 3);
    /* the name exists: 409 for a POST (create only) */
    c = fc_new(&h, "POST", "/files/?name=posted%20file.txt");
    fc_body(c, "again", 5, 1);
    fc_run(c);
    fc_assert_error(c, 409, "SL_EEXISTS");
    ck_assert_int_eq(fc_early(c), 1);
    assert_file(&h, "posted file.txt", "raw", 3);
    /* no name: a random one, given back */
    c = fc_new(&h, "POST", "/files/");
    fc_body(c, "anonymous", 9, 1);
    ck_assert_uint_eq(fc_run(c), 201);
    ck_assert(json_get(fc_resp_body(c), "name", name, sizeof(name)));
    ck_assert_uint_gt(strlen(name), 8);
    assert_file(&h, name, "anonymous", 9);
    fc_host_stop(&h);
}
END_TEST

START_TEST(content_length_over_max_size_is_413_before_the_body)
{
    char body[101];
    fc_host_t h;
    fc_conn_t *c;

    memset(body, 'x', sizeof(body));
    fc_host_init(&h);
    h.cfg.max_size = 100;
    fc_host_start(&h);
    c = fc_put(&h, "/files/big.txt", body, 101, 1);
    fc_assert_error(c, 413, "SL_ETOOLARGE");
    ck_assert_int_eq(fc_early(c), 1);
    ck_assert_uint_eq(fc_delivered(c), 0);
    assert_clean(&h, 1);
    ck_assert_uint_eq(fc_status(fc_put(&h, "/files/fits.txt", body, 100, 1)), 201);
    fc_host_stop(&h);
}
END_TEST

START_TEST(bad_names_are_400_and_write_nothing)
{
    static const char *const urls[] = {
        "/files/../escaped.txt",
        "/files/%2e%2e/escaped.txt",
        "/files/a/../../escaped.txt",
        "/files/.sluice/escaped.txt",
        "/files//escaped.txt",
        "/files/a/",
        "/files/a%00b",
        "/files/%2e",
    };
    char parent[4200], *slash;
    fc_host_t h;
    size_t i;

    fc_host_up(&h);
    for (i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        fc_conn_t *c = fc_put(&h, urls[i], "evil", 4, 1);
        ck_assert_msg(fc_status(c) == 400, "%s: %u", urls[i], fc_status(c));
        fc_assert_error(c, 400, "SL_EBADNAME");
        ck_assert_int_eq(fc_early(c), 1);
    }
    assert_clean(&h, 1);
    ck_assert_int_eq(fc_entries(&h, ".sluice"), 3); /* tmp, meta, tus: nothing else */
    snprintf(parent, sizeof(parent), "%s", h.root);
    slash = strrchr(parent, '/');
    snprintf(slash, sizeof(parent) - (size_t)(slash - parent), "/escaped.txt");
    ck_assert_int_eq(access(parent, F_OK), -1);
    fc_host_stop(&h);
}
END_TEST

static int aborted;

static void on_abort(const sl_event_t *e, void *arg)
{
    (void)arg;
    aborted = e->reason;
}

static int was_aborted(void *arg)
{
    (void)arg;
    return aborted != 0;
}

START_TEST(chunked_body_crossing_max_size_is_413_at_the_end)
{
    sl_hooks_t hooks = {.on_abort = on_abort};
    char piece[400];
    fc_host_t h;
    fc_conn_t *c;
    int i;

    memset(piece, 'y', sizeof(piece));
    fc_host_init(&h);
    h.cfg.max_size = 1000;
    fc_host_start(&h);
    aborted = 0;
    sl_server_set_hooks(h.srv, &hooks);
    c = fc_new(&h, "PUT", "/files/over.bin");
    fc_chunked(c);
    ck_assert_uint_eq(fc_start(c), 0); /* the length is unknown: accepted */
    for (i = 0; i < 4; i++)
        ck_assert_int_eq(fc_send(c, piece, sizeof(piece)), 1); /* the rest is read, dropped */
    /* the chain has ended (every stage closed) before the body does: no temp file left */
    fc_turn_until(&h, was_aborted, NULL);
    ck_assert_int_eq(aborted, SL_ETOOLARGE);
    ck_assert_int_eq(fc_entries(&h, ".sluice/tmp"), 0);
    fc_end(c);
    fc_assert_error(c, 413, "SL_ETOOLARGE"); /* libmicrohttpd can only answer now */
    ck_assert_int_eq(fc_early(c), 0);
    ck_assert_uint_eq(fc_delivered(c), 1600);
    assert_clean(&h, 1);
    fc_host_stop(&h);
}
END_TEST

START_TEST(content_digest_mismatch_is_400_with_both_digests)
{
    static const char data[] = "the bytes that were sent";
    char field[96], want[64], got[64], v[128];
    fc_host_t h;
    fc_conn_t *c;
    const char *body;

    fc_host_up(&h);
    sha256_b64("other bytes", 11, want);
    snprintf(field, sizeof(field), "sha-256=:%s:", want);
    c = fc_new(&h, "PUT", "/files/d.txt");
    fc_header(c, "Content-Digest", field);
    fc_body(c, data, sizeof(data) - 1, 3);
    ck_assert_uint_eq(fc_run(c), 400);
    body = fc_resp_body(c);
    ck_assert_msg(json_valid(body), "%s", body);
    ck_assert(json_get(body, "code", v, sizeof(v)));
    ck_assert_str_eq(v, "SL_ECHECKSUM");
    ck_assert(json_get(body, "status", v, sizeof(v)));
    ck_assert_str_eq(v, "400");
    ck_assert(json_get(body, "error", v, sizeof(v)));
    ck_assert(json_get(body, "field", v, sizeof(v)));
    ck_assert_str_eq(v, "Content-Digest");
    ck_assert(json_get(body, "algorithm", v, sizeof(v)));
    ck_assert_str_eq(v, "sha-256");
    ck_assert(json_get(body, "expected", v, sizeof(v)));
    ck_assert_str_eq(v, want);
    sha256_b64(data, sizeof(data) - 1, got);
    ck_assert(json_get(body, "actual", v, sizeof(v)));
    ck_assert_str_eq(v, got);
    assert_clean(&h, 1); /* nothing committed */
    /* the right digest: stored */
    snprintf(field, sizeof(field), "sha-256=:%s:", got);
    c = fc_new(&h, "PUT", "/files/d.txt");
    fc_header(c, "Content-Digest", field);
    fc_body(c, data, sizeof(data) - 1, 3);
    ck_assert_uint_eq(fc_run(c), 201);
    assert_file(&h, "d.txt", data, sizeof(data) - 1);
    /* a malformed field: refused before the body */
    c = fc_new(&h, "PUT", "/files/e.txt");
    fc_header(c, "Content-Digest", "sha-256=not-base64");
    fc_body(c, data, sizeof(data) - 1, 1);
    fc_run(c);
    fc_assert_error(c, 400, "SL_EBADREQUEST");
    ck_assert_int_eq(fc_early(c), 1);
    fc_host_stop(&h);
}
END_TEST

START_TEST(gzip_body_is_stored_decoded)
{
    size_t len = 100000, zlen;
    char *data = pattern(len), v[64];
    unsigned char *z = malloc(len + 1024);
    z_stream zs;
    fc_host_t h;
    fc_conn_t *c;

    memset(&zs, 0, sizeof(zs));
    ck_assert_int_eq(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (unsigned char *)data;
    zs.avail_in = (uInt)len;
    zs.next_out = z;
    zs.avail_out = (uInt)(len + 1024);
    ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
    zlen = zs.total_out;
    deflateEnd(&zs);
    fc_host_up(&h);
    c = fc_new(&h, "PUT", "/files/z.bin");
    fc_header(c, "Content-Encoding", "gzip");
    fc_body(c, z, zlen, 4);
    ck_assert_uint_eq(fc_run(c), 201);
    ck_assert(json_get(fc_resp_body(c), "size", v, sizeof(v)));
    ck_assert_uint_eq(strtoull(v, NULL, 10), len);
    assert_file(&h, "z.bin", data, len);
    /* not gzip at all: 400, nothing stored */
    c = fc_new(&h, "PUT", "/files/bad.bin");
    fc_header(c, "Content-Encoding", "gzip");
    fc_body(c, data, 1000, 1);
    fc_run(c);
    fc_assert_error(c, 400, "SL_EDECODE");
    ck_assert_int_eq(fc_entries(&h, ".sluice/tmp"), 0);
    free(z);
    free(data);
    fc_host_stop(&h);
}
END_TEST

START_TEST(client_gone_mid_body_removes_the_temp_file)
{
    char piece[300];
    fc_host_t h;
    fc_conn_t *c;

    memset(piece, 'z', sizeof(piece));
    fc_host_up(&h);
    c = fc_new(&h, "PUT", "/files/partial.bin");
    fc_header(c, "Content-Length", "1000");
    ck_assert_uint_eq(fc_start(c), 0);
    ck_assert_int_eq(fc_send(c, piece, sizeof(piece)), 1);
    fc_turn_until(&h, tmp_used, &h); /* the temp file exists ... */
    fc_complete(c, MHD_REQUEST_TERMINATED_CLIENT_ABORT);
    fc_turn_until(&h, tmp_empty, &h); /* ... and to go */
    ck_assert_int_eq(fc_entries(&h, ""), 1);
    ck_assert_uint_eq(fc_status(c), 0);
    fc_host_stop(&h);
}
END_TEST

Suite *upload_suite(void)
{
    Suite *s = suite_create("upload");
    TCase *tc = add_tcase(s, "upload");

    tcase_add_test(tc, put_created);
    tcase_add_test(tc, put_in_many_pieces_with_backpressure);
    tcase_add_test(tc, put_chunked);
    tcase_add_test(tc, chunks_after_a_suspend_are_accepted);
    tcase_add_test(tc, put_replaces_unless_if_none_match);
    tcase_add_test(tc, post_raw_named_and_random);
    tcase_add_test(tc, content_length_over_max_size_is_413_before_the_body);
    tcase_add_test(tc, bad_names_are_400_and_write_nothing);
    tcase_add_test(tc, chunked_body_crossing_max_size_is_413_at_the_end);
    tcase_add_test(tc, content_digest_mismatch_is_400_with_both_digests);
    tcase_add_test(tc, gzip_body_is_stored_decoded);
    tcase_add_test(tc, client_gone_mid_body_removes_the_temp_file);
    return s;
}
