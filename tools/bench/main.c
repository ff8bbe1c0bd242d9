/* SPDX-License-Identifier: MIT
 *
 * sluice-bench: parse the options, run, print the report. Exit status: 0 when every upload
 * succeeded, 1 when some failed or the run was cut short, 2 for bad arguments.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

int main(int argc, char **argv)
{
    sb_opts_t o;
    sb_report_t *r;
    char err[512];
    int rc;

    signal(SIGPIPE, SIG_IGN);
    sb_opts_init(&o);
    rc = sb_parse_args(&o, argc, argv, err, sizeof(err));
    if (rc == 1)
        return 0;
    if (rc < 0) {
        fprintf(stderr, "sluice-bench: %s\n", err);
        return 2;
    }
    r = malloc(sizeof(*r)); /* the latency histogram is 10 KiB */
    if (r == NULL)
        return 1;
    rc = sb_run(&o, r, err, sizeof(err));
    if (rc < 0)
        fprintf(stderr, "sluice-bench: %s\n", err);
    if (o.json)
        sb_report_json(r, &o, stdout);
    else
        sb_report_text(r, &o, stdout);
    rc = rc < 0 || r->failed > 0 || r->aborted || r->ok == 0 ? 1 : 0;
    free(r);
    return rc;
}
