/* SPDX-License-Identifier: MIT
 *
 * A tus PATCH's sink on S3 (s3_tus.c has the layout and the lock):
 *
 *   first write ─▶ open: the lock, the record (its offset must be the PATCH's: SL_EOFFSET), the
 *                  tail read into the spool file; then the writes go on as any S3 sink's
 *   a full part ─▶ renew the lease, then the part, numbered after the record's parts
 *   end ─▶ what is left: a last part if it is at least 5 MiB, else the new tail; the record with
 *          the new offset and parts (If-Match: the ETag read at the open); the lock freed.
 *          Only then does the sink's offset move: the PATCH's bytes count all at once.
 *   destroy ─▶ the lock freed; parts sent for this PATCH count for nothing (no record names
 *          them) and the next PATCH overwrites them.
 */
#include "s3_sink.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void lease_add(s3_sink_t *k);
static void lease_drop(s3_sink_t *k);

static sl_s3_tus_op_t *op_of(s3_sink_t *k, int kind, void (*cb)(sl_s3_tus_op_t *))
{
    if (k->tus == NULL) {
        k->tus = sl_xcalloc(1, sizeof(*k->tus));
        k->tus->s3 = k->s3;
        k->tus->spool_fd = -1;
        memcpy(k->tus->rec.id, k->id, sizeof(k->id));
    }
    k->tus->kind = kind;
    k->tus->cb = cb;
    k->tus->data = k;
    return k->tus;
}

static void on_opened(sl_s3_tus_op_t *op)
{
    s3_sink_t *k = op->data;
    sl_done_cb d = k->pend_done;
    size_t n = strlen(op->upload_id);

    k->pend_done = NULL;
    if (op->err < 0) {
        k->err = op->err;
        if (d != NULL)
            d(&k->base.s, op->err);
        else
            sl__s3_sink_fail(k, op->err);
        return;
    }
    k->opened = 1;
    lease_add(k);
    k->fill_len = op->tail_len;
    k->part_base = op->nparts;
    k->bytes_base = op->part_bytes;
    k->upload_id = sl_xmalloc(3 * n + 1);
    sl__s3_encode(op->upload_id, 0, k->upload_id, 3 * n + 1);
    if (d != NULL)
        sl__s3_sink_write_now(k, k->pend, k->npend, d);
    else
        sl__s3_sink_final_step(k); /* a PATCH that ended without a byte */
}

static void open_now(s3_sink_t *k)
{
    sl_s3_tus_op_t *op = op_of(k, SL_S3_TUS_OPEN, on_opened);
    int r;

    op->want_offset = k->start_offset;
    if (k->fill_fd < 0 && (k->fill_fd = sl__s3_spool_open(k->s3)) < 0) {
        r = k->fill_fd;
    } else {
        op->spool_fd = k->fill_fd;
        r = sl__s3_tus_start(op);
    }
    if (r < 0) {
        sl_done_cb d = k->pend_done;
        k->pend_done = NULL;
        k->err = r;
        if (d != NULL)
            d(&k->base.s, r);
        else
            sl__s3_sink_fail(k, r);
    }
}

void sl__s3_rsink_open(s3_sink_t *k, sl_chunk_t **chunks, size_t n, sl_done_cb done)
{
    if (k->err < 0)
        return done(&k->base.s, k->err);
    k->pend = chunks; /* the stream keeps them until done */
    k->npend = n;
    k->pend_done = done;
    open_now(k);
}

static void on_renewed(sl_s3_tus_op_t *op)
{
    s3_sink_t *k = op->data;

    k->renewing = 0;
    if (op->err < 0)
        return sl__s3_sink_fail(k, op->err); /* the lock is lost: not one more byte */
    if (k->part_waiting) {
        k->part_waiting = 0;
        sl__s3_sink_upload_part(k);
    } else if (k->final) {
        sl__s3_sink_final_step(k);
    }
}

static void renew(s3_sink_t *k)
{
    int r;

    k->renewing = 1;
    if ((r = sl__s3_tus_start(op_of(k, SL_S3_TUS_RENEW, on_renewed))) < 0) {
        k->renewing = 0;
        sl__s3_sink_fail(k, r);
    }
}

