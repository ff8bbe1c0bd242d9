/* SPDX-License-Identifier: MIT
 *
 * Token quotas (server/http/quota.c): the key of a token (a vector computed independently in
 * Python), the table's slots, charges that never pass the quota even from several processes at
 * once on shared memory, and the ledger's text and file: exact output, every malformed form
 * refused with its line, a save that leaves no temp file and reads back the same.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "http/http.h"
#include "http/quota.h"

Suite *quota_suite(void);

static const char KEYHEX[] = "3309a690f6547803e7b2f5bca77d5bf2"; /* quota-token-0123456789abc */

static sl_quota_share_t *table(void)
{
    sl_quota_share_t *qs = calloc(1, sl__quota_share_size());

    ck_assert_ptr_nonnull(qs);
    return qs;
}

static void token_key(const char *token, unsigned char key[SL_QUOTA_KEY])
{
    unsigned char h[32];

    SHA256((const unsigned char *)token, strlen(token), h);
    sl__quota_key(h, key);
}

static void hex_key(const unsigned char key[SL_QUOTA_KEY], char out[2 * SL_QUOTA_KEY + 1])
{
    int i;

    for (i = 0; i < SL_QUOTA_KEY; i++)
        snprintf(out + 2 * i, 3, "%02x", key[i]);
}

START_TEST(keys_match_the_vector)
{
    unsigned char key[SL_QUOTA_KEY], zero[32] = {0};
    char hex[2 * SL_QUOTA_KEY + 1];

    token_key("quota-token-0123456789abc", key);
    hex_key(key, hex);
    ck_assert_str_eq(hex, KEYHEX);
    sl__quota_key(zero, key);
    hex_key(key, hex);
    ck_assert_str_eq(hex, "922421f547b6f89ebddeea56b7e5d835");
}
END_TEST

START_TEST(slots_are_stable_and_probe_past_collisions)
{
    sl_quota_share_t *qs = table();
    unsigned char a[SL_QUOTA_KEY] = {1, 2, 3, 4, 5}, b[SL_QUOTA_KEY] = {1, 2, 3, 4, 6};
    int sa = sl__quota_slot(qs, a), sb = sl__quota_slot(qs, b), i;

    ck_assert_int_ge(sa, 0);
    ck_assert_int_ge(sb, 0);
    ck_assert_int_ne(sa, sb); /* the same first 4 bytes: the same start, another slot */
    ck_assert_int_eq(sl__quota_slot(qs, a), sa);
    ck_assert_int_eq(sl__quota_slot(qs, b), sb);
    for (i = 2; i < SL_QUOTA_SLOTS; i++) { /* fill it: then a new key finds no room */
        unsigned char k[SL_QUOTA_KEY] = {0};
        memcpy(k, &i, sizeof(i)); /* each its own start: filling stays linear */
        ck_assert_int_ge(sl__quota_slot(qs, k), 0);
    }
    {
        unsigned char k[SL_QUOTA_KEY] = {9, 9, 9};
        ck_assert_int_eq(sl__quota_slot(qs, k), -ENOSPC);
    }
    ck_assert_int_eq(sl__quota_slot(qs, a), sa); /* the old ones are still found */
    free(qs);
}
END_TEST

START_TEST(charges_stay_within_the_quota)
{
    sl_quota_share_t *qs = table();
    unsigned char k[SL_QUOTA_KEY] = {7};
    int s = sl__quota_slot(qs, k);
    uint64_t g = sl__quota_gen(qs);

    ck_assert_int_eq(sl__quota_charge(qs, s, 10, 6), 0);
    ck_assert_uint_gt(sl__quota_gen(qs), g);
    ck_assert_int_eq(sl__quota_charge(qs, s, 10, 5), SL_EQUOTA);
    ck_assert_uint_eq(sl__quota_used(qs, s), 6);         /* a refusal charges nothing */
    ck_assert_int_eq(sl__quota_charge(qs, s, 10, 4), 0); /* exactly to the quota */
    ck_assert_int_eq(sl__quota_charge(qs, s, 10, 1), SL_EQUOTA);
    ck_assert_int_eq(sl__quota_charge(qs, s, 10, 0), 0);
    ck_assert_int_eq(sl__quota_charge(qs, s, 5, 0), SL_EQUOTA); /* a quota lowered below it */
    ck_assert_int_eq(sl__quota_charge(qs, s, 10, UINT64_MAX), SL_EQUOTA);
    sl__quota_refund(qs, s, 3);
    ck_assert_uint_eq(sl__quota_used(qs, s), 7);
    g = sl__quota_gen(qs);
    sl__quota_refund(qs, s, 100); /* stops at 0 */
    ck_assert_uint_eq(sl__quota_used(qs, s), 0);
    ck_assert_uint_gt(sl__quota_gen(qs), g);
    free(qs);
}
END_TEST

