/* SPDX-License-Identifier: MIT
 *
 * The embedding hooks (server/api/hooks.c) as an upload meets them, through a fake connection:
 * the real server attached to a fake libmicrohttpd (tests/support/fake_mhd.h) that calls the
 * access handler as 0.9.75 does (a suspended connection is called again only after a resume and a
 * kick), on a real libuv loop and a real store in a mkdtemp root. The test is the host: its hooks
 * record what they are told and decide as each test asks.
 *
 * Covered: on_request rejecting (its status and message in the JSON body, code "hook", before the
 * body is read, for downloads too), renaming (stored under the new name; an invalid one is the
 * host's fault, 500), deciding later (the request waits suspended, the decision takes effect on a
 * later loop turn, the event and headers seen, user_data handed on); no on_request for /healthz;
 * on_complete adding JSON members to the 201 and seeing name, size, sha256 and path; on_complete
 * once per file of a form; on_abort with its reason for a limit and for a client gone.
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

enum { ALLOW, REJECT, RENAME, DEFER };

/* What the host's hooks do and what they saw (one test per process: CK_FORK). */
static struct {
    int mode;
    unsigned status;
    const char *message, *rename, *extra;
    sl_hook_req_t *pending;
    int requests, completes, aborts;
    char method[16], path[256], name[256], remote[64], sha256[65], token[64], names[512];
    uint64_t length, bytes;
    int reason;
    void *user_data;
} seen;

static int marker;

static void on_request(sl_hook_req_t *h, void *arg)
{
    const sl_event_t *e = sl_hook_event(h);
    const char *t = sl_hook_header(h, "X-Token");

    (void)arg;
    seen.requests++;
    snprintf(seen.method, sizeof(seen.method), "%s", e->method);
    snprintf(seen.path, sizeof(seen.path), "%s", e->path);
    snprintf(seen.remote, sizeof(seen.remote), "%s", e->remote);
    snprintf(seen.token, sizeof(seen.token), "%s", t != NULL ? t : "");
    seen.length = e->length;
    switch (seen.mode) {
    case REJECT:
        sl_hook_reject(h, seen.status, seen.message);
        break;
    case RENAME:
        sl_hook_allow(h, seen.rename, NULL);
        break;
    case DEFER:
        seen.pending = h;
        break;
    default:
        sl_hook_allow(h, NULL, NULL);
    }
}

static void on_complete(const sl_event_t *e, char **json, void *arg)
{
    (void)arg;
    seen.completes++;
    snprintf(seen.name, sizeof(seen.name), "%s", e->name);
    size_t have = strlen(seen.names);
    snprintf(seen.names + have, sizeof(seen.names) - have, "%s;", e->name);
    snprintf(seen.sha256, sizeof(seen.sha256), "%s", e->sha256 != NULL ? e->sha256 : "");
    snprintf(seen.path, sizeof(seen.path), "%s", e->path);
    seen.bytes = e->bytes;
    seen.user_data = e->user_data;
    if (seen.extra != NULL)
        *json = strdup(seen.extra);
}

static void on_abort(const sl_event_t *e, void *arg)
{
    (void)arg;
    seen.aborts++;
    seen.reason = e->reason;
}

static void hooks_on(fc_host_t *h, int mode)
{
    sl_hooks_t hooks = {.on_request = on_request, .on_complete = on_complete, .on_abort = on_abort};

    seen.mode = mode;
    sl_server_set_hooks(h->srv, &hooks);
}

static void up(fc_host_t *h, int mode)
{
    memset(&seen, 0, sizeof(seen));
    fc_host_up(h);
    hooks_on(h, mode);
}

static int two_aborts(void *arg)
{
    (void)arg;
    return seen.aborts == 2;
}

