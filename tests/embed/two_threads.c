/* SPDX-License-Identifier: MIT
 *
 * embed_two_threads: two sluice servers in one process, each on its own uv loop run by its own
 * pthread, each with its own root (under a mkdtemp) and --buffer-budget, on ephemeral 127.0.0.1
 * ports. Client threads upload over plain sockets (PUT /files/NAME with Content-Length):
 *
 *   1. into A only: afterwards B's loop has buffered nothing (peak 0), A's something;
 *   2. into both at once, NUP uploads each, all started together: both loops stream at the same
 *      time, each allocating and freeing chunks against its own budget.
 *
 * Every upload must answer 201 and land with the right bytes in its server's root (and not in the
 * other's). Each server's budget (sl_server_budget, asked on the server's own thread through a
 * uv_async_t) must be the one it was configured with, and nothing may still be buffered at the
 * end, and A's peak must stay near A's small budget. Then both are stopped and freed on their
 * threads, and both loops must close (0). With the old process-wide state B reported A's peak,
 * both reported the last budget set and one peak; under TSan or helgrind the shared counters
 * were a race. argv[1]: MiB per upload (default 4).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "sluice.h"

#define NUP 3 /* uploads per server in phase 2 */

typedef struct server_s {
    char tag;
    size_t budget;
    char root[64];
    pthread_t tid;
    uv_loop_t loop;
    uv_async_t ask;
    sl_server_t *srv;
    unsigned port;
    int start_err, close_rc;
    /* under mu: the main thread's requests, answered on the loop's thread */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int ready, asked, answered, stop;
    size_t max, in_use, peak;
} server_t;

typedef struct upload_s {
    server_t *s;
    char name[32];
    size_t size;
    unsigned seed;
    int status;
    pthread_t tid;
} upload_t;

static pthread_barrier_t go;
static int failures;

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "embed_two_threads: " __VA_ARGS__);                                        \
        fputc('\n', stderr);                                                                       \
        failures++;                                                                                \
    } while (0)

static unsigned char pattern(unsigned seed, size_t i)
{
    return (unsigned char)(seed * 131u + i * 7u + (i >> 13));
}

/* --- the server threads --------------------------------------------------------------------- */

static void on_stopped(sl_server_t *srv, void *arg)
{
    (void)srv;
    (void)arg;
}

static void on_ask(uv_async_t *h)
{
    server_t *s = h->data;

    pthread_mutex_lock(&s->mu);
    if (s->answered < s->asked) {
        s->max = sl_server_budget(s->srv, &s->in_use, &s->peak);
        s->answered = s->asked;
        pthread_cond_broadcast(&s->cv);
    }
    if (s->stop) {
        uv_close((uv_handle_t *)&s->ask, NULL);
        sl_server_stop(s->srv, on_stopped, s);
    }
    pthread_mutex_unlock(&s->mu);
}

static void *server_main(void *arg)
{
    server_t *s = arg;
    sl_config_t cfg;

    uv_loop_init(&s->loop);
    sl_config_init(&cfg);
    cfg.port = 0;
    cfg.buffer_budget = s->budget;
    cfg.shutdown_timeout = 5;
    snprintf(cfg.root, sizeof(cfg.root), "%s", s->root);
    s->start_err = sl_server_new(&s->loop, &cfg, &s->srv);
    if (s->start_err == 0) {
        s->port = sl_server_port(s->srv);
        uv_async_init(&s->loop, &s->ask, on_ask);
        s->ask.data = s;
    }
    pthread_mutex_lock(&s->mu);
    s->ready = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (s->start_err < 0)
        return NULL;
    uv_run(&s->loop, UV_RUN_DEFAULT); /* until the stop closed every handle */
    sl_server_free(s->srv);           /* the loop's last server: releases its context */
    uv_run(&s->loop, UV_RUN_DEFAULT);
    s->close_rc = uv_loop_close(&s->loop);
    return NULL;
}

/* Ask the server's thread for its budget numbers and wait for the answer. */
static void query(server_t *s)
{
    pthread_mutex_lock(&s->mu);
    s->asked++;
    uv_async_send(&s->ask);
    while (s->answered < s->asked)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
}

