/* SPDX-License-Identifier: MIT
 *
 * The other two ways to set a flag: a configuration file (--config FILE) and SLUICE_*
 * environment variables, and the effective configuration printed back (--check-config).
 *
 *   defaults ─▶ the file ─▶ SLUICE_* ─▶ the command line        (later wins; --cors-origin adds)
 *
 * The file has one `key = value` per line, keys being the flags without their dashes
 * (`max-size = 10G`, `durability = none`, `verbose = true`); `#` starts a comment; blank lines
 * are ignored; a value may be quoted "like this". An unknown key or a bad value is an error
 * naming the file and the line. In the environment a flag is SLUICE_ and its name in capitals
 * with `_` for `-` (SLUICE_MAX_SIZE=10G); variables that name no flag are left alone.
 * sl_config_print writes the same format, so its output is a valid file.
 */
#include "http/http.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sl__config_set(sl_config_t *cfg, const char *key, const char *value)
{
    char flag[64];
    int *flagp = strcmp(key, "verbose") == 0          ? &cfg->verbose
                 : strcmp(key, "trust-proxy") == 0    ? &cfg->trust_proxy
                 : strcmp(key, "no-direct-read") == 0 ? &cfg->no_takeover
                                                      : NULL;

    if (flagp != NULL) { /* the flags without a value: true or false */
        if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0 || strcmp(value, "yes") == 0)
            *flagp = 1;
        else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0 || strcmp(value, "no") == 0)
            *flagp = 0;
        else
            return SL_EBADREQUEST;
        if (flagp == &cfg->verbose && cfg->verbose)
            cfg->log_level = SL_LOG_DEBUG;
        return 0;
    }
    if (strlen(key) + 3 > sizeof(flag))
        return SL_ENOTFOUND;
    snprintf(flag, sizeof(flag), "--%s", key);
    return sl__config_apply(cfg, flag, value);
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
    FILE *f = fopen(path, "r");
    char line[8192];
    int n = 0, r;

    if (f == NULL) {
        snprintf(err, errlen, "cannot read the configuration file '%s'", path);
        return SL_EBADREQUEST;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        char *key, *value, *eq, *hash;
        size_t len;
        n++;
        hash = strchr(line, '#');
        if (hash != NULL && (hash == line || isspace((unsigned char)hash[-1])))
            *hash = '\0'; /* a comment (a # inside a value needs no space before it) */
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

int sl_config_apply_environ(sl_config_t *cfg, char **envp, char *err, size_t errlen)
{
    char **e;

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

void sl_config_print(const sl_config_t *c, void *file)
{
    FILE *f = file;

    fprintf(f, "# sluice %s: the effective configuration (a valid --config file)\n", SL_VERSION);
    fprintf(f, strchr(c->host, ':') ? "listen = [%s]:%u\n" : "listen = %s:%u\n", c->host, c->port);
    fprintf(f, "root = \"%s\"\n", c->root);
    fprintf(f, "max-size = %llu\n", (unsigned long long)c->max_size);
    fprintf(f, "durability = %s\n", c->durable ? "full" : "none");
    fprintf(
        f, "digest = %s%s%s%s\n", c->digests == 0 ? "none" : "",
        (c->digests & SL_CFG_DIGEST_SHA256) ? "sha-256" : "",
        (c->digests & SL_CFG_DIGEST_SHA512)
            ? ((c->digests & SL_CFG_DIGEST_SHA256) ? ",sha-512" : "sha-512")
            : "",
        (c->digests & SL_CFG_DIGEST_CRC32)
            ? ((c->digests & (SL_CFG_DIGEST_SHA256 | SL_CFG_DIGEST_SHA512)) ? ",crc32" : "crc32")
            : "");
    if (c->min_free == UINT64_MAX)
        fprintf(f, "min-free = auto\n");
    else
        fprintf(f, "min-free = %llu\n", (unsigned long long)c->min_free);
    fprintf(f, "max-connections = %u\n", c->max_connections);
    fprintf(f, "idle-timeout = %u\n", c->idle_timeout);
    fprintf(f, "shutdown-timeout = %u\n", c->shutdown_timeout);
    fprintf(f, "threads = %u\n", c->threads);
    fprintf(f, "conn-memory = %zu\n", c->conn_memory);
    fprintf(f, "upload-buffer = %zu\n", c->upload_buffer);
    fprintf(f, "buffer-budget = %zu\n", c->buffer_budget);
    fprintf(f, "list-limit = %llu\n", (unsigned long long)c->list_limit);
    fprintf(f, "max-expansion = %llu\n", (unsigned long long)c->max_expansion);
    fprintf(f, "max-parts = %u\n", c->max_parts);
    fprintf(f, "max-files = %u\n", c->max_files);
    fprintf(f, "max-field-size = %zu\n", c->max_field_size);
    fprintf(f, "max-part-header = %zu\n", c->max_part_header);
    fprintf(f, "tus-expire = %u\n", c->tus_expire);
    if (c->cors_origin[0] != '\0') {
        const char *p = c->cors_origin, *comma;
        for (; (comma = strchr(p, ',')) != NULL; p = comma + 1)
            fprintf(f, "cors-origin = %.*s\n", (int)(comma - p), p);
        fprintf(f, "cors-origin = %s\n", p);
    }
    fprintf(f, "mount = %s\n", c->mount);
    if (c->hook_exec[0] != '\0')
        fprintf(f, "hook-exec = \"%s\"\n", c->hook_exec);
    if (c->hook_http[0] != '\0')
        fprintf(f, "hook-http = %s\n", c->hook_http);
    fprintf(f, "hook-timeout = %u\n", c->hook_timeout);
    fprintf(f, "hook-retries = %u\n", c->hook_retries);
    if (c->access_log[0] != '\0')
        fprintf(f, "access-log = \"%s\"\n", c->access_log);
    fprintf(f, "log-level = %s\n",
            (const char *[]){"error", "warn", "info", "debug"}[c->log_level]);
    if (c->workers == 0)
        fprintf(f, "workers = auto\n");
    else
        fprintf(f, "workers = %u\n", c->workers);
    fprintf(f, "trust-proxy = %s\n", c->trust_proxy ? "true" : "false");
    fprintf(f, "no-direct-read = %s\n", c->no_takeover ? "true" : "false");
    fprintf(f, "verbose = %s\n", c->verbose ? "true" : "false");
}
