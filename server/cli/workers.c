/* SPDX-License-Identifier: MIT
 *
 * --workers N: a supervisor and N worker processes, like Node's cluster.
 *
 *   supervisor: listen once ─▶ map the metrics slots shared ─▶ fork N workers ─▶ wait for signals
 *     SIGCHLD   a worker died: log it, start another in its place (backoff 1 s doubling to 30 s
 *               while they die young, reset once one lives 10 s)
 *     SIGHUP    replace them one at a time: start the new one, wait until it serves, then retire
 *               the old one (SIGUSR2: it stops accepting, still answers what its open connections
 *               ask, each answer closing its connection, and exits once they are all closed)
 *     SIGTERM/SIGINT  stop them all gracefully; SIGKILL what is left after the shutdown timeout
 *     SIGUSR1   passed on (reopen the access logs)
 *     watchdog  a worker whose loop has not turned for WATCHDOG_MS (its once-a-second tick writes
 *               a heartbeat into its metrics slot) is stuck, not slow: it gets SIGKILL and is
 *               replaced like a worker that died
 *   worker: sl__serve on the inherited socket, its own loop, its own libmicrohttpd daemon
 *
 * The workers share one listening socket, accepted from by all of them, rather than one socket
 * each with SO_REUSEPORT: a worker that stops then leaves nothing queued behind (connections
 * waiting in an SO_REUSEPORT socket's backlog are reset when it closes, research/mhd-libuv.md
 * §10), so a SIGHUP refuses no connection; the price is a less even spread. Workers share nothing
 * else but the store and the metrics slots (2N of them: a replacement started by SIGHUP counts
 * in the other half while its predecessor drains; one that replaces a dead worker goes on in its
 * slot). A tus upload is locked by the writing process (flock on its data file), so two workers
 * never write one upload: the second one answers 423 until the first is done.
 */
#include "http/http.h"
#include "http/quota.h"
#include "cli/cli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <sys/random.h>
#include <unistd.h>

#define WORKERS_MAX 256
#define WATCHDOG_MS 15000

typedef struct wk_s {
    pid_t pid;
    int slot;
    uint64_t started_ms, restart_at;
    unsigned backoff;
} wk_t;

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int open_listener(const sl_config_t *cfg, unsigned *port)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    int fd, one = 1;

    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, cfg->host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)cfg->port);
        len = sizeof(*s4);
    } else if (inet_pton(AF_INET6, cfg->host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)cfg->port);
        len = sizeof(*s6);
    } else {
        return UV_EINVAL;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 4096) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    len = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &len);
    *port = ntohs(ss.ss_family == AF_INET ? s4->sin_port : s6->sin6_port);
    return fd;
}

typedef struct sup_s {
    const sl_config_t *cfg;
    sl_config_t wcfg; /* the workers': the port the supervisor got */
    int listen_fd, n;
    sl_metrics_t *slots;
    sl_peer_share_t *peers;      /* --max-conns-per-ip over every worker (limits.c) */
    sl_quota_share_t *quota;     /* token counts of every worker (quota.c), NULL without tokens */
    char quota_path[4096];       /* their ledger, written by the supervisor alone */
    uint64_t quota_saved;        /* sl__quota_gen when it was last written */
    int quota_failed;            /* the last write failed (said once) */
    pid_t slot_pid[WORKERS_MAX]; /* the worker counting in each slot */
    wk_t wk[WORKERS_MAX];
    sigset_t old;
} sup_t;

/* Fork worker i into `slot`; with wait_ready, return once it serves. The pid, or -1. */
static pid_t start_worker(sup_t *s, int i, int slot, int wait_ready)
{
    int pfd[2];
    pid_t pid;
    char b;

    if (pipe(pfd) < 0)
        return -1;
    pid = fork();
    if (pid == 0) {
        sl_worker_t w = {s->listen_fd, i, slot, 2 * s->n, pfd[1], s->slots, s->peers, s->quota};
        close(pfd[0]);
        sigprocmask(SIG_SETMASK, &s->old, NULL);
        _exit(sl__serve(&s->wcfg, &w, NULL, NULL) == 0 ? 0 : 1);
    }
    close(pfd[1]);
    if (pid > 0)
        s->slot_pid[slot] = pid;
    if (pid > 0 && wait_ready && read(pfd[0], &b, 1) != 1)
        fprintf(stderr, "sluice: worker %d (pid %d) did not come up\n", i, (int)pid);
    close(pfd[0]);
    return pid;
}

