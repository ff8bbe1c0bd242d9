/* SPDX-License-Identifier: MIT
 *
 * The upload page (server/http/ui.c): its files read from a directory, and GET / and /ui/<file>
 * through a fake connection (the real server attached to tests/support/fake_mhd.h, --ui-dir a
 * mkdtemp directory).
 *
 * Covered: safe names, content types, hashed names; loading (index.html required, hidden files,
 * subdirectories and symbolic links not served, the size bound); the answers: index with no-cache
 * and a strict Content-Security-Policy, a hashed asset immutable, 304 on a matching ETag, HEAD,
 * 405, the mount's redirect to its slash; and paths that must never leave the directory
 * ("/ui/../x", "%2e%2e", "/ui/a/b", a link to a file outside): 404, whatever exists outside.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/http.h"
#include "http/ui.h"
#include "support/doubles.h"
#include "support/fake_mhd.h"
#include "support/files.h"

static const char INDEX[] = "<!doctype html><title>page</title>";
static const char APP[] = "console.log('app')";

START_TEST(safe_names_only)
{
    ck_assert_int_eq(sl__ui_name_ok("index.html"), 1);
    ck_assert_int_eq(sl__ui_name_ok("app-3F2A1B7C.js"), 1);
    ck_assert_int_eq(sl__ui_name_ok("a_b-c.d.css"), 1);
    ck_assert_int_eq(sl__ui_name_ok(""), 0);
    ck_assert_int_eq(sl__ui_name_ok("."), 0);
    ck_assert_int_eq(sl__ui_name_ok(".."), 0);
    ck_assert_int_eq(sl__ui_name_ok("../x"), 0);
    ck_assert_int_eq(sl__ui_name_ok("%2e%2e"), 0);
    ck_assert_int_eq(sl__ui_name_ok("a/b"), 0);
    ck_assert_int_eq(sl__ui_name_ok("a\\b"), 0);
    ck_assert_int_eq(sl__ui_name_ok(".hidden"), 0);
    ck_assert_int_eq(sl__ui_name_ok("a b"), 0);
    ck_assert_int_eq(
        sl__ui_name_ok("0123456789012345678901234567890123456789012345678901234567890123"), 0);
}
END_TEST

START_TEST(content_types_and_hashed_names)
{
    ck_assert_str_eq(sl__ui_content_type("index.html"), "text/html; charset=utf-8");
    ck_assert_str_eq(sl__ui_content_type("app-ZKEP3U35.js"), "text/javascript; charset=utf-8");
    ck_assert_str_eq(sl__ui_content_type("style-G3SINLPO.css"), "text/css; charset=utf-8");
    ck_assert_str_eq(sl__ui_content_type("icon.svg"), "image/svg+xml");
    ck_assert_str_eq(sl__ui_content_type("a.png"), "image/png");
    ck_assert_str_eq(sl__ui_content_type("a.js.map"), "application/json");
    ck_assert_str_eq(sl__ui_content_type("README"), "application/octet-stream");
    ck_assert_str_eq(sl__ui_content_type("a.exe"), "application/octet-stream");
    ck_assert_int_eq(sl__ui_hashed("app-ZKEP3U35.js"), 1);
    ck_assert_int_eq(sl__ui_hashed("style-G3SINLPO.css"), 1);
    ck_assert_int_eq(sl__ui_hashed("app-ZKEP3U3.js"), 0); /* 7 characters */
    ck_assert_int_eq(sl__ui_hashed("app-zkep3u35.js"), 0);
    ck_assert_int_eq(sl__ui_hashed("appZKEP3U35.js"), 0);
    ck_assert_int_eq(sl__ui_hashed("-ZKEP3U35.js"), 0);
    ck_assert_int_eq(sl__ui_hashed("index.html"), 0);
    ck_assert_int_eq(sl__ui_hashed("ZKEP3U35"), 0);
}
END_TEST

/* A page directory: index.html, a hashed script, a plain file; returned owned (tmpdir_remove). */
static char *page_dir(void)
{
    char *dir = tmpdir_new();

    put_text(dir, "index.html", INDEX);
    put_text(dir, "app-ZKEP3U35.js", APP);
    put_text(dir, "notes.txt", "notes");
    return dir;
}

/* What a page directory must not serve: a hidden file, a subdirectory's file, a symbolic link to
 * outside/secret.txt. */
