/* SPDX-License-Identifier: MIT
 *
 * Configuration beyond argv, all of it driven by the option table (options.h): the two other
 * ways to set a flag, a configuration file (--config FILE) and SLUICE_* environment variables,
 * and the two texts made from the table, the effective configuration (--check-config,
 * sl_config_print) and --help (sl_config_usage).
 *
 *   defaults ─▶ the file ─▶ SLUICE_* ─▶ the command line        (later wins; --cors-origin adds)
 *
 * The file has one `key = value` per line, keys being the entries' names, the flags without
 * their dashes (`max-size = 10G`, `durability = none`, `verbose = true`); `#` after a blank
 * starts a comment; blank lines are ignored; a value may be quoted "like this". An unknown key or
 * a bad value is an error naming the file and the line. In the environment a flag is SLUICE_ and
 * its name in capitals with `_` for `-` (SLUICE_MAX_SIZE=10G); variables that name no flag are
 * left alone. The actions (--config, --check-config, --help, --version) are command-line only.
 * sl_config_print writes every entry in the file's format, so its output reads back the same.
 */
#include "http/http.h"
#include "options.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streams/error.h"

#define USAGE_INDENT 27 /* the column where help texts start */
#define USAGE_WIDTH 90

int sl__config_set(sl_config_t *cfg, const char *key, const char *value)
{
    const sl_opt_t *o = sl__opt_find(key, strlen(key));

    if (o == NULL || o->type == SL_OPT_ACTION) /* --config and the like: the command line's */
        return SL_ENOTFOUND;
    return sl__opt_set(o, cfg, value) < 0 ? SL_EBADREQUEST : 0;
}

/* In s (after an opening quote), the quote that closes the value: the first one followed only
 * by blanks, or by blanks and a '#'; s itself when there is none. */
static char *closing_quote(char *s)
{
    char *q, *r;

    for (q = strchr(s, '"'); q != NULL; q = strchr(q + 1, '"')) {
        for (r = q + 1; *r == ' ' || *r == '\t' || *r == '\r' || *r == '\n'; r++)
            ;
        if (*r == '\0' || (*r == '#' && r > q + 1))
            return q;
    }
    return s;
}

static char *trim(char *s)
{
    char *e;

    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

int sl_config_load_file(sl_config_t *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f;
    char line[8192];
    int n = 0, r;

    if (!sl__config_valid(cfg)) {
        snprintf(err, errlen, "the configuration was not made by sl_config_init");
        return SL_EBADREQUEST;
    }
    f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "cannot read the configuration file '%s'", path);
        return SL_EBADREQUEST;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        char *key, *value, *eq, *hash, *from = line, *q;
        size_t len;
        n++;
        /* a quoted value may hold " #": a comment starts after its closing quote, the first
         * quote followed by nothing but blanks or a comment */
        if ((eq = strchr(line, '=')) != NULL) {
            for (q = eq + 1; *q == ' ' || *q == '\t'; q++)
                ;
            if (*q == '"')
                from = closing_quote(q + 1);
        }
        /* a comment: the first # at the start or after a blank (a # inside a value has none) */
        for (hash = strchr(from, '#');
             hash != NULL && hash != line && !isspace((unsigned char)hash[-1]);
             hash = strchr(hash + 1, '#'))
            ;
        if (hash != NULL)
            *hash = '\0';
        key = trim(line);
        if (*key == '\0')
            continue;
        eq = strchr(key, '=');
        if (eq == NULL) {
            snprintf(err, errlen, "%s:%d: expected 'key = value'", path, n);
            fclose(f);
            return SL_EBADREQUEST;
        }
        *eq = '\0';
        key = trim(key);
        value = trim(eq + 1);
        len = strlen(value);
        if (len >= 2 && value[0] == '"' && value[len - 1] == '"') {
            value[len - 1] = '\0';
            value++;
        }
        r = sl__config_set(cfg, key, value);
        if (r < 0) {
            snprintf(err, errlen,
                     r == SL_ENOTFOUND ? "%s:%d: unknown key '%s'"
                                       : "%s:%d: invalid value '%s' for %s",
                     path, n, r == SL_ENOTFOUND ? key : value, key);
            fclose(f);
            return SL_EBADREQUEST;
        }
    }
    fclose(f);
    return 0;
}

int sl_config_load_env(sl_config_t *cfg, char **envp, char *err, size_t errlen)
{
    char **e;

    if (!sl__config_valid(cfg)) {
        snprintf(err, errlen, "the configuration was not made by sl_config_init");
        return SL_EBADREQUEST;
    }
    for (e = envp; e != NULL && *e != NULL; e++) {
        char key[64];
        const char *eq = strchr(*e, '=');
        size_t i, n;
        int r;
        if (strncmp(*e, "SLUICE_", 7) != 0 || eq == NULL || (n = (size_t)(eq - *e) - 7) == 0 ||
            n >= sizeof(key))
            continue;
        for (i = 0; i < n; i++) {
            char ch = (*e)[7 + i];
            key[i] = ch == '_' ? '-' : (char)tolower((unsigned char)ch);
        }
        key[n] = '\0';
        r = sl__config_set(cfg, key, eq + 1);
        if (r == SL_ENOTFOUND)
            continue; /* not a flag's variable (another program's) */
        if (r < 0) {
            snprintf(err, errlen, "invalid value '%s' in %.*s", eq + 1, (int)(eq - *e), *e);
            return SL_EBADREQUEST;
        }
    }
    return 0;
}

int sl_config_apply_environ(sl_config_t *cfg, char **envp, char *err, size_t errlen)
{
    return sl_config_load_env(cfg, envp, err, errlen); /* the old name */
}

void sl_config_print(const sl_config_t *cfg, FILE *f)
{
    size_t k;

    fprintf(f, "# sluice %s: the effective configuration (a valid --config file)\n", SL_VERSION);
    for (k = 0; k < sl__noptions; k++)
        sl__opt_print(&sl__options[k], cfg, f);
}

/* n bytes of s at *col, first on a line of their own if they would pass USAGE_WIDTH. */
static void usage_word(FILE *f, const char *s, int n, int *col)
{
    if (*col > USAGE_INDENT && *col + 1 + n > USAGE_WIDTH) {
        fprintf(f, "\n%*s", USAGE_INDENT, "");
        *col = USAGE_INDENT;
    }
    *col += fprintf(f, "%s%.*s", *col > USAGE_INDENT ? " " : "", n, s);
}

void sl_config_usage(FILE *f)
{
    size_t k;

    fputs("usage: sluice [options]\n", f);
    for (k = 0; k < sl__noptions; k++) {
        const sl_opt_t *o = &sl__options[k];
        const char *p = o->help;
        char fl[64], def[96];
        int col;

        snprintf(fl, sizeof(fl), "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        col = fprintf(f, "  %-*s", USAGE_INDENT - 2, fl);
        if (strlen(fl) > USAGE_INDENT - 3) { /* no blank left: the help on the next line */
            fprintf(f, "\n%*s", USAGE_INDENT, "");
            col = USAGE_INDENT;
        }
        while (*p != '\0') { /* word by word */
            int n = (int)strcspn(p, " ");
            usage_word(f, p, n, &col);
            for (p += n; *p == ' '; p++)
                ;
        }
        if (o->def != NULL && o->type != SL_OPT_BOOL) { /* in one piece */
            snprintf(def, sizeof(def), "(default %s)", o->def);
            usage_word(f, def, (int)strlen(def), &col);
        }
        fputc('\n', f);
    }
}
