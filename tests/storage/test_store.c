/* SPDX-License-Identifier: MIT
 *
 * Opening the store (storage/store.c): ROOT and ROOT/.sluice/tmp are created, and the start-up
 * sweep removes the temp files <pid>-<seq>.part whose writer process is gone while leaving those
 * of live processes (this one included) alone. Each test gets a fresh directory (checked
 * fixture); the store under test is ROOT = <tmpdir>/root unless a test needs otherwise.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "storage/fs.h"
#include "support/doubles.h"

static char *tmp; /* this test's directory, from tmpdir_new */

#define DEAD_PID 999999L
#define NOBODY 65534

static char root[4096];

static void store_setup(void)
{
    tmp = tmpdir_new();
    snprintf(root, sizeof(root), "%s/root", tmp);
}

static void store_teardown(void)
{
    tmpdir_remove(tmp);
    tmp = NULL;
}

/* Create ROOT/.sluice/tmp/<name> holding `text`, as a crashed writer would leave it. */
static void put_temp(const char *name, const char *text)
{
    char path[4200];
    int fd;

    snprintf(path, sizeof(path), "%s/.sluice", root);
    ck_assert(mkdir(root, 0755) == 0 || errno == EEXIST);
    ck_assert(mkdir(path, 0755) == 0 || errno == EEXIST);
    snprintf(path, sizeof(path), "%s/.sluice/tmp", root);
    ck_assert(mkdir(path, 0755) == 0 || errno == EEXIST);
    snprintf(path, sizeof(path), "%s/.sluice/tmp/%s", root, name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static int temp_exists(const char *name)
{
    char path[4200];
    struct stat sb;

    snprintf(path, sizeof(path), "%s/.sluice/tmp/%s", root, name);
    return stat(path, &sb) == 0;
}

static int is_dir(const char *path)
{
    struct stat sb;

    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* A child that sleeps until killed: a live process other than this one. */
static pid_t spawn_sleeper(void)
{
    pid_t pid = fork();

    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        pause();
        _exit(0);
    }
    return pid;
}

static void reap(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

START_TEST(open_creates_root_and_work_area)
{
    char path[4200];
    sl_fs_t st;

    snprintf(root, sizeof(root), "%s/a/b/root", tmp);
    ck_assert_int_eq(sl_fs_open(&st, NULL, root, 1), 0);
    ck_assert(is_dir(root));
    snprintf(path, sizeof(path), "%s/.sluice/tmp", root);
    ck_assert(is_dir(path));
    ck_assert_int_ge(st.root_fd, 0);
    ck_assert_ptr_nonnull(st.root);
    ck_assert_int_eq(st.root[0], '/');
    ck_assert_int_eq(st.durable, 1);
    ck_assert_uint_eq(st.swept, 0);
    sl_fs_close(&st);
    ck_assert_ptr_null(st.root);
}
END_TEST

START_TEST(open_reuses_an_existing_store)
{
    sl_fs_t st;

    ck_assert_int_eq(sl_fs_open(&st, NULL, root, 0), 0);
    sl_fs_close(&st);
    ck_assert_int_eq(sl_fs_open(&st, NULL, root, 0), 0);
    ck_assert_int_eq(st.durable, 0);
    sl_fs_close(&st);
}
END_TEST

START_TEST(open_fails_when_root_is_a_file)
{
    sl_fs_t st;
    int fd = open(root, O_WRONLY | O_CREAT, 0644);

    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(sl_fs_open(&st, NULL, root, 1), UV_ENOTDIR);
    sl_fs_close(&st); /* harmless after a failed open */
}
END_TEST

START_TEST(sweep_removes_only_temp_files_of_dead_processes)
{
    char dead[64], own[64], reused[64];
    sl_fs_t st;

    /* Precondition: no process has this pid (pid_max is below it on most systems). */
    ck_assert_msg(kill((pid_t)DEAD_PID, 0) < 0 && errno == ESRCH, "pid %ld is alive", DEAD_PID);
    snprintf(dead, sizeof(dead), "%ld-00000000-1.part", DEAD_PID);
    snprintf(own, sizeof(own), "%s-5.part", sl_store_owner());
    /* An earlier process that had our pid (pid 1 in a container): another boot id. */
    snprintf(reused, sizeof(reused), "%ld-zzzzzzzz-5.part", (long)getpid());
    put_temp(dead, "partial");
    put_temp(own, "in progress");
    put_temp(reused, "left by a crash");
    ck_assert_int_eq(sl_fs_open(&st, NULL, root, 1), 0);
    ck_assert_uint_eq(st.swept, 2);
    ck_assert(!temp_exists(dead));
    ck_assert(!temp_exists(reused));
    ck_assert(temp_exists(own)); /* another store of this process: in progress */
    sl_fs_close(&st);
}
END_TEST

START_TEST(sweep_leaves_temp_files_of_other_live_processes)
{
    pid_t pid = spawn_sleeper();
    char name[64];
    sl_fs_t st;

    snprintf(name, sizeof(name), "%ld-1.part", (long)pid);
    put_temp(name, "another worker's upload");
    ck_assert_int_eq(sl_fs_open(&st, NULL, root, 1), 0);
    ck_assert_uint_eq(st.swept, 0);
    ck_assert(temp_exists(name));
    sl_fs_close(&st);
    reap(pid);
}
END_TEST

/* kill(pid, 0) fails with EPERM for a live process of another user: that process still owns its
 * temp file. The sweeper runs as "nobody" in a grandchild and reports through its exit code. */
START_TEST(sweep_leaves_temp_files_of_live_processes_of_other_users)
{
    pid_t owner, sweeper;
    char name[64], cmd[4300];
    int status;

    if (geteuid() != 0)
        return; /* needs root to become another user */
    owner = spawn_sleeper();
    snprintf(name, sizeof(name), "%ld-1.part", (long)owner);
    put_temp(name, "root's upload");
    snprintf(cmd, sizeof(cmd), "chown -R %d:%d '%s'", NOBODY, NOBODY, tmp);
    ck_assert_int_eq(system(cmd), 0);
    sweeper = fork();
    ck_assert_int_ge(sweeper, 0);
    if (sweeper == 0) {
        sl_fs_t st;
        if (setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
            _exit(100);
        if (sl_fs_open(&st, NULL, root, 0) < 0)
            _exit(101);
        _exit((int)st.swept);
    }
    ck_assert_int_eq(waitpid(sweeper, &status, 0), sweeper);
    reap(owner);
    ck_assert(WIFEXITED(status));
    ck_assert_int_lt(WEXITSTATUS(status), 100);
    ck_assert_msg(temp_exists(name), "the sweep removed the temp file of live pid %ld",
                  (long)owner);
    ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

START_TEST(etag_is_mtime_and_size_in_hex_within_quotes)
{
    char tag[48];

    sl_store_etag(0x1f, 0x17d7840, tag);
    ck_assert_str_eq(tag, "\"17d7840-1f\"");
    sl_store_etag(0, 0, tag);
    ck_assert_str_eq(tag, "\"0-0\"");
    sl_store_etag(UINT64_MAX, INT64_MAX, tag);
    ck_assert_str_eq(tag, "\"7fffffffffffffff-ffffffffffffffff\"");
}
END_TEST

Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc;

    tc = tcase_create("open");
    tcase_add_checked_fixture(tc, store_setup, store_teardown);
    tcase_add_test(tc, open_creates_root_and_work_area);
    tcase_add_test(tc, open_reuses_an_existing_store);
    tcase_add_test(tc, open_fails_when_root_is_a_file);
    tcase_add_test(tc, etag_is_mtime_and_size_in_hex_within_quotes);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("sweep");
    tcase_add_checked_fixture(tc, store_setup, store_teardown);
    tcase_add_test(tc, sweep_removes_only_temp_files_of_dead_processes);
    tcase_add_test(tc, sweep_leaves_temp_files_of_other_live_processes);
    tcase_add_test(tc, sweep_leaves_temp_files_of_live_processes_of_other_users);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);
    return s;
}
