/* SPDX-License-Identifier: MIT
 * multipart/form-data uploads, private to server/ (form.c). */
#ifndef SL_SERVER_FORM_H
#define SL_SERVER_FORM_H

#include "http/http.h"
#include "streams/multipart.h"

typedef struct sl_form_s sl_form_t;

/* One file part of a multipart/form-data request: its own chain into the staging area. */
typedef struct sl_form_file_s {
    sl_chain_t chain;
    sl_form_t *form;
    struct sl_form_file_s *next;
    char field[256]; /* the form field name */
    char name[256];  /* the sanitised file name, unique within the request */
    int done;        /* its pipeline called back */
} sl_form_file_t;

struct sl_form_s {
    sl_stream_t s;
    sl_req_t *req;
    sl_multipart_t mp;
    char stage[64];
    sl_form_file_t *files, *cur;
    size_t nfiles, nfields, open_files;
    char *fields; /* the text fields as JSON members */
    size_t fields_len, fields_cap, field_bytes, field_start;
    int in_field, paused, committing, committed, removing;
    sl_chunk_t **batch;
    size_t batch_n, batch_i, off;
    sl_done_cb done, final_done, destroy_done;
    sl_store_job_t job;
    sl_meta_t *metas;
    const char **meta_names;
};

/* form.c: the multipart/form-data stage (r->boundary set). */
void sl_form_init(sl_form_t *fm, sl_req_t *r, const char *boundary);
void sl_form_continue(sl_form_t *fm);
/* The 201 JSON, returned owned (free) with its length. */
char *sl_form_response(sl_form_t *fm, size_t *len);
void sl_form_free(sl_form_t *fm);
/* on_complete for each file of a committed form. */
void sl_form_completed(sl_form_t *fm);

#endif
