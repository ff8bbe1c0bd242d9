/* SPDX-License-Identifier: MIT
 *
 * check_up: the parts of sluice-up (tools/up/) that need no server: options and the endpoint
 * (args.c), FILE|DIR into names (walk.c), the resumable state (state.c), response fields and
 * metadata (proto.c), the display's formatting (progress.c). The transfers are exercised end to
 * end by tests/integration/test_up_tool.py. Every test runs in its own child process (CK_FORK).
 */
#include "up.h"

#include <check.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static FILE *devnull(void)
{
    FILE *f = fopen("/dev/null", "w");
    ck_assert_ptr_nonnull(f);
    return f;
}

static int parse(su_opts_t *o, int argc, const char **argv)
{
    FILE *n = devnull();
    int rc = su_args_parse(o, argc, (char **)argv, n, n);
    fclose(n);
    return rc;
}

/* --- args.c ----------------------------------------------------------------------------------- */

START_TEST(sizes)
{
    uint64_t v;

    ck_assert_int_eq(su_parse_size("64M", &v), 0);
    ck_assert_uint_eq(v, 64u << 20);
    ck_assert_int_eq(su_parse_size("10", &v), 0);
    ck_assert_uint_eq(v, 10);
    ck_assert_int_eq(su_parse_size("1KB", &v), -1);
    ck_assert_int_eq(su_parse_size("-1", &v), -1);
    ck_assert_int_eq(su_parse_size("", &v), -1);
    ck_assert_int_eq(su_parse_size("99999999999T", &v), -1);
}
END_TEST

START_TEST(endpoints)
{
    char e[512], o[256];

    ck_assert_int_eq(su_endpoint("http://h:8080", NULL, e, sizeof(e), o, sizeof(o)), 0);
    ck_assert_str_eq(e, "http://h:8080/uploads/");
    ck_assert_str_eq(o, "http://h:8080");
    ck_assert_int_eq(su_endpoint("https://h/base/", "/m/", e, sizeof(e), o, sizeof(o)), 0);
    ck_assert_str_eq(e, "https://h/base/m/uploads/");
    ck_assert_str_eq(o, "https://h");
    ck_assert_int_eq(su_endpoint("http://[::1]:9/uploads", "/x", e, sizeof(e), o, sizeof(o)), 0);
    ck_assert_str_eq(e, "http://[::1]:9/uploads/"); /* a creation URL is used as it is */
    ck_assert_str_eq(o, "http://[::1]:9");
    ck_assert_int_eq(su_endpoint("http://h/uploads/?sig=ab#f", NULL, e, sizeof(e), o, sizeof(o)),
                     0);
    ck_assert_str_eq(e, "http://h/uploads/?sig=ab"); /* a signed creation URL keeps its query */
    ck_assert_int_eq(su_endpoint("http://h/m?t=1", NULL, e, sizeof(e), o, sizeof(o)), 0);
    ck_assert_str_eq(e, "http://h/m/uploads/?t=1");
    ck_assert_int_eq(su_endpoint("ftp://h", NULL, e, sizeof(e), o, sizeof(o)), -1);
    ck_assert_int_eq(su_endpoint("http://", NULL, e, sizeof(e), o, sizeof(o)), -1);
    ck_assert_int_eq(su_endpoint("http://[::1:9", NULL, e, sizeof(e), o, sizeof(o)), -1);
    ck_assert_int_eq(su_endpoint("http://h", "m", e, sizeof(e), o, sizeof(o)), -1);
    ck_assert_int_eq(su_endpoint("http://h?x=1/y", NULL, e, sizeof(e), o, sizeof(o)), -1);
}
END_TEST