static void stop_all(sup_t *s, sigset_t *set)
{
    uint64_t deadline = now_ms() + ((uint64_t)s->cfg->shutdown_timeout + 10) * 1000;
    int i, left;

    for (i = 0; i < s->n; i++)
        if (s->wk[i].pid > 0)
            kill(s->wk[i].pid, SIGTERM);
    for (;;) {
        struct timespec ts = {0, 200 * 1000 * 1000};
        pid_t pid;
        while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
            for (i = 0; i < s->n; i++)
                if (s->wk[i].pid == pid)
                    s->wk[i].pid = 0;
        for (left = 0, i = 0; i < s->n; i++)
            left += s->wk[i].pid > 0;
        if (left == 0)
            break;
        if (now_ms() >= deadline) {
            for (i = 0; i < s->n; i++)
                if (s->wk[i].pid > 0)
                    kill(s->wk[i].pid, SIGKILL);
            deadline = UINT64_MAX;
        }
        sigtimedwait(set, NULL, &ts);
    }
}

/* SIGHUP: each worker in turn is replaced by a new one in the other half of the slots. */
static void replace_all(sup_t *s)
{
    int i;

    for (i = 0; i < s->n; i++) {
        pid_t old = s->wk[i].pid;
        int slot = (s->wk[i].slot + s->n) % (2 * s->n);
        pid_t pid = start_worker(s, i, slot, 1);
        if (pid < 0)
            continue;
        s->wk[i].pid = pid;
        s->wk[i].slot = slot;
        s->wk[i].started_ms = now_ms();
        if (old > 0)
            kill(old, SIGUSR2); /* it retires: serves its open connections, then exits */
    }
    fprintf(stderr, "sluice: SIGHUP: %d workers replaced\n", s->n);
}

/* --token-file: the token counts, mapped shared before the first fork and read from the
 * ledger: 0, or a negative code (said on stderr: a corrupt ledger stops the start). */
static int quota_map(sup_t *s)
{
    char err[4096 + 256];
    int r;

    if (s->cfg->token_file[0] == '\0')
        return 0;
    if ((r = sl__quota_path(s->cfg->root, s->quota_path, sizeof(s->quota_path))) < 0)
        return r;
    s->quota = mmap(NULL, sl__quota_share_size(), PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s->quota == MAP_FAILED) {
        s->quota = NULL;
        return -errno;
    }
    if ((r = sl__quota_load(s->quota, s->quota_path, err, sizeof(err))) < 0) {
        fprintf(stderr,
                "sluice: quota ledger %s (fix it, or remove it to give every token its whole "
                "quota back)\n",
                err);
        munmap(s->quota, sl__quota_share_size());
        s->quota = NULL;
        return r;
    }
    s->quota_saved = sl__quota_gen(s->quota);
    return 0;
}

/* The ledger written when the counts changed (each turn of the loop, and at the end). */
static void quota_flush(sup_t *s)
{
    uint64_t gen;
    int r;

    if (s->quota == NULL || (gen = sl__quota_gen(s->quota)) == s->quota_saved)
        return;
    r = sl__quota_save(s->quota, s->quota_path, s->cfg->durable);
    if (r < 0 && !s->quota_failed)
        fprintf(stderr, "sluice: quota ledger %s not written: %s (tried again each second)\n",
                s->quota_path, sl_strerror(r));
    s->quota_failed = r < 0;
    if (r == 0)
        s->quota_saved = gen;
}

