/* SPDX-License-Identifier: MIT
 *
 * The store: where finished files live and how a stream of bytes becomes one, atomically.
 *
 * Finished files are ROOT/<name>; work in progress lives under ROOT/.sluice/ on the same
 * filesystem. The only way a byte reaches a final name is sl_sink_file's commit: fdatasync, rename
 * over the final name, fsync of the directory. So a reader sees the old file or the new one, never
 * a part, and after a crash only temp files can be partial; sl_store_open sweeps those whose
 * writer process is gone. Nothing outside storage/ builds a path: callers speak in names
 * (sl_name_*) and jobs. Every file operation runs on libuv's thread pool.
 */
#ifndef SL_STORAGE_STORE_H
#define SL_STORAGE_STORE_H

#include <stdint.h>
#include <sys/types.h>

#include "streams/stream.h"
#include "streams/xf.h"

#define SL_NAME_MAX 1024   /* bytes in a whole name */
#define SL_SEGMENT_MAX 255 /* bytes in one segment */

typedef struct sl_commit_s sl_commit_t;

typedef struct sl_store_s {
    uv_loop_t *loop;
    char *root;
    int root_fd;
    int durable;  /* 1: fdatasync + directory fsync at commit (the default) */
    uint64_t seq; /* temp-file counter */
    size_t swept; /* temp files removed by the last sweep */
    /* group commit (commit.c) */
    sl_commit_t *commit_head, **commit_tail, *batch;
    uv_work_t commit_work;
    uint64_t batches; /* batches run: fewer than commits when they were grouped */
    void (*on_flush)(void *arg, double seconds); /* each batch's flush time, durable mode */
    void *flush_arg;
    double flush_s; /* written by the batch job */
    /* free space (store.c): what the filesystem had at the last reading, and what was written
     * since; nothing is written into the last min_free bytes */
    uint64_t min_free, free_bytes, written, written_at_read;
    struct sl_statfs_op_s *statfs_op; /* a reading in flight */
    int low;                          /* near the reserve: every reservation reads again */
} sl_store_t;

/* Open (creating) the store at `root` (borrowed, copied) on `loop`: creates ROOT and
 * ROOT/.sluice/tmp, sweeps dead temp files. Blocking; call at start-up only. */
int sl_store_open(sl_store_t *st, uv_loop_t *loop, const char *root, int durable);
void sl_store_close(sl_store_t *st);
/* Keep `min_free` bytes of the filesystem free (SL_MIN_FREE_AUTO: 1% of its size, at most
 * 1 GiB; 0: none). Blocking (one statvfs); at start-up. */
#define SL_MIN_FREE_AUTO UINT64_MAX
void sl_store_set_min_free(sl_store_t *st, uint64_t min_free);
/* Loop side: n more bytes are about to be written. 0, or UV_ENOSPC if that would eat into the
 * reserve (by the last reading of the free space, refreshed every 16 MiB written). */
int sl_store_reserve(sl_store_t *st, uint64_t n);
/* Loop side: space was given back (a temp file removed): read the free space again if low. */
void sl_store_freed(sl_store_t *st);
/* Pool side: 0 if the filesystem of fd has `need` bytes free above the reserve, else UV_ENOSPC. */
int sl__store_has_space(const sl_store_t *st, int fd, uint64_t need);

/* --- names (paths.c) --------------------------------------------------------------------- */

enum { SL_DECODE_PATH = 0, SL_DECODE_QUERY = 1 };
/* Percent-decode raw[0..len) into out (cap bytes incl. NUL). In a PATH an encoded '/' (%2F) is
 * refused; %00 always is. Returns 0, SL_EBADNAME or SL_ETOOLONG. */
int sl_name_decode(const char *raw, size_t len, int mode, char *out, size_t cap);
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

/* --- metadata (meta.c; called from the thread pool) ------------------------------------------ */

typedef struct sl_meta_s {
    uint64_t size;
    int64_t mtime_ns;
    uint32_t crc32;
    char sha256_hex[65];
} sl_meta_t;

/* Record `m` (borrowed) for `name`. 0 or a negative code. */
int sl__meta_write(int root_fd, const char *name, const sl_meta_t *m, uint64_t seq);
/* Read the record of `name` into *m if it describes the file of this size and mtime; else
 * SL_ENOTFOUND. */
