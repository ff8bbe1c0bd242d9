/* SPDX-License-Identifier: MIT
 *
 * The run: up to --parallel items at once, each item's jobs stepped as their transfers end
 * (the steps in xfer.c's comment), waits for retries kept as deadlines, and one loop around
 * curl_multi_poll that also redraws the progress display. A SIGINT or SIGTERM ends the loop with
 * every upload's state kept: the next run resumes them. The exit status is the gravest outcome:
 * interrupted, then a digest mismatch, a local file error, an unreachable server, a refusal.
 */
#include "xfer.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void message(run_t *R, const item_t *it, const char *msg)
{
    if (R->drawn)
        su_render_clear(stderr, &R->drawn);
    fprintf(stderr, "sluice-up: %s: %s\n", it->f->path, msg);
}

static int gravity(int status)
{
    static const int order[] = {SU_EXIT_OK,    SU_EXIT_FAILED, SU_EXIT_CONNECT,
                                SU_EXIT_LOCAL, SU_EXIT_DIGEST, SU_EXIT_INTERRUPT};
    for (int i = 0; i < 6; i++)
        if (order[i] == status)
            return i;
    return 0;
}

/* --- an item's end ---------------------------------------------------------------------------- */

static void finish(run_t *R, item_t *it, int status, const char *msg)
{
    char f[2048], m[1024];

    for (unsigned i = 0; i < it->nparts; i++)
        su__release(R, &it->jobs[i]);
    su__release(R, &it->fin);
    it->status = status;
    R->active--;
    su_json_str(it->f->path, f, sizeof(f));
    if (status != SU_EXIT_OK) {
        message(R, it, msg);
        su_json_str(msg, m, sizeof(m));
        su_event(R->o, "error", ",\"file\":\"%s\",\"error\":\"%s\",\"status\":%d", f, m, status);
    } else {
        char loc[2048];
        su_json_str(it->file_url, loc, sizeof(loc));
        su_event(R->o, "done",
                 ",\"file\":\"%s\",\"location\":\"%s\",\"size\":%llu,\"sha256\":\"%s\","
                 "\"verified\":%s,\"sent\":%llu,\"seconds\":%.3f",
                 f, loc, (unsigned long long)it->f->size, it->sha,
                 it->server_sha[0] && !R->o->no_verify ? "true" : "false",
                 (unsigned long long)it->sent, now_s() - it->t0);
        if (!R->o->no_resume)
            su_state_remove(R->state_dir, it->key);
    }
    if (status == SU_EXIT_DIGEST && !R->o->no_resume)
        su_state_remove(R->state_dir, it->key); /* the server's copy is bad: start over */
    su__hash_stop(it);
    if (it->md != NULL)
        EVP_MD_CTX_free(it->md);
    it->md = NULL;
    if (it->fd >= 0)
        close(it->fd);
    it->fd = -1;
}

