/* SPDX-License-Identifier: MIT
 *
 * Configuration: the engine the option table (options.h, config_options.c) drives. Nothing here
 * names a flag: each type of entry knows how to read a value into its field (sl__opt_set) and
 * how to write it back (sl__opt_print); the defaults and the command line walk the table.
 *
 *   sl_config_init        memset 0, then every entry's default through sl__opt_set
 *   sl_config_parse_args  two passes over argv: --config FILE (sl_config_load_file) and
 *                         --check-config first, then SLUICE_* (sl_config_load_env), then every
 *                         flag in order (later wins; a list adds), --help and --version at once
 *
 * A flag is --name VALUE or --name=VALUE; a bool is a bare --name (or --name=false); -h is
 * --help. A bad flag is a one-line message naming it, and exit code 2 (main.c). The file, the
 * environment, --check-config's output and --help's text are config_file.c.
 */
#include "http/http.h"
#include "options.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streams/error.h"

/* --- values -------------------------------------------------------------------------------- */

int sl__opt_parse_uint(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno == ERANGE || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int sl__opt_parse_bool(const char *s, int *out)
{
    if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0 || strcmp(s, "yes") == 0)
        *out = 1;
    else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0 || strcmp(s, "no") == 0)
        *out = 0;
    else
        return -1;
    return 0;
}

/* An unsigned field of 4 or 8 bytes (unsigned, size_t, uint64_t): -1 if the value does not fit. */
static int put_uint(void *field, size_t width, uint64_t v)
{
    if (width == sizeof(uint32_t) && v <= UINT32_MAX) {
        uint32_t u = (uint32_t)v;
        memcpy(field, &u, sizeof(u));
        return 0;
    }
    if (width == sizeof(uint64_t)) {
        memcpy(field, &v, sizeof(v));
        return 0;
    }
    return -1;
}

static uint64_t get_uint(const void *field, size_t width)
{
    uint32_t u;
    uint64_t v;

    if (width == sizeof(uint32_t)) {
        memcpy(&u, field, sizeof(u));
        return u;
    }
    memcpy(&v, field, sizeof(v));
    return v;
}

static int set_number(const sl_opt_t *o, void *field, const char *v)
{
    uint64_t n;

    if (o->word != NULL && strcmp(v, o->word) == 0)
        return put_uint(field, o->width, o->word_value);
    if (o->type == SL_OPT_SIZE) {
        if (sl_parse_size(v, &n) < 0 || n < o->lo || n > o->hi)
            return -1;
    } else if (sl__opt_parse_uint(v, o->lo, o->hi, &n) < 0) {
        return -1;
    }
    return put_uint(field, o->width, n);
}

static int set_string(const sl_opt_t *o, char *field, const char *v)
{
    size_t have = o->type == SL_OPT_LIST ? strlen(field) : 0;

    if (v[0] == '\0' || (o->check != NULL && o->check(v) < 0))
        return -1;
    if (have + (have ? 1 : 0) + strlen(v) >= o->width)
        return -1;
    if (o->type == SL_OPT_STRING) /* nothing of an old value left after the NUL */
        memset(field, 0, o->width);
    snprintf(field + have, o->width - have, "%s%s", have ? "," : "", v);
    return 0;
}

int sl__opt_set(const sl_opt_t *o, sl_config_t *cfg, const char *v)
{
    void *field = SL_OPT_PTR(o, cfg);
    size_t k;

    if (v == NULL || !SL_OPT_FITS(o, cfg))
        return -1; /* a field the program's (older) sl_config_t does not have */
    if (o->parse != NULL)
        return o->parse(o, cfg, v);
    switch (o->type) {
    case SL_OPT_UINT:
    case SL_OPT_SIZE:
        return set_number(o, field, v);
    case SL_OPT_BOOL:
        return o->width == sizeof(int) ? sl__opt_parse_bool(v, field) : -1;
    case SL_OPT_ENUM:
        for (k = 0; o->names[k] != NULL; k++)
            if (strcmp(v, o->names[k]) == 0) {
                *(int *)field = (int)k;
                return 0;
            }
        return -1;
    case SL_OPT_STRING:
    case SL_OPT_LIST:
        return set_string(o, field, v);
    case SL_OPT_CUSTOM: /* without a parse function: a mistake in the table */
    case SL_OPT_ACTION:
        break;
    }
    return -1;
}

