/* SPDX-License-Identifier: MIT
 * The embedding API's hooks, private to server/ (hooks.c). */
#ifndef SL_SERVER_HOOKS_H
#define SL_SERVER_HOOKS_H

#include "http/http.h"

/* hooks.c: on_request (1 if a decision is pending: the request is suspended in PH_HOOK); the
 * event of a request; on_complete (json: see sluice.h) and on_abort; the host's routes. */
int sl__hook_request(sl_req_t *r);
void sl__event_init(sl_req_t *r, sl_event_t *ev, char remote[64]);
void sl__hook_complete(sl_req_t *r, const char *name, const char *sha256, uint32_t crc32,
                       uint64_t size, const char *metadata, char **json);
void sl__hook_abort(sl_req_t *r, int reason);
enum MHD_Result sl__host_route(sl_req_t *r, const char *method);

#endif
