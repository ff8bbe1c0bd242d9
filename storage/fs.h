/* SPDX-License-Identifier: MIT
 *
 * The store: where finished files live and how a stream of bytes becomes one, atomically.
 *
 * Finished files are ROOT/<name>; work in progress lives under ROOT/.sluice/ on the same
 * filesystem. The only way a byte reaches a final name is sl_sink_file's commit: fdatasync, rename
 * over the final name, fsync of the directory. So a reader sees the old file or the new one, never
 * a part, and after a crash only temp files can be partial; sl_fs_open sweeps those whose
 * writer process is gone. Nothing outside storage/ builds a path: callers speak in names
 * (sl_name_*) and jobs. Every file operation runs on libuv's thread pool.
 */
#ifndef SL_STORAGE_FS_H
#define SL_STORAGE_FS_H

#include <stdint.h>
#include <sys/types.h>

#include "streams/stream.h"
#include "streams/xf.h"
#include "store.h"
#include "tus.h"

typedef struct sl_commit_s sl_commit_t;

typedef struct sl_fs_s {
    union { /* the store every store starts with, and its fields by name (one layout) */
        sl_store_t base;
        struct {
            const sl_store_ops_t *ops;
            uv_loop_t *loop;
            const char *where;
            int durable;     /* 1: fdatasync + directory fsync at commit (the default) */
            size_t swept;    /* temp files removed by the last sweep */
            int unreachable; /* always 0: a local filesystem */
            void (*on_flush)(void *arg, double seconds); /* each batch's flush time, durable */
            void *flush_arg;
        };
    };
    char *root;
    int root_fd;
    uint64_t seq; /* temp-file counter */
    /* group commit (commit.c) */
    sl_commit_t *commit_head, **commit_tail, *batch;
    uv_work_t commit_work;
    uint64_t batches; /* batches run: fewer than commits when they were grouped */
    double flush_s;   /* written by the batch job */
    /* free space (store.c): what the filesystem had at the last reading, and what was written
     * since; nothing is written into the last min_free bytes */
    uint64_t min_free, free_bytes, written, written_at_read;
    struct sl_statfs_op_s *statfs_op; /* a reading in flight */
    int low;                          /* near the reserve: every reservation reads again */
} sl_fs_t;

/* Open (creating) the store at `root` (borrowed, copied) on `loop`: creates ROOT and
 * ROOT/.sluice/tmp, sweeps dead temp files. Blocking; call at start-up only. */
int sl_fs_open(sl_fs_t *st, uv_loop_t *loop, const char *root, int durable);
void sl_fs_close(sl_fs_t *st);
/* Keep `min_free` bytes of the filesystem free (SL_MIN_FREE_AUTO: 1% of its size, at most
 * 1 GiB; 0: none). Blocking (one statvfs); at start-up. */
#define SL_MIN_FREE_AUTO UINT64_MAX
void sl_fs_set_min_free(sl_fs_t *st, uint64_t min_free);
/* Loop side: n more bytes are about to be written. 0, or UV_ENOSPC if that would eat into the
 * reserve (by the last reading of the free space, refreshed every 16 MiB written). */
int sl_fs_reserve(sl_fs_t *st, uint64_t n);
/* Loop side: space was given back (a temp file removed): read the free space again if low. */
void sl_fs_freed(sl_fs_t *st);
/* Pool side: 0 if the filesystem of fd has `need` bytes free above the reserve, else UV_ENOSPC. */
int sl__fs_has_space(const sl_fs_t *st, int fd, uint64_t need);

/* --- metadata (meta.c; called from the thread pool) ------------------------------------------ */

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
    int fd; /* given over, or -1 with `bufs`: the batch creates the temp file and writes them */
    const uv_buf_t *bufs; /* a whole small body held in memory (borrowed until cb) */
    size_t nbufs;
    char *tmp;                    /* the temp file's name (borrowed until cb; 64 bytes: a name
                                     taken by a leftover is replaced) */
    const char *name;             /* borrowed until cb */
    unsigned flags;               /* renameat2 flags (RENAME_NOREPLACE) */
    const sl_xf_digest_t *digest; /* NULL, or its digests become the metadata */
    uint64_t seq;
    /* out, valid in cb */
    int err, renamed, created; /* created: the batch made the temp file */
    uint64_t size;
    int64_t mtime_ns;
    void (*cb)(sl_commit_t *c);
    void *data;
};

/* Queue c (borrowed until c->cb runs on the loop thread) for the next batch. */
void sl__commit(sl_fs_t *st, sl_commit_t *c);
/* Thread-pool side (sink_file.c): create the temp file `tmp` (64 bytes; O_EXCL, another name if
 * a leftover holds it): its fd or a negative code; write every buffer at offset 0 (bufs is
 * modified): 0 or a negative code, *written the bytes written. */