/* Every job done: join the parts (FINAL) or verify. */
static void verify(run_t *R, item_t *it)
{
    struct stat st;
    char msg[256];

    if (fstat(it->fd, &st) < 0 || (uint64_t)st.st_size != it->f->size ||
        (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec != it->f->mtime_ns) {
        finish(R, it, SU_EXIT_LOCAL, "changed while it was uploaded");
        return;
    }
    if (it->md == NULL) { /* --no-verify: nothing hashed */
        finish(R, it, SU_EXIT_OK, NULL);
        return;
    }
    if (su__hash_join(it) < 0 || su__hash_to(it, it->f->size) < 0) {
        finish(R, it, SU_EXIT_LOCAL, "could not be read again to compute its SHA-256");
        return;
    }
    su__hash_final(it);
    if (R->o->no_verify || it->server_sha[0] == '\0') {
        if (!R->o->no_verify && !R->o->quiet)
            message(R, it, "the server reported no SHA-256: not verified");
        finish(R, it, SU_EXIT_OK, NULL);
    } else if (strcmp(it->sha, it->server_sha) != 0) {
        snprintf(msg, sizeof(msg), "SHA-256 mismatch: sent %.16s..., the server has %.16s...",
                 it->sha, it->server_sha);
        finish(R, it, SU_EXIT_DIGEST, msg);
    } else {
        finish(R, it, SU_EXIT_OK, NULL);
    }
}

static void verify_head(run_t *R, job_t *j)
{
    j->step = S_VERIFY;
    j->hdrs = curl_slist_append(j->hdrs, "Want-Repr-Digest: sha-256=10");
    su__request(R, j, "HEAD", j->it->file_url, 0);
}

/* The upload of the whole file is complete at the server (resp: the answer that says so). */
static void completed(run_t *R, item_t *it, const su_resp_t *resp)
{
    job_t *j = &it->fin;

    if (resp->file[0] != '\0')
        su_resolve(R->o->origin, resp->file, it->file_url, sizeof(it->file_url));
    if (resp->sha256[0] != '\0')
        snprintf(it->server_sha, sizeof(it->server_sha), "%s", resp->sha256);
    if (it->server_sha[0] == '\0' && it->file_url[0] != '\0' && !R->o->no_verify) {
        verify_head(R, j); /* the answer had no digest: the file's HEAD has it */
        return;
    }
    verify(R, it);
}

static void join_parts(run_t *R, item_t *it)
{
    job_t *j = &it->fin;
    size_t cap = 32 + it->nparts * (sizeof(it->jobs[0].url) + 1), n;
    char md[3000], *v = malloc(cap);

    if (v == NULL)
        abort();
    n = (size_t)snprintf(v, cap, "Upload-Concat: final;");
    for (unsigned i = 0; i < it->nparts && n < cap; i++)
        n += (size_t)snprintf(v + n, cap - n, "%s%s", i ? " " : "", it->jobs[i].url);
    j->step = S_FINAL;
    j->hdrs = curl_slist_append(j->hdrs, v);
    free(v);
    su_metadata(it->f->name, md, sizeof(md));
    su__add_header(j, "Upload-Metadata: %s", md);
    su__request(R, j, "POST", R->o->endpoint, 0);
}

static void part_done(run_t *R, job_t *j, const su_resp_t *resp)
{
    item_t *it = j->it;

    j->step = S_DONE;
    if (it->nparts == 1) {
        completed(R, it, resp);
        return;
    }
    if (++it->parts_done == it->nparts)
        join_parts(R, it);
}

/* --- retries ---------------------------------------------------------------------------------- */

static void retry(run_t *R, job_t *j, int status, const char *why)
{
    item_t *it = j->it;
    double d = R->o->retry_delay;
    char f[2048], m[512];

    if (++j->attempts > R->o->retries) {
        char msg[600];
        snprintf(msg, sizeof(msg), "%s (gave up after %u attempts)", why, j->attempts);
        finish(R, it, status, msg);
        return;
    }
    for (unsigned i = 1; i < j->attempts && d < R->o->retry_max; i++)
        d *= 2;
    if (d > R->o->retry_max)
        d = R->o->retry_max;
    /* a part asks for its offset (or is created again); the item's own request is repeated */
    j->after = j->idx < 0 ? j->step : j->url[0] != '\0' ? S_HEAD : S_CREATE;
    j->step = S_WAIT;
    j->wake = now_s() + d;
    su_json_str(it->f->path, f, sizeof(f));
    su_json_str(why, m, sizeof(m));
    su_event(R->o, "retry",
             ",\"file\":\"%s\",\"part\":%d,\"attempt\":%u,\"delay\":%.3f,"
             "\"error\":\"%s\"",
             f, j->idx, j->attempts, d, m);
}

static void save_state(run_t *R, item_t *it)
{
    char(*urls)[2048];

    if (R->o->no_resume)
        return;
    for (unsigned i = 0; i < it->nparts; i++)
        if (it->jobs[i].url[0] == '\0')
            return; /* once every part has its URL */
    urls = malloc(it->nparts * sizeof(*urls));
    if (urls == NULL)
        abort();
    for (unsigned i = 0; i < it->nparts; i++)
        memcpy(urls[i], it->jobs[i].url, sizeof(urls[i]));
    if (su_state_save(R->state_dir, it->key, urls, (int)it->nparts) < 0 && !R->o->quiet)
        message(R, it, "could not keep the resumable state (a killed run will start over)");
    free(urls);
}

/* --- a transfer ended ------------------------------------------------------------------------- */

static int ok2xx(long s)
{
    return s >= 200 && s < 300;
}

static void job_done(run_t *R, job_t *j, CURLcode rc)
{
    item_t *it = j->it;
    su_resp_t resp = j->resp;
    long status = resp.status;
    int step = j->step;
    char msg[600];

    su__release(R, j);
    if (j->local_err) {
        snprintf(msg, sizeof(msg), "read failed: %s", strerror(j->local_err));
        finish(R, it, SU_EXIT_LOCAL, msg);
        return;
    }
    if (rc != CURLE_OK) { /* no answer: unreachable, refused, cut, stalled */
        int connect = rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
                      rc == CURLE_COULDNT_RESOLVE_PROXY;
        snprintf(msg, sizeof(msg), "%s", curl_easy_strerror(rc));
        retry(R, j, connect ? SU_EXIT_CONNECT : SU_EXIT_FAILED, msg);
        return;
    }
    su_resp_message(&resp, msg, sizeof(msg));
    if (status >= 500 || status == 423 || status == 408 || status == 429) {
        retry(R, j, SU_EXIT_FAILED, msg); /* the server may do better in a moment */
        return;
    }
    switch (step) {
    case S_HEAD:
        if (status == 404 || status == 410 ||
            (ok2xx(status) && resp.length >= 0 && (uint64_t)resp.length != j->len)) {
            su__create(R, j); /* gone (expired, removed) or not ours: a new upload */
            return;
        }
        if (!ok2xx(status) || resp.offset < 0 || (uint64_t)resp.offset > j->len)
            break;
        if (R->o->json) {
            char f[2048], u[2048];
            su_json_str(it->f->path, f, sizeof(f));
            su_json_str(j->url, u, sizeof(u));
            su_event(R->o, "resume", ",\"file\":\"%s\",\"part\":%d,\"url\":\"%s\",\"offset\":%lld",
                     f, j->idx, u, (long long)resp.offset);
        }
        if ((uint64_t)resp.offset > j->offset)
            j->attempts = 0;
        j->offset = (uint64_t)resp.offset;
        if (resp.file[0] != '\0' || resp.complete == 1 || (it->nparts > 1 && j->offset == j->len)) {
            part_done(R, j, &resp);
            return;
        }
        su__patch(R, j);
        if (j->local_err)
            finish(R, it, SU_EXIT_LOCAL, "could not be read");
        return;
    case S_CREATE:
        if (status != 201 || resp.location[0] == '\0')
            break;
        su_resolve(R->o->origin, resp.location, j->url, sizeof(j->url));
        if (R->o->json) {
            char f[2048], u[2048];
            su_json_str(it->f->path, f, sizeof(f));
            su_json_str(j->url, u, sizeof(u));
            su_event(R->o, "created", ",\"file\":\"%s\",\"part\":%d,\"url\":\"%s\"", f, j->idx, u);
        }
        j->offset = resp.offset > 0 ? (uint64_t)resp.offset : 0;
        if (resp.file[0] != '\0' || resp.complete == 1 || (j->len == 0 && it->nparts == 1)) {
            part_done(R, j, &resp);
            return;
        }
        save_state(R, it);
        su__patch(R, j);
        if (j->local_err)
            finish(R, it, SU_EXIT_LOCAL, "could not be read");
        return;
    case S_PATCH:
        if (status == 409) { /* the server stands elsewhere: ask it */
            retry(R, j, SU_EXIT_FAILED, msg);
            j->wake = 0;
            return;
        }
        if (!ok2xx(status) || resp.offset < 0)
            break;
        if ((uint64_t)resp.offset > j->offset)
            j->attempts = 0;
        j->offset = (uint64_t)resp.offset;
        if (resp.file[0] != '\0' || resp.complete == 1 || j->offset == j->len) {
            if (it->nparts == 1 && resp.file[0] == '\0' && resp.complete != 1) {
                su__head(R, j); /* all sent, yet not said complete: ask */
                return;
            }
            part_done(R, j, &resp);
            return;
        }
        retry(R, j, SU_EXIT_FAILED, "the server kept only part of the request");
        return;
    case S_FINAL:
        if (status != 201)
            break;
        completed(R, it, &resp);
        return;
    case S_VERIFY:
        if (ok2xx(status))
            snprintf(it->server_sha, sizeof(it->server_sha), "%s", resp.sha256);
        verify(R, it);
        return;
    }
    if (ok2xx(status))
        snprintf(msg, sizeof(msg), "unexpected answer %ld", status);
    finish(R, it, SU_EXIT_FAILED, msg);
}

/* --- items ------------------------------------------------------------------------------------ */

static void start_item(run_t *R, item_t *it)
{
    const su_opts_t *o = R->o;
    su_file_t *f = it->f;
    char(*urls)[2048];
    char fj[2048];
    int have = 0;

    it->started = 1;
    it->t0 = now_s();
    R->active++;
    it->nparts = R->parts > 1 && f->size >= o->part_min ? R->parts : 1;
    su_json_str(f->path, fj, sizeof(fj));
    su_event(o, "start", ",\"file\":\"%s\",\"size\":%llu,\"parts\":%u", fj,
             (unsigned long long)f->size, it->nparts);
    it->fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (it->fd < 0) {
        char msg[256];
        snprintf(msg, sizeof(msg), "cannot open: %s", strerror(errno));
        finish(R, it, SU_EXIT_LOCAL, msg);
        return;
    }
    if (!o->no_verify) {
        it->md = EVP_MD_CTX_new();
        if (it->md == NULL || EVP_DigestInit_ex(it->md, EVP_sha256(), NULL) != 1)
            abort();
        if (it->nparts > 1 || (f->size >= SU_HASH_THREAD && su__hash_thread_pays()))
            su__hash_start(it);
    }
    it->jobs = calloc(it->nparts, sizeof(*it->jobs));
    urls = calloc(it->nparts, sizeof(*urls));
    if (it->jobs == NULL || urls == NULL)
        abort();
    it->fin.it = it;
    it->fin.idx = -1;
    su_state_key(o, f, it->nparts, it->key);
    if (!o->no_resume)
        have = su_state_load(R->state_dir, it->key, urls, (int)it->nparts);
    for (unsigned i = 0; i < it->nparts; i++) {
        job_t *j = &it->jobs[i];
        uint64_t per = f->size / it->nparts;
        j->it = it;
        j->idx = (int)i;
        j->base = per * i;
        j->len = i + 1 < it->nparts ? per : f->size - j->base;
        if (have) {
            memcpy(j->url, urls[i], sizeof(j->url));
            su__head(R, j);
        } else {
            su__create(R, j);
        }
    }
    free(urls);
}

static void render(run_t *R)
{
    su_bar_t bars[64], total = {NULL, 0, R->total, -1};
    double t = now_s();
    uint64_t sent = 0;
    int n = 0;

    for (size_t i = 0; i < R->n; i++) {
        item_t *it = &R->items[i];
        uint64_t done = 0;
        sent += it->sent;
        if (!it->started)
            continue;
        if (it->status >= 0) {
            total.done += it->f->size;
            continue;
        }
        for (unsigned k = 0; k < it->nparts; k++)
            done += it->jobs[k].step == S_PATCH ? it->jobs[k].pos : it->jobs[k].offset;
        if (t - it->rate_t >= 1.0 || it->rate_t == 0) { /* per second, smoothed */
            double r = it->rate_t ? (double)(it->sent - it->rate_bytes) / (t - it->rate_t) : -1;
            it->rate = it->rate > 0 && r >= 0 ? 0.5 * it->rate + 0.5 * r : r;
            it->rate_bytes = it->sent;
            it->rate_t = t;
        }
        total.done += done;
        if (n < 64)
            bars[n++] = (su_bar_t){it->f->name, done, it->f->size, it->rate};
    }
    if (t > R->t0 + 0.5)
        total.rate = (double)sent / (t - R->t0);
    su_render(stderr, bars, n, &total, &R->drawn);
}

/* Parts need tus concatenation: asked of the server once (OPTIONS), when a file is large
 * enough to be split. A server without it gets whole files. */
static unsigned offered_parts(run_t *R, const su_list_t *l)
{
    const su_opts_t *o = R->o;
    job_t j = {0};
    size_t i;
    int has = 0;

    if (o->parts < 2 || o->protocol != SU_TUS)
        return 1;
    for (i = 0; i < l->n && l->v[i].size < o->part_min; i++)
        ;
    if (i == l->n)
        return 1;
    su__request(R, &j, "OPTIONS", o->endpoint, 0);
    curl_multi_remove_handle(R->multi, j.h); /* performed here, before the run */
    if (curl_easy_perform(j.h) == CURLE_OK && j.resp.status >= 200 && j.resp.status < 300)
        has = strstr(j.resp.extensions, "concatenation") != NULL;
    su__release(R, &j);
    if (!has) {
        if (!o->quiet)
            fprintf(stderr, "sluice-up: the server offers no concatenation: files go whole\n");
        su_event(o, "notice", ",\"message\":\"no concatenation: --parts ignored\"");
        return 1;
    }
    return o->parts;
}

/* --- the loop --------------------------------------------------------------------------------- */

static void wake_jobs(run_t *R, job_t *j, double t, double *next)
{
    if (j->step != S_WAIT)
        return;
    if (j->wake > t) {
        if (j->wake < *next)
            *next = j->wake;
        return;
    }
    switch (j->after) {
    case S_HEAD:
        su__head(R, j);
        break;
    case S_FINAL:
        join_parts(R, j->it);
        break;
    case S_VERIFY:
        verify_head(R, j);
        break;
    default:
        su__create(R, j);
        break;
    }
}

int su_run(const su_opts_t *o, su_list_t *l)
{
    run_t R = {.o = o, .n = l->n};
    struct sigaction sa = {.sa_handler = on_signal};
    double last_draw = 0;
    int result = SU_EXIT_OK, running;
    uint64_t sent = 0, bytes = 0;
    size_t failed = 0;

    if (!o->no_resume && su_state_dir(o->state_dir, R.state_dir, sizeof(R.state_dir)) < 0) {
        fprintf(stderr, "sluice-up: no directory for the resumable state (set XDG_STATE_HOME or "
                        "--state-dir, or use --no-resume)\n");
        return SU_EXIT_LOCAL;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || (R.multi = curl_multi_init()) == NULL)
        abort();
    curl_multi_setopt(R.multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)(o->parallel * o->parts + 2));
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    R.items = calloc(l->n ? l->n : 1, sizeof(*R.items));
    if (R.items == NULL)
        abort();
    for (size_t i = 0; i < l->n; i++) {
        R.items[i].f = &l->v[i];
        R.items[i].fd = -1;
        R.items[i].status = -1;
        R.total += l->v[i].size;
    }
    R.parts = offered_parts(&R, l);
    R.t0 = now_s();
    while (!interrupted && (R.next < R.n || R.active > 0)) {
        double t = now_s(), next = t + 0.25;
        CURLMsg *m;
        int left;

        while (R.active < o->parallel && R.next < R.n)
            start_item(&R, &R.items[R.next++]);
        for (size_t i = 0; i < R.n; i++) {
            item_t *it = &R.items[i];
            if (!it->started || it->status >= 0)
                continue;
            for (unsigned k = 0; k < it->nparts && it->status < 0; k++)
                wake_jobs(&R, &it->jobs[k], t, &next);
            if (it->status < 0)
                wake_jobs(&R, &it->fin, t, &next);
        }
        curl_multi_perform(R.multi, &running);
        while ((m = curl_multi_info_read(R.multi, &left)) != NULL) {
            job_t *j = NULL;
            if (m->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&j);
            job_done(&R, j, m->data.result);
        }
        if (o->progress && t - last_draw >= 0.2) {
            render(&R);
            last_draw = t;
        }
        t = now_s();
        curl_multi_poll(R.multi, NULL, 0, next > t ? (int)((next - t) * 1000) + 1 : 0, NULL);
    }
    if (R.drawn)
        su_render_clear(stderr, &R.drawn);
    for (size_t i = 0; i < R.n; i++) {
        item_t *it = &R.items[i];
        int st = it->status;
        if (it->started && st < 0) { /* interrupted: its state stays for the next run */
            for (unsigned k = 0; k < it->nparts; k++)
                su__release(&R, &it->jobs[k]);
            su__release(&R, &it->fin);
            su__hash_stop(it);
            if (it->md != NULL)
                EVP_MD_CTX_free(it->md);
            if (it->fd >= 0)
                close(it->fd);
        }
        if (interrupted && st < 0)
            st = SU_EXIT_INTERRUPT;
        if (st > 0)
            failed++;
        else if (st == 0)
            bytes += it->f->size;
        if (st > 0 && gravity(st) > gravity(result))
            result = st;
        sent += it->sent;
        free(it->jobs);
    }
    {
        double secs = now_s() - R.t0;
        char b[32], r[32];
        su_event(o, "summary",
                 ",\"files\":%zu,\"failed\":%zu,\"bytes\":%llu,\"sent\":%llu,\"seconds\":%.3f,"
                 "\"status\":%d",
                 R.n, failed, (unsigned long long)bytes, (unsigned long long)sent, secs, result);
        if (o->progress || (!o->quiet && !o->json && isatty(2))) {
            su_fmt_bytes((double)bytes, b, sizeof(b));
            su_fmt_bytes(secs > 0 ? (double)sent / secs : 0, r, sizeof(r));
            fprintf(stderr, "%zu of %zu files uploaded, %s in %.1f s (%s/s sent)%s\n", R.n - failed,
                    R.n, b, secs, r, interrupted ? "; interrupted: run again to resume" : "");
        }
    }
    free(R.items);
    curl_multi_cleanup(R.multi);
    curl_global_cleanup();
    return result;
}
