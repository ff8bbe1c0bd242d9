/* SPDX-License-Identifier: MIT
 *
 * Name rules (storage/paths.c, DESIGN.md §5): sl_name_check accepts exactly the names that may
 * reach the file system, sl_name_decode turns what the client sent into a name without letting an
 * escape smuggle in a NUL or (in a path) a separator, and sl_name_random makes ids. Every rule is
 * tested from both sides: the smallest name that breaks it, and its nearest valid neighbour.
 */
#include <check.h>
#include <ctype.h>
#include <string.h>

#include "storage/fs.h"

/* A name of exactly `len` bytes: segments of 200 'x' joined by '/' (every segment valid). */
static void make_name(char *out, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        out[i] = (i % 201 == 200 && i + 1 < len) ? '/' : 'x';
    out[len] = '\0';
}

/* Decode a C string; out has room for 256 bytes. */
static int decode(const char *raw, int mode, char *out)
{
    return sl_name_decode(raw, strlen(raw), mode, out, 256);
}

/* --- segments ----------------------------------------------------------------------------- */

START_TEST(plain_and_nested_names_are_accepted)
{
    ck_assert_int_eq(sl_name_check("a"), 0);
    ck_assert_int_eq(sl_name_check("report.pdf"), 0);
    ck_assert_int_eq(sl_name_check("a/b/c.txt"), 0);
    ck_assert_int_eq(sl_name_check("with space and ~!@#$%^&()"), 0);
}
END_TEST

START_TEST(empty_name_is_refused)
{
    ck_assert_int_eq(sl_name_check(""), SL_EBADNAME);
}
END_TEST

START_TEST(dot_segment_is_refused)
{
    ck_assert_int_eq(sl_name_check("."), SL_EBADNAME);
    ck_assert_int_eq(sl_name_check("./a"), SL_EBADNAME);
    ck_assert_int_eq(sl_name_check("a/./b"), SL_EBADNAME);
    ck_assert_int_eq(sl_name_check("a/."), SL_EBADNAME);
}
END_TEST

START_TEST(dotdot_segment_is_refused)
{
    ck_assert_int_eq(sl_name_check(".."), SL_EBADNAME);
    ck_assert_int_eq(sl_name_check("../etc/passwd"), SL_EBADNAME);
    ck_assert_int_eq(sl_name_check("a/../b"), SL_EBADNAME);
    ck_assert_int_eq(sl_name_check("a/.."), SL_EBADNAME);
}
END_TEST

START_TEST(names_that_only_start_with_dots_are_accepted)
{
    ck_assert_int_eq(sl_name_check("..."), 0);
    ck_assert_int_eq(sl_name_check(".hidden"), 0);
    ck_assert_int_eq(sl_name_check("..a/b.."), 0);
    ck_assert_int_eq(sl_name_check("a/.b"), 0);
}
END_TEST

START_TEST(leading_slash_is_refused)
{
    ck_assert_int_eq(sl_name_check("/a"), SL_EBADNAME);
    ck_assert_int_eq(sl_name_check("/"), SL_EBADNAME);
}
END_TEST

START_TEST(trailing_slash_is_refused)
{
    ck_assert_int_eq(sl_name_check("a/"), SL_EBADNAME);
    ck_assert_int_eq(sl_name_check("a/b/"), SL_EBADNAME);
}
END_TEST

START_TEST(empty_segment_between_slashes_is_refused)
{
    ck_assert_int_eq(sl_name_check("a//b"), SL_EBADNAME);
    ck_assert_int_eq(sl_name_check("//"), SL_EBADNAME);
}
END_TEST

START_TEST(control_bytes_are_refused)
{
    char name[] = "a?b";
    int c;

    for (c = 1; c < 0x20; c++) {
        name[1] = (char)c;
        ck_assert_msg(sl_name_check(name) == SL_EBADNAME, "control byte 0x%02x accepted", c);
    }
}
END_TEST

START_TEST(del_byte_is_refused)
{
    ck_assert_int_eq(sl_name_check("a\x7f"), SL_EBADNAME);
    ck_assert_int_eq(sl_name_check("\x7f/b"), SL_EBADNAME);
}
END_TEST

