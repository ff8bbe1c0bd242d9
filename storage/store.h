/* SPDX-License-Identifier: MIT
 *
 * The store interface: where finished files live, seen from the server.
 *
 * The server speaks to a store in names (sl_name_*) and upload ids, never in paths or file
 * descriptors of its own making: it opens a sink (a writable stream whose end commits the file
 * under its name atomically and whose destroy leaves nothing behind), and starts jobs (stat and
 * free space, open for reading, delete, list, staged groups of files, resumable-upload records)
 * whose callback runs on the loop thread. A store is one ops table and the state behind it; the
 * filesystem store (fs.h) is the first implementation, and every store keeps the same promises:
 *
 *   S1  Nothing partial ever appears under a final name: a sink's bytes become visible only at its
 *       commit (its final step), all of them at once, and a failed or destroyed sink leaves none.
 *   S2  A commit is durable when the store is: once the sink finished, a crash keeps the file.
 *   S3  Names are checked (sl_name_check) before a store sees them; a store never reaches outside
 *       its own space whatever the name.
 *   S4  Every operation that can block runs off the loop thread; callbacks run on it, never
 *       inside the call that started them.
 *   S5  A resumable upload's recorded offset covers only bytes that are stored (flushed when the
 *       store is durable), so it resumes from correct bytes after any crash.
 */
#ifndef SL_STORAGE_STORE_H
#define SL_STORAGE_STORE_H

#include <stdint.h>
#include <sys/types.h>

#include "streams/stream.h"
#include "streams/xf.h"

#define SL_NAME_MAX 1024   /* bytes in a whole name */
#define SL_SEGMENT_MAX 255 /* bytes in one segment */

typedef struct sl_store_s sl_store_t;
typedef struct sl_store_ops_s sl_store_ops_t;
typedef struct sl_tus_info_s sl_tus_info_t; /* tus.h */
typedef struct sl_tus_job_s sl_tus_job_t;   /* tus.h */

/* --- names (paths.c) --------------------------------------------------------------------- */

enum { SL_DECODE_PATH = 0, SL_DECODE_QUERY = 1 };
/* Percent-decode raw[0..len) into out (cap bytes incl. NUL). In a PATH an encoded '/' (%2F) is
 * refused; %00 always is. Returns 0, SL_EBADNAME or SL_ETOOLONG. */
int sl_name_decode(const char *raw, size_t len, int mode, char *out, size_t cap);
/* The value of one hexadecimal digit, or -1. */
int sl_hexval(char c);
/* 0 if `name` (NUL-terminated, borrowed) is a valid store name (DESIGN.md §5), else SL_EBADNAME
 * or SL_ETOOLONG. */
int sl_name_check(const char *name);
/* 1 if s[0..len) is valid UTF-8 (no overlongs, no surrogates), else 0. */
int sl_utf8_valid(const char *s, size_t len);
/* Escape s[0..n) for the inside of a JSON string into out (cap bytes, NUL-terminated): '"' and
 * '\\' get a backslash, control bytes become \u00XX. Stops before an escape that would not fit;
 * returns the bytes written and, if `used` is not NULL, how many input bytes they cover. */
size_t sl_json_escape(const char *s, size_t n, size_t *used, char *out, size_t cap);
/* Write a new random id (32 hex chars + NUL, from OpenSSL RAND_bytes) into out[33]. */
void sl_name_random(char out[33]);

/* Format a strong validator for (size, mtime) into out[48]: "\"<mtime hex>-<size hex>\"". */
void sl_store_etag(uint64_t size, int64_t mtime_ns, char out[48]);
/* The strong validator of a file whose SHA-256 is known (the 201's and GET's ETag): into out[72].
 */
void sl_store_etag_digest(const char *sha256_hex, char out[72]);
/* "<pid>-<boot id>": the prefix of every work object this process creates (temp files, staging
 * directories, records in writing). The boot id is random per process, so an object left by an
 * earlier process that had the same pid (pid 1 in a container) is told apart and swept. */
const char *sl_store_owner(void);

/* What a store keeps with a file: its size, time and digests (GET's ETag and Repr-Digest). */
typedef struct sl_meta_s {
    uint64_t size;
    int64_t mtime_ns;
    uint32_t crc32;
    char sha256_hex[65];
} sl_meta_t;

/* --- sinks --------------------------------------------------------------------------------- */

enum {
    SL_SINK_NOREPLACE = 1, /* commit fails with SL_EEXISTS if the name exists */
    SL_SINK_APPEND = 2,    /* private to a store: a resumable upload's sink */
};
enum {
    SL_SINK_NAME,      /* a new file, committed as `name` */
    SL_SINK_STAGED,    /* file `name` of the staged group `stage` (sl_store_stage_commit) */
    SL_SINK_RESUMABLE, /* upload `name` (its id) from `offset`; the end flushes, nothing moves */
};
typedef struct sl_sink_spec_s {
    int kind;          /* SL_SINK_* */
    const char *name;  /* borrowed, copied */
    const char *stage; /* SL_SINK_STAGED: the group (from sl_store_stage_name) */
    unsigned flags;    /* SL_SINK_NOREPLACE */
    uint64_t offset;   /* SL_SINK_RESUMABLE */
    size_t hwm;        /* the writable side's high-water mark */
    uint64_t size;     /* the bytes the sink will get, when known (0: unknown): a store may then
                          write a small body and commit it in one step */
} sl_sink_spec_t;

