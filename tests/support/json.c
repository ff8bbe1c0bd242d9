/* SPDX-License-Identifier: MIT
 * A small strict JSON reader for tests (json.h). */
#include "json.h"

#include <stdio.h>
#include <string.h>

static const char *ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

static int hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A string at p (its opening quote); its text into out[cap] when out is given. The end, or NULL. */
static const char *string(const char *p, char *out, size_t cap)
{
    size_t o = 0;

    if (*p++ != '"')
        return NULL;
    for (; *p != '"'; p++) {
        char ch = *p;
        if ((unsigned char)ch < 0x20)
            return NULL; /* control characters (and the end of the text) must be escaped */
        if (ch == '\\') {
            p++;
            switch (*p) {
            case '"':
            case '\\':
            case '/':
                ch = *p;
                break;
            case 'b':
                ch = '\b';
                break;
            case 'f':
                ch = '\f';
                break;
            case 'n':
                ch = '\n';
                break;
            case 'r':
                ch = '\r';
                break;
            case 't':
                ch = '\t';
                break;
            case 'u':
                if (!hex(p[1]) || !hex(p[2]) || !hex(p[3]) || !hex(p[4]))
                    return NULL;
                ch = '?';
                p += 4;
                break;
            default:
                return NULL;
            }
        }
        if (out != NULL && o + 1 < cap)
            out[o++] = ch;
    }
    if (out != NULL && cap > 0)
        out[o] = '\0';
    return p + 1;
}

static const char *number(const char *p)
{
    const char *s;

    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            p++;
    else
        return NULL;
    if (*p == '.') {
        s = ++p;
        while (*p >= '0' && *p <= '9')
            p++;
        if (p == s)
            return NULL;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        s = p;
        while (*p >= '0' && *p <= '9')
            p++;
        if (p == s)
            return NULL;
    }
    return p;
}

static const char *value(const char *p, int depth);

static const char *members(const char *p, int depth, char close, int object)
{
    p = ws(p + 1);
    if (*p == close)
        return p + 1;
    for (;;) {
        if (object) {
            if ((p = string(p, NULL, 0)) == NULL)
                return NULL;
            p = ws(p);
            if (*p++ != ':')
                return NULL;
        }
        if ((p = value(ws(p), depth + 1)) == NULL)
            return NULL;
        p = ws(p);
        if (*p == close)
            return p + 1;
        if (*p++ != ',')
            return NULL;
        p = ws(p);
    }
}

static const char *value(const char *p, int depth)
{
    if (depth > 64)
        return NULL;
    switch (*p) {
    case '{':
        return members(p, depth, '}', 1);
    case '[':
        return members(p, depth, ']', 0);
    case '"':
        return string(p, NULL, 0);
    case 't':
        return strncmp(p, "true", 4) == 0 ? p + 4 : NULL;
    case 'f':
        return strncmp(p, "false", 5) == 0 ? p + 5 : NULL;
    case 'n':
        return strncmp(p, "null", 4) == 0 ? p + 4 : NULL;
    default:
        return number(p);
    }
}

int json_valid(const char *s)
{
    const char *p = value(ws(s), 0);

    return p != NULL && *ws(p) == '\0';
}

/* Walk the members of the top-level object: f(key, value start, value end, arg) for each. */
static int walk(const char *s, int (*f)(const char *k, const char *v, const char *e, void *arg),
                void *arg)
{
    const char *p = ws(s);
    char key[256];
    int n = 0;

    if (!json_valid(s) || *p != '{')
        return -1;
    p = ws(p + 1);
    while (*p == '"') {
        const char *v, *e;
        p = ws(string(p, key, sizeof(key)));
        v = ws(p + 1); /* past the ':' */
        e = value(v, 1);
        n++;
        if (f != NULL && f(key, v, e, arg))
            return n;
        p = ws(e);
        if (*p == ',')
            p = ws(p + 1);
    }
    return n;
}

struct get_s {
    const char *key;
    char *out;
    size_t cap;
    int found;
};

static int get_cb(const char *k, const char *v, const char *e, void *arg)
{
    struct get_s *g = arg;

    if (strcmp(k, g->key) != 0)
        return 0;
    g->found = 1;
    if (*v == '"')
        string(v, g->out, g->cap);
    else
        snprintf(g->out, g->cap, "%.*s", (int)(e - v), v);
    return 1;
}

int json_get(const char *s, const char *key, char *out, size_t cap)
{
    struct get_s g = {key, out, cap, 0};

    if (cap > 0)
        out[0] = '\0';
    walk(s, get_cb, &g);
    return g.found;
}

int json_members(const char *s)
{
    return walk(s, NULL, NULL);
}