START_TEST(work_area_is_not_addressable_in_any_case)
{
    ck_assert_int_eq(sl_name_check(".sluice"), SL_EBADNAME);
    ck_assert_int_eq(sl_name_check(".sluice/tmp/1-1.part"), SL_EBADNAME);
    ck_assert_int_eq(sl_name_check(".SLUICE/tmp"), SL_EBADNAME);
    ck_assert_int_eq(sl_name_check(".Sluice"), SL_EBADNAME);
}
END_TEST

START_TEST(sluice_segment_below_the_root_is_allowed)
{
    ck_assert_int_eq(sl_name_check("a/.sluice"), 0);
    ck_assert_int_eq(sl_name_check("a/.sluice/tmp"), 0);
    ck_assert_int_eq(sl_name_check(".sluicex"), 0);
    ck_assert_int_eq(sl_name_check(".sluic"), 0);
}
END_TEST

/* --- lengths ------------------------------------------------------------------------------ */

START_TEST(segment_of_255_bytes_is_accepted_and_256_refused)
{
    char name[300];

    memset(name, 's', 255);
    name[255] = '\0';
    ck_assert_int_eq(sl_name_check(name), 0);
    memset(name, 's', 256);
    name[256] = '\0';
    ck_assert_int_eq(sl_name_check(name), SL_EBADNAME);
    /* The limit is per segment, also below the root. */
    memcpy(name, "a/", 2);
    ck_assert_int_eq(sl_name_check(name), 0);
}
END_TEST

START_TEST(name_of_1024_bytes_is_accepted)
{
    char name[SL_NAME_MAX + 2];

    make_name(name, SL_NAME_MAX);
    ck_assert_uint_eq(strlen(name), 1024);
    ck_assert_int_eq(sl_name_check(name), 0);
}
END_TEST

START_TEST(name_of_1025_bytes_is_too_long)
{
    char name[SL_NAME_MAX + 2];

    make_name(name, SL_NAME_MAX + 1);
    ck_assert_int_eq(sl_name_check(name), SL_ETOOLONG);
}
END_TEST

/* --- UTF-8 -------------------------------------------------------------------------------- */

START_TEST(valid_multibyte_utf8_is_accepted)
{
    ck_assert_int_eq(sl_name_check("caf\xc3\xa9"), 0);                  /* U+00E9 */
    ck_assert_int_eq(sl_name_check("\xe2\x82\xac/price"), 0);           /* U+20AC */
    ck_assert_int_eq(sl_name_check("\xf0\x9f\x98\x80.png"), 0);         /* U+1F600 */
    ck_assert_int_eq(sl_name_check("\xef\xbf\xbd\xf4\x8f\xbf\xbf"), 0); /* U+FFFD, U+10FFFF */
}
END_TEST

START_TEST(overlong_utf8_is_refused)
{
    ck_assert_int_eq(sl_name_check("\xc0\xaf"), SL_EBADNAME); /* '/' in two bytes */
    ck_assert_int_eq(sl_name_check("\xc1\xbf"), SL_EBADNAME);
    ck_assert_int_eq(sl_name_check("\xe0\x80\xae"), SL_EBADNAME);     /* '.' in three */
    ck_assert_int_eq(sl_name_check("\xf0\x80\x80\xaf"), SL_EBADNAME); /* '/' in four */
}
END_TEST

START_TEST(utf8_surrogates_are_refused)
{
    ck_assert_int_eq(sl_name_check("\xed\xa0\x80"), SL_EBADNAME); /* U+D800 */
    ck_assert_int_eq(sl_name_check("\xed\xbf\xbf"), SL_EBADNAME); /* U+DFFF */
    ck_assert_int_eq(sl_name_check("\xed\x9f\xbf"), 0);           /* U+D7FF, just below */
}
END_TEST

START_TEST(truncated_utf8_is_refused)
{
    ck_assert_int_eq(sl_name_check("\xe2\x82"), SL_EBADNAME);
    ck_assert_int_eq(sl_name_check("a\xc3"), SL_EBADNAME);
    ck_assert_int_eq(sl_name_check("\xe2\x82/b"), SL_EBADNAME); /* cut short by a separator */
    ck_assert_int_eq(sl_name_check("\xf0\x9f\x98"), SL_EBADNAME);
}
END_TEST