int sl__meta_read(int root_fd, const char *name, uint64_t size, int64_t mtime_ns, sl_meta_t *m);
void sl__meta_remove(int root_fd, const char *name);
/* The same record as an extended attribute of the open file fd: set (0, or a negative code such
 * as -ENOTSUP: then use sl__meta_write), and read (0 or SL_ENOTFOUND). */
int sl__meta_set_fd(int fd, const sl_meta_t *m);
int sl__meta_get_fd(int fd, uint64_t size, int64_t mtime_ns, sl_meta_t *m);

/* --- group commit (commit.c) -------------------------------------------------------------------
 */

/* One finished temp file to publish as `name`. `fd` is given over (closed by the batch). */
struct sl_commit_s {
    sl_commit_t *next;
    int fd;
    const char *tmp, *name;       /* borrowed until cb */
    unsigned flags;               /* renameat2 flags (RENAME_NOREPLACE) */
    const sl_xf_digest_t *digest; /* NULL, or its digests become the metadata */
    uint64_t seq;
    /* out, valid in cb */
    int err, renamed;
    uint64_t size;
    int64_t mtime_ns;
    void (*cb)(sl_commit_t *c);
    void *data;
};

/* Queue c (borrowed until c->cb runs on the loop thread) for the next batch. */
void sl__commit(sl_store_t *st, sl_commit_t *c);

/* --- the file sink (sink_file.c) ------------------------------------------------------------ */

enum {
    SL_SINK_NOREPLACE = 1, /* commit fails with SL_EEXISTS if the name exists */
    SL_SINK_APPEND = 2,    /* private: set by sl_sink_file_init_append */
};

typedef struct sl_sink_file_s {
    sl_stream_t s;
    /* read-only, valid after finish */
    uint64_t size;
    int64_t mtime_ns;
    /* private */
    sl_store_t *store;
    char *name;
    char tmp[64];
    int fd;
    unsigned flags;
    unsigned state;
    unsigned open_tries;
    uint64_t seq;
    uint64_t offset; /* read-only: where the next write goes (bytes on file in append mode) */
    uv_fs_t req;
    uv_work_t work;
    sl_commit_t commit;
    int work_err;
    uint64_t work_bytes;      /* the first write's job: bytes written */
    sl_chunk_t **wait_chunks; /* a write that waits for the open */
    size_t wait_n;
    sl_done_cb wait_done, op_done, destroy_done;
    const sl_xf_digest_t *digest; /* borrowed: its digests go into the metadata at commit */
    uv_buf_t bufs[SL_STREAM_MAX_BATCH];
} sl_sink_file_t;

/* A writable that streams into a new temp file (O_EXCL) and, at end, commits it as `name`
 * (borrowed, copied). One pwritev in flight; queued chunks are coalesced (W5). Destroying it
 * before the commit removes the temp file. `f` is borrowed until its on_close. */
void sl_sink_file_init(sl_sink_file_t *f, sl_store_t *st, const char *name, unsigned flags,
                       size_t hwm);
/* A writable that appends to the existing work file `path` (relative to the root; borrowed,
 * copied) from `offset`, cutting whatever lies past it first. Its final step flushes
 * (fdatasync in durable mode) and closes; nothing is renamed, and destroy leaves the file. */
void sl_sink_file_init_append(sl_sink_file_t *f, sl_store_t *st, const char *path, uint64_t offset,
                              size_t hwm);
/* Record the digests of `d` (borrowed until the sink finishes; finished before the sink's final,
 * as an upstream stage of the same pipeline is) as the file's metadata at commit. */
void sl_sink_file_set_digest(sl_sink_file_t *f, const sl_xf_digest_t *d);

/* --- jobs: one file-system operation on the thread pool (jobs.c) ---------------------------- */

/* A listing stops ("truncated": true) at --list-limit entries or once its JSON reaches this. */
#define SL_LIST_MAX_BYTES (4u << 20)

typedef struct sl_store_job_s sl_store_job_t;
typedef void (*sl_store_job_cb)(sl_store_job_t *job);