START_TEST(options)
{
    su_opts_t o;
    const char *ok[] = {"sluice-up", "-p",     "8",        "--protocol", "ietf",
                        "-H",        "X-A: 1", "--bearer", "t",          "--parts",
                        "4",         "--json", "a",        "b",          "http://h:1"};
    const char *bad1[] = {"sluice-up", "--parallel", "0", "a", "http://h"};
    const char *bad2[] = {"sluice-up", "--protocol", "ftp", "a", "http://h"};
    const char *bad3[] = {"sluice-up", "-H", "nocolon", "a", "http://h"};
    const char *bad4[] = {"sluice-up", "http://h"};
    const char *bad5[] = {"sluice-up", "--frobnicate", "a", "http://h"};
    const char *help[] = {"sluice-up", "--help"};

    ck_assert_int_eq(parse(&o, 15, ok), 0);
    ck_assert_uint_eq(o.parallel, 8);
    ck_assert_int_eq(o.protocol, SU_IETF);
    ck_assert_uint_eq(o.nheaders, 1);
    ck_assert_str_eq(o.headers[0], "X-A: 1");
    ck_assert_str_eq(o.bearer, "t");
    ck_assert_uint_eq(o.parts, 4);
    ck_assert_int_eq(o.json, 1);
    ck_assert_int_eq(o.progress, 0); /* --json: no display */
    ck_assert_int_eq(o.npaths, 2);
    ck_assert_str_eq(o.paths[1], "b");
    ck_assert_str_eq(o.endpoint, "http://h:1/uploads/");
    ck_assert_int_eq(parse(&o, 5, bad1), -1);
    ck_assert_int_eq(parse(&o, 5, bad2), -1);
    ck_assert_int_eq(parse(&o, 5, bad3), -1);
    ck_assert_int_eq(parse(&o, 2, bad4), -1);
    ck_assert_int_eq(parse(&o, 4, bad5), -1);
    ck_assert_int_eq(parse(&o, 2, help), 1);
}
END_TEST

/* --- walk.c ----------------------------------------------------------------------------------- */

static void touch(const char *path, size_t size)
{
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
    close(fd);
}

START_TEST(walk_tree)
{
    char tmpl[] = "/tmp/check-up-XXXXXX", p[512];
    const char *d = mkdtemp(tmpl);
    su_list_t l = {0};
    char *args[2];
    FILE *n = devnull();

    ck_assert_ptr_nonnull(d);
    snprintf(p, sizeof(p), "%s/photos", d);
    mkdir(p, 0700);
    snprintf(p, sizeof(p), "%s/photos/2024", d);
    mkdir(p, 0700);
    snprintf(p, sizeof(p), "%s/photos/2024/b.jpg", d);
    touch(p, 3);
    snprintf(p, sizeof(p), "%s/photos/a.jpg", d);
    touch(p, 5);
    snprintf(p, sizeof(p), "%s/photos/link", d);
    ck_assert_int_eq(symlink("2024", p), 0); /* a link to a directory: not followed */
    snprintf(p, sizeof(p), "%s/one.txt", d);
    touch(p, 7);
    args[0] = p;
    snprintf(p + 256, 256, "%s/photos/", d);
    args[1] = p + 256;
    ck_assert_int_eq(su_walk(&l, args, 2, "up/", n), 0);
    ck_assert_uint_eq(l.n, 3);
    ck_assert_str_eq(l.v[0].name, "up/one.txt");
    ck_assert_uint_eq(l.v[0].size, 7);
    ck_assert_str_eq(l.v[1].name, "up/photos/2024/b.jpg");
    ck_assert_str_eq(l.v[2].name, "up/photos/a.jpg");
    su_list_free(&l);
    /* the same name twice is refused before anything is sent */
    args[1] = p;
    ck_assert_int_eq(su_walk(&l, args, 2, NULL, n), -1);
    su_list_free(&l);
    args[0] = (char *)"/nonexistent/x";
    ck_assert_int_eq(su_walk(&l, args, 1, NULL, n), -1);
    su_list_free(&l);
    args[0] = p;
    ck_assert_int_eq(su_walk(&l, args, 1, "../x", n), -1); /* no ".." in a remote name */
    su_list_free(&l);
    fclose(n);
}
END_TEST

