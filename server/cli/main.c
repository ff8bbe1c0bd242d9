/* SPDX-License-Identifier: MIT
 * sluice: the binary is a thin user of libsluice (sluice.h): flags, signals, one loop. */
#include "sluice.h"
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

static void on_ready(sl_server_t *srv, void *arg)
{
    const sl_config_t *cfg = arg;

    fprintf(stderr, "sluice: listening on %s://%s:%u root=%s durability=%s swept=%zu\n",
            cfg->tls_cert[0] != '\0' ? "https" : "http", cfg->host, sl_server_port(srv),
            sl_server_root(srv), cfg->durable ? "full" : "none", sl_server_swept(srv));
}

int main(int argc, char **argv)
{
    sl_config_t cfg;
    char err[512];
    int r;

    if (argc > 1 && strcmp(argv[1], "sign") == 0)
        return sl__sign_main(argc - 1, argv + 1); /* a signed URL (sign_cmd.c) */
    sl_config_init(&cfg);
    r = sl_config_parse_args(&cfg, argc, argv, err, sizeof(err));
    if (r == SL_CONFIG_EXIT) /* --help, --version or --check-config printed */
        return 0;
    if (r < 0) {
        fprintf(stderr, "sluice: %s\n", err);
        return 2;
    }
    sl_config_export_threads(&cfg); /* UV_THREADPOOL_SIZE, before the first file operation */
    r = sl__run(&cfg, on_ready, &cfg);
    if (r < 0) {
        fprintf(stderr, "sluice: cannot start on %s:%u with root %s: %s\n", cfg.host, cfg.port,
                cfg.root, sl_strerror(r));
        return 1;
    }
    fprintf(stderr, "sluice: stopped\n");
    return 0;
}
