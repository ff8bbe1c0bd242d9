/* SPDX-License-Identifier: MIT
 *
 * A resumable upload's record (the line format in tus.h): ids, the in-memory record, its text
 * and its parsing. Pure functions, run anywhere: the disk store (tus.c) and the S3 store
 * (s3_tus.c) read and write the same text, and the fuzz target (fuzz_fields) parses it.
 *
 * An upload created with a Repr-Digest (the IETF draft's creation, RFC 9530) keeps it in the
 * record as `repr sha-256=<hex>[,sha-512=<hex>]`, lowercase hex of each digest the server can
 * check, so that the comparison at completion holds across requests, restarts and nodes.
 * sl_tus_repr_get reads one of them back for the commit.
 */
#include "tus.h"
#include "streams/error.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPR_CHARS "abcdefghijklmnopqrstuvwxyz0123456789-=,"

int sl_tus_id_valid(const char *id)
{
    size_t i;

    for (i = 0; i < SL_TUS_ID_LEN; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return 0;
    return id[i] == '\0';
}

void sl_tus_info_clear(sl_tus_info_t *info)
{
    free(info->metadata);
    free(info->parts);
    free(info->file);
    free(info->repr);
    info->metadata = info->parts = info->file = info->repr = NULL;
}

void sl_tus_info_set(char **field, const char *s)
{
    free(*field);
    *field = s != NULL ? sl_xstrdup(s) : NULL;
}

int sl_tus_format(const sl_tus_info_t *in, char *out, size_t cap)
{
    static const char *concat[] = {NULL, "partial", "final"};
    int n = snprintf(out, cap,
                     "sluice-tus 1\noffset %" PRIu64 "\nlength %" PRId64 "\nexpires %" PRId64 "\n",
                     in->offset, in->length, in->expires);
    size_t len = (size_t)n;

    if (in->concat != SL_TUS_PLAIN && len < cap)
        len += (size_t)snprintf(out + len, cap - len, "concat %s\n", concat[in->concat]);
    if (in->metadata != NULL && in->metadata[0] != '\0' && len < cap)
        len += (size_t)snprintf(out + len, cap - len, "metadata %s\n", in->metadata);
    if (in->parts != NULL && in->parts[0] != '\0' && len < cap)
        len += (size_t)snprintf(out + len, cap - len, "parts %s\n", in->parts);
    if (in->file != NULL && in->file[0] != '\0' && len < cap)
        len += (size_t)snprintf(out + len, cap - len, "file %s\n", in->file);
    if (in->repr != NULL && in->repr[0] != '\0' && len < cap)
        len += (size_t)snprintf(out + len, cap - len, "repr %s\n", in->repr);
    return len < cap ? (int)len : SL_ETOOLONG;
}

static int parse_int(const char *v, size_t n, int64_t *out)
{
    uint64_t x = 0;
    size_t i;
    int neg = n > 0 && v[0] == '-';

    if (n == (size_t)neg)
        return -1;
    for (i = (size_t)neg; i < n; i++) {
        unsigned d = (unsigned)(v[i] - '0');
        if (d > 9 || x > ((uint64_t)INT64_MAX - d) / 10)
            return -1;
        x = x * 10 + d;
    }
    *out = neg ? -(int64_t)x : (int64_t)x;
    return 0;
}

int sl_tus_parse(const char *text, size_t len, sl_tus_info_t *out)
{
    const char *p = text, *end = text + len;
    int seen = 0;

    out->offset = 0;
    out->length = -1;
    out->expires = 0;
    out->concat = SL_TUS_PLAIN;
    sl_tus_info_clear(out);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *sp;
        size_t klen, vlen;
        int64_t x;

        if (nl == NULL)
            return SL_EBADREQUEST; /* a torn record */
        sp = memchr(p, ' ', (size_t)(nl - p));
        if (sp == NULL)
            return SL_EBADREQUEST;
        klen = (size_t)(sp - p);
        vlen = (size_t)(nl - sp - 1);
        sp++;
#define KEY(k) (klen == sizeof(k) - 1 && memcmp(p, k, klen) == 0)
        if (seen == 0) {
            if (!KEY("sluice-tus") || vlen != 1 || *sp != '1')
                return SL_EBADREQUEST;
        } else if (KEY("offset") || KEY("length") || KEY("expires")) {
            if (parse_int(sp, vlen, &x) < 0)
                return SL_EBADREQUEST;
            if (KEY("offset") && x >= 0)
                out->offset = (uint64_t)x;
            else if (KEY("length") && x >= -1)
                out->length = x;
            else if (KEY("expires"))
                out->expires = x;
            else
                return SL_EBADREQUEST;
            seen |= KEY("offset") ? 2 : KEY("length") ? 4 : 0;
        } else if (KEY("concat")) {
            if (vlen == 7 && memcmp(sp, "partial", 7) == 0)
                out->concat = SL_TUS_PARTIAL;
            else if (vlen == 5 && memcmp(sp, "final", 5) == 0)
                out->concat = SL_TUS_FINAL;
            else
                return SL_EBADREQUEST;
        } else if (KEY("metadata") || KEY("file") || KEY("parts") || KEY("repr")) {
            char **dst = KEY("file")    ? &out->file
                         : KEY("parts") ? &out->parts
                         : KEY("repr")  ? &out->repr
                                        : &out->metadata;
            size_t cap = KEY("file")    ? SL_NAME_MAX
                         : KEY("parts") ? SL_TUS_PARTS_MAX * (SL_TUS_ID_LEN + 1)
                         : KEY("repr")  ? SL_TUS_REPR_MAX
                                        : SL_TUS_METADATA_MAX;
            if (vlen > cap || memchr(sp, '\0', vlen) != NULL ||
                (KEY("repr") && strspn(sp, REPR_CHARS) < vlen))
                return SL_EBADREQUEST;
            free(*dst);
            *dst = sl_xmalloc(vlen + 1);
            memcpy(*dst, sp, vlen);
            (*dst)[vlen] = '\0';
        } /* unknown keys: from a newer version, ignored */
#undef KEY
        seen |= 1;
        p = nl + 1;
    }
    if (seen != 7 || (out->length >= 0 && out->offset > (uint64_t)out->length))
        return SL_EBADREQUEST;
    return 0;
}

int sl_tus_repr_get(const char *repr, const char *alg, char *hex, size_t cap)
{
    size_t alen = strlen(alg), n;
    const char *p = repr;

    while (p != NULL && *p != '\0') {
        const char *end = strchr(p, ',');
        n = end != NULL ? (size_t)(end - p) : strlen(p);
        if (n > alen + 1 && memcmp(p, alg, alen) == 0 && p[alen] == '=') {
            if (n - alen - 1 >= cap)
                return -1;
            memcpy(hex, p + alen + 1, n - alen - 1);
            hex[n - alen - 1] = '\0';
            return 0;
        }
        p = end != NULL ? end + 1 : NULL;
    }
    return -1;
}