void sl__opt_line(FILE *f, const sl_opt_t *o, const char *fmt, ...)
{
    va_list ap;

    fprintf(f, "%s = ", o->name);
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
}

void sl__opt_print(const sl_opt_t *o, const sl_config_t *cfg, FILE *f)
{
    const void *field = SL_OPT_CPTR(o, cfg);
    const char *s = field, *comma;
    uint64_t n;
    int i;

    if (!SL_OPT_FITS(o, cfg))
        return;
    if (o->print != NULL) {
        o->print(o, cfg, f);
        return;
    }
    switch (o->type) {
    case SL_OPT_UINT:
    case SL_OPT_SIZE:
        n = get_uint(field, o->width);
        if (o->word != NULL && n == o->word_value)
            sl__opt_line(f, o, "%s", o->word);
        else
            sl__opt_line(f, o, "%llu", (unsigned long long)n);
        break;
    case SL_OPT_BOOL:
        sl__opt_line(f, o, "%s", *(const int *)field ? "true" : "false");
        break;
    case SL_OPT_ENUM:
        i = *(const int *)field;
        for (n = 0; o->names[n] != NULL && (int)n != i; n++)
            ;
        if (i >= 0 && o->names[n] != NULL)
            sl__opt_line(f, o, "%s", o->names[n]);
        else
            sl__opt_line(f, o, "%d", i); /* no name: reading it back fails, as it should */
        break;
    case SL_OPT_STRING:
        if (s[0] != '\0')
            sl__opt_line(f, o, "\"%s\"", s);
        break;
    case SL_OPT_LIST: /* quoted like a string: an item may begin with '#' */
        for (; s[0] != '\0' && (comma = strchr(s, ',')) != NULL; s = comma + 1)
            sl__opt_line(f, o, "\"%.*s\"", (int)(comma - s), s);
        if (s[0] != '\0')
            sl__opt_line(f, o, "\"%s\"", s);
        break;
    case SL_OPT_CUSTOM:
    case SL_OPT_ACTION:
        break;
    }
}

const sl_opt_t *sl__opt_find(const char *name, size_t len)
{
    size_t k;

    for (k = 0; k < sl__noptions; k++)
        if (strncmp(sl__options[k].name, name, len) == 0 && sl__options[k].name[len] == '\0')
            return &sl__options[k];
    return NULL;
}

/* --- defaults --------------------------------------------------------------------- */

void sl_config_init_size(sl_config_t *cfg, size_t size)
{
    size_t k;

    memset(cfg, 0, size);
    cfg->size = size;
    for (k = 0; k < sl__noptions; k++)
        if (sl__options[k].def != NULL) /* each one parses (test_config_table.c) */
            (void)sl__opt_set(&sl__options[k], cfg, sl__options[k].def);
}

void(sl_config_init)(sl_config_t *cfg) /* for a caller without the macro: this version's size */
{
    sl_config_init_size(cfg, sizeof(*cfg));
}

int sl__config_valid(const sl_config_t *cfg)
{
    return cfg != NULL && cfg->size >= SL_CONFIG_MIN_SIZE && cfg->size <= (64u << 10);
}

void sl__config_copy(sl_config_t *dst, const sl_config_t *src)
{
    sl_config_init_size(dst, sizeof(*dst)); /* the fields a newer library added: defaults */
    memcpy(dst, src, src->size < sizeof(*dst) ? src->size : sizeof(*dst));
    dst->size = sizeof(*dst);
}

/* --- the command line ---------------------------------------------------------------------- */

