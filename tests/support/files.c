/* SPDX-License-Identifier: MIT
 * File helpers shared by the storage tests (files.h). */
#include "files.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include <check.h>

void write_bytes(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");

    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(data, 1, len, fp), len);
    fclose(fp);
}

void put_text(const char *dir, const char *name, const char *text)
{
    char path[4200];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    write_bytes(path, text, strlen(text));
}

long slurp(const char *dir, const char *name, char *buf, size_t cap)
{
    char path[4200];
    FILE *fp;
    size_t n;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fp = fopen(path, "rb");
    if (fp == NULL)
        return -1;
    n = fread(buf, 1, cap - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return (long)n;
}

int count_entries(const char *dir, const char *sub)
{
    char path[4200];
    struct dirent *de;
    int n = 0;
    DIR *d;

    snprintf(path, sizeof(path), "%s/%s", dir, sub);
    d = opendir(path);
    ck_assert_msg(d != NULL, "cannot open %s", path);
    while ((de = readdir(d)) != NULL)
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return n;
}