START_TEST(on_request_rejects_before_the_body)
{
    fc_host_t h;
    fc_conn_t *c;
    char v[64];

    up(&h, REJECT);
    seen.status = 403;
    seen.message = "no \"token\"";
    c = fc_put(&h, "/files/x.txt", "hello", 5, 1);
    ck_assert_uint_eq(fc_status(c), 403);
    ck_assert_msg(json_valid(fc_resp_body(c)), "%s", fc_resp_body(c));
    fc_assert_error(c, 403, "hook"); /* the host's refusal: code "hook", not an SL_E code */
    ck_assert(json_get(fc_resp_body(c), "error", v, sizeof(v)));
    ck_assert_str_eq(v, "no \"token\"");
    ck_assert_int_eq(fc_early(c), 1);
    ck_assert_uint_eq(fc_delivered(c), 0);
    ck_assert_int_eq(fc_entries(&h, ""), 1);
    ck_assert_int_eq(seen.requests, 1);
    ck_assert_str_eq(seen.method, "PUT");
    ck_assert_str_eq(seen.path, "/files/x.txt");
    ck_assert_uint_eq(seen.length, 5);
    ck_assert_int_eq(seen.completes + seen.aborts, 0); /* that upload never started */
    /* downloads are asked about too; a status out of range becomes 403 */
    seen.status = 401;
    fc_assert_error(fc_request(&h, "GET", "/files/x.txt"), 401, "hook");
    seen.status = 200;
    fc_assert_error(fc_request(&h, "DELETE", "/files/x.txt"), 403, "hook");
    ck_assert_int_eq(seen.requests, 3);
    /* not for /healthz */
    ck_assert_uint_eq(fc_status(fc_request(&h, "GET", "/healthz")), 200);
    ck_assert_int_eq(seen.requests, 3);
    fc_host_stop(&h);
}
END_TEST

START_TEST(on_request_renames)
{
    fc_host_t h;
    fc_conn_t *c;
    char v[128];

    up(&h, RENAME);
    seen.rename = "by-hook/renamed.txt";
    c = fc_put(&h, "/files/asked.txt", "hello", 5, 1);
    ck_assert_msg(fc_status(c) == 201, "%u %s", fc_status(c), fc_resp_body(c));
    ck_assert(json_get(fc_resp_body(c), "name", v, sizeof(v)));
    ck_assert_str_eq(v, "by-hook/renamed.txt");
    ck_assert_str_eq(fc_resp_header(c, "Location"), "/files/by-hook/renamed.txt");
    ck_assert_int_eq(slurp(h.root, "by-hook/renamed.txt", v, sizeof(v)), 5);
    ck_assert_int_eq(slurp(h.root, "asked.txt", v, sizeof(v)), -1);
    ck_assert_str_eq(seen.name, "by-hook/renamed.txt");
    /* a raw POST too */
    c = fc_new(&h, "POST", "/files/");
    fc_body(c, "posted", 6, 1);
    ck_assert_uint_eq(fc_run(c), 201);
    ck_assert_int_eq(slurp(h.root, "by-hook/renamed.txt", v, sizeof(v)), 6);
    /* an invalid name from the hook is the host's fault: 500, nothing stored */
    seen.rename = "../escape.txt";
    c = fc_put(&h, "/files/other.txt", "hello", 5, 1);
    fc_assert_error(c, 500, "hook");
    ck_assert_int_eq(fc_early(c), 1);
    ck_assert_int_eq(slurp(h.root, "other.txt", v, sizeof(v)), -1);
    fc_host_stop(&h);
}
END_TEST

START_TEST(on_request_decides_later)
{
    fc_host_t h;
    fc_conn_t *c;
    int i;

    up(&h, DEFER);
    seen.extra = NULL;
    c = fc_new(&h, "PUT", "/files/late.txt");
    fc_header(c, "X-Token", "s3cret");
    fc_body(c, "later", 5, 1);
    fc_poll(c); /* the first call: on_request runs, no decision yet */
    ck_assert_ptr_nonnull(seen.pending);
    ck_assert(fc_suspended(c));
    ck_assert_str_eq(seen.token, "s3cret");
    ck_assert_str_eq(seen.remote, "127.0.0.1");
    for (i = 0; i < 3; i++) /* nothing moves while the host thinks */
        fc_turn(&h);
    ck_assert(fc_suspended(c));
    ck_assert_uint_eq(fc_status(c), 0);
    sl_hook_allow(seen.pending, NULL, &marker);
    ck_assert(fc_suspended(c)); /* the decision takes effect on a later turn */
    ck_assert_uint_eq(fc_run(c), 201);
    ck_assert_ptr_eq(seen.user_data, &marker);
    ck_assert_int_eq(seen.completes, 1);
    fc_host_stop(&h);
}
END_TEST

