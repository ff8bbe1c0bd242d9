/* SPDX-License-Identifier: MIT
 * The sluice binary, not the library: serving with signals, worker processes, hook programs. */
#ifndef SL_SERVER_CLI_H
#define SL_SERVER_CLI_H

#include "http/http.h"

/* A worker's share (workers.c): the listening socket, its number, its metrics slot. */
typedef struct sl_worker_s {
    int listen_fd, index, slot, nslots, ready_fd;
    sl_metrics_t *slots;
} sl_worker_t;
/* run.c: serve until SIGINT/SIGTERM, alone (w NULL) or as a worker. workers.c: the supervisor. */
int sl__serve(const sl_config_t *cfg, const sl_worker_t *w,
              void (*ready)(sl_server_t *srv, void *arg), void *arg);
int sl__run_workers(const sl_config_t *cfg, void (*ready)(sl_server_t *srv, void *arg), void *arg);
/* sl_server_new on an already listening socket (listen_fd >= 0: the workers' shared one). */
int sl__server_new_fd(uv_loop_t *loop, const sl_config_t *cfg, int listen_fd, sl_server_t **out);

/* hook_cmd.c: resolve --hook-http (0, or a code for a bad URL: before anything starts), then
 * install --hook-exec / --hook-http as hooks. */
int sl__hook_cmd_resolve(sl_server_t *srv);
void sl__hook_cmd_install(sl_server_t *srv);

#endif