int sl__fs_open_tmp(const sl_fs_t *st, char tmp[64], uint64_t seq);
int sl__fs_write_all(int fd, uv_buf_t *bufs, size_t n, uint64_t *written);
/* Thread pool: write chunks[0..n) (borrowed; the loop holds them) at `off` in order, memory
 * chunks with pwritev, piped ones spliced out of their pipe: 0 or a negative code, *written the
 * bytes written. */
int sl__fs_write_chunks(int fd, sl_chunk_t *const *chunks, size_t n, uint64_t off,
                        uint64_t *written);
/* Thread pool: feed x (borrowed) bytes [from, to) of fd (readable), read back from the page cache
 * through a small buffer of the thread. 0 or a negative errno. */
int sl__fs_hash_range(int fd, sl_xf_digest_t *x, uint64_t from, uint64_t to);

/* --- the file sink (sink_file.c) ------------------------------------------------------------ */

typedef struct sl_sink_file_s {
    union { /* the sink every store's sink starts with, and its fields by name (one layout) */
        sl_store_sink_t base;
        struct {
            sl_stream_t s;
            uint64_t size;    /* read-only, valid after finish */
            int64_t mtime_ns; /* read-only, valid after finish */
            uint64_t offset;  /* read-only: where the next write goes (append: bytes on file) */
            const sl_xf_digest_t *digest; /* borrowed: its digests go into the metadata */
            int piped;                    /* 1: piped chunks are spliced into the file */
            sl_xf_digest_t *hash;         /* borrowed: fed what was written (hash behind) */
        };
    };
    /* private */
    sl_fs_t *store;
    char *name;
    char tmp[64];
    int fd;
    unsigned flags;
    unsigned state;
    unsigned open_tries;
    uint64_t seq;
    uv_fs_t req;
    uv_work_t work;
    sl_commit_t commit;
    int work_err;
    uint64_t work_bytes;      /* the first write's job: bytes written */
    sl_chunk_t **wait_chunks; /* a write that waits for the open */
    size_t wait_n;
    sl_done_cb wait_done, op_done, destroy_done;
    uint64_t size_hint; /* the body's size when known (0: not): a first write that is all of it */
    sl_chunk_t **held;  /* is held (referenced) until the commit, which writes it: one job */
    size_t nheld;
    uv_buf_t *bufs; /* the first write's or the held body's buffers, for their job */
    /* the hash behind the writes: a job of its own reads back [hashed, hash_to) while the next
     * write goes on; the commit waits for it (commit_wait) */
    uv_work_t hash_work;
    uint64_t hashed, hash_to;
    int hashing, hash_err, commit_wait;
} sl_sink_file_t;

/* A writable that streams into a new temp file (O_EXCL) and, at end, commits it as `name`
 * (borrowed, copied). One pwritev in flight; queued chunks are coalesced (W5). Destroying it
 * before the commit removes the temp file. `f` is borrowed until its on_close. */
void sl_sink_file_init(sl_sink_file_t *f, sl_fs_t *st, const char *name, unsigned flags,
                       size_t hwm);
/* A writable that appends to the existing work file `path` (relative to the root; borrowed,
 * copied) from `offset`, cutting whatever lies past it first. Its final step flushes
 * (fdatasync in durable mode) and closes; nothing is renamed, and destroy leaves the file. */
void sl_sink_file_init_append(sl_sink_file_t *f, sl_fs_t *st, const char *path, uint64_t offset,
                              size_t hwm);
/* Record the digests of `d` (borrowed until the sink finishes; finished before the sink's final,
 * as an upstream stage of the same pipeline is) as the file's metadata at commit. */
void sl_sink_file_set_digest(sl_sink_file_t *f, const sl_xf_digest_t *d);

/* --- jobs: one file-system operation on the thread pool (jobs.c) ---------------------------- */

/* Each starts one job; `job` is borrowed until cb(job) runs on the loop thread. */
/* Stat `name` (NULL: none) and check that the filesystem has `need` bytes free (UV_ENOSPC). */
int sl_fs_preflight(sl_fs_t *st, sl_store_job_t *job, const char *name, uint64_t need,
                    sl_store_job_cb cb);
/* Open `name` for reading: fd, size, mtime; SL_ENOTFOUND for missing or not a regular file. */
int sl_fs_open_read(sl_fs_t *st, sl_store_job_t *job, const char *name, sl_store_job_cb cb);
/* Remove `name`: SL_ENOTFOUND when missing. */
int sl_fs_delete(sl_fs_t *st, sl_store_job_t *job, const char *name, sl_store_job_cb cb);
/* List every finished file as JSON {"files":[{name,size,mtime}],"truncated":bool}; at most
 * `limit` entries. */
