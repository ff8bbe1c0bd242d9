/* SPDX-License-Identifier: MIT
 *
 * Store jobs (storage/jobs.c): preflight, open for reading, delete and list, each run on the
 * thread pool of a real loop over a fresh store. A test prepares files directly on disk, starts
 * one job, runs the loop to completion and asserts the job's result fields, which the callback
 * must have delivered exactly once on the loop thread.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/fs.h"
#include "support/doubles.h"
#include "support/files.h"

static char *tmp; /* this test's directory, from tmpdir_new */

static uv_loop_t loop;
static sl_fs_t st;
static sl_store_job_t job;
static int job_calls;

static void jobs_setup(void)
{
    tmp = tmpdir_new();
    open_loop(&loop);
    ck_assert_int_eq(sl_fs_open(&st, &loop, tmp, 1), 0);
    memset(&job, 0, sizeof(job));
    job_calls = 0;
}

static void jobs_teardown(void)
{
    free(job.json);
    sl_fs_close(&st);
    tmpdir_remove(tmp);
    tmp = NULL;
}

static void on_job(sl_store_job_t *j)
{
    ck_assert_ptr_eq(j, &job);
    job_calls++;
}

/* Run the job just started (r is the start's return) and check the callback ran once. */
static void finish_job(int r)
{
    ck_assert_int_eq(r, 0);
    ck_assert_int_eq(job_calls, 0); /* never inside the call that started it */
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(job_calls, 1);
    sl_defer_close(&loop);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}

static void put_dir(const char *name)
{
    char path[4200];

    snprintf(path, sizeof(path), "%s/%s", tmp, name);
    ck_assert_int_eq(mkdir(path, 0755), 0);
}

static int exists(const char *name)
{
    char path[4200];
    struct stat sb;

    snprintf(path, sizeof(path), "%s/%s", tmp, name);
    return lstat(path, &sb) == 0;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;

    for (hay = strstr(hay, needle); hay != NULL; hay = strstr(hay + 1, needle))
        n++;
    return n;
}

/* --- preflight --------------------------------------------------------------------------- */

START_TEST(preflight_of_a_free_name_succeeds)
{
    finish_job(sl_fs_preflight(&st, &job, "new/name", 1024, on_job));
    ck_assert_int_eq(job.status, 0);
}
END_TEST

START_TEST(preflight_of_an_existing_name_is_eexists)
{
    put_text(tmp, "there", "x");
    finish_job(sl_fs_preflight(&st, &job, "there", 0, on_job));
    ck_assert_int_eq(job.status, SL_EEXISTS);
}
END_TEST

START_TEST(preflight_needing_more_than_the_free_space_is_enospc)
{
    finish_job(sl_fs_preflight(&st, &job, "big", UINT64_MAX, on_job));
    ck_assert_int_eq(job.status, UV_ENOSPC);
}
END_TEST

START_TEST(preflight_without_a_name_checks_only_the_space)
{
    finish_job(sl_fs_preflight(&st, &job, NULL, 1, on_job));
    ck_assert_int_eq(job.status, 0);
}
END_TEST

/* --- open_read --------------------------------------------------------------------------- */

START_TEST(open_read_of_a_file_returns_its_fd_and_size)
{
    char buf[32] = {0};

    put_text(tmp, "hello", "hello world");
    finish_job(sl_fs_open_read(&st, &job, "hello", on_job));
    ck_assert_int_eq(job.status, 0);
    ck_assert_int_ge(job.fd, 0);
    ck_assert_uint_eq(job.size, 11);
    ck_assert_int_gt(job.mtime_ns, 0);
    ck_assert_int_eq(read(job.fd, buf, sizeof(buf)), 11);
    ck_assert_str_eq(buf, "hello world");
    close(job.fd);
}
END_TEST

START_TEST(open_read_of_a_missing_name_is_enotfound)
{
    finish_job(sl_fs_open_read(&st, &job, "missing", on_job));
    ck_assert_int_eq(job.status, SL_ENOTFOUND);
    ck_assert_int_eq(job.fd, -1);
}
END_TEST

