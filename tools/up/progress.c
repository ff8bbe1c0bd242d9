/* SPDX-License-Identifier: MIT
 *
 * What sluice-up shows. On a terminal (stderr is a tty): one line per active file and a total
 * line, redrawn in place a few times a second (cursor up, clear line), each with bytes done of
 * the size, percent, rate and ETA, as people expect from curl, rsync or rclone; cleared before a
 * message is printed and at the end. Elsewhere nothing but errors. With --json, events on stdout,
 * one object a line, flushed at once, for scripts: start, resume, retry, done, error, summary
 * (their members in tools/README.md).
 */
#include "up.h"

#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

void su_fmt_bytes(double n, char *out, size_t cap)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int u = 0;

    while (n >= 1024 && u < 5) {
        n /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, cap, "%.0f B", n);
    else
        snprintf(out, cap, "%.*f %s", n < 10 ? 2 : n < 100 ? 1 : 0, n, units[u]);
}

void su_fmt_eta(double secs, char *out, size_t cap)
{
    unsigned long s;

    if (!(secs >= 0) || secs > 99 * 3600.0) {
        snprintf(out, cap, "--:--");
        return;
    }
    s = (unsigned long)(secs + 0.5);
    if (s >= 3600)
        snprintf(out, cap, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(out, cap, "%lu:%02lu", s / 60, s % 60);
}

void su_json_str(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    for (; *s && o + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 32 || c == 127) {
            out[o++] = '\\';
            out[o++] = 'u';
            out[o++] = '0';
            out[o++] = '0';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
}

void su_event(const su_opts_t *o, const char *ev, const char *fmt, ...)
{
    va_list ap;

    if (!o->json)
        return;
    printf("{\"event\":\"%s\"", ev);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputs("}\n", stdout);
    fflush(stdout);
}

void su_bar_line(const su_bar_t *b, unsigned width, char *out, size_t cap)
{
    char done[24], size[24], rate[24], eta[24], name[256];
    double pct = b->size ? 100.0 * (double)b->done / (double)b->size : 100.0;
    size_t nl, room;
    int n;

    su_fmt_bytes((double)b->done, done, sizeof(done));
    su_fmt_bytes((double)b->size, size, sizeof(size));
    if (b->rate > 0) {
        su_fmt_bytes(b->rate, rate, sizeof(rate) - 2);
        memcpy(rate + strlen(rate), "/s", 3);
        su_fmt_eta((double)(b->size - b->done) / b->rate, eta, sizeof(eta));
    } else {
        snprintf(rate, sizeof(rate), "-");
        su_fmt_eta(b->done == b->size ? 0 : -1, eta, sizeof(eta));
    }
    n = snprintf(out, cap, " %10s / %-10s %3.0f%% %12s  ETA %s", done, size, pct, rate, eta);
    if (n < 0 || (size_t)n >= cap)
        return;
    /* the name first, shortened from the left to what the width leaves */
    snprintf(name, sizeof(name), "%s", b->name != NULL ? b->name : "total");
    nl = strlen(name);
    room = width > (unsigned)n + 2 ? width - (unsigned)n - 1 : 8;
    if (room > sizeof(name) - 1)
        room = sizeof(name) - 1;
    if (nl > room && room > 3) {
        memmove(name + 3, name + nl - (room - 3), room - 3 + 1);
        memcpy(name, "...", 3);
        nl = room;
    }
    if (nl + (size_t)n + 2 > cap)
        return;
    memmove(out + room, out, (size_t)n + 1);
    memset(out, ' ', room);
    memcpy(out, name, nl < room ? nl : room);
}

static unsigned columns(FILE *tty)
{
    struct winsize ws;

    if (ioctl(fileno(tty), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
        return ws.ws_col;
    return 80;
}

void su_render_clear(FILE *tty, int *drawn)
{
    for (int i = 0; i < *drawn; i++)
        fputs("\033[1A\033[2K", tty);
    fputs("\r", tty);
    *drawn = 0;
    fflush(tty);
}

void su_render(FILE *tty, const su_bar_t *bars, int n, const su_bar_t *total, int *drawn)
{
    unsigned w = columns(tty) - 1;
    char line[1024];

    su_render_clear(tty, drawn);
    for (int i = 0; i < n; i++) {
        su_bar_line(&bars[i], w, line, sizeof(line));
        fprintf(tty, "%s\n", line);
    }
    su_bar_line(total, w, line, sizeof(line));
    fprintf(tty, "\033[1m%s\033[0m\n", line);
    *drawn = n + 1;
    fflush(tty);
}
