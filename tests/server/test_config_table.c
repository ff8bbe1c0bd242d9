/* SPDX-License-Identifier: MIT
 *
 * The option table (server/options.h), walked: a flag added there is checked here without a
 * test of its own. Every entry is well formed and has its help; its default parses and, printed,
 * reads back; its bounds hold; one value of it sets the same field the same way from
 * --name VALUE, --name=VALUE, SLUICE_NAME and a file, and reads back once printed; an empty
 * value is refused by all; the actions are command-line only; --help lists every entry with its
 * placeholder and default. A value for each entry comes from its type (sample()), or from a
 * short list for the entries no type describes. These cases belong to the config suite.
 */
#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/http.h"
#include "ops/options.h"
#include "streams/error.h"
#include "support/config_args.h"

static sl_config_t cfg;
static char err[256];

static void config_setup(void)
{
    sl_config_init(&cfg);
    err[0] = '\0';
}

#define parse(...) config_parse(&cfg, err, sizeof(err), (const char *const[]){__VA_ARGS__, NULL})

#define FOR_EACH_OPTION(o) for (o = sl__options; o < sl__options + sl__noptions; o++)

/* A value o accepts that is not its default: by type, or for the entries whose values no type
 * describes, from this list (a new such entry fails every_flag_... until it gets one). */
static const char *sample(const sl_opt_t *o, char *buf, size_t cap)
{
    static const char *const custom[][2] = {
        {"listen", "[::1]:9000"},
        {"digest", "sha-512,crc32"},
        {"hook-http", "http://127.0.0.1:9/hook"},
    };
    sl_config_t a, b;
    size_t k;

    for (k = 0; k < sizeof(custom) / sizeof(custom[0]); k++)
        if (strcmp(o->name, custom[k][0]) == 0)
            return custom[k][1];
    switch (o->type) {
    case SL_OPT_UINT:
    case SL_OPT_SIZE: /* lo, or hi if lo is the default */
        sl_config_init(&a);
        b = a;
        snprintf(buf, cap, "%llu", (unsigned long long)o->lo);
        if (sl__opt_set(o, &b, buf) == 0 && memcmp(&a, &b, sizeof(a)) == 0)
            snprintf(buf, cap, "%llu", (unsigned long long)o->hi);
        return buf;
    case SL_OPT_BOOL:
        return "true";
    case SL_OPT_ENUM:
        return strcmp(o->names[0], o->def) != 0 ? o->names[0] : o->names[1];
    case SL_OPT_STRING:
        return "/sample/dir";
    case SL_OPT_LIST:
        return "https://a.example";
    default:
        return NULL;
    }
}

/* text as a configuration file read into *c. */
static int load_text(sl_config_t *c, const char *text)
{
    char path[] = "/tmp/sluice-opt-XXXXXX";
    int fd = mkstemp(path), r;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    r = sl_config_load_file(c, path, err, sizeof(err));
    unlink(path);
    return r;
}

/* o's lines of c's configuration (malloc'd). */
static char *print_one(const sl_opt_t *o, const sl_config_t *c)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    sl__opt_print(o, c, f);
    fclose(f);
    return text;
}

START_TEST(every_entry_is_well_formed)
{
    const sl_opt_t *o, *p;

    FOR_EACH_OPTION(o)
    {
        const char *c;
        ck_assert_msg(o->name[0] != '\0' && strlen(o->name) < 48, "name '%s'", o->name);
        for (c = o->name; *c; c++)
            ck_assert_msg(islower((unsigned char)*c) || isdigit((unsigned char)*c) || *c == '-',
                          "'%s': a name is lower case, digits and '-' (SLUICE_ variables)",
                          o->name);
        for (p = sl__options; p < o; p++)
            ck_assert_msg(strcmp(o->name, p->name) != 0, "--%s twice", o->name);
        ck_assert_ptr_eq(sl__opt_find(o->name, strlen(o->name)), o);
        ck_assert_msg(o->help != NULL && o->help[0] != '\0', "--%s has no help", o->name);
        ck_assert_msg((o->arg == NULL) == (o->type == SL_OPT_BOOL || (o->type == SL_OPT_ACTION &&
                                                                      o->action != SL_ACT_CONFIG)),
                      "--%s: a placeholder exactly when it takes a value", o->name);
        ck_assert_msg((o->type == SL_OPT_ACTION) == (o->action != SL_ACT_NONE), "--%s", o->name);
        if (o->type == SL_OPT_ACTION)
            continue;
        ck_assert_msg(o->width > 0 && o->off + o->width <= sizeof(sl_config_t), "--%s", o->name);
        if (o->type == SL_OPT_UINT || o->type == SL_OPT_SIZE)
            ck_assert_msg((o->width == 4 || o->width == 8) && o->lo <= o->hi, "--%s", o->name);
        if (o->type == SL_OPT_BOOL || o->type == SL_OPT_ENUM)
            ck_assert_msg(o->width == sizeof(int), "--%s: an int field", o->name);
        if (o->type == SL_OPT_ENUM)
            ck_assert_msg(o->names != NULL && o->names[0] != NULL, "--%s", o->name);
        if (o->type == SL_OPT_CUSTOM)
            ck_assert_msg(o->parse != NULL && o->print != NULL, "--%s", o->name);
    }
}
END_TEST