/* --- state.c ---------------------------------------------------------------------------------- */

START_TEST(state_roundtrip)
{
    char tmpl[] = "/tmp/check-up-XXXXXX", dir[600], key[65], key2[65], path[800];
    char urls[2][2048], back[2][2048];
    const char *d = mkdtemp(tmpl);
    su_opts_t o;
    su_file_t f;
    const char *argv[] = {"sluice-up", "a", "http://h:1"};

    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(parse(&o, 3, argv), 0);
    snprintf(dir, sizeof(dir), "%s/deep/er", d);
    ck_assert_int_eq(su_state_dir(dir, path, sizeof(path)), 0);
    ck_assert_str_eq(path, dir);
    snprintf(path, sizeof(path), "%s/f", d);
    touch(path, 10);
    f = (su_file_t){path, (char *)"f", 10, 1};
    su_state_key(&o, &f, 1, key);
    ck_assert_uint_eq(strlen(key), 64);
    f.mtime_ns = 2; /* a changed file is another upload */
    su_state_key(&o, &f, 1, key2);
    ck_assert_str_ne(key, key2);
    su_state_key(&o, &f, 2, key2);
    f.mtime_ns = 1;
    ck_assert_int_eq(su_state_load(dir, key, back, 1), 0);
    snprintf(urls[0], sizeof(urls[0]), "http://h:1/uploads/aa");
    snprintf(urls[1], sizeof(urls[1]), "http://h:1/uploads/bb");
    ck_assert_int_eq(su_state_save(dir, key, urls, 2), 0);
    ck_assert_int_eq(su_state_load(dir, key, back, 2), 2);
    ck_assert_str_eq(back[1], "http://h:1/uploads/bb");
    ck_assert_int_eq(su_state_load(dir, key, back, 1), 0); /* more lines than parts */
    su_state_remove(dir, key);
    ck_assert_int_eq(su_state_load(dir, key, back, 2), 0);
    /* a torn file (no final newline) counts as none */
    snprintf(path, sizeof(path), "%s/%s", dir, key);
    FILE *t = fopen(path, "w");
    fputs("http://h:1/uploads/a", t);
    fclose(t);
    ck_assert_int_eq(su_state_load(dir, key, back, 1), 0);
}
END_TEST

/* --- proto.c ---------------------------------------------------------------------------------- */

#define H(r, s) su_resp_header(r, s, strlen(s))