/* A store's writable: every store's sink starts with these fields. */
typedef struct sl_store_sink_s {
    sl_stream_t s;
    uint64_t size;    /* read-only, valid after finish: bytes committed */
    int64_t mtime_ns; /* read-only, valid after finish */
    uint64_t offset;  /* read-only: where the next write goes (resumable: bytes stored) */
    /* borrowed until the sink finishes: its digests are kept with the file at commit (set before
     * the first write; a stage upstream of the sink in the same pipeline finishes first) */
    const sl_xf_digest_t *digest;
    int piped; /* read-only: 1 if it takes piped chunks (streams/chunk.h), 0 if it needs bytes */
    /* borrowed, set before the first write, only where `piped`: a digest stage upstream that
     * forwards the bytes unhashed (sl_xf_digest_behind); the sink feeds it what it wrote, in
     * order, and finishes it before it commits (a mismatch: no commit, SL_ECHECKSUM) */
    sl_xf_digest_t *hash;
} sl_store_sink_t;

/* --- jobs ------------------------------------------------------------------------------------ */

/* A listing stops ("truncated": true) at --list-limit entries or once its JSON reaches this. */
#define SL_LIST_MAX_BYTES (4u << 20)

typedef struct sl_store_job_s sl_store_job_t;
typedef void (*sl_store_job_cb)(sl_store_job_t *job);

struct sl_store_job_s {
    void *data; /* public: the owner's */
    int status; /* result: 0 or a negative code */
    /* open_read: a descriptor the answer is sent from (sendfile), returned owned (the caller
     * closes it), or -1: the file's bytes are then read with read_new (a remote store) */
    int fd;
    uint64_t size;
    int64_t mtime_ns;
    sl_meta_t meta; /* open_read: valid when has_meta */
    int has_meta;
    char *json; /* list: returned owned (free), JSON text (at most about SL_LIST_MAX_BYTES) */
    size_t json_len;
    /* private to the store */
    uv_work_t work;
    void *store;
    int kind;
    char name[SL_NAME_MAX + 1];
    uint64_t need;
    sl_store_job_cb cb;
    char stage[64];
    char tag[80]; /* open_read of a remote store: the version read_new must find (an ETag) */
    const sl_meta_t *metas;
    const char *const *meta_names;
    size_t nmeta;
};

/* --- the interface --------------------------------------------------------------------------- */

/* Each job function starts one job: 0, or a negative code and no callback; `job` is borrowed
 * until cb(job) runs on the loop thread. */
struct sl_store_ops_s {
    const char *kind; /* "fs" */
    /* Stop: nothing may be in flight. Frees the store. */
    void (*close)(sl_store_t *st);
    /* A new sink (returned owned: sink_free it once it has closed). */
    sl_store_sink_t *(*sink_new)(sl_store_t *st, const sl_sink_spec_t *spec);
    void (*sink_free)(sl_store_sink_t *sink);
    /* Stat `name` (NULL: none) and check that `need` bytes fit (UV_ENOSPC). */
    int (*preflight)(sl_store_t *st, sl_store_job_t *job, const char *name, uint64_t need,
                     sl_store_job_cb cb);
    /* Open `name` for reading: fd, size, mtime, meta; SL_ENOTFOUND when it is not a file. A
     * store that answers fd -1 (S3: only the object's metadata was asked) has read_new. */
    int (*open_read)(sl_store_t *st, sl_store_job_t *job, const char *name, sl_store_job_cb cb);
    /* Stream bytes [off, off + len) of the file `job` found (open_read answered fd -1; `job`
     * borrowed, what is needed is copied; len >= 1, off + len <= job->size): a readable stream,
     * returned owned, which starts at once, pushes exactly those bytes in order and then its end,
     * holding at most about `hwm` bytes beyond what its reader accepted (backpressure reaches the
     * store: R1/R2), or is destroyed with a negative code (SL_EUNAVAILABLE: the store failed or
     * the file changed since open_read; UV_EIO: a short answer). Destroy it to cancel; free it
     * with read_free once it has closed (after on_close, or the pipeline's callback). NULL when
     * the store keeps its files in descriptors (the filesystem: fd and sendfile). read_free
     * needs no store: it may run after the store was closed. */
    sl_stream_t *(*read_new)(sl_store_t *st, const sl_store_job_t *job, uint64_t off, uint64_t len,
                             size_t hwm);
    void (*read_free)(sl_stream_t *s);
    /* Remove `name`: SL_ENOTFOUND when missing. */
    int (*remove)(sl_store_t *st, sl_store_job_t *job, const char *name, sl_store_job_cb cb);
    /* Every finished file as JSON {"files":[{name,size,mtime}],"truncated":bool}, at most
     * `limit` entries. */
    int (*list)(sl_store_t *st, sl_store_job_t *job, uint64_t limit, sl_store_job_cb cb);
    /* Staged groups: files that appear together under `name`/ or not at all. A new group's name
     * into out[64] (no I/O); publish it (SL_EEXISTS if `name` exists) with metas[i] recorded for
     * name/meta_names[i] (arrays borrowed until cb); remove it and all in it. */
    void (*stage_name)(sl_store_t *st, char out[64]);
    int (*stage_commit)(sl_store_t *st, sl_store_job_t *job, const char *stage, const char *name,
                        const sl_meta_t *metas, const char *const *meta_names, size_t nmeta,
                        sl_store_job_cb cb);
    int (*stage_remove)(sl_store_t *st, sl_store_job_t *job, const char *stage, sl_store_job_cb cb);
    /* Resumable-upload records (tus.h has what each one does). */
    int (*tus_create)(sl_store_t *st, sl_tus_job_t *job, sl_tus_info_t *info,
                      void (*cb)(sl_tus_job_t *));
    int (*tus_load)(sl_store_t *st, sl_tus_job_t *job, const char *id, sl_tus_info_t *info,
                    void (*cb)(sl_tus_job_t *));
    int (*tus_save)(sl_store_t *st, sl_tus_job_t *job, sl_tus_info_t *info, int flush,
                    void (*cb)(sl_tus_job_t *));
    int (*tus_commit)(sl_store_t *st, sl_tus_job_t *job, sl_tus_info_t *info, const char *name,
                      void (*cb)(sl_tus_job_t *));
    int (*tus_concat)(sl_store_t *st, sl_tus_job_t *job, sl_tus_info_t *info, char (*parts)[33],
                      size_t nparts, uint64_t max, const char *name, void (*cb)(sl_tus_job_t *));
    int (*tus_remove)(sl_store_t *st, sl_tus_job_t *job, sl_tus_info_t *info,
                      int64_t expired_before, void (*cb)(sl_tus_job_t *));
    /* Off the loop thread: up to cap ids of uploads that expired before `now`. */
    size_t (*tus_expired)(sl_store_t *st, int64_t now, char (*ids)[33], size_t cap);
};