/* argv[*i] as an entry and its value: --name VALUE, --name=VALUE, a bare --name (a bool's value
 * is then "true", an action's NULL), or -h. *i moves past a value taken from the next argument.
 * 0, or SL_EBADREQUEST with a one-line message in err. */
static int take(int argc, char **argv, int *i, const sl_opt_t **out, const char **value, char *err,
                size_t errlen)
{
    const char *a = strcmp(argv[*i], "-h") == 0 ? "--help" : argv[*i];
    const char *eq = strchr(a, '=');
    size_t n = eq != NULL ? (size_t)(eq - a) : strlen(a);
    int dashes = strncmp(a, "--", 2) == 0;
    const sl_opt_t *o = dashes && n > 2 ? sl__opt_find(a + 2, n - 2) : NULL;

    if (o == NULL) { /* named without its value if it has one */
        snprintf(err, errlen, "unknown option '%.*s' (see --help)", (int)(dashes ? n : strlen(a)),
                 a);
        return SL_EBADREQUEST;
    }
    *out = o;
    if (eq != NULL) {
        if (o->arg == NULL && o->type != SL_OPT_BOOL) {
            snprintf(err, errlen, "option --%s takes no value (see --help)", o->name);
            return SL_EBADREQUEST;
        }
        *value = eq + 1;
    } else if (o->arg == NULL) {
        *value = o->type == SL_OPT_BOOL ? "true" : NULL;
    } else if (*i + 1 >= argc) {
        snprintf(err, errlen, "option --%s needs a value (see --help)", o->name);
        return SL_EBADREQUEST;
    } else {
        *value = argv[++*i];
    }
    return 0;
}

extern char **environ;

int sl_config_parse_args(sl_config_t *cfg, int argc, char **argv, char *err, size_t errlen)
{
    const sl_opt_t *o;
    const char *v;
    char ignored[512]; /* the first pass's messages, dropped */
    int i, check = 0, r;

    if (!sl__config_valid(cfg)) {
        snprintf(err, errlen, "the configuration was not made by sl_config_init");
        return SL_EBADREQUEST;
    }
    /* The file first, then the environment, then the flags (later wins). A bad flag is only
     * reported by the second pass, so that a bad file or variable is reported first. */
    for (i = 1; i < argc; i++) {
        if (take(argc, argv, &i, &o, &v, ignored, sizeof(ignored)) < 0)
            continue;
        if (o->action == SL_ACT_CHECK)
            check = 1;
        if (o->action == SL_ACT_CONFIG && (r = sl_config_load_file(cfg, v, err, errlen)) < 0)
            return r;
    }
    if ((r = sl_config_load_env(cfg, environ, err, errlen)) < 0)
        return r;
    for (i = 1; i < argc; i++) {
        if ((r = take(argc, argv, &i, &o, &v, err, errlen)) < 0)
            return r;
        switch (o->action) {
        case SL_ACT_HELP:
            sl_config_usage(stdout);
            return SL_CONFIG_EXIT;
        case SL_ACT_VERSION:
            printf("sluice %s\n", SL_VERSION);
            return SL_CONFIG_EXIT;
        case SL_ACT_CONFIG: /* read by the first pass */
        case SL_ACT_CHECK:
            continue;
        case SL_ACT_NONE:
            break;
        }
        if (sl__opt_set(o, cfg, v) < 0) {
            snprintf(err, errlen, "invalid value '%s' for --%s (see --help)", v, o->name);
            return SL_EBADREQUEST;
        }
    }
    if (check) {
        sl_config_print(cfg, stdout);
        return SL_CONFIG_EXIT;
    }
    return 0;
}

void sl_config_export_threads(const sl_config_t *cfg)
{
    char buf[16];

    snprintf(buf, sizeof(buf), "%u", cfg->threads);
    setenv("UV_THREADPOOL_SIZE", buf, 0);
}

void sl_config_apply_env(const sl_config_t *cfg) /* the old name */
{
    sl_config_export_threads(cfg);
}
