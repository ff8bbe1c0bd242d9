/* SPDX-License-Identifier: MIT
 *
 * In the tree, the error codes of sluice.h come from the one map in streams/error.h; installed,
 * that file itself is sluice_error.h (CMakeLists.txt), so a program sees the same codes
 * (SL_ETOOLARGE, …) and the same sl_strerror / sl_err_name.
 */
#include "../../streams/error.h"
