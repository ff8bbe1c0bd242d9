/* SPDX-License-Identifier: MIT
 *
 * Resumable uploads in use: one writer, turns, checkpoints and expiry.
 *
 * An upload that some request refers to has one sl_tus_t in a small hash table (the first byte of
 * its random id picks the bucket); it is freed when the last reference goes, and read from disk
 * again by the next request. Requests take turns in arrival order. A turn runs when no job on the
 * record is in flight and no PATCH holds the upload; the first turn that needs the record reads
 * it first. So a HEAD sees the offset recorded after the PATCH before it, and there are never two
 * writers.
 *
 *   acquire ─▶ queue ─▶ [load] ─▶ run(turn) ─▶ respond | job ─▶ after_job | writer ─▶ chain done
 *
 * A client that lost its connection and comes back finds its old PATCH still open on the server
 * (no FIN arrived). Its turn makes that writer stop (sl__tus_release): the old chain ends as if
 * the body had ended, so what it received is written, flushed and recorded, and its socket is shut
 * down; then the newcomer's turn runs, and a PATCH whose offset no longer matches gets 409.
 *
 * Once a second the tick records the progress of long PATCHes (a checkpoint: fdatasync, then the
 * record), so a crash loses at most about a second of a PATCH, and starts the expiry sweep: a scan
 * on the thread pool lists expired records, and each is removed in a turn of its own, after
 * checking again under the turn that it is still expired.
 */
#include "http/http.h"
#include "proto/proto.h"
#include "proto/resumable.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/evp.h>

#define SWEEP_MAX 256 /* expired uploads removed per sweep */

static unsigned bucket(const char *id) /* sl_tus_id_valid: 32 lowercase hex digits */
{
    return (unsigned)(sl_hexval(id[0]) << 4 | sl_hexval(id[1]));
}

/* An upload's hash state outlives the requests that refer to it, in a small ring of the last
 * SL_TUS_MD states (the next PATCH goes on from there; an evicted state only costs one read of the
 * file at the commit). */
#define SL_TUS_MD 64

/* The server's resumable uploads in use and the hash states kept between PATCHes (made with the
 * first tus request; freed with the server, sl__tus_registry_free). */
struct sl_tus_registry_s {
    sl_tus_t *by_id[256]; /* by the first byte of their id */
    struct {
        char id[SL_TUS_ID_LEN + 1];
        void *md;
        uint64_t offset;
    } md[SL_TUS_MD];
    unsigned md_next;
    uint64_t next_sweep; /* uv_now of the next expiry sweep */
};

static sl_tus_registry_t *reg(sl_server_t *srv)
{
    if (srv->tus == NULL)
        srv->tus = sl_xcalloc(1, sizeof(*srv->tus));
    return srv->tus;
}

static void md_stash(sl_server_t *srv, sl_tus_t *u)
{
    sl_tus_registry_t *t = reg(srv);
    unsigned i = t->md_next++ % SL_TUS_MD;

    EVP_MD_CTX_free(t->md[i].md); /* the oldest goes */
    memcpy(t->md[i].id, u->info.id, sizeof(t->md[i].id));
    t->md[i].md = u->md;
    t->md[i].offset = u->md_offset;
    u->md = NULL;
}

static void md_take(sl_server_t *srv, sl_tus_t *u)
{
    sl_tus_registry_t *t = reg(srv);
    size_t i;

    for (i = 0; i < SL_TUS_MD; i++)
        if (t->md[i].md != NULL && strcmp(t->md[i].id, u->info.id) == 0) {
            u->md = t->md[i].md;
            u->md_offset = t->md[i].offset;
            t->md[i].md = NULL;
            return;
        }
}

void sl__tus_registry_free(sl_server_t *srv)
{
    size_t i;

    if (srv->tus == NULL)
        return;
    for (i = 0; i < SL_TUS_MD; i++)
        EVP_MD_CTX_free(srv->tus->md[i].md);
    free(srv->tus);
    srv->tus = NULL;
}

static sl_tus_t *get(sl_server_t *srv, const char *id)
{
    sl_tus_t **head = &reg(srv)->by_id[bucket(id)], *u;

    for (u = *head; u != NULL; u = u->next)
        if (strcmp(u->info.id, id) == 0) {
            u->refs++;
            return u;
        }
    u = sl_xcalloc(1, sizeof(*u));
    u->srv = srv;
    u->refs = 1;
    u->wait_tail = &u->wait_head;
    memcpy(u->info.id, id, sizeof(u->info.id));
    u->next = *head;
    *head = u;
    md_take(srv, u);
    return u;
}

