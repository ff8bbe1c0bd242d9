/* SPDX-License-Identifier: MIT
 *
 * xf_inflate: decodes a gzip or deflate body (zlib) between the HTTP source and the size limit,
 * so --max-size and the digests apply to what is stored.
 *
 * Decompression is where a small input becomes a large output, so this transform never lets the
 * output run ahead of the destination: it inflates into chunks of SL_XF_INFLATE_CHUNK bytes and
 * pushes each one; when a push returns 0 it stops in the middle of its input batch, keeping its
 * place in the z_stream, and continues from do_read once the destination drains (R2, T2). Its
 * done is called only when the whole batch has been inflated. Memory is one output chunk plus
 * zlib's 32 KiB window, whatever the ratio. A bomb is refused by ratio (SL_EBOMB: output above
 * max_ratio × input + 1 MiB) long before --max-size would stop it; corrupt input, trailing garbage
 * after a deflate stream and a stream that ends early are SL_EDECODE. gzip bodies may hold several
 * members (concatenated files), as gzip(1) and RFC 1952 allow. "deflate" is meant to be a zlib
 * stream (RFC 9110), but some clients send raw deflate: the first byte tells which.
 */
#include "xf.h"

#include <string.h>

#define RATIO_SLACK (1u << 20)

/* Start zlib. gzip: auto-detect gzip or zlib headers. deflate: a zlib header (RFC 1950: CM 8,
 * FCHECK) in the first two bytes, else raw deflate; those two bytes are collected first (a client
 * may send one byte at a time) and fed ahead of the rest. 1 when started, 0 when waiting for the
 * second byte, or a negative code. */
static int start_zlib(sl_xf_inflate_t *x)
{
    Bytef *next = x->z.next_in;
    uInt avail = x->z.avail_in;
    int bits = 15 + 32, ret;

    if (x->mode == SL_INFLATE_DEFLATE) {
        while (x->nhead < 2 && avail > 0) {
            x->head[x->nhead++] = *next++;
            avail--;
        }
        if (x->nhead < 2) {
            x->z.next_in = next;
            x->z.avail_in = avail;
            return 0;
        }
        bits = ((x->head[0] & 0x0f) == 8 && ((x->head[0] << 8) | x->head[1]) % 31 == 0) ? 15 : -15;
    }
    memset(&x->z, 0, sizeof(x->z));
    if (inflateInit2(&x->z, bits) != Z_OK)
        return SL_EDECODE;
    x->zinit = 1;
    if (x->mode == SL_INFLATE_DEFLATE) {
        /* Two bytes cannot fill an output chunk: one call takes them. */
        if (x->out == NULL)
            x->out = sl_chunk_new(x->s.loop, SL_XF_INFLATE_CHUNK);
        x->z.next_in = x->head;
        x->z.avail_in = 2;
        x->z.next_out = (Bytef *)x->out->base + x->out->len;
        x->z.avail_out = (uInt)(x->out->cap - x->out->len);
        ret = inflate(&x->z, Z_NO_FLUSH);
        if (ret != Z_OK && ret != Z_STREAM_END && ret != Z_BUF_ERROR)
            return SL_EDECODE;
        x->out_total += (x->out->cap - x->out->len) - x->z.avail_out;
        x->out->len = x->out->cap - x->z.avail_out;
        x->ended = ret == Z_STREAM_END;
    }
    x->z.next_in = next;
    x->z.avail_in = avail;
    return 1;
}

/* Inflate what is left of the batch; returns 1 when the batch is done, 0 when paused, or a
 * negative code. */
