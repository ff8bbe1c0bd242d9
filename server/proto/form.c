/* SPDX-License-Identifier: MIT
 *
 * form: POST /files/ with multipart/form-data, the last stage of the request's chain.
 *
 *   src_http ─▶ [xf_inflate] ─▶ form ─┬─▶ xf_limit ─▶ [xf_digest] ─▶ sink   (file part 1)
 *                                     ├─▶ xf_limit ─▶ [xf_digest] ─▶ sink   (file part 2)
 *                                     └─▶ text fields, kept (bounded) for the response
 *
 * The form is a writable that runs the streaming parser (streams/multipart.h) over each chunk.
 * A file part gets its own small chain (chain.c, no source: the parser writes into its head),
 * whose sink commits into the request's staged group (store.h) under its sanitised file name;
 * its bytes are copied into chunks and written
 * to that pipeline, and when the write says wait, the parser is paused in the middle of the
 * chunk (SL_MP_PAUSE) and resumed by the part's drain, so backpressure reaches the socket. The
 * form's do_final checks the final boundary, waits for every part's commit, then renames the
 * staging directory to its public name in one step: a request is all-or-nothing. Any error (a
 * limit, a malformed body, a part that fails) destroys every part and removes the staging
 * directory. Limits are busboy's: parts, files, field size, part header size (413).
 */
#include "http/http.h"
#include "proto/proto.h"
#include "proto/form.h"
#include "api/hooks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streams/multipart.h"

#define FIELDS_MIN_CAP (4u << 20) /* text fields of a request together, as JSON: at least */

static void form_pump(sl_form_t *fm);

static int fields_add(sl_form_t *fm, const char *s, size_t n)
{
    if (fm->fields_len + n + 1 > fm->fields_cap) {
        size_t cap = fm->fields_cap ? fm->fields_cap * 2 : 1024;
        while (cap < fm->fields_len + n + 1)
            cap *= 2;
        if (cap > FIELDS_MIN_CAP && cap > 2 * fm->req->srv->cfg.max_field_size + 65536)
            return SL_ETOOLARGE;
        fm->fields = sl_xrealloc(fm->fields, cap);
        /* held until the request ends: counted */
        sl_budget_charge(fm->req->srv->loop, cap - fm->fields_cap);
        fm->fields_cap = cap;
    }
    memcpy(fm->fields + fm->fields_len, s, n);
    fm->fields_len += n;
    fm->fields[fm->fields_len] = '\0';
    return 0;
}

static int fields_add_escaped(sl_form_t *fm, const char *s, size_t n)
{
    char buf[6 * 256 + 8];
    size_t used, len;
    int r = 0;

    while (n > 0 && r == 0) {
        len = sl_json_escape(s, n < 256 ? n : 256, &used, buf, sizeof(buf));
        r = fields_add(fm, buf, len);
        s += used;
        n -= used;
    }
    return r;
}

/* A file name fit for one segment of a store name: the path stripped (both separators), control
 * bytes dropped, not "." or "..", at most 200 bytes, valid UTF-8; "file" when nothing is left.
 * Made unique within the request with "-2", "-3", … before the extension. */
static void sanitise(sl_form_t *fm, const char *in, char *out, size_t cap, size_t max)
{
    const char *base = in, *p;
    size_t o = 0, k;
    char *dot, stem[256];
    sl_form_file_t *f;
    int n = 1, clash;

    for (p = in; *p; p++)
        if (*p == '/' || *p == '\\')
            base = p + 1;
    for (p = base; *p && o < max; p++)
        if ((unsigned char)*p >= 0x20 && *p != 0x7f)
            out[o++] = *p;
    out[o] = '\0';
    while (o > 0 && sl_name_check(out) < 0)
        out[--o] = '\0'; /* a cut in the middle of a UTF-8 sequence, or invalid bytes */
    if (o == 0 || strcmp(out, ".") == 0 || strcmp(out, "..") == 0)
        snprintf(out, cap, "file");
    snprintf(stem, sizeof(stem), "%s", out);
    dot = strrchr(stem, '.');
    k = dot != NULL && dot != stem ? (size_t)(dot - stem) : strlen(stem);
    do {
        clash = 0;
        for (f = fm->files; f != NULL && !clash; f = f->next)
            clash = strcmp(f->name, out) == 0;
        if (clash)
            snprintf(out, cap, "%.*s-%d%s", (int)k, stem, ++n, stem + k);
    } while (clash);
}