START_TEST(open_read_below_a_regular_file_is_enotfound)
{
    put_text(tmp, "plain", "x");
    finish_job(sl_fs_open_read(&st, &job, "plain/child", on_job));
    ck_assert_int_eq(job.status, SL_ENOTFOUND);
    ck_assert_int_eq(job.fd, -1);
}
END_TEST

START_TEST(open_read_of_a_directory_is_enotfound)
{
    put_dir("dir");
    finish_job(sl_fs_open_read(&st, &job, "dir", on_job));
    ck_assert_int_eq(job.status, SL_ENOTFOUND);
    ck_assert_int_eq(job.fd, -1);
}
END_TEST

START_TEST(open_read_of_a_symlink_is_enotfound)
{
    char path[4200];

    put_text(tmp, "target", "secret");
    snprintf(path, sizeof(path), "%s/link", tmp);
    ck_assert_int_eq(symlink("target", path), 0);
    finish_job(sl_fs_open_read(&st, &job, "link", on_job));
    ck_assert_int_eq(job.status, SL_ENOTFOUND);
    ck_assert_int_eq(job.fd, -1);
}
END_TEST

/* --- delete ------------------------------------------------------------------------------ */

START_TEST(delete_removes_the_file)
{
    put_dir("d");
    put_text(tmp, "d/x", "bye");
    finish_job(sl_fs_delete(&st, &job, "d/x", on_job));
    ck_assert_int_eq(job.status, 0);
    ck_assert(!exists("d/x"));
    ck_assert(exists("d"));
}
END_TEST

START_TEST(delete_of_a_missing_name_is_enotfound)
{
    finish_job(sl_fs_delete(&st, &job, "missing", on_job));
    ck_assert_int_eq(job.status, SL_ENOTFOUND);
}
END_TEST

START_TEST(delete_of_a_directory_is_enotfound_and_keeps_it)
{
    put_dir("dir");
    put_text(tmp, "dir/f", "x");
    finish_job(sl_fs_delete(&st, &job, "dir", on_job));
    ck_assert_int_eq(job.status, SL_ENOTFOUND);
    ck_assert(exists("dir/f"));
}
END_TEST

/* --- list -------------------------------------------------------------------------------- */

START_TEST(list_of_an_empty_store_is_an_empty_array)
{
    finish_job(sl_fs_list(&st, &job, 10, on_job));
    ck_assert_int_eq(job.status, 0);
    ck_assert_ptr_nonnull(job.json);
    ck_assert_str_eq(job.json, "{\"files\":[],\"truncated\":false}\n");
    ck_assert_uint_eq(job.json_len, strlen(job.json));
}
END_TEST

START_TEST(list_names_every_file_with_its_size)
{
    put_text(tmp, "a.txt", "abc");
    put_dir("d");
    put_text(tmp, "d/b.txt", "hello");
    finish_job(sl_fs_list(&st, &job, 10, on_job));
    ck_assert_int_eq(job.status, 0);
    ck_assert_uint_eq(job.json_len, strlen(job.json));
    ck_assert_ptr_nonnull(strstr(job.json, "{\"name\":\"a.txt\",\"size\":3,\"mtime\":"));
    ck_assert_ptr_nonnull(strstr(job.json, "{\"name\":\"d/b.txt\",\"size\":5,\"mtime\":"));
    ck_assert_int_eq(count(job.json, "\"name\":"), 2);
    ck_assert_ptr_nonnull(strstr(job.json, "],\"truncated\":false}"));
}
END_TEST

START_TEST(list_skips_the_work_area)
{
    char name[64];

    snprintf(name, sizeof(name), ".sluice/tmp/%ld-1.part", (long)getpid());
    put_text(tmp, name, "in progress");
    put_text(tmp, "visible", "v");
    put_dir("a");
    put_dir("a/.sluice");
    put_text(tmp, "a/.sluice/f", "only the root's .sluice is private");
    finish_job(sl_fs_list(&st, &job, 10, on_job));
    ck_assert_ptr_null(strstr(job.json, "\".sluice"));
    ck_assert_ptr_null(strstr(job.json, ".part"));
    ck_assert_ptr_nonnull(strstr(job.json, "\"name\":\"visible\""));
    ck_assert_ptr_nonnull(strstr(job.json, "\"name\":\"a/.sluice/f\""));
    ck_assert_int_eq(count(job.json, "\"name\":"), 2);
}
END_TEST

