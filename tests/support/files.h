/* SPDX-License-Identifier: MIT
 * File helpers shared by the storage tests: write a fixture file, read one back. */
#ifndef SL_TESTS_SUPPORT_FILES_H
#define SL_TESTS_SUPPORT_FILES_H

#include <stddef.h>

/* Write len bytes of `data` to `path` (created or truncated); asserts on failure. */
void write_bytes(const char *path, const void *data, size_t len);
/* Write the string `text` to dir/name; asserts on failure. */
void put_text(const char *dir, const char *name, const char *text);
/* Read dir/name into buf (cap bytes, NUL-terminated); its size, or -1 if it does not exist. */
long slurp(const char *dir, const char *name, char *buf, size_t cap);
/* Entries (other than . and ..) in the directory dir/sub, which must exist; asserts. */
int count_entries(const char *dir, const char *sub);

#endif