struct sl_store_job_s {
    void *data; /* public: the owner's */
    int status; /* result: 0 or a negative code */
    int fd;     /* open_read: returned owned (caller closes), else -1 */
    uint64_t size;
    int64_t mtime_ns;
    sl_meta_t meta; /* open_read: valid when has_meta */
    int has_meta;
    char *json; /* list: returned owned (free), JSON text (at most about SL_LIST_MAX_BYTES) */
    size_t json_len;
    /* private */
    uv_work_t work;
    sl_store_t *store;
    int kind;
    char name[SL_NAME_MAX + 1];
    uint64_t need;
    sl_store_job_cb cb;
    char stage[64];
    const sl_meta_t *metas;
    const char *const *meta_names;
    size_t nmeta;
};

/* Each starts one job; `job` is borrowed until cb(job) runs on the loop thread. */
/* Stat `name` (NULL: none) and check that the filesystem has `need` bytes free (UV_ENOSPC). */
int sl_store_preflight(sl_store_t *st, sl_store_job_t *job, const char *name, uint64_t need,
                       sl_store_job_cb cb);
/* Open `name` for reading: fd, size, mtime; SL_ENOTFOUND for missing or not a regular file. */
int sl_store_open_read(sl_store_t *st, sl_store_job_t *job, const char *name, sl_store_job_cb cb);
/* Remove `name`: SL_ENOTFOUND when missing. */
int sl_store_delete(sl_store_t *st, sl_store_job_t *job, const char *name, sl_store_job_cb cb);
/* List every finished file as JSON {"files":[{name,size,mtime}],"truncated":bool}; at most
 * `limit` entries. */
int sl_store_list(sl_store_t *st, sl_store_job_t *job, uint64_t limit, sl_store_job_cb cb);

/* --- staging: files that appear together or not at all (stage.c) --------------------------- */

/* A new private directory name under .sluice/stage/ into out[64] (no I/O: sinks create it when
 * they commit into "<stage>/<file>"). */
void sl_store_stage_name(sl_store_t *st, char out[64]);
/* Rename the directory `stage` to the public `name` (must not exist: SL_EEXISTS), atomically,
 * then record metas[i] for name/meta_names[i] (arrays borrowed until cb). */
int sl_store_stage_commit(sl_store_t *st, sl_store_job_t *job, const char *stage, const char *name,
                          const sl_meta_t *metas, const char *const *meta_names, size_t nmeta,
                          sl_store_job_cb cb);
/* Remove the directory `stage` and everything in it. */
int sl_store_stage_remove(sl_store_t *st, sl_store_job_t *job, const char *stage,
                          sl_store_job_cb cb);
/* Remove dir (relative to dfd) recursively; thread-pool side. */
int sl__remove_tree(int dfd, const char *dir);

/* "<pid>-<boot id>": the prefix of every work file this process creates (temp files, staging
 * directories, metadata records in writing). The boot id is random per process, so a file left by
 * an earlier process that had the same pid (pid 1 in a container) is told apart and swept. */
const char *sl_store_owner(void);

/* Thread-pool side (store.c). The parent directory of `name`, reached from root_fd one component
 * at a time with O_NOFOLLOW (a symlinked directory inside the root is never followed, so nothing
 * outside the root is read, replaced or removed), making missing directories when `create` (then
 * *created is set if one was made). Returns the directory's fd (root_fd itself for a name without
 * '/': release it with sl__parent_close) or a negative code (UV_ELOOP: a symlink on the way);
 * *leaf points at the last segment of name. */
int sl__parent_open(int root_fd, const char *name, int create, const char **leaf, int *created);
void sl__parent_close(int root_fd, int dfd);
/* fsync the directory `dir` relative to root_fd ("" = the root). */
int sl__fsync_dir(int root_fd, const char *dir);
/* Make `to`'s parent directories, rename `from` to `to` (renameat2 flags: RENAME_NOREPLACE gives
 * SL_EEXISTS for a name taken), and with `durable` fsync the parent and every directory created.
 * *renamed is 1 once the rename happened, whatever the fsyncs then return. */
int sl__publish(int root_fd, const char *from, const char *to, unsigned flags, int durable,
                int *renamed);

/* Format a strong validator for (size, mtime) into out[48]: "\"<mtime hex>-<size hex>\"". */
void sl_store_etag(uint64_t size, int64_t mtime_ns, char out[48]);
/* The strong validator of a file whose SHA-256 is known (the 201's and GET's ETag): into out[72].
 */
void sl_store_etag_digest(const char *sha256_hex, char out[72]);

#endif