int sl__run_workers(const sl_config_t *cfg, void (*ready)(sl_server_t *srv, void *arg), void *arg)
{
    static sup_t s;
    sigset_t set;
    unsigned port = 0;
    int i;

    (void)ready;
    (void)arg;
    memset(&s, 0, sizeof(s));
    s.cfg = cfg;
    s.n = cfg->workers ? (int)cfg->workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (s.n < 1)
        s.n = 1;
    if (s.n > WORKERS_MAX / 2)
        s.n = WORKERS_MAX / 2;
    s.listen_fd = open_listener(cfg, &port);
    if (s.listen_fd < 0)
        return s.listen_fd;
    s.wcfg = *cfg;
    s.wcfg.port = port;
    s.slots = mmap(NULL, 2 * (size_t)s.n * sizeof(sl_metrics_t), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s.slots == MAP_FAILED)
        return -errno;
    s.peers = mmap(NULL, sl__peer_share_size(2 * s.n), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s.peers == MAP_FAILED || (i = quota_map(&s)) < 0) {
        int e = s.peers == MAP_FAILED ? -errno : i;
        munmap(s.slots, 2 * (size_t)s.n * sizeof(sl_metrics_t));
        if (s.peers != MAP_FAILED)
            munmap(s.peers, sl__peer_share_size(2 * s.n));
        close(s.listen_fd);
        return e;
    }
    {
        uint64_t seed = 0;
        if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
            seed = (uint64_t)now_ms() ^ ((uint64_t)getpid() << 32);
        sl__peer_share_seed(s.peers, seed);
    }
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, &s.old);
    signal(SIGPIPE, SIG_IGN);
    for (i = 0; i < s.n; i++) {
        s.wk[i].slot = i;
        s.wk[i].backoff = 1;
        s.wk[i].pid = start_worker(&s, i, i, 1);
        s.wk[i].started_ms = now_ms();
    }
    fprintf(stderr, "sluice: listening on http://%s:%u root=%s durability=%s workers=%d\n",
            cfg->host, port, cfg->root, cfg->durable ? "full" : "none", s.n);
    for (;;) {
        struct timespec ts = {1, 0};
        siginfo_t si;
        pid_t pid;
        int st, sig = sigtimedwait(&set, &si, &ts);
        uint64_t now = now_ms();

        if (sig == SIGTERM || sig == SIGINT) {
            fprintf(stderr, "sluice: %s, stopping the workers\n",
                    sig == SIGINT ? "SIGINT" : "SIGTERM");
            stop_all(&s, &set);
            break;
        }
        quota_flush(&s);
        if (sig == SIGHUP)
            replace_all(&s);
        if (sig == SIGUSR1)
            for (i = 0; i < s.n; i++)
                if (s.wk[i].pid > 0)
                    kill(s.wk[i].pid, SIGUSR1);
        while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
            for (i = 0; i < 2 * s.n; i++)
                if (s.slot_pid[i] == pid) { /* its connections died with it */
                    sl__peer_share_clear(s.peers, i);
                    s.slot_pid[i] = 0;
                }
            for (i = 0; i < s.n && s.wk[i].pid != pid; i++)
                ;
            if (i == s.n)
                continue; /* a retired worker (SIGHUP) finished its uploads */
            fprintf(stderr, "sluice: worker %d (pid %d) %s %d; replacing it in %u s\n", i, (int)pid,
                    WIFSIGNALED(st) ? "killed by signal" : "exited with",
                    WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st),
                    now - s.wk[i].started_ms < 10000 ? s.wk[i].backoff : 0);
            if (now - s.wk[i].started_ms >= 10000)
                s.wk[i].backoff = 1; /* it lived: no penalty */
            s.wk[i].pid = 0;
            s.wk[i].restart_at =
                now + (now - s.wk[i].started_ms < 10000 ? s.wk[i].backoff * 1000 : 0);
            if (now - s.wk[i].started_ms < 10000 && s.wk[i].backoff < 30)
                s.wk[i].backoff *= 2;
        }
        for (i = 0; i < s.n; i++) {
            uint64_t beat = s.slots[s.wk[i].slot].heartbeat_ms;
            if (beat < s.wk[i].started_ms)
                beat = s.wk[i].started_ms; /* not come up yet, or the slot's previous worker */
            if (s.wk[i].pid > 0 && now > beat + WATCHDOG_MS) {
                fprintf(stderr,
                        "sluice: worker %d (pid %d) has not turned its loop for %llu s; "
                        "killing it\n",
                        i, (int)s.wk[i].pid, (unsigned long long)(now - beat) / 1000);
                kill(s.wk[i].pid, SIGKILL);
                s.wk[i].started_ms = now; /* once: the SIGCHLD replaces it */
            }
        }
        for (i = 0; i < s.n; i++)
            if (s.wk[i].pid == 0 && now >= s.wk[i].restart_at) {
                s.slots[s.wk[i].slot].restarts++;
                s.wk[i].pid = start_worker(&s, i, s.wk[i].slot, 0);
                s.wk[i].started_ms = now;
            }
    }
    close(s.listen_fd);
    quota_flush(&s); /* every worker has ended: what they gave back is in */
    if (s.quota != NULL)
        munmap(s.quota, sl__quota_share_size());
    munmap(s.slots, 2 * (size_t)s.n * sizeof(sl_metrics_t));
    munmap(s.peers, sl__peer_share_size(2 * s.n));
    sigprocmask(SIG_SETMASK, &s.old, NULL);
    return 0;
}