/* Each default parses; each printed default reads back into a field that was cleared. */
START_TEST(every_default_parses_and_reads_back)
{
    const sl_opt_t *o;
    sl_config_t zero, b;

    FOR_EACH_OPTION(o)
    {
        char *text;
        if (o->type == SL_OPT_ACTION)
            continue;
        if (o->def != NULL) {
            memset(&zero, 0, sizeof(zero));
            zero.size = sizeof(zero); /* every field there, all zero */
            ck_assert_msg(sl__opt_set(o, &zero, o->def) == 0, "--%s: default '%s' refused", o->name,
                          o->def);
        }
        text = print_one(o, &cfg);
        b = cfg;
        memset((char *)&b + o->off, 0, o->width);
        ck_assert_msg(load_text(&b, text) == 0, "--%s: '%s' does not read back: %s", o->name, text,
                      err);
        ck_assert_msg(memcmp(&b, &cfg, sizeof(b)) == 0, "--%s: '%s' reads back otherwise", o->name,
                      text);
        free(text);
    }
}
END_TEST

/* SLUICE_ and o's name in capitals, '_' for '-', into var[cap]; its length. */
static size_t env_name(const sl_opt_t *o, char *var, size_t cap)
{
    size_t n = (size_t)snprintf(var, cap, "SLUICE_%s", o->name), i;

    for (i = 7; i < n; i++)
        var[i] = var[i] == '-' ? '_' : (char)toupper((unsigned char)var[i]);
    return n;
}

/* Every setting reached from --name VALUE, --name=VALUE, SLUICE_NAME and the file, alike. */
START_TEST(every_flag_is_the_same_from_args_env_and_file)
{
    const sl_opt_t *o;
    const sl_config_t def = cfg;
    sl_config_t by[4];

    FOR_EACH_OPTION(o)
    {
        char buf[32], flag[64], eqflag[128], var[128], line[128], *env[] = {var, NULL}, *text;
        const char *v;
        size_t i, n;
        if (o->type == SL_OPT_ACTION)
            continue;
        v = sample(o, buf, sizeof(buf));
        ck_assert_msg(v != NULL, "--%s: add a sample value to sample()", o->name);
        n = env_name(o, var, sizeof(var));
        unsetenv(var); /* parse_args reads the process's environment too */
        snprintf(var + n, sizeof(var) - n, "=%s", v);
        snprintf(flag, sizeof(flag), "--%s", o->name);
        snprintf(eqflag, sizeof(eqflag), "--%s=%s", o->name, v);
        snprintf(line, sizeof(line), "%s = %s\n", o->name, v);

        config_setup();
        ck_assert_msg(parse(eqflag) == 0, "%s: %s", eqflag, err);
        by[0] = cfg;
        config_setup();
        ck_assert_msg((o->type == SL_OPT_BOOL ? parse(flag) : parse(flag, v)) == 0, "%s %s: %s",
                      flag, v, err);
        by[1] = cfg;
        sl_config_init(&by[2]);
        ck_assert_msg(sl_config_load_env(&by[2], env, err, sizeof(err)) == 0, "%s: %s", var, err);
        sl_config_init(&by[3]);
        ck_assert_msg(load_text(&by[3], line) == 0, "%s: %s", line, err);

        ck_assert_msg(memcmp(&by[0], &def, sizeof(def)) != 0, "%s changes nothing", eqflag);
        for (i = 1; i < 4; i++)
            ck_assert_msg(memcmp(&by[i], &by[0], sizeof(def)) == 0, "%s: way %zu differs", eqflag,
                          i);
        text = print_one(o, &by[0]); /* and the setting reads back */
        sl_config_init(&by[1]);
        memset((char *)&by[1] + o->off, 0, o->width);
        ck_assert_msg(load_text(&by[1], text) == 0 && memcmp(&by[1], &by[0], sizeof(def)) == 0,
                      "%s: '%s' does not read back", eqflag, text);
        free(text);
    }
}
END_TEST