START_TEST(list_stops_at_the_limit_and_says_truncated)
{
    put_text(tmp, "one", "1");
    put_text(tmp, "two", "2");
    put_text(tmp, "three", "3");
    finish_job(sl_fs_list(&st, &job, 2, on_job));
    ck_assert_int_eq(job.status, 0);
    ck_assert_int_eq(count(job.json, "\"name\":"), 2);
    ck_assert_ptr_nonnull(strstr(job.json, "],\"truncated\":true}"));
}
END_TEST

START_TEST(list_at_exactly_the_limit_is_not_truncated)
{
    put_text(tmp, "one", "1");
    put_text(tmp, "two", "2");
    finish_job(sl_fs_list(&st, &job, 2, on_job));
    ck_assert_int_eq(count(job.json, "\"name\":"), 2);
    ck_assert_ptr_nonnull(strstr(job.json, "],\"truncated\":false}"));
}
END_TEST

START_TEST(list_escapes_quotes_and_backslashes_in_names)
{
    put_text(tmp, "q\"uote", "1");
    put_text(tmp, "back\\slash", "2");
    finish_job(sl_fs_list(&st, &job, 10, on_job));
    ck_assert_ptr_nonnull(strstr(job.json, "\"name\":\"q\\\"uote\""));
    ck_assert_ptr_nonnull(strstr(job.json, "\"name\":\"back\\\\slash\""));
}
END_TEST

START_TEST(list_leaves_out_files_whose_names_are_invalid)
{
    put_text(tmp, "tab\tname", "not addressable");
    put_text(tmp, "ok", "1");
    finish_job(sl_fs_list(&st, &job, 10, on_job));
    ck_assert_int_eq(count(job.json, "\"name\":"), 1);
    ck_assert_ptr_nonnull(strstr(job.json, "\"name\":\"ok\""));
}
END_TEST

Suite *jobs_suite(void)
{
    Suite *s = suite_create("jobs");
    TCase *tc;

    tc = tcase_create("preflight");
    tcase_add_checked_fixture(tc, jobs_setup, jobs_teardown);
    tcase_add_test(tc, preflight_of_a_free_name_succeeds);
    tcase_add_test(tc, preflight_of_an_existing_name_is_eexists);
    tcase_add_test(tc, preflight_needing_more_than_the_free_space_is_enospc);
    tcase_add_test(tc, preflight_without_a_name_checks_only_the_space);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("open_read");
    tcase_add_checked_fixture(tc, jobs_setup, jobs_teardown);
    tcase_add_test(tc, open_read_of_a_file_returns_its_fd_and_size);
    tcase_add_test(tc, open_read_of_a_missing_name_is_enotfound);
    tcase_add_test(tc, open_read_below_a_regular_file_is_enotfound);
    tcase_add_test(tc, open_read_of_a_directory_is_enotfound);
    tcase_add_test(tc, open_read_of_a_symlink_is_enotfound);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("delete");
    tcase_add_checked_fixture(tc, jobs_setup, jobs_teardown);
    tcase_add_test(tc, delete_removes_the_file);
    tcase_add_test(tc, delete_of_a_missing_name_is_enotfound);
    tcase_add_test(tc, delete_of_a_directory_is_enotfound_and_keeps_it);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("list");
    tcase_add_checked_fixture(tc, jobs_setup, jobs_teardown);
    tcase_add_test(tc, list_of_an_empty_store_is_an_empty_array);
    tcase_add_test(tc, list_names_every_file_with_its_size);
    tcase_add_test(tc, list_skips_the_work_area);
    tcase_add_test(tc, list_stops_at_the_limit_and_says_truncated);
    tcase_add_test(tc, list_at_exactly_the_limit_is_not_truncated);
    tcase_add_test(tc, list_escapes_quotes_and_backslashes_in_names);
    tcase_add_test(tc, list_leaves_out_files_whose_names_are_invalid);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);
    return s;
}