/* --- the clients ----------------------------------------------------------------------------- */

static int send_all(int fd, const void *p, size_t n)
{
    const char *c = p;

    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static void *upload_main(void *arg)
{
    upload_t *u = arg;
    struct sockaddr_in sa;
    char head[256], resp[4096], *buf = malloc(64 << 10);
    size_t off, len = 0, i;
    int fd, n;

    u->status = -1;
    pthread_barrier_wait(&go); /* every upload of the phase starts at once */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)u->s->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (buf == NULL || fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        goto out;
    n = snprintf(head, sizeof(head),
                 "PUT /files/%s HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n"
                 "Connection: close\r\n\r\n",
                 u->name, u->size);
    if (send_all(fd, head, (size_t)n) < 0)
        goto out;
    for (off = 0; off < u->size; off += len) {
        len = u->size - off < (64u << 10) ? u->size - off : (64u << 10);
        for (i = 0; i < len; i++)
            buf[i] = (char)pattern(u->seed, off + i);
        if (send_all(fd, buf, len) < 0)
            goto out;
    }
    for (len = 0; len < sizeof(resp) - 1; len += (size_t)n) /* until the server closes */
        if ((n = (int)recv(fd, resp + len, sizeof(resp) - 1 - len, 0)) <= 0)
            break;
    resp[len] = '\0';
    if (len > 12 && strncmp(resp, "HTTP/1.1 ", 9) == 0) {
        char *end;
        long st = strtol(resp + 9, &end, 10);
        u->status = end == resp + 12 && st >= 100 && st <= 599 ? (int)st : -1;
    }
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    return NULL;
}

/* Run the uploads u[0..n) at once; each must answer 201. */
static void run_uploads(upload_t *u, int n)
{
    int i;

    pthread_barrier_init(&go, NULL, (unsigned)n);
    for (i = 0; i < n; i++)
        pthread_create(&u[i].tid, NULL, upload_main, &u[i]);
    for (i = 0; i < n; i++) {
        pthread_join(u[i].tid, NULL);
        if (u[i].status != 201)
            FAIL("%s into %c: status %d", u[i].name, u[i].s->tag, u[i].status);
    }
    pthread_barrier_destroy(&go);
}

/* The file is in its server's root with the right bytes, and not in the other root. */
static void check_landed(const upload_t *u, const server_t *other)
{
    char path[160];
    unsigned char buf[65536];
    size_t off = 0, n, i;
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", other->root, u->name);
    if (access(path, F_OK) == 0)
        FAIL("%s landed in %c's root too", u->name, other->tag);
    snprintf(path, sizeof(path), "%s/%s", u->s->root, u->name);
    if ((f = fopen(path, "rb")) == NULL) {
        FAIL("%s: not in %c's root", u->name, u->s->tag);
        return;
    }
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        for (i = 0; i < n && buf[i] == pattern(u->seed, off + i); i++)
            ;
        if (i < n) {
            FAIL("%s: byte %zu differs", u->name, off + i);
            break;
        }
        off += n;
    }
    fclose(f);
    if (off != u->size)
        FAIL("%s: %zu bytes on disk, %zu sent", u->name, off, u->size);
}

static void upload_init(upload_t *u, server_t *s, const char *name, size_t size, unsigned seed)
{
    memset(u, 0, sizeof(*u));
    u->s = s;
    snprintf(u->name, sizeof(u->name), "%s", name);
    u->size = size;
    u->seed = seed;
}