/* Every store starts with this. */
struct sl_store_s {
    const sl_store_ops_t *ops;
    uv_loop_t *loop;
    const char *where;   /* for people: the root directory, the bucket URL */
    int durable;         /* 1: a commit survives a crash once its sink finished */
    size_t swept;        /* leftovers of dead processes removed at open */
    int unreachable;     /* 1 while a remote store cannot be reached (/healthz answers 503) */
    uint64_t read_bytes; /* bytes its read streams received (read_new), discarded ones too */
    uint64_t retries;    /* requests to a remote store sent again after a transient failure */
    /* each durable commit's flush time in seconds (metrics), or NULL */
    void (*on_flush)(void *arg, double seconds);
    void *flush_arg;
};

/* The calls the server makes: each is st->ops->… (see there). */
static inline sl_store_sink_t *sl_store_sink_new(sl_store_t *st, const sl_sink_spec_t *spec)
{
    return st->ops->sink_new(st, spec);
}
static inline void sl_store_sink_free(sl_store_t *st, sl_store_sink_t *sink)
{
    st->ops->sink_free(sink);
}
static inline void sl_store_close(sl_store_t *st)
{
    st->ops->close(st);
}
/* 1 if the file open_read found in job (borrowed) is read with sl_store_read_new, not its fd. */
static inline int sl_store_streams(const sl_store_t *st, const sl_store_job_t *job)
{
    return job->fd < 0 && st->ops->read_new != NULL;
}
#define sl_store_read_new(st, ...) ((st)->ops->read_new((st), __VA_ARGS__))
#define sl_store_preflight(st, ...) ((st)->ops->preflight((st), __VA_ARGS__))
#define sl_store_open_read(st, ...) ((st)->ops->open_read((st), __VA_ARGS__))
#define sl_store_delete(st, ...) ((st)->ops->remove((st), __VA_ARGS__))
#define sl_store_list(st, ...) ((st)->ops->list((st), __VA_ARGS__))
#define sl_store_stage_name(st, out) ((st)->ops->stage_name((st), (out)))
#define sl_store_stage_commit(st, ...) ((st)->ops->stage_commit((st), __VA_ARGS__))
#define sl_store_stage_remove(st, ...) ((st)->ops->stage_remove((st), __VA_ARGS__))
#define sl_store_tus_create(st, ...) ((st)->ops->tus_create((st), __VA_ARGS__))
#define sl_store_tus_load(st, ...) ((st)->ops->tus_load((st), __VA_ARGS__))
#define sl_store_tus_save(st, ...) ((st)->ops->tus_save((st), __VA_ARGS__))
#define sl_store_tus_commit(st, ...) ((st)->ops->tus_commit((st), __VA_ARGS__))
#define sl_store_tus_concat(st, ...) ((st)->ops->tus_concat((st), __VA_ARGS__))
#define sl_store_tus_remove(st, ...) ((st)->ops->tus_remove((st), __VA_ARGS__))
#define sl_store_tus_expired(st, ...) ((st)->ops->tus_expired((st), __VA_ARGS__))

#endif
