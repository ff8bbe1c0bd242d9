/* SPDX-License-Identifier: MIT
 *
 * Private to server/config*.c (and their tests): the option table.
 *
 * Every setting of sl_config_t is one entry of sl__options[] (config_options.c), and everything
 * else is driven from that table, never written per flag:
 *
 *   entry { name, type, field, bounds, default, placeholder, help, [parse], [print] }
 *     ├─ sl_config_init            each default, parsed like a value given by the user
 *     ├─ sl_config_parse_args      --name VALUE, --name=VALUE, a bare --name for a bool
 *     ├─ sl_config_load_env        SLUICE_NAME=VALUE (capitals, '_' for '-')
 *     ├─ sl_config_load_file       name = VALUE
 *     ├─ sl_config_usage           "  --name ARG   help (default DEF)", wrapped
 *     └─ sl_config_print           "name = VALUE" lines that read back the same
 *
 * The type says how a value is read and written back; a flag whose value is unlike any type
 * (--listen HOST:PORT, --digest LIST) or that does more than set its field (--verbose) has its
 * own parse and print functions in its entry instead. A few entries are actions on the command
 * line only (--help, --version, --config, --check-config): no field, no key, no variable.
 *
 * Adding a flag: its field in sl_config_t (sluice.h) and its entry in the table. The tests in
 * tests/server/test_config_table.c walk the table, so the new flag is checked everywhere at once.
 */
#ifndef SL_SERVER_OPTIONS_H
#define SL_SERVER_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sluice.h"

typedef enum {
    SL_OPT_UINT,   /* unsigned integer field: decimal digits within lo..hi */
    SL_OPT_SIZE,   /* size_t or uint64_t field: sl_parse_size (N[K|M|G|T]) within lo..hi */
    SL_OPT_BOOL,   /* int 0/1: a bare flag on the command line; true|false|yes|no|1|0 else */
    SL_OPT_ENUM,   /* int: the index of the value in `names` */
    SL_OPT_STRING, /* char[]: not empty, shorter than the field; `check` may refuse more */
    SL_OPT_LIST,   /* char[]: comma-separated, each use adds one (repeatable); `check` too */
    SL_OPT_CUSTOM, /* the entry's parse and print functions do everything */
    SL_OPT_ACTION, /* command line only, no field: see sl_opt_action_t */
} sl_opt_type_t;

typedef enum {
    SL_ACT_NONE,
    SL_ACT_HELP,    /* print sl_config_usage, parse_args returns SL_CONFIG_EXIT */
    SL_ACT_VERSION, /* print the version, the same */
    SL_ACT_CONFIG,  /* read FILE before the environment and the other flags */
    SL_ACT_CHECK,   /* once everything is read, print the configuration, SL_CONFIG_EXIT */
} sl_opt_action_t;

typedef struct sl_opt_s sl_opt_t;

struct sl_opt_s {
    const char *name;            /* the flag without its dashes, the file's key: "max-size" */
    sl_opt_type_t type;          /* how a value is read and printed */
    size_t off, width;           /* the field in sl_config_t: offsetof, sizeof (SL_OPT_FIELD) */
    uint64_t lo, hi;             /* UINT, SIZE: the values accepted (inclusive) */
    const char *word;            /* UINT, SIZE: a word standing for word_value ("auto"), or NULL */
    uint64_t word_value;         /*   (outside lo..hi, so the word is how it is printed) */
    const char *const *names;    /* ENUM: the values' names, NULL-terminated */
    int (*check)(const char *v); /* STRING, LIST: 0 to accept v, -1 to refuse it; or NULL */
    sl_opt_action_t action;      /* ACTION: which one */
    const char *def;             /* the default as a user writes it, or NULL: zero, empty */
    const char *arg;             /* --help's placeholder for the value; NULL: a bare flag */
    const char *help;            /* --help's text, without the default (appended) */
    /* Instead of the type's own reading and printing, when set. parse: 0, or -1 with cfg
     * unchanged. print: zero or more "name = value" lines (sl__opt_line) to f. */
    int (*parse)(const sl_opt_t *o, sl_config_t *cfg, const char *v);
    void (*print)(const sl_opt_t *o, const sl_config_t *cfg, FILE *f);
};

#define SL_OPT_FIELD(f) .off = offsetof(sl_config_t, f), .width = sizeof(((sl_config_t *)0)->f)

/* The table (config_options.c), in --help and --check-config order, and its length. Static. */
extern const sl_opt_t sl__options[];
extern const size_t sl__noptions;

/* The entry named name[0..len) (no dashes), or NULL. Borrowed from the table. */
const sl_opt_t *sl__opt_find(const char *name, size_t len);

/* Set o's field in cfg (borrowed) from v (borrowed): the entry's parse or its type's. 0, or -1
 * for a bad value (cfg unchanged). o must not be an action. */
int sl__opt_set(const sl_opt_t *o, sl_config_t *cfg, const char *v);

/* Print o's value in cfg as configuration-file lines to f (both borrowed). */
void sl__opt_print(const sl_opt_t *o, const sl_config_t *cfg, FILE *f);

/* One "name = value" line to f, value formatted like printf. */
void sl__opt_line(FILE *f, const sl_opt_t *o, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The field of o in cfg (borrowed from cfg). */
#define SL_OPT_PTR(o, cfg) ((void *)((char *)(cfg) + (o)->off))
#define SL_OPT_CPTR(o, cfg) ((const void *)((const char *)(cfg) + (o)->off))
/* 1 if o's field lies within the program's sl_config_t (cfg->size: sluice.h). */
#define SL_OPT_FITS(o, cfg) ((o)->off + (o)->width <= (cfg)->size)

/* Shared by the custom entries (config.c): an unsigned within lo..hi, a bool. 0 or -1. */
int sl__opt_parse_uint(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);
int sl__opt_parse_bool(const char *s, int *out);

#endif