static int pump(sl_xf_inflate_t *x)
{
    while (x->batch_i < x->batch_n) {
        sl_chunk_t *in = x->batch[x->batch_i];
        int ret, r;

        if (x->z.avail_in == 0 && x->z.next_in != (Bytef *)in->base + in->len) {
            x->z.next_in = (Bytef *)in->base;
            x->z.avail_in = (uInt)in->len;
            x->in_total += in->len;
        }
        if (x->z.avail_in == 0) {
            x->batch_i++;
            x->z.next_in = NULL;
            continue;
        }
        if (!x->zinit && (r = start_zlib(x)) <= 0) {
            if (r < 0)
                return r;
            continue; /* the second byte of a deflate body is in the next chunk */
        }
        if (x->z.avail_in == 0)
            continue; /* the first chunk held only the two header bytes */
        if (x->ended) {
            if (x->mode != SL_INFLATE_GZIP)
                return SL_EDECODE; /* data after the end of a deflate stream */
            inflateReset(&x->z);   /* the next gzip member */
            x->ended = 0;
        }
        if (x->out == NULL)
            x->out = sl_chunk_new(x->s.loop, SL_XF_INFLATE_CHUNK);
        x->z.next_out = (Bytef *)x->out->base + x->out->len;
        x->z.avail_out = (uInt)(x->out->cap - x->out->len);
        ret = inflate(&x->z, Z_NO_FLUSH);
        x->out_total += (x->out->cap - x->out->len) - x->z.avail_out;
        x->out->len = x->out->cap - x->z.avail_out;
        if (ret == Z_STREAM_END)
            x->ended = 1;
        else if (ret != Z_OK && ret != Z_BUF_ERROR)
            return SL_EDECODE;
        if (x->max_ratio && x->out_total > x->max_ratio * x->in_total + RATIO_SLACK)
            return SL_EBOMB;
        if (x->out->len == x->out->cap) {
            sl_chunk_t *c = x->out;
            x->out = NULL;
            r = sl_stream_push(&x->s, c);
            sl_chunk_unref(c);
            if (r < 0)
                return r;
            if (r == 0)
                return 0; /* resumed by do_read (R2) */
        }
    }
    return 1;
}

static void finish_batch(sl_xf_inflate_t *x, int r)
{
    sl_done_cb done = x->done;
    int last = 1;

    if (r == 0)
        return;
    x->done = NULL;
    if (r > 0 && x->out != NULL && x->out->len > 0) {
        /* Send what this batch produced now: a slow client's bytes should not wait. */
        sl_chunk_t *c = x->out;
        x->out = NULL;
        last = sl_stream_push(&x->s, c);
        sl_chunk_unref(c);
    }
    sl_stream_forward_done(&x->s, done, r < 0 ? r : last);
}

static void inflate_write(sl_stream_t *s, sl_chunk_t **chunks, size_t n, sl_done_cb done)
{
    sl_xf_inflate_t *x = (sl_xf_inflate_t *)s;

    x->batch = chunks; /* the base keeps the batch until done (W4) */
    x->batch_n = n;
    x->batch_i = 0;
    x->z.next_in = NULL;
    x->z.avail_in = 0;
    x->done = done;
    finish_batch(x, pump(x));
}

static void inflate_read(sl_stream_t *s)
{
    sl_xf_inflate_t *x = (sl_xf_inflate_t *)s;

    if (x->done != NULL)
        finish_batch(x, pump(x));
}

static void inflate_flush(sl_stream_t *s, sl_done_cb done)
{
    sl_xf_inflate_t *x = (sl_xf_inflate_t *)s;

    /* Every byte was inflated by now; a stream that never reached its end was cut short. An
     * empty body decodes to nothing. */
    done(s, (x->ended || x->in_total == 0) ? 0 : SL_EDECODE);
}

static void inflate_destroy(sl_stream_t *s, int err, sl_done_cb done)
{
    sl_xf_inflate_t *x = (sl_xf_inflate_t *)s;

    (void)err;
    if (x->zinit)
        inflateEnd(&x->z);
    x->zinit = 0;
    sl_chunk_unref(x->out);
    x->out = NULL;
    if (x->done != NULL) {
        sl_done_cb d = x->done; /* paused mid-batch */
        x->done = NULL;
        d(s, SL_EDESTROYED);
    }
    done(s, 0);
}

static const sl_stream_type_t inflate_type = {
    .name = "xf_inflate",
    .do_write = inflate_write,
    .do_read = inflate_read,
    .do_flush = inflate_flush,
    .do_destroy = inflate_destroy,
};

void sl_xf_inflate_init(sl_xf_inflate_t *x, uv_loop_t *loop, int mode, uint64_t max_ratio,
                        size_t hwm)
{
    sl_stream_init(&x->s, loop, &inflate_type, SL_STREAM_WRITABLE | SL_STREAM_READABLE, hwm, 0);
    x->mode = mode;
    x->max_ratio = max_ratio;
    x->in_total = x->out_total = 0;
    x->ended = x->zinit = 0;
    x->nhead = 0;
    x->batch = NULL;
    x->batch_n = x->batch_i = 0;
    x->done = NULL;
    x->out = NULL;
    memset(&x->z, 0, sizeof(x->z));
}