int sl_fs_list(sl_fs_t *st, sl_store_job_t *job, uint64_t limit, sl_store_job_cb cb);

/* --- staging: files that appear together or not at all (stage.c) --------------------------- */

/* A new private directory name under .sluice/stage/ into out[64] (no I/O: sinks create it when
 * they commit into "<stage>/<file>"). */
void sl_fs_stage_name(sl_fs_t *st, char out[64]);
/* Rename the directory `stage` to the public `name` (must not exist: SL_EEXISTS), atomically,
 * then record metas[i] for name/meta_names[i] (arrays borrowed until cb). */
int sl_fs_stage_commit(sl_fs_t *st, sl_store_job_t *job, const char *stage, const char *name,
                       const sl_meta_t *metas, const char *const *meta_names, size_t nmeta,
                       sl_store_job_cb cb);
/* Remove the directory `stage` and everything in it. */
int sl_fs_stage_remove(sl_fs_t *st, sl_store_job_t *job, const char *stage, sl_store_job_cb cb);
/* Remove dir (relative to dfd) recursively; thread-pool side. */
int sl__remove_tree(int dfd, const char *dir);

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

/* --- resumable uploads on disk (tus.c; the record format is in tus.h) ---------------------- */

/* The writable a PATCH streams into: the data file of `id` from `offset` (sink_file.c, append
 * mode). */
void sl_fs_tus_sink_init(sl_sink_file_t *f, sl_fs_t *st, const char *id, uint64_t offset,
                         size_t hwm);

/* Each starts one job; `job` and `info` are borrowed until cb(job) runs on the loop thread. */
/* Create the data file and the record of info->id (new, random). */
int sl_fs_tus_create(sl_fs_t *st, sl_tus_job_t *job, sl_tus_info_t *info, sl_tus_job_cb cb);
/* Read the record of `id` into *info; its offset is cut to the data file's size. SL_ENOTFOUND
 * when there is none (never created, terminated or expired). */
int sl_fs_tus_load(sl_fs_t *st, sl_tus_job_t *job, const char *id, sl_tus_info_t *info,
                   sl_tus_job_cb cb);
/* Rewrite the record from *info; with `flush`, fdatasync the data file first (durable mode), so
 * the recorded offset covers only flushed bytes. */
int sl_fs_tus_save(sl_fs_t *st, sl_tus_job_t *job, sl_tus_info_t *info, int flush,
                   sl_tus_job_cb cb);
/* Commit a complete upload as `name` (borrowed, copied): flush, rename the data file to
 * ROOT/<name> without replacing anything (if taken: ROOT/<id>/<name>), directory fsyncs, then the
 * record with info->file set. */
int sl_fs_tus_commit(sl_fs_t *st, sl_tus_job_t *job, sl_tus_info_t *info, const char *name,
                     sl_tus_job_cb cb);
/* Assemble info->id from the complete partial uploads parts[0..n) (ids, borrowed until cb) with
 * copy_file_range, commit it as `name`, then remove the parts. job->size is the total.
 * SL_EBADREQUEST if a part is missing, not partial or not complete; SL_ETOOLARGE past `max`. */
int sl_fs_tus_concat(sl_fs_t *st, sl_tus_job_t *job, sl_tus_info_t *info, char (*parts)[33],
                     size_t n, uint64_t max, const char *name, sl_tus_job_cb cb);
/* Remove the upload's data file and record. With `expired_before` > 0, only if the record says
 * it expired before that time (else SL_EEXISTS): the expiry sweep's check, made under the lock. */
int sl_fs_tus_remove(sl_fs_t *st, sl_tus_job_t *job, sl_tus_info_t *info, int64_t expired_before,
                     sl_tus_job_cb cb);

/* The ids of uploads whose record expired before `now` into ids (cap entries), thread-pool side
 * (call from a work callback). Returns how many. */
size_t sl__fs_tus_expired(int root_fd, int64_t now, char (*ids)[33], size_t cap);

/* --- the store (fs_ops.c) -------------------------------------------------------------------- */

/* The filesystem store at `root` (borrowed, copied) on `loop`, as an sl_store_t (returned owned:
 * sl_store_close): sl_fs_open, then sl_fs_set_min_free(min_free). Blocking; at start-up only. */
int sl_fs_store_new(uv_loop_t *loop, const char *root, int durable, uint64_t min_free,
                    sl_store_t **out);
/* A private job field's store. */
#define SL_FS_OF(j) ((sl_fs_t *)(j)->store)

#endif