START_TEST(on_complete_adds_members)
{
    static const char data[] = "complete me";
    unsigned char md[32];
    unsigned int n = 32;
    char hex[65], v[128];
    fc_host_t h;
    fc_conn_t *c;
    int i;

    up(&h, ALLOW);
    seen.extra = "\"id\":42,\"owner\":\"me\"";
    c = fc_put(&h, "/files/c.txt", data, sizeof(data) - 1, 2);
    ck_assert_uint_eq(fc_status(c), 201);
    ck_assert_msg(json_valid(fc_resp_body(c)), "%s", fc_resp_body(c));
    ck_assert_int_eq(json_members(fc_resp_body(c)), 5); /* name, size, sha256, id, owner */
    ck_assert(json_get(fc_resp_body(c), "id", v, sizeof(v)));
    ck_assert_str_eq(v, "42");
    ck_assert(json_get(fc_resp_body(c), "owner", v, sizeof(v)));
    ck_assert_str_eq(v, "me");
    ck_assert(json_get(fc_resp_body(c), "name", v, sizeof(v)));
    ck_assert_str_eq(v, "c.txt");
    ck_assert_int_eq(seen.completes, 1);
    ck_assert_str_eq(seen.name, "c.txt");
    ck_assert_str_eq(seen.path, "/files/c.txt");
    ck_assert_uint_eq(seen.bytes, sizeof(data) - 1);
    ck_assert_int_eq(EVP_Digest(data, sizeof(data) - 1, md, &n, EVP_sha256(), NULL), 1);
    for (i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    ck_assert_str_eq(seen.sha256, hex);
    fc_host_stop(&h);
}
END_TEST

START_TEST(on_complete_once_per_form_file)
{
    static const char form[] = "--b\r\n"
                               "Content-Disposition: form-data; name=\"a\"; filename=\"1.txt\"\r\n"
                               "\r\n"
                               "one\r\n"
                               "--b\r\n"
                               "Content-Disposition: form-data; name=\"b\"; filename=\"2.txt\"\r\n"
                               "\r\n"
                               "two!\r\n"
                               "--b--\r\n";
    fc_host_t h;
    fc_conn_t *c;

    up(&h, ALLOW);
    seen.extra = "\"ignored\":true"; /* a form's 201 is the form's */
    c = fc_new(&h, "POST", "/files/?name=g");
    fc_header(c, "Content-Type", "multipart/form-data; boundary=b");
    fc_body(c, form, sizeof(form) - 1, 1);
    ck_assert_uint_eq(fc_run(c), 201);
    ck_assert_int_eq(seen.completes, 2);
    ck_assert_ptr_nonnull(strstr(seen.names, "g/1.txt;")); /* in no particular order */
    ck_assert_ptr_nonnull(strstr(seen.names, "g/2.txt;"));
    ck_assert_ptr_null(strstr(fc_resp_body(c), "ignored"));
    fc_host_stop(&h);
}
END_TEST

START_TEST(on_abort_tells_why)
{
    char piece[600];
    fc_host_t h;
    fc_conn_t *c;
    int i;

    memset(&seen, 0, sizeof(seen));
    memset(piece, 'a', sizeof(piece));
    fc_host_init(&h);
    h.cfg.max_size = 1000;
    fc_host_start(&h);
    hooks_on(&h, ALLOW);
    /* a limit crossed mid-body */
    c = fc_new(&h, "PUT", "/files/big.bin");
    fc_chunked(c);
    for (i = 0; i < 3; i++)
        ck_assert_int_eq(fc_send(c, piece, sizeof(piece)), 1);
    fc_end(c);
    fc_assert_error(c, 413, "SL_ETOOLARGE");
    ck_assert_int_eq(seen.aborts, 1);
    ck_assert_int_eq(seen.reason, SL_ETOOLARGE);
    /* a client gone mid-body */
    c = fc_new(&h, "PUT", "/files/cut.bin");
    fc_header(c, "Content-Length", "900");
    ck_assert_int_eq(fc_send(c, piece, 300), 1);
    fc_complete(c, MHD_REQUEST_TERMINATED_CLIENT_ABORT);
    fc_turn_until(&h, two_aborts, NULL);
    ck_assert_int_eq(seen.reason, SL_EPREMATURE);
    ck_assert_int_eq(seen.completes, 0);
    fc_host_stop(&h);
}
END_TEST

Suite *hooks_suite(void)
{
    Suite *s = suite_create("hooks");
    TCase *tc = add_tcase(s, "hooks");

    tcase_add_test(tc, on_request_rejects_before_the_body);
    tcase_add_test(tc, on_request_renames);
    tcase_add_test(tc, on_request_decides_later);
    tcase_add_test(tc, on_complete_adds_members);
    tcase_add_test(tc, on_complete_once_per_form_file);
    tcase_add_test(tc, on_abort_tells_why);
    return s;
}
