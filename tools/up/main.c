/* SPDX-License-Identifier: MIT
 * sluice-up: options, the files, the run (up.h). */
#include "up.h"

#include <stdlib.h>

int main(int argc, char **argv)
{
    su_opts_t o;
    su_list_t l = {0};
    int rc = su_args_parse(&o, argc, argv, stdout, stderr);

    if (rc != 0)
        return rc > 0 ? SU_EXIT_OK : SU_EXIT_USAGE;
    if (su_walk(&l, o.paths, o.npaths, o.dest, stderr) < 0) {
        su_list_free(&l);
        return SU_EXIT_LOCAL;
    }
    rc = su_run(&o, &l);
    su_list_free(&l);
    return rc;
}
