/* SPDX-License-Identifier: MIT
 *
 * The transfers: every file is an item with one job (an upload), or one job per part when it is
 * split (--parts, tus concatenation); each job walks its steps on one libcurl multi handle:
 *
 *   START ─▶ HEAD (a stored URL) ─▶ PATCH from the server's offset ─▶ done ─┐
 *        └─▶ CREATE (no URL; a small file's body goes with it) ─▶ PATCH ─────┤
 *   item: [FINAL: POST Upload-Concat: final;<parts>] ─▶ VERIFY (HEAD the file when the answer
 *         carried no Repr-Digest) ─▶ compare SHA-256 ─▶ forget the state
 *
 * A connection error, a stall (--stall-timeout) or a 5xx waits (backoff doubling from
 * --retry-delay, at most 30 s), then asks the server for the offset (HEAD) and goes on from there;
 * a 409 (another offset) asks at once. --retries counts attempts without progress: an attempt
 * that moved the offset starts the count again. A 4xx fails the file with the server's message.
 *
 * The SHA-256 of a file is computed while its bytes are read for sending, from the buffer libcurl
 * sends, still in the cache: md_off is how far the hash has got; a PATCH that starts past it (a
 * resume) first hashes the bytes between from the local file, one that starts before it (the
 * server kept less than was sent) skips hashing up to md_off. A split file (its parts are sent
 * out of order), or a large one on a machine of SU_SPARE_CORES cores or more, is hashed by a
 * thread reading it beside the sends (the page cache serves both): a second read of every byte,
 * which pays only where a core would otherwise idle; so is the stretch before a resume's offset
 * when it is long (the loop would stop for it). With two cores and the server on them too,
 * it did not: one 1 GiB upload to sluice on 127.0.0.1 took 1.52-1.65 s with the thread and
 * 1.38-1.40 s without (curl -T: 1.08-1.12 s). The file's size and mtime are checked again at the
 * end, so what was hashed is what was sent.
 */
#include "xfer.h"
#include "streams/hex.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

/* --- hashing ---------------------------------------------------------------------------------- */

int su__hash_to(item_t *it, uint64_t to)
{
    static char buf[1 << 16]; /* the loop's thread only */

    while (it->md_off < to) {
        size_t n = to - it->md_off < sizeof(buf) ? (size_t)(to - it->md_off) : sizeof(buf);
        ssize_t r = pread(it->fd, buf, n, (off_t)it->md_off);
        if (r <= 0)
            return -1;
        EVP_DigestUpdate(it->md, buf, (size_t)r);
        it->md_off += (uint64_t)r;
    }
    return 0;
}

static void *hash_main(void *arg)
{
    item_t *it = arg;
    size_t cap = 1u << 20;
    char *buf = malloc(cap);

    if (buf == NULL)
        abort();
    while (it->md_off < it->f->size && !it->hash_stop) {
        uint64_t left = it->f->size - it->md_off;
        ssize_t r = pread(it->fd, buf, left < cap ? (size_t)left : cap, (off_t)it->md_off);
        if (r <= 0) {
            it->hash_err = 1;
            break;
        }
        EVP_DigestUpdate(it->md, buf, (size_t)r);
        it->md_off += (uint64_t)r;
    }
    free(buf);
    return NULL;
}

int su__hash_thread_pays(void)
{
    return sysconf(_SC_NPROCESSORS_ONLN) >= SU_SPARE_CORES;
}

void su__hash_start(item_t *it)
{
    it->hash_stop = 0;
    it->hash_err = 0;
    if (pthread_create(&it->hasher, NULL, hash_main, it) == 0)
        it->hashing = 1; /* else the sends hash, as for a small file */
}

int su__hash_join(item_t *it)
{
    if (!it->hashing)
        return 0;
    pthread_join(it->hasher, NULL);
    it->hashing = 0;
    return it->hash_err ? -1 : 0;
}

void su__hash_stop(item_t *it)
{
    it->hash_stop = 1;
    su__hash_join(it);
}

void su__hash_final(item_t *it)
{
    unsigned char md[32];
    unsigned int len = 0;

    EVP_DigestFinal_ex(it->md, md, &len);
    sl_hex(md, 32, it->sha);
}

/* --- requests --------------------------------------------------------------------------------- */

static size_t on_header(char *b, size_t size, size_t n, void *ud)
{
    su_resp_header(&((job_t *)ud)->resp, b, size * n);
    return size * n;
}

static size_t on_body(char *b, size_t size, size_t n, void *ud)
{
    su_resp_body(&((job_t *)ud)->resp, b, size * n);
    return size * n;
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *ud)
{
    job_t *j = ud;
    item_t *it = j->it;
    uint64_t left = j->end - j->pos, at = j->base + j->pos;
    size_t n = size * nmemb < left ? size * nmemb : (size_t)left;
    ssize_t r;

    if (n == 0)
        return 0;
    r = pread(it->fd, buf, n, (off_t)at);
    if (r <= 0) {
        j->local_err = r < 0 ? errno : EIO; /* unreadable, or shorter than it was */
        return CURL_READFUNC_ABORT;
    }
    if (it->md != NULL && !it->hashing && at <= it->md_off && at + (uint64_t)r > it->md_off) {
        EVP_DigestUpdate(it->md, buf + (it->md_off - at), (size_t)(at + (uint64_t)r - it->md_off));
        it->md_off = at + (uint64_t)r;
    }
    j->pos += (uint64_t)r;
    it->sent += (uint64_t)r;
    return (size_t)r;
}