static void add_traps(const char *dir, const char *outside)
{
    char path[4200], target[4200];

    put_text(dir, ".hidden", "x");
    put_text(outside, "secret.txt", "secret");
    snprintf(path, sizeof(path), "%s/sub", dir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    put_text(path, "deep.txt", "deep");
    snprintf(path, sizeof(path), "%s/link.txt", dir);
    snprintf(target, sizeof(target), "%s/secret.txt", outside);
    ck_assert_int_eq(symlink(target, path), 0);
}

START_TEST(load_reads_safe_regular_files_only)
{
    char *dir = page_dir(), *outside = tmpdir_new();
    sl_ui_t *ui = NULL;

    add_traps(dir, outside);
    ck_assert_int_eq(sl__ui_load(dir, &ui), 0);
    ck_assert_uint_eq(ui->n, 3);
    ck_assert_ptr_nonnull(sl__ui_find(ui, "index.html"));
    ck_assert_uint_eq(sl__ui_find(ui, "index.html")->len, strlen(INDEX));
    ck_assert_int_eq(sl__ui_find(ui, "app-ZKEP3U35.js")->immutable, 1);
    ck_assert_int_eq(sl__ui_find(ui, "notes.txt")->immutable, 0);
    ck_assert_ptr_null(sl__ui_find(ui, ".hidden"));
    ck_assert_ptr_null(sl__ui_find(ui, "link.txt")); /* a symbolic link is not served */
    ck_assert_ptr_null(sl__ui_find(ui, "sub"));
    ck_assert_ptr_null(sl__ui_find(ui, "sub/deep.txt"));
    ck_assert_ptr_null(sl__ui_find(ui, "../index.html"));
    sl__ui_free(ui);
    tmpdir_remove(dir);
    tmpdir_remove(outside);
}
END_TEST

START_TEST(load_needs_an_index_and_a_directory)
{
    char *dir = tmpdir_new();
    sl_ui_t *ui = NULL;

    put_text(dir, "app.js", APP);
    ck_assert_int_eq(sl__ui_load(dir, &ui), UV_ENOENT);
    ck_assert_int_eq(sl__ui_load("/nonexistent/sluice-ui", &ui), UV_ENOENT);
    ck_assert_ptr_null(ui);
    tmpdir_remove(dir);
}
END_TEST

START_TEST(load_refuses_too_much)
{
    char *dir = tmpdir_new(), path[4200];
    sl_ui_t *ui = NULL;
    size_t big = SL_UI_MAX_BYTES + 1;
    char *data = calloc(1, big);

    put_text(dir, "index.html", INDEX);
    snprintf(path, sizeof(path), "%s/big.js", dir);
    write_bytes(path, data, big);
    ck_assert_int_eq(sl__ui_load(dir, &ui), SL_ETOOLARGE);
    ck_assert_ptr_null(ui);
    free(data);
    tmpdir_remove(dir);
}
END_TEST

START_TEST(default_dir_is_the_one_given)
{
    char out[4096];

    sl__ui_default_dir("/srv/page", out, sizeof(out));
    ck_assert_str_eq(out, "/srv/page");
    sl__ui_default_dir("", out, sizeof(out)); /* check_server does not run from the build tree */
    ck_assert_ptr_nonnull(strstr(out, "/share/sluice/ui"));
}
END_TEST

/* A host whose server serves the page in dir (mount: NULL for /). */
static void up(fc_host_t *h, const char *dir, const char *mount)
{
    fc_host_init(h);
    snprintf(h->cfg.ui_dir, sizeof(h->cfg.ui_dir), "%s", dir);
    if (mount != NULL)
        snprintf(h->cfg.mount, sizeof(h->cfg.mount), "%s", mount);
    fc_host_start(h);
}

static void assert_page_headers(fc_conn_t *c)
{
    ck_assert_ptr_nonnull(fc_resp_header(c, "ETag"));
    ck_assert_str_eq(fc_resp_header(c, "X-Content-Type-Options"), "nosniff");
    ck_assert_ptr_nonnull(
        strstr(fc_resp_header(c, "Content-Security-Policy"), "default-src 'none'"));
    ck_assert_ptr_null(strstr(fc_resp_header(c, "Content-Security-Policy"), "unsafe"));
}

START_TEST(index_and_assets_with_their_headers)
{
    char *dir = page_dir();
    fc_host_t h;
    fc_conn_t *c;
    char etag[64];

    up(&h, dir, NULL);
    c = fc_request(&h, "GET", "/");
    ck_assert_uint_eq(fc_status(c), 200);
    ck_assert_str_eq(fc_resp_body(c), INDEX);
    ck_assert_str_eq(fc_resp_header(c, "Content-Type"), "text/html; charset=utf-8");
    ck_assert_str_eq(fc_resp_header(c, "Cache-Control"), "no-cache");
    assert_page_headers(c);
    snprintf(etag, sizeof(etag), "%s", fc_resp_header(c, "ETag"));
    c = fc_new(&h, "GET", "/");
    fc_header(c, "If-None-Match", etag);
    ck_assert_uint_eq(fc_run(c), 304);
    ck_assert_str_eq(fc_resp_body(c), "");
    c = fc_request(&h, "GET", "/ui/app-ZKEP3U35.js");
    ck_assert_uint_eq(fc_status(c), 200);
    ck_assert_str_eq(fc_resp_body(c), APP);
    ck_assert_str_eq(fc_resp_header(c, "Content-Type"), "text/javascript; charset=utf-8");
    ck_assert_str_eq(fc_resp_header(c, "Cache-Control"), "public, max-age=31536000, immutable");
    assert_page_headers(c);
    c = fc_request(&h, "GET", "/ui/notes.txt");
    ck_assert_str_eq(fc_resp_header(c, "Cache-Control"), "no-cache");
    c = fc_request(&h, "HEAD", "/ui/app-ZKEP3U35.js");
    ck_assert_uint_eq(fc_status(c), 200);
    ck_assert_uint_eq(fc_resp_size(c), strlen(APP));
    c = fc_request(&h, "POST", "/");
    fc_assert_error(c, 405, "SL_EMETHOD");
    ck_assert_uint_eq(fc_status(fc_request(&h, "GET", "/files/")), 200); /* the rest as before */
    fc_host_stop(&h);
    tmpdir_remove(dir);
}
END_TEST

START_TEST(no_path_leaves_the_directory)
{
    static const char *const bad[] = {
        "/ui/../index.html", "/ui/..",          "/ui/%2e%2e/secret.txt", "/ui/.%2e/secret.txt",
        "/ui/sub/deep.txt",  "/ui/link.txt",    "/ui/.hidden",           "/ui/",
        "/ui/%69ndex.html",  "/ui//index.html", "/ui/index.html%00",     "/ui/..%2fsecret.txt",
    };
    char *dir = page_dir(), *outside = tmpdir_new();
    fc_host_t h;
    size_t i;

    add_traps(dir, outside);
    up(&h, dir, NULL);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fc_conn_t *c = fc_request(&h, "GET", bad[i]);
        ck_assert_msg(fc_status(c) == 404, "%s: %u", bad[i], fc_status(c));
        ck_assert_ptr_null(strstr(fc_resp_body(c), "secret"));
    }
    fc_host_stop(&h);
    tmpdir_remove(dir);
    tmpdir_remove(outside);
}
END_TEST

