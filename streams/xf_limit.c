/* SPDX-License-Identifier: MIT
 *
 * xf_limit: passes chunks through by reference and fails the write that carries the total past
 * `max` bytes with SL_ETOOLARGE (max 0 = no limit). On a chunked body this is how --max-size is
 * enforced mid-stream; a known Content-Length is refused before the body (server/proto/upload.c).
 */
#include "xf.h"

static void limit_write(sl_stream_t *s, sl_chunk_t **chunks, size_t n, sl_done_cb done)
{
    sl_xf_limit_t *x = (sl_xf_limit_t *)s;
    int last = 1;
    size_t i;

    for (i = 0; i < n; i++) {
        x->seen += chunks[i]->len;
        if (x->max != 0 && x->seen > x->max) {
            done(s, SL_ETOOLARGE);
            return;
        }
        last = sl_stream_push(s, chunks[i]);
    }
    sl_stream_forward_done(s, done, last);
}

static const sl_stream_type_t limit_type = {
    .name = "xf_limit",
    .do_write = limit_write,
};

void sl_xf_limit_init(sl_xf_limit_t *x, uv_loop_t *loop, uint64_t max, size_t hwm)
{
    sl_stream_init(&x->s, loop, &limit_type, SL_STREAM_WRITABLE | SL_STREAM_READABLE, hwm, 0);
    x->max = max;
    x->seen = 0;
}