START_TEST(other_invalid_utf8_is_refused)
{
    ck_assert_int_eq(sl_name_check("\x80"), SL_EBADNAME); /* lone continuation */
    ck_assert_int_eq(sl_name_check("a\xff"), SL_EBADNAME);
    ck_assert_int_eq(sl_name_check("\xf4\x90\x80\x80"), SL_EBADNAME); /* above U+10FFFF */
    ck_assert_int_eq(sl_name_check("\xf8\x88\x80\x80\x80"), SL_EBADNAME);
}
END_TEST

/* --- decode ------------------------------------------------------------------------------- */

START_TEST(decode_turns_escapes_into_bytes)
{
    char out[256];

    ck_assert_int_eq(decode("a%20b%41%6a", SL_DECODE_PATH, out), 0);
    ck_assert_str_eq(out, "a bAj");
    ck_assert_int_eq(decode("caf%C3%A9", SL_DECODE_PATH, out), 0);
    ck_assert_str_eq(out, "caf\xc3\xa9");
    ck_assert_int_eq(sl_name_check(out), 0);
    ck_assert_int_eq(decode("", SL_DECODE_PATH, out), 0);
    ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(encoded_dotdot_decodes_then_fails_the_check)
{
    char out[256];

    ck_assert_int_eq(decode("%2e%2e", SL_DECODE_PATH, out), 0);
    ck_assert_str_eq(out, "..");
    ck_assert_int_eq(sl_name_check(out), SL_EBADNAME);
    ck_assert_int_eq(decode("a/%2E%2E/b", SL_DECODE_PATH, out), 0);
    ck_assert_int_eq(sl_name_check(out), SL_EBADNAME);
}
END_TEST

START_TEST(encoded_slash_is_refused_in_a_path)
{
    char out[256];

    ck_assert_int_eq(decode("a%2Fb", SL_DECODE_PATH, out), SL_EBADNAME);
    ck_assert_int_eq(decode("a%2fb", SL_DECODE_PATH, out), SL_EBADNAME);
    ck_assert_int_eq(decode("%2e%2e%2fetc", SL_DECODE_PATH, out), SL_EBADNAME);
}
END_TEST

START_TEST(encoded_slash_is_a_separator_in_a_query)
{
    char out[256];

    ck_assert_int_eq(decode("dir%2Ffile", SL_DECODE_QUERY, out), 0);
    ck_assert_str_eq(out, "dir/file");
    ck_assert_int_eq(sl_name_check(out), 0);
}
END_TEST

START_TEST(encoded_nul_is_refused_in_both_modes)
{
    char out[256];

    ck_assert_int_eq(decode("a%00b", SL_DECODE_PATH, out), SL_EBADNAME);
    ck_assert_int_eq(decode("a%00b", SL_DECODE_QUERY, out), SL_EBADNAME);
    /* A raw NUL inside the given length is refused too. */
    ck_assert_int_eq(sl_name_decode("a\0b", 3, SL_DECODE_QUERY, out, sizeof(out)), SL_EBADNAME);
}
END_TEST

START_TEST(truncated_escape_is_refused)
{
    char out[256];

    ck_assert_int_eq(decode("%", SL_DECODE_PATH, out), SL_EBADNAME);
    ck_assert_int_eq(decode("a%4", SL_DECODE_PATH, out), SL_EBADNAME);
    ck_assert_int_eq(decode("abc%", SL_DECODE_QUERY, out), SL_EBADNAME);
    /* The length given, not the NUL, ends the input. */
    ck_assert_int_eq(sl_name_decode("a%41", 3, SL_DECODE_PATH, out, sizeof(out)), SL_EBADNAME);
}
END_TEST

START_TEST(invalid_escape_is_refused)
{
    char out[256];

    ck_assert_int_eq(decode("%G1", SL_DECODE_PATH, out), SL_EBADNAME);
    ck_assert_int_eq(decode("%1g", SL_DECODE_PATH, out), SL_EBADNAME);
    ck_assert_int_eq(decode("%%41", SL_DECODE_QUERY, out), SL_EBADNAME);
    ck_assert_int_eq(decode("% 1", SL_DECODE_QUERY, out), SL_EBADNAME);
}
END_TEST

START_TEST(decode_reports_a_full_output_as_too_long)
{
    char out[8];

    ck_assert_int_eq(sl_name_decode("abcd", 4, SL_DECODE_PATH, out, 4), SL_ETOOLONG);
    ck_assert_int_eq(sl_name_decode("abcd", 4, SL_DECODE_PATH, out, 5), 0);
    ck_assert_str_eq(out, "abcd");
    /* Capacity counts decoded bytes: six raw bytes decode to two. */
    ck_assert_int_eq(sl_name_decode("%41%42", 6, SL_DECODE_PATH, out, 3), 0);
    ck_assert_str_eq(out, "AB");
    ck_assert_int_eq(sl_name_decode("%41%42", 6, SL_DECODE_PATH, out, 2), SL_ETOOLONG);
}
END_TEST

/* --- random ids --------------------------------------------------------------------------- */

START_TEST(random_id_is_32_lowercase_hex_digits)
{
    char id[33];
    int i;

    memset(id, 'Z', sizeof(id));
    sl_name_random(id);
    ck_assert_uint_eq(strlen(id), 32);
    for (i = 0; i < 32; i++)
        ck_assert_msg(isxdigit((unsigned char)id[i]) && !isupper((unsigned char)id[i]),
                      "byte %d of %s is not lowercase hex", i, id);
    ck_assert_int_eq(sl_name_check(id), 0);
}
END_TEST

START_TEST(random_ids_differ_between_calls)
{
    char a[33], b[33];

    sl_name_random(a);
    sl_name_random(b);
    ck_assert_str_ne(a, b);
}
END_TEST

Suite *paths_suite(void)
{
    Suite *s = suite_create("paths");
    TCase *tc;

    tc = tcase_create("segments");
    tcase_add_test(tc, plain_and_nested_names_are_accepted);
    tcase_add_test(tc, empty_name_is_refused);
    tcase_add_test(tc, dot_segment_is_refused);
    tcase_add_test(tc, dotdot_segment_is_refused);
    tcase_add_test(tc, names_that_only_start_with_dots_are_accepted);
    tcase_add_test(tc, leading_slash_is_refused);
    tcase_add_test(tc, trailing_slash_is_refused);
    tcase_add_test(tc, empty_segment_between_slashes_is_refused);
    tcase_add_test(tc, control_bytes_are_refused);
    tcase_add_test(tc, del_byte_is_refused);
    tcase_add_test(tc, work_area_is_not_addressable_in_any_case);
    tcase_add_test(tc, sluice_segment_below_the_root_is_allowed);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("lengths");
    tcase_add_test(tc, segment_of_255_bytes_is_accepted_and_256_refused);
    tcase_add_test(tc, name_of_1024_bytes_is_accepted);
    tcase_add_test(tc, name_of_1025_bytes_is_too_long);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("utf8");
    tcase_add_test(tc, valid_multibyte_utf8_is_accepted);
    tcase_add_test(tc, overlong_utf8_is_refused);
    tcase_add_test(tc, utf8_surrogates_are_refused);
    tcase_add_test(tc, truncated_utf8_is_refused);
    tcase_add_test(tc, other_invalid_utf8_is_refused);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("decode");
    tcase_add_test(tc, decode_turns_escapes_into_bytes);
    tcase_add_test(tc, encoded_dotdot_decodes_then_fails_the_check);
    tcase_add_test(tc, encoded_slash_is_refused_in_a_path);
    tcase_add_test(tc, encoded_slash_is_a_separator_in_a_query);
    tcase_add_test(tc, encoded_nul_is_refused_in_both_modes);
    tcase_add_test(tc, truncated_escape_is_refused);
    tcase_add_test(tc, invalid_escape_is_refused);
    tcase_add_test(tc, decode_reports_a_full_output_as_too_long);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("random");
    tcase_add_test(tc, random_id_is_32_lowercase_hex_digits);
    tcase_add_test(tc, random_ids_differ_between_calls);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);
    return s;
}