START_TEST(under_a_mount_with_its_redirect)
{
    char *dir = page_dir();
    fc_host_t h;
    fc_conn_t *c;

    up(&h, dir, "/api/upload/");
    c = fc_request(&h, "GET", "/api/upload");
    ck_assert_uint_eq(fc_status(c), 302);
    ck_assert_str_eq(fc_resp_header(c, "Location"), "upload/");
    c = fc_request(&h, "GET", "/api/upload/");
    ck_assert_uint_eq(fc_status(c), 200);
    ck_assert_str_eq(fc_resp_body(c), INDEX);
    c = fc_request(&h, "GET", "/api/upload/ui/app-ZKEP3U35.js");
    ck_assert_str_eq(fc_resp_body(c), APP);
    ck_assert_uint_eq(fc_status(fc_request(&h, "GET", "/ui/app-ZKEP3U35.js")), 404);
    fc_host_stop(&h);
    tmpdir_remove(dir);
}
END_TEST

START_TEST(without_a_page_or_with_no_ui_the_root_is_not_served)
{
    char *dir = page_dir(), *empty = tmpdir_new();
    fc_host_t h;

    up(&h, empty, NULL); /* no index.html: no page */
    ck_assert_ptr_null(h.srv->ui);
    fc_assert_error(fc_request(&h, "GET", "/"), 404, "SL_ENOTFOUND");
    fc_host_stop(&h);
    fc_host_init(&h);
    snprintf(h.cfg.ui_dir, sizeof(h.cfg.ui_dir), "%s", dir);
    h.cfg.no_ui = 1;
    fc_host_start(&h);
    ck_assert_ptr_null(h.srv->ui);
    fc_assert_error(fc_request(&h, "GET", "/"), 404, "SL_ENOTFOUND");
    fc_assert_error(fc_request(&h, "GET", "/ui/app-ZKEP3U35.js"), 404, "SL_ENOTFOUND");
    fc_host_stop(&h);
    tmpdir_remove(dir);
    tmpdir_remove(empty);
}
END_TEST

Suite *ui_suite(void)
{
    Suite *s = suite_create("ui");
    TCase *tc = add_tcase(s, "ui");

    tcase_add_test(tc, safe_names_only);
    tcase_add_test(tc, content_types_and_hashed_names);
    tcase_add_test(tc, load_reads_safe_regular_files_only);
    tcase_add_test(tc, load_needs_an_index_and_a_directory);
    tcase_add_test(tc, load_refuses_too_much);
    tcase_add_test(tc, default_dir_is_the_one_given);
    tcase_add_test(tc, index_and_assets_with_their_headers);
    tcase_add_test(tc, no_path_leaves_the_directory);
    tcase_add_test(tc, under_a_mount_with_its_redirect);
    tcase_add_test(tc, without_a_page_or_with_no_ui_the_root_is_not_served);
    return s;
}
