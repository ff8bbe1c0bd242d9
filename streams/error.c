/* SPDX-License-Identifier: MIT
 * sl_strerror / sl_err_name: sluice's own codes from SL_ERRNO_MAP, anything else from libuv. */
#include "error.h"

#include <uv.h>

const char *sl_strerror(int err)
{
    switch (err) {
#define XX(name, val, msg)                                                                         \
    case SL_E##name:                                                                               \
        return msg;
        SL_ERRNO_MAP(XX)
#undef XX
    default:
        return uv_strerror(err);
    }
}

const char *sl_err_name(int err)
{
    switch (err) {
#define XX(name, val, msg)                                                                         \
    case SL_E##name:                                                                               \
        return "SL_E" #name;
        SL_ERRNO_MAP(XX)
#undef XX
    default:
        return uv_err_name(err);
    }
}
