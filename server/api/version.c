/* SPDX-License-Identifier: MIT
 *
 * sl_version: the version of the libsluice a program runs with (the one it was built against is
 * SL_VERSION, from the generated sluice_version.h). One string, compiled into the library.
 */
#include "sluice.h"

const char *sl_version(void)
{
    return SL_VERSION;
}
