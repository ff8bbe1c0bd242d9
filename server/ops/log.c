/* SPDX-License-Identifier: MIT
 *
 * Logs: one JSON line per request (the access log), and the diagnostic log.
 *
 * The access log (--access-log FILE, or "-" for stderr; off by default) gets its line when
 * libmicrohttpd completes the request, so a line exists for every request, including those whose
 * client went away ("aborted": true). Each line is one write(2) on a descriptor opened with
 * O_APPEND: lines from several workers never interleave. SIGUSR1 (sl_server_reopen_logs) reopens
 * the file for logrotate. The diagnostic log goes to stderr at --log-level (error, warn, info,
 * debug; --verbose is debug, which also passes libmicrohttpd's own messages).
 */
#include "http/http.h"
#include "api/hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *level_names[] = {"error", "warn", "info", "debug"};

int sl__log_open(sl_server_t *srv)
{
    const char *path = srv->cfg.access_log;
    int fd;

    if (path[0] == '\0')
        return 0;
    if (strcmp(path, "-") == 0)
        fd = dup(STDERR_FILENO);
    else
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    if (srv->access_fd >= 0)
        close(srv->access_fd);
    srv->access_fd = fd;
    return 0;
}

void sl__log_close(sl_server_t *srv)
{
    if (srv->access_fd >= 0)
        close(srv->access_fd);
    srv->access_fd = -1;
}

int sl_server_reopen_logs(sl_server_t *srv)
{
    int r = sl__log_open(srv);

    if (r < 0)
        sl__log(srv, SL_LOG_ERROR, "cannot reopen the access log %s: %s", srv->cfg.access_log,
                sl_strerror(r));
    return r;
}

void sl__log(sl_server_t *srv, int level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    int n;

    if (level > srv->cfg.log_level)
        return;
    n = snprintf(line, sizeof(line), "sluice[%d]: %s: ", srv->worker, level_names[level]);
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, (size_t)n) < 0) {
        /* nowhere left to say it */
    }
}

void sl__access_log(sl_req_t *r, int aborted)
{
    sl_server_t *srv = r->srv;
    char line[4 * SL_NAME_MAX + 1024], path[3 * SL_NAME_MAX], name[3 * SL_NAME_MAX], ts[40];
    char remote[64];
    sl_event_t ev;
    struct timespec now;
    struct tm tm;
    int n;

    if (srv->access_fd < 0)
        return;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    n = (int)strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - (size_t)n, ".%03ldZ", now.tv_nsec / 1000000);
    sl__event_init(r, &ev, remote); /* the peer address, while the connection is known */
    sl__json_escape(r->url != NULL ? r->url : "", path, sizeof(path));
    sl__json_escape(r->name, name, sizeof(name));
    n = snprintf(line, sizeof(line),
                 "{\"time\":\"%s\",\"worker\":%d,\"remote\":\"%s\",\"method\":\"%s\","
                 "\"path\":\"%s\",\"status\":%u,\"bytes_in\":%llu,\"bytes_out\":%llu,"
                 "\"duration_ms\":%.3f,\"name\":\"%s\",\"error\":%s%s%s,\"aborted\":%s}\n",
                 ts, srv->worker, remote, sl__method_name(r->method), path, r->sent_status,
                 (unsigned long long)r->received, (unsigned long long)r->bytes_out,
                 (double)(uv_hrtime() - r->t0) / 1e6, name, r->err_name ? "\"" : "",
                 r->err_name ? r->err_name : "null", r->err_name ? "\"" : "",
                 aborted ? "true" : "false");
    if (n > (int)sizeof(line) - 1)
        n = (int)sizeof(line) - 1;
    if (write(srv->access_fd, line, (size_t)n) < 0)
        sl__log(srv, SL_LOG_WARN, "access log: %s", strerror(errno));
}