static void on_file_done(sl_pipeline_t *pl, int status)
{
    sl_form_file_t *f = pl->data;
    sl_form_t *fm = f->form;

    f->done = 1;
    fm->open_files--;
    if (status < 0)
        sl_stream_destroy(&fm->s, status); /* one part failed: the request fails (L3) */
    sl_form_continue(fm);
}

static void on_part_drain(sl_stream_t *s)
{
    sl_form_file_t *f = s->data;
    if (f->form->paused) {
        f->form->paused = 0;
        form_pump(f->form);
    }
}

static int part_begin(void *arg, const sl_mp_part_t *part)
{
    sl_form_t *fm = arg;
    sl_server_t *srv = fm->req->srv;
    sl_chain_spec_t spec = {0};
    sl_stream_t *head;
    sl_form_file_t *f;
    size_t room;
    int r;

    if (!part->has_filename || part->filename[0] == '\0') {
        if (part->has_filename)
            return 0; /* a file input left empty: browsers send it with filename="" */
        if (++fm->nfields > srv->cfg.max_parts)
            return SL_ETOOLARGE;
        if (!sl_utf8_valid(part->name, strlen(part->name)))
            return SL_EBADREQUEST; /* the response is JSON: text must be UTF-8 */
        fm->in_field = 1;
        fm->field_bytes = 0;
        if ((r = fields_add(fm, fm->nfields > 1 ? ",\"" : "\"", fm->nfields > 1 ? 2 : 1)) < 0 ||
            (r = fields_add_escaped(fm, part->name, strlen(part->name))) < 0)
            return r;
        r = fields_add(fm, "\":\"", 3);
        fm->field_start = fm->fields_len;
        return r;
    }
    if (fm->nfiles >= srv->cfg.max_files)
        return SL_ETOOLARGE;
    if (strlen(fm->req->name) + 1 + 16 > SL_NAME_MAX)
        return SL_ETOOLONG; /* no room left for file names under ?name= */
    if (!sl_utf8_valid(part->name, strlen(part->name)))
        return SL_EBADREQUEST;
    f = sl_xcalloc(1, sizeof(*f));
    f->form = fm;
    snprintf(f->field, sizeof(f->field), "%s", part->name);
    /* <name>/<file> must stay a valid store name: room for the file name and a "-NNN" suffix. */
    room = SL_NAME_MAX - strlen(fm->req->name) - 1;
    sanitise(fm, part->filename, f->name, sizeof(f->name), room < 208 ? room - 8 : 200);
    f->next = fm->files;
    fm->files = f;
    fm->nfiles++;
    spec.max = srv->cfg.max_size;
    spec.digests = sl__upload_digests(fm->req);
    spec.sink.kind = SL_SINK_STAGED;
    spec.sink.stage = fm->stage;
    spec.sink.name = f->name;
    spec.sink.flags = SL_SINK_NOREPLACE;
    spec.hwm = srv->cfg.upload_buffer;
    sl__chain_build(&f->chain, srv->loop, srv->store, &spec, on_file_done, f);
    head = sl__chain_head(&f->chain); /* the parser writes into it */
    head->data = f;
    head->on_drain = on_part_drain;
    fm->open_files++;
    fm->cur = f;
    return 0;
}

static int part_data(void *arg, const char *data, size_t len)
{
    sl_form_t *fm = arg;
    sl_chunk_t *c;
    int r;

    if (fm->in_field) {
        fm->field_bytes += len;
        if (fm->field_bytes > fm->req->srv->cfg.max_field_size)
            return SL_ETOOLARGE;
        return fields_add_escaped(fm, data, len);
    }
    if (fm->cur == NULL)
        return 0; /* an empty file input's bytes (there should be none) */
    c = sl_chunk_copy(fm->req->srv->loop, data, len);
    r = sl_stream_write(sl__chain_head(&fm->cur->chain), c);
    sl_chunk_unref(c);
    if (r < 0)
        return r;
    if (r == 0) {
        fm->paused = 1; /* resumed by on_part_drain */
        return SL_MP_PAUSE;
    }
    return 0;
}

static int part_end(void *arg)
{
    sl_form_t *fm = arg;

    if (fm->in_field) {
        fm->in_field = 0;
        if (!sl_utf8_valid(fm->fields + fm->field_start, fm->fields_len - fm->field_start))
            return SL_EBADREQUEST; /* escaping touched only ASCII: this is the value's UTF-8 */
        return fields_add(fm, "\"", 1);
    }
    if (fm->cur != NULL)
        sl_stream_end(sl__chain_head(&fm->cur->chain));
    fm->cur = NULL;
    return 0;
}

