/* SPDX-License-Identifier: MIT
 * The configuration tests' command line: parse the NULL-terminated arguments after "sluice". */
#ifndef SL_TESTS_SUPPORT_CONFIG_ARGS_H
#define SL_TESTS_SUPPORT_CONFIG_ARGS_H

#include "sluice.h"

/* sl_config_parse_args on "sluice" followed by args (borrowed, NULL-terminated, at most 30). */
static inline int config_parse(sl_config_t *cfg, char *err, size_t errlen, const char *const *args)
{
    char *argv[32];
    int argc = 0;

    argv[argc++] = "sluice";
    while (*args != NULL && argc < 31)
        argv[argc++] = (char *)*args++;
    argv[argc] = NULL;
    return sl_config_parse_args(cfg, argc, argv, err, errlen);
}

#endif