/* Four processes charge one byte at a time on one shared table, all let go at once: exactly the
 * quota is taken (a charge that read and then wrote the count would lose updates and let more
 * through). */
START_TEST(processes_share_one_count)
{
    enum { PROCS = 4, TRIES = 200000, QUOTA = PROCS * TRIES / 2 };
    sl_quota_share_t *qs = mmap(NULL, sl__quota_share_size(), PROT_READ | PROT_WRITE,
                                MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    unsigned *ok = mmap(NULL, (PROCS + 1) * sizeof(unsigned), PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    unsigned char k[SL_QUOTA_KEY] = {42};
    unsigned total = 0, *go = &ok[PROCS];
    pid_t pid[PROCS];
    int i, st;

    ck_assert_ptr_ne(qs, MAP_FAILED);
    ck_assert_ptr_ne(ok, MAP_FAILED);
    for (i = 0; i < PROCS; i++) {
        if ((pid[i] = fork()) == 0) {
            int s = sl__quota_slot(qs, k), n; /* each finds (or adds) the one slot */
            while (!__atomic_load_n(go, __ATOMIC_ACQUIRE))
                ;
            for (n = 0; n < TRIES; n++)
                ok[i] += sl__quota_charge(qs, s, QUOTA, 1) == 0;
            _exit(0);
        }
        ck_assert_int_gt(pid[i], 0);
    }
    __atomic_store_n(go, 1, __ATOMIC_RELEASE);
    for (i = 0; i < PROCS; i++) {
        ck_assert_int_eq(waitpid(pid[i], &st, 0), pid[i]);
        total += ok[i];
    }
    ck_assert_uint_eq(total, QUOTA);
    ck_assert_uint_eq(sl__quota_used(qs, sl__quota_slot(qs, k)), QUOTA);
    munmap(qs, sl__quota_share_size());
    munmap(ok, (PROCS + 1) * sizeof(unsigned));
}
END_TEST

START_TEST(the_ledger_text_is_exact_and_reads_back)
{
    sl_quota_share_t *qs = table(), *back = table();
    unsigned char k[SL_QUOTA_KEY], idle[SL_QUOTA_KEY] = {5};
    char want[256], err[160] = "", *text;
    size_t len;
    int s;

    token_key("quota-token-0123456789abc", k);
    s = sl__quota_slot(qs, k);
    ck_assert_int_eq(sl__quota_charge(qs, s, UINT64_MAX, 18446744073709551615u - 1), 0);
    sl__quota_slot(qs, idle); /* a token with nothing counted is not written */
    text = sl__quota_format(qs, &len);
    snprintf(want, sizeof(want), "sluice-quota-v1\n%s 18446744073709551614\nend 1\n", KEYHEX);
    ck_assert_uint_eq(len, strlen(want));
    ck_assert_mem_eq(text, want, len);
    ck_assert_int_eq(sl__quota_parse(back, text, len, err, sizeof(err)), 0);
    ck_assert_uint_eq(sl__quota_used(back, sl__quota_slot(back, k)), 18446744073709551614u);
    free(text);
    free(qs);
    text = sl__quota_format(back, &len);
    ck_assert_mem_eq(text, want, len);
    free(text);
    free(back);
    qs = table(); /* an empty table: the magic and "end 0" */
    text = sl__quota_format(qs, &len);
    ck_assert_uint_eq(len, strlen("sluice-quota-v1\nend 0\n"));
    ck_assert_mem_eq(text, "sluice-quota-v1\nend 0\n", len);
    ck_assert_int_eq(sl__quota_parse(qs, text, len, err, sizeof(err)), 0);
    free(text);
    free(qs);
}
END_TEST

static void ledger_bad(const char *text, const char *why)
{
    sl_quota_share_t *qs = table();
    char err[160] = "";

    ck_assert_int_eq(sl__quota_parse(qs, text, strlen(text), err, sizeof(err)), SL_EBADREQUEST);
    ck_assert_msg(strstr(err, why) != NULL, "'%s' not in '%s' for %s", why, err, text);
    free(qs);
}

START_TEST(corrupt_ledgers_are_refused_with_their_line)
{
    char two[200];

    ledger_bad("", "line 1: the file is empty");
    ledger_bad("garbage\n", "line 1: not a sluice quota ledger");
    ledger_bad("sluice-quota-v2\nend 0\n", "line 1: not a sluice quota ledger");
    ledger_bad("sluice-quota-v1\n3309a690f6547803e7b2f5bca77d5bf2 6\n", "line 3: the end line is");
    ledger_bad("sluice-quota-v1\n3309a690f6547803e7b2f5bca77d5bf2 6", "line 2: the line is cut");
    ledger_bad("sluice-quota-v1\n3309a690f6547803e7b2f5bca77d5bf2 6\nend 2\n",
               "line 3: the end line does not count");
    ledger_bad("sluice-quota-v1\nend 0\n3309a690f6547803e7b2f5bca77d5bf2 6\n",
               "line 3: text after the end");
    ledger_bad("sluice-quota-v1\n3309a690f6547803e7b2f5bca77d5bfg 6\nend 1\n", "line 2: \"KEY");
    ledger_bad("sluice-quota-v1\n3309a690f6547803e7b2f5bca77d5bf 6\nend 1\n", "line 2: \"KEY");
    ledger_bad("sluice-quota-v1\n3309a690f6547803e7b2f5bca77d5bf2  6\nend 1\n", "line 2: \"KEY");
    ledger_bad("sluice-quota-v1\n3309a690f6547803e7b2f5bca77d5bf2 -6\nend 1\n", "line 2: \"KEY");
    ledger_bad("sluice-quota-v1\n3309a690f6547803e7b2f5bca77d5bf2 \nend 1\n", "line 2: \"KEY");
    ledger_bad("sluice-quota-v1\n3309a690f6547803e7b2f5bca77d5bf2 18446744073709551616\nend 1\n",
               "line 2: \"KEY");
    snprintf(two, sizeof(two), "sluice-quota-v1\n%s 1\n%s 2\nend 2\n", KEYHEX, KEYHEX);
    ledger_bad(two, "line 3: a token counted twice");
}
END_TEST

START_TEST(saved_ledgers_load_back_and_leave_no_temp_file)
{
    char dir[] = "/tmp/sl-quota-XXXXXX", root[64], path[128], tmp[160], err[512] = "";
    sl_quota_share_t *qs = table(), *back = table();
    unsigned char k[SL_QUOTA_KEY] = {3};
    struct stat st;
    FILE *f;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(root, sizeof(root), "%s/root", dir); /* not made yet: the S3 store makes none */
    ck_assert_int_eq(sl__quota_path(root, path, sizeof(path)), 0);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    ck_assert_int_eq(sl__quota_load(back, path, err, sizeof(err)), 0); /* none yet: empty */
    ck_assert_int_eq(sl__quota_charge(qs, sl__quota_slot(qs, k), 100, 77), 0);
    ck_assert_int_eq(sl__quota_save(qs, path, 1), 0);
    ck_assert_int_eq(stat(tmp, &st), -1);
    ck_assert_int_eq(sl__quota_load(back, path, err, sizeof(err)), 0);
    ck_assert_uint_eq(sl__quota_used(back, sl__quota_slot(back, k)), 77);
    f = fopen(path, "a"); /* an edited file: refused, named */
    fputs("junk\n", f);
    fclose(f);
    free(back);
    back = table();
    ck_assert_int_eq(sl__quota_load(back, path, err, sizeof(err)), SL_EBADREQUEST);
    ck_assert_msg(strstr(err, path) != NULL && strstr(err, "line 4") != NULL, "%s", err);
    ck_assert_int_eq(sl__quota_save(qs, path, 0), 0); /* written over whole */
    free(back);
    back = table();
    ck_assert_int_eq(sl__quota_load(back, path, err, sizeof(err)), 0);
    ck_assert_int_eq(sl__quota_path(root, path, 10), -ENAMETOOLONG);
    snprintf(path, sizeof(path), "%s/file", dir); /* a folder that is a file: an errno */
    ck_assert_ptr_nonnull(f = fopen(path, "w"));
    fclose(f);
    snprintf(tmp, sizeof(tmp), "%s/file/.sluice/quota", dir);
    ck_assert_int_eq(sl__quota_save(qs, tmp, 0), -ENOTDIR);
    free(qs);
    free(back);
    snprintf(tmp, sizeof(tmp), "rm -rf %s", dir);
    ck_assert_int_eq(system(tmp), 0);
}
END_TEST

Suite *quota_suite(void)
{
    Suite *s = suite_create("quota");
    TCase *tc = tcase_create("table");

    tcase_add_test(tc, keys_match_the_vector);
    tcase_add_test(tc, slots_are_stable_and_probe_past_collisions);
    tcase_add_test(tc, charges_stay_within_the_quota);
    tcase_add_test(tc, processes_share_one_count);
    suite_add_tcase(s, tc);
    tc = tcase_create("ledger");
    tcase_add_test(tc, the_ledger_text_is_exact_and_reads_back);
    tcase_add_test(tc, corrupt_ledgers_are_refused_with_their_line);
    tcase_add_test(tc, saved_ledgers_load_back_and_leave_no_temp_file);
    suite_add_tcase(s, tc);
    return s;
}