static const sl_mp_callbacks_t form_cbs = {
    .on_part_begin = part_begin,
    .on_part_data = part_data,
    .on_part_end = part_end,
};

/* Parse what is left of the batch; calls done when it is all consumed. */
static void form_pump(sl_form_t *fm)
{
    while (fm->batch_i < fm->batch_n && !fm->paused) {
        sl_chunk_t *c = fm->batch[fm->batch_i];
        ssize_t n = sl_multipart_execute(&fm->mp, c->base + fm->off, c->len - fm->off);
        if (n < 0) {
            sl_done_cb d = fm->done;
            fm->done = NULL;
            d(&fm->s, (int)n);
            return;
        }
        fm->off += (size_t)n;
        if (fm->off == c->len) {
            fm->batch_i++;
            fm->off = 0;
        }
    }
    if (!fm->paused && fm->done != NULL) {
        sl_done_cb d = fm->done;
        fm->done = NULL;
        d(&fm->s, 0);
    }
}

static void form_write(sl_stream_t *s, sl_chunk_t **chunks, size_t n, sl_done_cb done)
{
    sl_form_t *fm = (sl_form_t *)s;

    fm->batch = chunks; /* the base keeps the batch until done (W4) */
    fm->batch_n = n;
    fm->batch_i = 0;
    fm->off = 0;
    fm->done = done;
    form_pump(fm);
}

static void on_stage_removed(sl_store_job_t *job)
{
    sl_form_t *fm = job->data;
    fm->destroy_done(&fm->s, 0);
}

static void on_committed(sl_store_job_t *job)
{
    sl_form_t *fm = job->data;
    sl_done_cb d = fm->final_done;

    fm->committing = 0;
    fm->committed = job->status == 0;
    fm->final_done = NULL;
    d(&fm->s, job->status); /* SL_EEXISTS: ?name= names a directory that exists (409) */
    sl_form_continue(fm);   /* a destroy that came during the commit can finish now */
}

static void commit(sl_form_t *fm)
{
    sl_form_file_t *f;
    size_t i = 0;

    fm->metas = sl_xcalloc(fm->nfiles, sizeof(*fm->metas));
    fm->meta_names = sl_xcalloc(fm->nfiles, sizeof(*fm->meta_names));
    for (f = fm->files; f != NULL; f = f->next, i++) {
        const sl_xf_digest_t *d = f->chain.digest;
        fm->metas[i].size = f->chain.sink->size;
        fm->metas[i].mtime_ns = f->chain.sink->mtime_ns;
        fm->metas[i].crc32 = d != NULL ? d->crc32 : 0;
        memcpy(fm->metas[i].sha256_hex, d != NULL ? d->sha256_hex : "", d != NULL ? 65 : 1);
        fm->meta_names[i] = f->name;
    }
    fm->committing = 1;
    fm->job.data = fm;
    if (sl_store_stage_commit(fm->req->srv->store, &fm->job, fm->stage, fm->req->name, fm->metas,
                              fm->meta_names, fm->nfiles, on_committed) < 0) {
        fm->job.status = UV_EIO;
        on_committed(&fm->job);
    }
}

/* Called whenever something the form waits for happened: a part's pipeline ended, the final
 * boundary, a destroy. */
void sl_form_continue(sl_form_t *fm)
{
    if (fm->open_files > 0 || fm->committing)
        return;
    if (fm->s.flags & SL_STREAM_DESTROYED) {
        if (fm->final_done != NULL) {
            sl_done_cb d = fm->final_done;
            fm->final_done = NULL;
            d(&fm->s, SL_EDESTROYED);
        }
        if (fm->destroy_done == NULL || fm->removing)
            return;
        fm->removing = 1;
        if (fm->committed || fm->nfiles == 0) {
            fm->destroy_done(&fm->s, 0);
            return;
        }
        fm->job.data = fm;
        if (sl_store_stage_remove(fm->req->srv->store, &fm->job, fm->stage, on_stage_removed) < 0)
            fm->destroy_done(&fm->s, 0);
        return;
    }
    if (fm->final_done == NULL)
        return;
    if (fm->nfiles == 0) {
        sl_done_cb d = fm->final_done;
        fm->final_done = NULL;
        d(&fm->s, 0); /* only text fields: nothing to store */
        return;
    }
    commit(fm);
}