/* lo and hi are accepted, lo - 1 and hi + 1 refused, a word is printed as itself. */
START_TEST(numbers_hold_their_bounds)
{
    const sl_opt_t *o;

    FOR_EACH_OPTION(o)
    {
        char v[32];
        sl_config_t c;
        if (o->type != SL_OPT_UINT && o->type != SL_OPT_SIZE)
            continue;
        sl_config_init(&c);
        snprintf(v, sizeof(v), "%llu", (unsigned long long)o->lo);
        ck_assert_msg(sl__opt_set(o, &c, v) == 0, "--%s %s refused", o->name, v);
        snprintf(v, sizeof(v), "%llu", (unsigned long long)o->hi);
        ck_assert_msg(sl__opt_set(o, &c, v) == 0, "--%s %s refused", o->name, v);
        if (o->lo > 0) {
            snprintf(v, sizeof(v), "%llu", (unsigned long long)o->lo - 1);
            ck_assert_msg(sl__opt_set(o, &c, v) < 0, "--%s %s accepted", o->name, v);
        }
        if (o->hi < UINT64_MAX) {
            snprintf(v, sizeof(v), "%llu", (unsigned long long)o->hi + 1);
            ck_assert_msg(sl__opt_set(o, &c, v) < 0, "--%s %s accepted", o->name, v);
        }
        if (o->word != NULL) {
            char *text;
            ck_assert_int_eq(sl__opt_set(o, &c, o->word), 0);
            text = print_one(o, &c);
            ck_assert_msg(strstr(text, o->word) != NULL, "--%s: %s", o->name, text);
            free(text);
        }
    }
}
END_TEST

/* An empty value is refused by every entry and changes nothing; an action or a name that is no
 * entry is SL_ENOTFOUND in a file and ignored in the environment. */
START_TEST(refusals_and_unknown_names)
{
    const sl_opt_t *o;
    const sl_config_t def = cfg;
    char var[128], *env[] = {var, NULL};

    FOR_EACH_OPTION(o)
    {
        if (o->type == SL_OPT_ACTION) {
            ck_assert_int_eq(sl__config_set(&cfg, o->name, "x"), SL_ENOTFOUND);
            snprintf(var + env_name(o, var, sizeof(var) - 4), 4, "=/x");
            ck_assert_int_eq(sl_config_load_env(&cfg, env, err, sizeof(err)), 0);
            continue;
        }
        ck_assert_msg(sl__config_set(&cfg, o->name, "") == SL_EBADREQUEST, "--%s ''", o->name);
    }
    ck_assert_mem_eq(&cfg, &def, sizeof(def));
    ck_assert_int_eq(sl__config_set(&cfg, "bogus", "1"), SL_ENOTFOUND);
    ck_assert_int_eq(sl__config_set(&cfg, "--max-size", "1"), SL_ENOTFOUND);
    ck_assert_int_eq(parse("--bogus=1"), SL_EBADREQUEST);
    ck_assert_str_eq(err, "unknown option '--bogus' (see --help)");
    ck_assert_int_eq(parse("--help=1"), SL_EBADREQUEST);
    ck_assert_ptr_nonnull(strstr(err, "takes no value"));
    ck_assert_int_eq(parse("--verbose=maybe"), SL_EBADREQUEST);
    ck_assert_ptr_nonnull(strstr(err, "--verbose"));
    ck_assert_int_eq(parse("--verbose=false", "--max-size=1K"), 0);
    ck_assert_int_eq(cfg.verbose, 0);
    ck_assert_uint_eq(cfg.max_size, 1024);
}
END_TEST

/* --help names every flag with its placeholder, its default, in lines of at most 90 columns. */
START_TEST(help_lists_every_entry)
{
    const sl_opt_t *o;
    char *text = NULL, *line, *save = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    sl_config_usage(f);
    fclose(f);
    FOR_EACH_OPTION(o)
    {
        char want[96];
        snprintf(want, sizeof(want), "  --%s%s%s ", o->name, o->arg ? " " : "",
                 o->arg ? o->arg : "");
        ck_assert_msg(strstr(text, want) != NULL, "no '%s' in --help", want);
        snprintf(want, sizeof(want), "(default %s)", o->def ? o->def : "");
        ck_assert_msg(o->def == NULL || o->type == SL_OPT_BOOL || strstr(text, want) != NULL,
                      "no '%s' in --help", want);
    }
    for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
        ck_assert_msg(strlen(line) <= 90, "too long: %s", line);
    free(text);
}
END_TEST

void config_table_tests(Suite *s)
{
    TCase *tc = tcase_create("table");

    tcase_add_checked_fixture(tc, config_setup, NULL);
    tcase_add_test(tc, every_entry_is_well_formed);
    tcase_add_test(tc, every_default_parses_and_reads_back);
    tcase_add_test(tc, every_flag_is_the_same_from_args_env_and_file);
    tcase_add_test(tc, numbers_hold_their_bounds);
    tcase_add_test(tc, refusals_and_unknown_names);
    tcase_add_test(tc, help_lists_every_entry);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);
}
