/* SPDX-License-Identifier: MIT
 * A small strict JSON reader for tests: is a response body one JSON value, and what a member of
 * its top-level object holds. */
#ifndef SL_TESTS_SUPPORT_JSON_H
#define SL_TESTS_SUPPORT_JSON_H

#include <stddef.h>

/* 1 if s is exactly one JSON value (RFC 8259), whitespace around it allowed. */
int json_valid(const char *s);
/* Member `key` of the top-level object s: a string's decoded text (\uXXXX kept as written), or
 * the raw text of any other value, into out[cap]. 1 if found, 0 if not (or s is no object). */
int json_get(const char *s, const char *key, char *out, size_t cap);
/* How many members the top-level object s has, or -1 if s is no object. */
int json_members(const char *s);

#endif
