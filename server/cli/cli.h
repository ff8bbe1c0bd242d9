/* SPDX-License-Identifier: MIT
 * The sluice binary, not the library: serving with signals, worker processes, hook programs. */
#ifndef SL_SERVER_CLI_H
#define SL_SERVER_CLI_H

#include "http/http.h"

/* A worker's share (workers.c): the listening socket, its number, its metrics slot. */
typedef struct sl_worker_s {
    int listen_fd, index, slot, nslots, ready_fd;
    sl_metrics_t *slots;
    sl_peer_share_t *peers;  /* connections per client, every worker's (limits.c) */
    sl_quota_share_t *quota; /* token counts, every worker's (quota.c), NULL without tokens */
} sl_worker_t;
/* run.c: serve until SIGINT/SIGTERM, alone (w NULL) or as a worker. workers.c: the supervisor. */
int sl__serve(const sl_config_t *cfg, const sl_worker_t *w,
              void (*ready)(sl_server_t *srv, void *arg), void *arg);
int sl__run_workers(const sl_config_t *cfg, void (*ready)(sl_server_t *srv, void *arg), void *arg);

/* hook_cmd.c: --hook-exec and --hook-http, programs run for each event, built on the hooks of
 * sluice.h. new: *out is the hook client of cfg (borrowed until it is freed; NULL when neither
 * flag is set), returned owned even on error (free it); 0 or a code for a bad --hook-http URL
 * (before anything starts). install: make it srv's hooks (hc NULL: none). Free hc only once the
 * loop has closed (no call in flight). */
typedef struct sl_hook_cmd_s {
    uv_loop_t *loop;
    const sl_config_t *cfg;
    sl_server_t *srv;             /* the server it was installed on (its log) */
    struct sockaddr_storage addr; /* --hook-http, resolved at start */
    char host[256], path[1024];
} sl_hook_cmd_t;
int sl__hook_cmd_new(uv_loop_t *loop, const sl_config_t *cfg, sl_hook_cmd_t **out);
void sl__hook_cmd_install(sl_hook_cmd_t *hc, sl_server_t *srv);
/* sl__run (run.c): a server on a loop of its own until SIGINT/SIGTERM, or with --workers a
 * supervisor and its workers; ready(srv, arg) once each server listens. 0 or a negative code. */
int sl__run(const sl_config_t *cfg, void (*ready)(sl_server_t *srv, void *arg), void *arg);
/* sign_cmd.c: `sluice sign …` (argv[0] is "sign"): prints a signed URL; the exit status. */
int sl__sign_main(int argc, char **argv);

#endif
