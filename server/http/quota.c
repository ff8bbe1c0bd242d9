/* SPDX-License-Identifier: MIT
 *
 * Token quotas (quota=N in --token-file): one count per token of the body bytes its uploads
 * sent, for the whole server and across its restarts (docs/security.md).
 *
 *   what is counted   a transfer budget: an upload is charged its Content-Length when it is
 *                     admitted (before any body byte is read), and what did not arrive is given
 *                     back when the request ends (auth.c). Deleting a file gives nothing back.
 *   the table         SL_QUOTA_SLOTS entries {state, key, used}, open addressing by the key.
 *                     Alone it is the server's (calloc); with --workers the supervisor maps one
 *                     table shared (MAP_SHARED|MAP_ANONYMOUS) before it forks, so every worker
 *                     charges the same count. No lock: an entry is claimed by a compare-and-swap
 *                     of its state (0 free, 1 being filled, 2 in use), a charge is a
 *                     compare-and-swap loop on `used` that never passes the quota, so two
 *                     workers admitting at once cannot both take the last bytes. Entries are
 *                     never removed: a token's slot is stable while the server runs.
 *   the key           derived from the token's SHA-256 (sl__quota_key), not from where the token
 *                     sits in the file: a SIGHUP that reloads the tokens finds the same counts.
 *   the ledger        <root>/.sluice/quota, text: "sluice-quota-v1", a line "KEYHEX USED" per
 *                     token with bytes counted, "end N". Read at start; written whole to
 *                     quota.tmp and renamed over it (fsync'd with --durable), by one writer: the
 *                     server alone (its once-a-second tick, when the count changed, and at its
 *                     end), or the supervisor of --workers (its once-a-second turn, and after
 *                     the workers stopped). A kill -9 loses at most the charges of the last
 *                     interval (about two seconds); a torn or edited file is refused at start
 *                     with its line, never read as zero.
 */
#include "http/http.h"
#include "http/auth.h"
#include "http/quota.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LEDGER_MAX (64u << 20) /* SL_QUOTA_SLOTS lines of at most 55 bytes fit well within */
#define FILL_SPINS 1000000     /* a slot left half-filled by a process killed in between */

typedef struct q_ent_s {
    uint32_t state; /* 0 free, 1 being filled, 2 in use */
    unsigned char key[SL_QUOTA_KEY];
    uint64_t used;
} q_ent_t;

struct sl_quota_share_s {
    uint64_t gen;
    q_ent_t e[SL_QUOTA_SLOTS];
};

size_t sl__quota_share_size(void)
{
    return sizeof(sl_quota_share_t);
}

void sl__quota_key(const unsigned char hash[32], unsigned char key[SL_QUOTA_KEY])
{
    unsigned char in[sizeof(SL_QUOTA_MAGIC) + 32], out[32];

    memcpy(in, SL_QUOTA_MAGIC "\n", sizeof(SL_QUOTA_MAGIC));
    memcpy(in + sizeof(SL_QUOTA_MAGIC), hash, 32);
    if (sl__sha256(in, sizeof(in), out) < 0) /* no hash: one count shared, stricter, never looser */
        memset(out, 0, sizeof(out));
    memcpy(key, out, SL_QUOTA_KEY);
}

int sl__quota_slot(sl_quota_share_t *qs, const unsigned char key[SL_QUOTA_KEY])
{
    uint32_t h;
    size_t i;

    memcpy(&h, key, sizeof(h)); /* the key is a hash already */
    for (i = 0; i < SL_QUOTA_SLOTS; i++) {
        size_t k = (h + i) % SL_QUOTA_SLOTS;
        q_ent_t *e = &qs->e[k];
        uint32_t st = __atomic_load_n(&e->state, __ATOMIC_ACQUIRE), spins = 0;
        if (st == 0) {
            if (__atomic_compare_exchange_n(&e->state, &st, 1, 0, __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE)) {
                memcpy(e->key, key, SL_QUOTA_KEY);
                __atomic_store_n(&e->state, 2, __ATOMIC_RELEASE);
                return (int)k;
            }
        }
        while (st == 1 && spins++ < FILL_SPINS) { /* another worker is writing its key */
            sched_yield();
            st = __atomic_load_n(&e->state, __ATOMIC_ACQUIRE);
        }
        if (st == 2 && memcmp(e->key, key, SL_QUOTA_KEY) == 0)
            return (int)k;
    }
    return -ENOSPC;
}

