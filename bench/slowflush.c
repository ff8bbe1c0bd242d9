/* SPDX-License-Identifier: MIT
 *
 * bench/slowflush.c: an LD_PRELOAD shim that makes every flush of the process cost
 * SLOWFLUSH_MS milliseconds (default 5), one at a time, as a disk whose write cache flush takes
 * that long would: fsync, fdatasync and syncfs take a process-wide lock, sleep, then flush for
 * real. Used by bench/groupcommit.sh to show what group commit buys on such a disk (this
 * machine's disk flushes in ~0.3 ms, which hides it).
 *
 *   cc -shared -fPIC -O2 -o build-bench/slowflush.so bench/slowflush.c -ldl -lpthread
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t device = PTHREAD_MUTEX_INITIALIZER;

static void flush_delay(void)
{
    const char *v = getenv("SLOWFLUSH_MS");
    char *end;
    long ms = v != NULL ? strtol(v, &end, 10) : 5;

    if (v != NULL && (end == v || *end != '\0' || ms < 0 || ms > 60000))
        ms = 5; /* not a number of milliseconds: the default */
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

#define SLOW(name)                                                                                 \
    int name(int fd)                                                                               \
    {                                                                                              \
        static int (*real)(int);                                                                   \
        int r;                                                                                     \
        if (real == NULL)                                                                          \
            real = (int (*)(int))dlsym(RTLD_NEXT, #name);                                          \
        pthread_mutex_lock(&device);                                                               \
        flush_delay();                                                                             \
        r = real(fd);                                                                              \
        pthread_mutex_unlock(&device);                                                             \
        return r;                                                                                  \
    }

SLOW(fsync)
SLOW(fdatasync)
SLOW(syncfs)