void sl__s3_rsink_renew(s3_sink_t *k)
{
    k->part_waiting = 1;
    if (!k->renewing)
        renew(k);
}

static void on_lease_tick(uv_timer_t *t)
{
    sl_s3_t *s3 = t->data;
    s3_sink_t *k, *next;

    for (k = s3->leases; k != NULL; k = next) {
        next = k->lease_next;
        if (!k->renewing && !k->final && k->err == 0)
            renew(k);
    }
}

static void lease_add(s3_sink_t *k)
{
    sl_s3_t *s3 = k->s3;

    if (s3->leases == NULL)
        uv_timer_start(&s3->lease_timer, on_lease_tick, SL_S3_RENEW_MS(s3), SL_S3_RENEW_MS(s3));
    k->lease_next = s3->leases;
    k->lease_prev = (s3_sink_t **)&s3->leases;
    if (k->lease_next != NULL)
        k->lease_next->lease_prev = &k->lease_next;
    s3->leases = k;
}

static void lease_drop(s3_sink_t *k)
{
    if (k->lease_prev == NULL)
        return;
    *k->lease_prev = k->lease_next;
    if (k->lease_next != NULL)
        k->lease_next->lease_prev = k->lease_prev;
    k->lease_prev = NULL;
    if (k->s3->leases == NULL)
        uv_timer_stop(&k->s3->lease_timer);
}

static void on_closed(sl_s3_tus_op_t *op)
{
    s3_sink_t *k = op->data;

    lease_drop(k);
    if (op->err < 0)
        return sl__s3_sink_fail(k, op->err);
    k->base.offset = op->new_offset;
    free(k->upload_id); /* the upload's own: nothing to abort */
    k->upload_id = NULL;
    sl__s3_sink_committed(k);
}

void sl__s3_rsink_final(s3_sink_t *k)
{
    sl_s3_tus_op_t *op;
    int r;

    if (!k->opened)
        return open_now(k); /* on_opened comes back here */
    if (k->fill_len >= SL_S3_PART_MIN) {
        sl__s3_sink_send_part(k); /* a part of its own: on_part_sent comes back */
        return;
    }
    op = op_of(k, SL_S3_TUS_CLOSE, on_closed);
    op->new_offset = k->start_offset + k->patch_bytes;
    op->new_nparts = k->part_base + k->nparts;
    op->new_part_bytes = k->bytes_base + k->sent_bytes;
    op->spool_fd = k->fill_fd;
    if (op->new_offset - op->new_part_bytes != k->fill_len)
        return sl__s3_sink_fail(k, UV_EIO); /* cannot be: the bytes do not add up */
    if ((r = sl__s3_tus_start(op)) < 0)
        sl__s3_sink_fail(k, r);
}

static void on_released(sl_s3_tus_op_t *op)
{
    sl__s3_tus_op_clear(op);
    free(op);
}

void sl__s3_rsink_release(s3_sink_t *k)
{
    sl_s3_tus_op_t *op;

    lease_drop(k);
    if (k->tus == NULL || k->tus->lock_etag[0] == '\0' || k->s3->closing)
        return;                      /* never locked (or the store goes: the lease runs out) */
    op = sl_xcalloc(1, sizeof(*op)); /* outlives the sink */
    op->s3 = k->s3;
    op->kind = SL_S3_TUS_RELEASE;
    op->spool_fd = -1;
    op->cb = on_released;
    memcpy(op->rec.id, k->id, sizeof(k->id));
    memcpy(op->lock_etag, k->tus->lock_etag, sizeof(op->lock_etag));
    if (sl__s3_tus_start(op) < 0)
        on_released(op);
    else
        op->req.owned = 1; /* the store frees it if it is still running at close */
}

void sl__s3_rsink_free(s3_sink_t *k)
{
    lease_drop(k);
    if (k->tus == NULL)
        return;
    sl__s3_tus_op_clear(k->tus);
    free(k->tus);
    k->tus = NULL;
}