int sl__quota_charge(sl_quota_share_t *qs, int slot, uint64_t quota, uint64_t n)
{
    uint64_t *u = &qs->e[slot].used, v = __atomic_load_n(u, __ATOMIC_RELAXED);

    do {
        if (v > quota || n > quota - v)
            return SL_EQUOTA;
    } while (!__atomic_compare_exchange_n(u, &v, v + n, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    __atomic_add_fetch(&qs->gen, 1, __ATOMIC_RELEASE);
    return 0;
}

void sl__quota_refund(sl_quota_share_t *qs, int slot, uint64_t n)
{
    uint64_t *u = &qs->e[slot].used, v = __atomic_load_n(u, __ATOMIC_RELAXED);

    while (!__atomic_compare_exchange_n(u, &v, v > n ? v - n : 0, 0, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
        ;
    __atomic_add_fetch(&qs->gen, 1, __ATOMIC_RELEASE);
}

uint64_t sl__quota_used(const sl_quota_share_t *qs, int slot)
{
    return __atomic_load_n(&qs->e[slot].used, __ATOMIC_RELAXED);
}

uint64_t sl__quota_gen(const sl_quota_share_t *qs)
{
    return __atomic_load_n(&qs->gen, __ATOMIC_ACQUIRE);
}

char *sl__quota_format(const sl_quota_share_t *qs, size_t *len)
{
    size_t cap = 64, n = 0, count = 0, i;
    char *buf = malloc(cap), *bigger;
    int w;

    if (buf == NULL)
        return NULL;
    n = (size_t)snprintf(buf, cap, "%s\n", SL_QUOTA_MAGIC);
    for (i = 0; i <= SL_QUOTA_SLOTS; i++) {
        const q_ent_t *e = &qs->e[i < SL_QUOTA_SLOTS ? i : 0];
        uint64_t used = i < SL_QUOTA_SLOTS ? __atomic_load_n(&e->used, __ATOMIC_RELAXED) : 0;
        if (i < SL_QUOTA_SLOTS && (__atomic_load_n(&e->state, __ATOMIC_ACQUIRE) != 2 || used == 0))
            continue; /* free, or nothing counted: nothing to keep */
        if (cap - n < 2 * SL_QUOTA_KEY + 32) {
            if ((bigger = realloc(buf, cap * 2)) == NULL) {
                free(buf);
                return NULL;
            }
            buf = bigger;
            cap *= 2;
        }
        if (i == SL_QUOTA_SLOTS) { /* the end line: a torn file lacks it */
            w = snprintf(buf + n, cap - n, "end %zu\n", count);
        } else {
            size_t k;
            for (k = 0; k < SL_QUOTA_KEY; k++)
                snprintf(buf + n + 2 * k, 3, "%02x", e->key[k]);
            w = 2 * SL_QUOTA_KEY;
            w += snprintf(buf + n + w, cap - n - (size_t)w, " %llu\n", (unsigned long long)used);
            count++;
        }
        n += (size_t)w;
    }
    *len = n;
    return buf;
}

/* One "KEYHEX USED" line [p, e): 0 with key and *used, or -1. */
static int parse_entry(const char *p, const char *e, unsigned char key[SL_QUOTA_KEY],
                       uint64_t *used)
{
    uint64_t v = 0;
    size_t k;

    if (e - p < 2 * SL_QUOTA_KEY + 2 || p[2 * SL_QUOTA_KEY] != ' ')
        return -1;
    for (k = 0; k < SL_QUOTA_KEY; k++) {
        int hi = sl_hexval(p[2 * k]), lo = sl_hexval(p[2 * k + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        key[k] = (unsigned char)(hi << 4 | lo);
    }
    for (p += 2 * SL_QUOTA_KEY + 1; p < e; p++) {
        if (*p < '0' || *p > '9' || v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *used = v;
    return 0;
}

int sl__quota_parse(sl_quota_share_t *qs, const char *text, size_t len, char *err, size_t errlen)
{
    const char *p = text, *end = text + len, *why = NULL;
    size_t line = 0, count = 0;
    int ended = 0;

    if (len == 0)
        why = "the file is empty (a write cut short by a crash?)";
    while (p < end && why == NULL) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        unsigned char key[SL_QUOTA_KEY];
        uint64_t used;
        int slot;
        line++;
        if (nl == NULL) {
            why = "the line is cut short (no newline)";
        } else if (line == 1) {
            if ((size_t)(nl - p) != strlen(SL_QUOTA_MAGIC) ||
                memcmp(p, SL_QUOTA_MAGIC, (size_t)(nl - p)) != 0)
                why = "not a sluice quota ledger (" SL_QUOTA_MAGIC " expected)";
        } else if (ended) {
            why = "text after the end line";
        } else if (nl - p > 4 && memcmp(p, "end ", 4) == 0) {
            char num[24];
            snprintf(num, sizeof(num), "%zu", count);
            if ((size_t)(nl - p - 4) != strlen(num) || memcmp(p + 4, num, strlen(num)) != 0)
                why = "the end line does not count the entries above it";
            ended = 1;
        } else if (parse_entry(p, nl, key, &used) < 0) {
            why = "\"KEY USED\" expected (32 hex digits, a space, a decimal byte count)";
        } else if ((slot = sl__quota_slot(qs, key)) < 0) {
            why = "more tokens than the table holds";
        } else if (__atomic_load_n(&qs->e[slot].used, __ATOMIC_RELAXED) != 0) {
            why = "a token counted twice";
        } else {
            __atomic_store_n(&qs->e[slot].used, used, __ATOMIC_RELAXED);
            count++;
        }
        p = nl != NULL ? nl + 1 : end;
    }
    if (why == NULL && !ended) {
        line++;
        why = "the end line is missing (a torn file)";
    }
    if (why != NULL) {
        snprintf(err, errlen, "line %zu: %s", line > 0 ? line : 1, why);
        return SL_EBADREQUEST;
    }
    return 0;
}

int sl__quota_path(const char *root, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/.sluice/quota", root);

    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int sl__quota_load(sl_quota_share_t *qs, const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC), r;
    char *buf, why[160];
    size_t have = 0;
    ssize_t n = 0;

    if (fd < 0 && errno == ENOENT)
        return 0; /* no ledger yet: nothing counted */
    if (fd < 0) {
        r = -errno;
        snprintf(err, errlen, "%s: %s", path, strerror(-r));
        return r;
    }
    buf = sl_xmalloc(LEDGER_MAX);
    while (have < LEDGER_MAX && (n = read(fd, buf + have, LEDGER_MAX - have)) > 0)
        have += (size_t)n;
    r = n < 0 ? -errno : 0;
    close(fd);
    if (r == 0 && have == LEDGER_MAX) {
        snprintf(err, errlen, "%s: larger than %u bytes", path, LEDGER_MAX);
        r = SL_EBADREQUEST;
    } else if (r < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(-r));
    } else if ((r = sl__quota_parse(qs, buf, have, why, sizeof(why))) < 0) {
        snprintf(err, errlen, "%s: %s", path, why);
    }
    free(buf);
    return r;
}

/* mkdir that finds the folder already there fine. */
static int make_dir(const char *path)
{
    return mkdir(path, 0755) == 0 || errno == EEXIST ? 0 : -errno;
}

/* The ledger's folder, <root>/.sluice, and the root itself when missing (the S3 store makes
 * neither): 0 or a negative errno. */
static int make_dirs(const char *path)
{
    char dir[4096], *slash;
    int r;

    if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
        return -ENAMETOOLONG;
    if ((slash = strrchr(dir, '/')) == NULL)
        return 0;
    *slash = '\0'; /* <root>/.sluice */
    if ((r = make_dir(dir)) != -ENOENT || (slash = strrchr(dir, '/')) == NULL)
        return r;
    *slash = '\0'; /* <root> */
    if ((r = make_dir(dir)) < 0)
        return r;
    *slash = '/';
    return make_dir(dir);
}

int sl__quota_write(const char *path, const char *text, size_t len, int durable)
{
    char tmp[4096 + 8], *slash;
    size_t off = 0;
    ssize_t w = 0;
    int fd, r;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    if ((r = make_dirs(path)) < 0)
        return r;
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
        return -errno;
    while (off < len && (w = write(fd, text + off, len - off)) > 0)
        off += (size_t)w;
    if (off < len)
        r = w < 0 ? -errno : -EIO;
    else if (durable && fsync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0) {
        unlink(tmp);
        return r;
    }
    if (durable && (slash = strrchr(tmp, '/')) != NULL) { /* the rename itself */
        *slash = '\0';
        if ((fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
            fsync(fd);
            close(fd);
        }
    }
    return 0;
}

int sl__quota_save(const sl_quota_share_t *qs, const char *path, int durable)
{
    size_t len;
    char *text = sl__quota_format(qs, &len);
    int r;

    if (text == NULL)
        return -ENOMEM;
    r = sl__quota_write(path, text, len, durable);
    free(text);
    return r;
}

/* The server's side: its table, its ledger, a request's charge. */

int sl__quota_open(sl_server_t *srv, sl_quota_share_t *shared)
{
    char path[4096], err[4096 + 256];
    int r;

    if (srv->cfg.token_file[0] == '\0')
        return 0;         /* no tokens, no quotas */
    if (shared != NULL) { /* a worker: the supervisor's table, read and written by it */
        srv->quota = shared;
        return 0;
    }
    if ((r = sl__quota_path(srv->cfg.root, path, sizeof(path))) < 0) {
        sl__log(srv, SL_LOG_ERROR, "quota ledger under %s: %s", srv->cfg.root, sl_strerror(r));
        return r;
    }
    srv->quota = sl_xcalloc(1, sizeof(*srv->quota));
    srv->quota_own = 1;
    if ((r = sl__quota_load(srv->quota, path, err, sizeof(err))) < 0) {
        sl__log(srv, SL_LOG_ERROR,
                "quota ledger %s (fix it, or remove it to give every token its whole quota back)",
                err);
        free(srv->quota);
        srv->quota = NULL;
        srv->quota_own = 0;
        return r;
    }
    srv->quota_saved = sl__quota_gen(srv->quota);
    return 0;
}

/* A write of the ledger in the thread pool: the text is made on the loop, the file written, and
 * fsync'd with --durable, off it. */
typedef struct quota_job_s {
    uv_work_t work;
    sl_server_t *srv;
    uint64_t gen; /* the counts the text holds */
    char *text;
    size_t len;
    int durable, r;
    char path[4096];
} quota_job_t;

static void save_work(uv_work_t *w)
{
    quota_job_t *j = w->data;

    j->r = sl__quota_write(j->path, j->text, j->len, j->durable);
}

/* The outcome of a write (r) of the counts at gen, into path: said once when it fails. */
static void saved(sl_server_t *srv, int r, uint64_t gen, const char *path)
{
    if (r < 0 && !srv->quota_save_failed)
        sl__log(srv, SL_LOG_WARN, "quota ledger %s not written: %s (tried again each second)", path,
                sl_strerror(r));
    srv->quota_save_failed = r < 0;
    if (r == 0)
        srv->quota_saved = gen;
}

static void save_after(uv_work_t *w, int status)
{
    quota_job_t *j = w->data;
    sl_server_t *srv = j->srv;

    saved(srv, status < 0 ? status : j->r, j->gen, j->path);
    free(j->text);
    free(j);
    srv->quota_busy = 0;
    sl__server_maybe_free(srv); /* sl_server_free may have come while it wrote */
}

void sl__quota_flush(sl_server_t *srv)
{
    quota_job_t *j;
    uint64_t gen;

    if (!srv->quota_own || srv->quota_busy || (gen = sl__quota_gen(srv->quota)) == srv->quota_saved)
        return;
    j = sl_xcalloc(1, sizeof(*j));
    j->work.data = j;
    j->srv = srv;
    j->gen = gen;
    j->durable = srv->cfg.durable;
    if ((j->r = sl__quota_path(srv->cfg.root, j->path, sizeof(j->path))) < 0 ||
        (j->text = sl__quota_format(srv->quota, &j->len)) == NULL) {
        saved(srv, j->r < 0 ? j->r : -ENOMEM, gen, j->path);
        free(j);
        return;
    }
    srv->quota_busy = 1;
    uv_queue_work(srv->loop, &j->work, save_work, save_after);
}

void sl__quota_close(sl_server_t *srv)
{
    char path[4096];
    uint64_t gen;

    if (srv->quota == NULL)
        return;
    if (srv->quota_own && (gen = sl__quota_gen(srv->quota)) != srv->quota_saved) {
        int r = sl__quota_path(srv->cfg.root, path, sizeof(path)); /* the last: on the loop */
        saved(srv, r < 0 ? r : sl__quota_save(srv->quota, path, srv->cfg.durable), gen, path);
    }
    if (srv->quota_own)
        free(srv->quota);
    srv->quota = NULL;
    srv->quota_own = 0;
}

int sl__quota_admit(sl_req_t *r, sl_token_t *t, uint64_t n)
{
    sl_server_t *srv = r->srv;

    if (srv->quota == NULL)
        return SL_EQUOTA;
    if (t->qslot == 0) { /* its slot, looked up once per load of the token file */
        unsigned char key[SL_QUOTA_KEY];
        int slot;
        sl__quota_key(t->hash, key);
        if ((slot = sl__quota_slot(srv->quota, key)) < 0) {
            sl__log(srv, SL_LOG_WARN, "quota table full (%d tokens): an upload refused",
                    SL_QUOTA_SLOTS);
            return SL_EQUOTA;
        }
        t->qslot = slot + 1;
    }
    if (sl__quota_charge(srv->quota, t->qslot - 1, t->quota, n) < 0)
        return SL_EQUOTA;
    r->quota_charged = n;
    return 0;
}

void sl__quota_release(sl_req_t *r)
{
    uint64_t unsent;

    if (r->token == NULL || r->quota_charged == 0 || r->srv->quota == NULL)
        return;
    unsent = r->received < r->quota_charged ? r->quota_charged - r->received : 0;
    if (unsent > 0) /* what never arrived is not spent */
        sl__quota_refund(r->srv->quota, r->token->qslot - 1, unsent);
    r->quota_charged = 0;
}