void sl__tus_unref(sl_tus_t *u)
{
    sl_tus_t **p;

    if (--u->refs > 0)
        return;
    for (p = &u->srv->tus->by_id[bucket(u->info.id)]; *p != u; p = &(*p)->next)
        ;
    *p = u->next;
    if (u->md != NULL)
        md_stash(u->srv, u);
    sl_tus_info_clear(&u->info);
    free(u);
}

static void on_loaded(sl_tus_job_t *job);

static void pump(sl_tus_t *u)
{
    while (!u->busy && u->writer == NULL && u->wait_head != NULL) {
        sl_tus_wait_t *w = u->wait_head;
        if (!u->loaded && w->needs_load) {
            u->busy = 1;
            u->job.data = u;
            u->refs++;
            sl_store_tus_load(u->srv->store, &u->job, u->info.id, &u->info, on_loaded);
            return;
        }
        u->wait_head = w->next;
        if (u->wait_head == NULL)
            u->wait_tail = &u->wait_head;
        w->next = NULL;
        w->run(u, w); /* may start a job or take the writer: the loop then waits for it */
    }
}

static void on_loaded(sl_tus_job_t *job)
{
    sl_tus_t *u = job->data;

    u->busy = 0;
    u->loaded = 1;
    u->load_err = job->status;
    pump(u);
    sl__tus_unref(u);
}

static void deferred_pump(void *arg)
{
    sl_tus_t *u = arg;

    pump(u);
    sl__tus_unref(u);
}

sl_tus_t *sl__tus_acquire(sl_server_t *srv, const char *id, sl_tus_wait_t *w)
{
    sl_tus_t *u = get(srv, id);

    w->next = NULL;
    *u->wait_tail = w;
    u->wait_tail = &w->next;
    sl__tus_release(u);
    u->refs++;
    sl_defer(srv->loop, deferred_pump, u); /* turns never run inside the caller */
    return u;
}

sl_tus_t *sl__tus_register(sl_server_t *srv, sl_tus_info_t *info)
{
    sl_tus_t *u = get(srv, info->id);

    u->info = *info;
    u->loaded = 1;
    free(info);
    return u;
}

int sl__tus_cancel(sl_tus_t *u, sl_tus_wait_t *w)
{
    sl_tus_wait_t **p;

    for (p = &u->wait_head; *p != NULL; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            if (*p == NULL)
                u->wait_tail = p;
            return 1;
        }
    return 0;
}

void sl__tus_next(sl_tus_t *u)
{
    u->refs++;
    sl_defer(u->srv->loop, deferred_pump, u);
}

void sl__tus_job_started(sl_tus_t *u, void (*after)(sl_tus_t *u))
{
    u->busy = 1;
    u->after_job = after;
    u->refs++;
}

void sl__tus_job_done(sl_tus_t *u)
{
    void (*after)(sl_tus_t * u) = u->after_job;

    u->busy = 0;
    u->after_job = NULL;
    if (after != NULL)
        after(u);
    pump(u);
    sl__tus_unref(u);
}

void sl__tus_release(sl_tus_t *u)
{
    sl_req_t *w = u->writer;
    const union MHD_ConnectionInfo *ci;

    if (w == NULL || w->up == NULL || !w->up->running || w->up->eof)
        return; /* no chain yet (it is about to start), or it is finishing anyway */
    sl__upload_abort(w, SL_EPREMATURE); /* resumable: ends the body, keeps its bytes */
    if (w->gone)
        return;
    ci = MHD_get_connection_info(w->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci != NULL)
        shutdown(ci->connect_fd, SHUT_RDWR); /* libmicrohttpd sees the end and closes it */
    MHD_set_connection_option(w->conn, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned int)1);
    sl__http_kick(w->srv);
}

/* --- checkpoints ------------------------------------------------------------------------------ */

static void on_checkpoint(sl_tus_job_t *job)
{
    sl_tus_t *u = job->data;

    if (job->status < 0)
        u->info.offset = u->checkpoint_from; /* not recorded: HEAD must not promise it */
    sl__tus_job_done(u);
}