void su__add_header(job_t *j, const char *fmt, const char *v)
{
    char line[4096];

    snprintf(line, sizeof(line), fmt, v);
    j->hdrs = curl_slist_append(j->hdrs, line);
}

void su__add_u64(job_t *j, const char *name, uint64_t v)
{
    char line[96];

    snprintf(line, sizeof(line), "%s: %llu", name, (unsigned long long)v);
    j->hdrs = curl_slist_append(j->hdrs, line);
}

/* Start a request for j: method, url; the body [pos, end) when with_body. */
void su__request(run_t *R, job_t *j, const char *method, const char *url, int with_body)
{
    const su_opts_t *o = R->o;
    CURL *h = curl_easy_init();

    if (h == NULL)
        abort();
    for (unsigned i = 0; i < o->nheaders; i++)
        j->hdrs = curl_slist_append(j->hdrs, o->headers[i]);
    if (o->bearer != NULL)
        su__add_header(j, "Authorization: Bearer %s", o->bearer);
    if (o->protocol == SU_TUS)
        su__add_header(j, "%s", "Tus-Resumable: 1.0.0");
    else
        su__add_header(j, "%s", "Upload-Draft-Interop-Version: 8");
    su_resp_reset(&j->resp);
    j->with_body = with_body;
    j->local_err = 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PRIVATE, j);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, j);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(o->connect_timeout * 1000));
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)o->stall_timeout);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "sluice-up");
    if (o->insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "OPTIONS") == 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    } else if (with_body) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)(j->end - j->pos));
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, j);
        curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 512L * 1024);
        if (j->end - j->pos <= R->o->small)
            j->hdrs = curl_slist_append(j->hdrs, "Expect:");
    } else {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, j->hdrs);
    j->h = h;
    curl_multi_add_handle(R->multi, h);
}

void su__release(run_t *R, job_t *j)
{
    if (j->h != NULL) {
        curl_multi_remove_handle(R->multi, j->h);
        curl_easy_cleanup(j->h);
        j->h = NULL;
    }
    curl_slist_free_all(j->hdrs);
    j->hdrs = NULL;
}

void su__head(run_t *R, job_t *j)
{
    j->step = S_HEAD;
    su__request(R, j, "HEAD", j->url, 0);
}

void su__create(run_t *R, job_t *j)
{
    item_t *it = j->it;
    char md[3000];
    int small = it->nparts == 1 && j->len <= R->o->small;

    j->step = S_CREATE;
    j->url[0] = '\0';
    j->offset = 0;
    su__add_u64(j, "Upload-Length", j->len);
    if (it->nparts > 1) {
        su__add_header(j, "%s", "Upload-Concat: partial");
    } else {
        su_metadata(it->f->name, md, sizeof(md));
        su__add_header(j, "Upload-Metadata: %s", md);
    }
    if (R->o->protocol == SU_IETF)
        su__add_header(j, "Upload-Complete: %s", small ? "?1" : "?0");
    if (small && j->len > 0) { /* creation with upload: one request, nothing to resume */
        su__add_header(j, "Content-Type: %s",
                       R->o->protocol == SU_TUS ? "application/offset+octet-stream"
                                                : "application/octet-stream");
        j->pos = 0;
        j->end = j->len;
        su__request(R, j, "POST", R->o->endpoint, 1);
    } else {
        su__request(R, j, "POST", R->o->endpoint, 0);
    }
}

void su__patch(run_t *R, job_t *j)
{
    item_t *it = j->it;

    /* a resume past what was hashed: a long stretch goes to the hashing thread (the transfers go
     * on meanwhile), a short one is hashed here */
    if (it->md != NULL && !it->hashing && j->offset >= it->md_off + SU_HASH_THREAD)
        su__hash_start(it);
    if (it->md != NULL && !it->hashing && j->offset > it->md_off &&
        su__hash_to(it, j->offset) < 0) {
        j->local_err = EIO;
        return;
    }
    j->step = S_PATCH;
    j->pos = j->offset;
    j->end = j->len;
    su__add_u64(j, "Upload-Offset", j->offset);
    if (R->o->protocol == SU_TUS) {
        su__add_header(j, "%s", "Content-Type: application/offset+octet-stream");
    } else {
        su__add_header(j, "%s", "Content-Type: application/partial-upload");
        su__add_header(j, "%s", "Upload-Complete: ?1");
    }
    if (R->o->json) {
        char f[2048];
        su_json_str(it->f->path, f, sizeof(f));
        su_event(R->o, "patch", ",\"file\":\"%s\",\"part\":%d,\"offset\":%llu,\"length\":%llu", f,
                 j->idx, (unsigned long long)j->offset, (unsigned long long)(j->len - j->offset));
    }
    su__request(R, j, "PATCH", j->url, 1);
}
