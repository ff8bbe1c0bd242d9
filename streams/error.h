/* SPDX-License-Identifier: MIT
 *
 * sluice error codes. Every function returns 0 or a negative code. System errors are libuv's
 * codes (UV_ENOSPC, UV_EIO: -errno on Linux); sluice's own codes live in a reserved range below
 * -5000 and come from the one map below, which also generates sl_strerror and sl_err_name.
 * Turning a code into an HTTP status happens in exactly one place: server/http/respond.c.
 */
#ifndef SL_STREAMS_ERROR_H
#define SL_STREAMS_ERROR_H

#define SL_ERRNO_MAP(XX)                                                                           \
    XX(TOOLARGE, -5001, "body exceeds the size limit")                                             \
    XX(DESTROYED, -5002, "stream destroyed")                                                       \
    XX(WRITEAFTEREND, -5003, "write after end")                                                    \
    XX(PREMATURE, -5004, "premature close")                                                        \
    XX(PUSHAFTEREOF, -5005, "push after end of stream")                                            \
    XX(BADNAME, -5006, "invalid file name")                                                        \
    XX(CHECKSUM, -5007, "checksum mismatch")                                                       \
    XX(MULTIPLECB, -5008, "completion callback called twice")                                      \
    XX(IDLE, -5009, "upload idle for too long")                                                    \
    XX(SHUTDOWN, -5010, "server is shutting down")                                                 \
    XX(BADREQUEST, -5011, "malformed request")                                                     \
    XX(NOTFOUND, -5012, "no such file")                                                            \
    XX(EXISTS, -5013, "file exists")                                                               \
    XX(RANGE, -5014, "range not satisfiable")                                                      \
    XX(METHOD, -5015, "method not allowed")                                                        \
    XX(LENGTHREQUIRED, -5016, "length required")                                                   \
    XX(UNSUPPORTED, -5017, "unsupported media type or encoding")                                   \
    XX(NOTIMPL, -5018, "not implemented")                                                          \
    XX(TOOLONG, -5019, "URI too long")                                                             \
    XX(DECODE, -5020, "malformed encoded body")                                                    \
    XX(BOMB, -5021, "decoded body expands too much")                                               \
    XX(OFFSET, -5022, "Upload-Offset does not match the upload")                                   \
    XX(VERSION, -5023, "unsupported or missing Tus-Resumable version")                             \
    XX(FORBIDDEN, -5024, "this upload cannot be modified")                                         \
    XX(UPLOADCHECKSUM, -5025, "Upload-Checksum does not match")                                    \
    XX(LOCKED, -5026, "another process is writing this upload")                                    \
    XX(PRECONDITION, -5027, "precondition failed")                                                 \
    XX(NOSPACE, -5028, "not enough free space")                                                    \
    XX(BUSY, -5029, "server busy, try again later")                                                \
    XX(UNAVAILABLE, -5030, "the store cannot be reached")

typedef enum {
#define XX(name, val, msg) SL_E##name = (val),
    SL_ERRNO_MAP(XX)
#undef XX
} sl_errno_t;

/* Returns a static message for any code (sluice's own or libuv's). */
const char *sl_strerror(int err);
/* Returns a static short name ("SL_ETOOLARGE", "ENOSPC") for any code. */
const char *sl_err_name(int err);

#endif
