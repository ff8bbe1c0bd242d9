/* SPDX-License-Identifier: MIT
 *
 * Piped chunks: an upload's bytes go socket → pipe → file with splice(2) and never through user
 * memory.
 *
 * Reading a body with recv and writing it with pwritev copies every byte twice (socket buffer →
 * chunk → page cache), as nginx does. When nothing between the socket and the file looks at the
 * bytes (no digest, no inflate, no form: the chain builder knows), the source splices what the
 * socket holds into a pipe instead and pushes a chunk that only says how many bytes wait there
 * (sl_chunk_piped: base NULL, len, pipe). The socket's pages move into the pipe by reference;
 * the sink's thread-pool job splices them out into the file (sl_pipe_drain), the one copy, into
 * the page cache. Stages that only count bytes (xf_limit) pass piped chunks like any other.
 *
 *   source (loop thread)                     sink (thread pool)
 *   splice(sock → pipe.wr, NONBLOCK)         splice(pipe.rd → file @off), len bytes per chunk
 *   push sl_chunk_piped(len) ─▶ limit ─▶ sink's batch, in order with memory chunks
 *
 * Order: a pipe is FIFO and the sink writes its batches in order, one at a time (store.h), so
 * the k-th piped chunk's bytes are exactly the next len bytes in the pipe when its turn comes.
 * Flow: `queued` counts the bytes of live piped chunks; a chunk going (the sink wrote it, or the
 * chain dropped it) gives room back and calls the owner's `drained`, which restarts a source
 * stopped on a full pipe. A pipe's capacity counts page slots, not bytes: a socket's pages may
 * be partly filled, so the source also stops when the splice says the pipe is full.
 *
 * A pipe that cannot be made big enough (the user's pipe memory is used up by many uploads,
 * /proc/sys/fs/pipe-user-pages-soft) is refused: the source reads with recv as before.
 */
#include "loopctx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

sl_pipe_t *sl_pipe_new(size_t cap, size_t min_cap, int *err)
{
    sl_pipe_t *p;
    int fds[2], got;

    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
        *err = -errno;
        return NULL;
    }
    got = fcntl(fds[1], F_SETPIPE_SZ, (int)cap);
    if (got < 0)
        got = fcntl(fds[1], F_GETPIPE_SZ);
    if (got < 0 || (size_t)got < min_cap) {
        *err = got < 0 ? -errno : -ENOBUFS;
        close(fds[0]);
        close(fds[1]);
        return NULL;
    }
    p = sl_xcalloc(1, sizeof(*p));
    p->rd = fds[0];
    p->wr = fds[1];
    p->cap = (size_t)got;
    p->refcnt = 1;
    return p;
}

void sl_pipe_release(sl_pipe_t *p)
{
    if (p == NULL || --p->refcnt > 0)
        return;
    close(p->rd);
    close(p->wr);
    free(p);
}

void sl__pipe_chunk_gone(sl_pipe_t *p, size_t len)
{
    p->queued -= len < p->queued ? len : p->queued;
    if (p->drained != NULL)
        p->drained(p->arg);
    sl_pipe_release(p);
}

ssize_t sl_pipe_fill(sl_pipe_t *p, int fd, size_t max)
{
    for (;;) {
        ssize_t n = splice(fd, NULL, p->wr, NULL, max, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n >= 0)
            return n;
        if (errno != EINTR)
            return errno == EWOULDBLOCK ? UV_EAGAIN : -errno;
    }
}

int sl_pipe_drain(const sl_chunk_t *c, int fd, uint64_t off)
{
    loff_t o = (loff_t)off;
    size_t left = c->len;

    while (left > 0) {
        ssize_t n = splice(c->pipe->rd, NULL, fd, &o, left, SPLICE_F_MOVE);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN ? UV_EIO : -errno; /* the bytes should have been there */
        if (n == 0)
            return UV_EIO;
        left -= (size_t)n;
    }
    return 0;
}