int main(int argc, char **argv)
{
    char *end = NULL;
    unsigned long mib = argc > 1 ? strtoul(argv[1], &end, 10) : 4;
    size_t size = (size_t)mib << 20;
    server_t sv[2];
    upload_t first[2], both[2 * NUP];
    char name[32], cmd[200];
    int i, j;

    if (argc > 1 && (end == argv[1] || *end != '\0' || mib == 0 || mib > 1024)) {
        fprintf(stderr, "usage: embed_two_threads [MiB per upload, 1..1024]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    alarm(300); /* a hang fails the test */
    memset(sv, 0, sizeof(sv));
    sv[0].tag = 'A';
    sv[0].budget = 1u << 20; /* small: A's uploads wait on it */
    sv[1].tag = 'B';
    sv[1].budget = 48u << 20;
    for (i = 0; i < 2; i++) {
        snprintf(sv[i].root, sizeof(sv[i].root), "/tmp/sluice-2threads-XXXXXX");
        if (mkdtemp(sv[i].root) == NULL)
            return 1;
        pthread_mutex_init(&sv[i].mu, NULL);
        pthread_cond_init(&sv[i].cv, NULL);
        pthread_create(&sv[i].tid, NULL, server_main, &sv[i]);
    }
    for (i = 0; i < 2; i++) { /* both started, concurrently */
        pthread_mutex_lock(&sv[i].mu);
        while (!sv[i].ready)
            pthread_cond_wait(&sv[i].cv, &sv[i].mu);
        pthread_mutex_unlock(&sv[i].mu);
        if (sv[i].start_err < 0) {
            fprintf(stderr, "embed_two_threads: %c: %s\n", sv[i].tag, sl_strerror(sv[i].start_err));
            return 1;
        }
    }

    /* 1. into A only: B's loop buffers nothing */
    upload_init(&first[0], &sv[0], "a-first-0.bin", size / 2, 1);
    upload_init(&first[1], &sv[0], "a-first-1.bin", size / 2, 2);
    run_uploads(first, 2);
    query(&sv[0]);
    query(&sv[1]);
    if (sv[0].peak == 0)
        FAIL("A's loop buffered nothing for 2 uploads");
    if (sv[1].peak != 0 || sv[1].in_use != 0)
        FAIL("B's loop counts A's uploads: peak %zu, in use %zu", sv[1].peak, sv[1].in_use);

    /* 2. into both at once */
    for (i = 0; i < 2; i++)
        for (j = 0; j < NUP; j++) {
            snprintf(name, sizeof(name), "%c-%d.bin", sv[i].tag == 'A' ? 'a' : 'b', j);
            upload_init(&both[i * NUP + j], &sv[i], name, size, (unsigned)(10 * i + j + 3));
        }
    run_uploads(both, 2 * NUP);
    for (i = 0; i < 2; i++)
        check_landed(&first[i], &sv[1]);
    for (i = 0; i < 2 * NUP; i++)
        check_landed(&both[i], &sv[i < NUP ? 1 : 0]);

    for (i = 0; i < 2; i++) {
        query(&sv[i]);
        printf("embed_two_threads: %c: budget %zu, peak %zu, in use %zu\n", sv[i].tag, sv[i].max,
               sv[i].peak, sv[i].in_use);
        if (sv[i].max != sv[i].budget)
            FAIL("%c's budget is %zu, configured %zu", sv[i].tag, sv[i].max, sv[i].budget);
        if (sv[i].peak == 0 || sv[i].in_use != 0)
            FAIL("%c: peak %zu, %zu bytes still buffered", sv[i].tag, sv[i].peak, sv[i].in_use);
    }
    /* A's uploads were held to A's own budget: a source stops after the push that exhausts it,
     * so the peak passes it by at most a slab per upload (B's traffic does not count). */
    if (sv[0].peak > sv[0].budget + (NUP + 1) * (256u << 10))
        FAIL("A's peak %zu is far over its budget %zu", sv[0].peak, sv[0].budget);

    for (i = 0; i < 2; i++) { /* stop on their threads; each loop must close clean */
        pthread_mutex_lock(&sv[i].mu);
        sv[i].stop = 1;
        uv_async_send(&sv[i].ask);
        pthread_mutex_unlock(&sv[i].mu);
    }
    for (i = 0; i < 2; i++) {
        pthread_join(sv[i].tid, NULL);
        if (sv[i].close_rc != 0)
            FAIL("%c: uv_loop_close: %s (a handle left open)", sv[i].tag,
                 uv_strerror(sv[i].close_rc));
        pthread_mutex_destroy(&sv[i].mu);
        pthread_cond_destroy(&sv[i].cv);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", sv[i].root);
        if (system(cmd) != 0)
            FAIL("%s", cmd);
    }
    if (failures == 0)
        printf("embed_two_threads: %d uploads into two servers on two threads, both closed clean\n",
               2 + 2 * NUP);
    return failures == 0 ? 0 : 1;
}