static void form_final(sl_stream_t *s, sl_done_cb done)
{
    sl_form_t *fm = (sl_form_t *)s;
    int r = sl_multipart_finish(&fm->mp);

    if (r < 0) {
        done(s, r); /* truncated: no final boundary */
        return;
    }
    fm->final_done = done;
    sl_form_continue(fm);
}

static void form_destroy(sl_stream_t *s, int err, sl_done_cb done)
{
    sl_form_t *fm = (sl_form_t *)s;
    sl_form_file_t *f;

    fm->destroy_done = done;
    if (fm->done != NULL) {
        sl_done_cb d = fm->done; /* paused in the middle of a batch */
        fm->done = NULL;
        d(s, SL_EDESTROYED);
    }
    for (f = fm->files; f != NULL; f = f->next)
        if (!f->done)
            sl_pipeline_abort(&f->chain.pl, err < 0 ? err : SL_EPREMATURE);
    sl_form_continue(fm);
}

static const sl_stream_type_t form_type = {
    .name = "form",
    .do_write = form_write,
    .do_final = form_final,
    .do_destroy = form_destroy,
};

void sl_form_init(sl_form_t *fm, sl_req_t *r, const char *boundary)
{
    sl_server_t *srv = r->srv;
    sl_mp_limits_t lim = {srv->cfg.max_part_header, srv->cfg.max_parts};

    memset(fm, 0, sizeof(*fm));
    sl_stream_init(&fm->s, srv->loop, &form_type, SL_STREAM_WRITABLE, srv->cfg.upload_buffer, 0);
    fm->req = r;
    sl_store_stage_name(srv->store, fm->stage);
    sl_multipart_init(&fm->mp, boundary, &lim, &form_cbs, fm);
}

/* The 201 body: {"files":[{field,name,size,<digests>}…],"fields":{…}}, in request order. */
char *sl_form_response(sl_form_t *fm, size_t *len)
{
    size_t cap = 256 + fm->fields_len + fm->nfiles * (7 * SL_NAME_MAX + 512), o, i;
    char *out = sl_xmalloc(cap), field[600], name[6 * SL_NAME_MAX], full[2 * SL_NAME_MAX];
    char digests[320];
    sl_form_file_t **v = sl_xcalloc(fm->nfiles ? fm->nfiles : 1, sizeof(*v));
    sl_form_file_t *f;

    i = fm->nfiles;
    for (f = fm->files; f != NULL; f = f->next)
        v[--i] = f;
    o = (size_t)snprintf(out, cap, "{\"files\":[");
    for (i = 0; i < fm->nfiles; i++) {
        f = v[i];
        snprintf(full, sizeof(full), "%s/%s", fm->req->name, f->name);
        sl__json_escape(f->field, field, sizeof(field));
        sl__json_escape(full, name, sizeof(name));
        if (f->chain.digest != NULL)
            sl__digest_json(f->chain.digest, digests, sizeof(digests));
        else
            digests[0] = '\0';
        o += (size_t)snprintf(out + o, cap - o,
                              "%s{\"field\":\"%s\",\"name\":\"%s\",\"size\":%llu%s}", i ? "," : "",
                              field, name, (unsigned long long)f->chain.sink->size, digests);
    }
    o += (size_t)snprintf(out + o, cap - o, "],\"fields\":{%s}}\n", fm->fields ? fm->fields : "");
    free(v);
    *len = o;
    return out;
}

void sl_form_completed(sl_form_t *fm)
{
    char full[2 * SL_NAME_MAX + 2];
    sl_form_file_t *f;

    for (f = fm->files; f != NULL; f = f->next) {
        snprintf(full, sizeof(full), "%s/%s", fm->req->name, f->name);
        const sl_xf_digest_t *d = f->chain.digest;
        sl__hook_complete(fm->req, full, d != NULL ? d->sha256_hex : "", d != NULL ? d->crc32 : 0,
                          f->chain.sink->size, NULL, NULL);
    }
}

void sl_form_free(sl_form_t *fm)
{
    sl_form_file_t *f, *next;

    for (f = fm->files; f != NULL; f = next) {
        next = f->next;
        sl__chain_free(&f->chain);
        free(f);
    }
    free(fm->fields);
    sl_budget_release(fm->req->srv->loop, fm->fields_cap);
    fm->fields = NULL;
    fm->fields_cap = 0;
    free(fm->metas);
    free(fm->meta_names);
}