START_TEST(response_fields)
{
    su_resp_t r;
    char msg[256];

    su_resp_reset(&r);
    H(&r, "HTTP/1.1 100 Continue\r\n");
    H(&r, "Upload-Offset: 5\r\n");
    H(&r, "HTTP/1.1 204 No Content\r\n"); /* the interim answer's fields are forgotten */
    ck_assert_int_eq(r.status, 204);
    ck_assert_int_eq(r.offset, -1);
    H(&r, "upload-offset:  123 \r\n");
    H(&r, "Upload-Length: 12x\r\n");
    H(&r, "Upload-Complete: ?1\r\n");
    H(&r, "Location: /uploads/abc\r\n");
    H(&r, "Content-Location: /files/c\r\n");
    H(&r, "Sluice-File: /files/a%20b\r\n");
    H(&r,
      "Repr-Digest: sha-512=:AAAA:, sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:\r\n");
    ck_assert_int_eq(r.offset, 123);
    ck_assert_int_eq(r.length, -1);
    ck_assert_int_eq(r.complete, 1);
    ck_assert_str_eq(r.location, "/uploads/abc");
    ck_assert_str_eq(r.file, "/files/a%20b");
    ck_assert_str_eq(r.sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    H(&r, "Repr-Digest: sha-256=:tooshort:\r\n");
    ck_assert_str_eq(r.sha256, "");
    su_resp_reset(&r);
    H(&r, "HTTP/1.1 413 Content Too Large\r\n");
    su_resp_body(&r, "{\"error\":\"the upload is larger than --max-size\",\"status\":413}", 61);
    su_resp_message(&r, msg, sizeof(msg));
    ck_assert_str_eq(msg, "HTTP 413: the upload is larger than --max-size");
    su_resp_reset(&r);
    H(&r, "HTTP/1.1 409 Conflict\r\n");
    su_resp_body(&r, "{\"type\":\"x\",\"title\":\"offset mismatch\"}", 38);
    su_resp_message(&r, msg, sizeof(msg));
    ck_assert_str_eq(msg, "HTTP 409: offset mismatch");
    su_resp_reset(&r);
    H(&r, "HTTP/1.1 502 Bad Gateway\r\n");
    su_resp_message(&r, msg, sizeof(msg));
    ck_assert_str_eq(msg, "HTTP 502");
}
END_TEST

START_TEST(metadata_and_urls)
{
    char out[512];

    su_metadata("a.txt", out, sizeof(out));
    ck_assert_str_eq(out, "filename YS50eHQ=");
    su_metadata("dir/ab", out, sizeof(out));
    ck_assert_str_eq(out, "filename YWI=,relativePath ZGlyL2Fi");
    su_resolve("http://h:1", "/uploads/x", out, sizeof(out));
    ck_assert_str_eq(out, "http://h:1/uploads/x");
    su_resolve("http://h:1", "https://o/uploads/y", out, sizeof(out));
    ck_assert_str_eq(out, "https://o/uploads/y");
}
END_TEST

/* --- progress.c ------------------------------------------------------------------------------- */

START_TEST(formatting)
{
    char out[256];
    su_bar_t b = {"some/long/name/of/a/file.bin", 50u << 20, 100u << 20, 10.0 * (1 << 20)};

    su_fmt_bytes(0, out, sizeof(out));
    ck_assert_str_eq(out, "0 B");
    su_fmt_bytes(1536, out, sizeof(out));
    ck_assert_str_eq(out, "1.50 KiB");
    su_fmt_bytes(300.0 * (1 << 20), out, sizeof(out));
    ck_assert_str_eq(out, "300 MiB");
    su_fmt_eta(65, out, sizeof(out));
    ck_assert_str_eq(out, "1:05");
    su_fmt_eta(3725, out, sizeof(out));
    ck_assert_str_eq(out, "1:02:05");
    su_fmt_eta(-1, out, sizeof(out));
    ck_assert_str_eq(out, "--:--");
    su_json_str("a\"b\\c\n", out, sizeof(out));
    ck_assert_str_eq(out, "a\\\"b\\\\c\\u000a");
    su_bar_line(&b, 80, out, sizeof(out));
    ck_assert_uint_le(strlen(out), 80);
    ck_assert_ptr_nonnull(strstr(out, "50.0 MiB / 100 MiB"));
    ck_assert_ptr_nonnull(strstr(out, " 50%"));
    ck_assert_ptr_nonnull(strstr(out, "10.0 MiB/s"));
    ck_assert_ptr_nonnull(strstr(out, "ETA 0:05"));
    su_bar_line(&b, 60, out, sizeof(out)); /* a narrow terminal: the name is shortened */
    ck_assert_uint_le(strlen(out), 60);
    ck_assert_ptr_nonnull(strstr(out, "..."));
    ck_assert_ptr_nonnull(strstr(out, "bin   50.0 MiB"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sluice-up");
    TCase *tc = tcase_create("parts");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, sizes);
    tcase_add_test(tc, endpoints);
    tcase_add_test(tc, options);
    tcase_add_test(tc, walk_tree);
    tcase_add_test(tc, state_roundtrip);
    tcase_add_test(tc, response_fields);
    tcase_add_test(tc, metadata_and_urls);
    tcase_add_test(tc, formatting);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