static void checkpoint(sl_tus_t *u, sl_req_t *r)
{
    uint64_t written = r->up->chain.sink->offset;

    if (u->info.length > 0 && written >= (uint64_t)u->info.length)
        written = (uint64_t)u->info.length - 1; /* "whole" only once committed (or the PATCH
                                                    ended): a resumed client resends one byte */
    if (u->busy || written <= u->info.offset)
        return;
    u->checkpoint_from = u->info.offset;
    u->info.offset = written; /* the job flushes first: the record never runs ahead of the disk */
    if (u->srv->cfg.tus_expire)
        u->info.expires = (int64_t)time(NULL) + u->srv->cfg.tus_expire;
    sl__tus_job_started(u, NULL);
    u->job.data = u;
    sl_store_tus_save(u->srv->store, &u->job, &u->info, 1, on_checkpoint);
}

/* --- expiry ----------------------------------------------------------------------------------- */

typedef struct sweep_s {
    sl_server_t *srv;
    uv_work_t work;
    int64_t now;
    size_t n;
    char ids[SWEEP_MAX][33];
} sweep_t;

typedef struct sweep_one_s {
    sl_tus_wait_t wait;
    sl_server_t *srv;
    int64_t now;
    sl_tus_t *u;
} sweep_one_t;

static void on_removed(sl_tus_job_t *job)
{
    sweep_one_t *one = job->data;
    sl_tus_t *u = one->u;

    /* Removed (or already gone): "not found" from now on; still live, or an error: read the
     * record again when asked. */
    u->loaded = job->status == 0 || job->status == SL_ENOTFOUND;
    u->load_err = SL_ENOTFOUND;
    sl_server_t *srv = one->srv;

    srv->tus_jobs--;
    free(one);
    sl__tus_unref(u); /* the sweep's hold; the job's keeps u alive through job_done */
    sl__tus_job_done(u);
    sl__server_maybe_free(srv);
}

static void run_remove(sl_tus_t *u, sl_tus_wait_t *w)
{
    sweep_one_t *one = (sweep_one_t *)w;

    sl__tus_job_started(u, NULL);
    u->job.data = one;
    sl_store_tus_remove(u->srv->store, &u->job, &u->info, one->now, on_removed);
}

static void sweep_work(uv_work_t *w)
{
    sweep_t *sw = w->data;
    sw->n = sl_store_tus_expired(sw->srv->store, sw->now, sw->ids, SWEEP_MAX);
}

static void sweep_after(uv_work_t *w, int status)
{
    sweep_t *sw = w->data;
    sl_server_t *srv = sw->srv;
    size_t i;

    (void)status;
    for (i = 0; i < sw->n; i++) {
        sweep_one_t *one;
        sl_tus_t **p = &reg(srv)->by_id[bucket(sw->ids[i])];
        while (*p != NULL && strcmp((*p)->info.id, sw->ids[i]) != 0)
            p = &(*p)->next;
        if (*p != NULL)
            continue; /* in use: it was just touched, or goes at the next sweep */
        one = sl_xcalloc(1, sizeof(*one));
        one->srv = srv;
        one->now = sw->now;
        one->wait.run = run_remove;
        srv->tus_jobs++;
        one->u = sl__tus_acquire(srv, sw->ids[i], &one->wait);
    }
    srv->tus_jobs--;
    free(sw);
    sl__server_maybe_free(srv);
}

void sl__tus_tick(sl_server_t *srv, uint64_t now)
{
    unsigned every = srv->cfg.tus_expire / 2;
    sl_req_t *r;

    for (r = srv->reqs; r != NULL; r = r->next)
        if (r->tr != NULL && r->tr->u != NULL && r->tr->u->writer == r && r->up != NULL &&
            r->up->running && !r->up->eof && !r->tr->check_alg && !r->tr->trailer)
            checkpoint(r->tr->u, r);
    if (srv->cfg.tus_expire == 0 || srv->draining || now < reg(srv)->next_sweep)
        return;
    every = every < 1 ? 1 : every > 60 ? 60 : every;
    srv->tus->next_sweep = now + (uint64_t)every * 1000;
    sweep_t *sw = sl_xcalloc(1, sizeof(*sw));
    sw->srv = srv;
    sw->now = (int64_t)time(NULL);
    sw->work.data = sw;
    srv->tus_jobs++;
    uv_queue_work(srv->loop, &sw->work, sweep_work, sweep_after);
}
