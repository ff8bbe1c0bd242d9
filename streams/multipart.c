/* SPDX-License-Identifier: MIT
 *
 * multipart: a streaming multipart/form-data parser (see multipart.h). It replaces
 * MHD_PostProcessor, which copies all input into its own buffer, has no backpressure and reads
 * `boundary=x; charset=y` as the boundary "x; charset=y" (research notes: mhd-libuv.md §6).
 *
 * The body is a sequence of states:
 *   ST_PREAMBLE  bytes up to the first delimiter are dropped;
 *   ST_AFTER     after a delimiter, "--" ends the body (on_end); padding and CRLF open a part;
 *   ST_HEADERS   part headers, a byte at a time, into mp->part up to a blank line (on_part_begin);
 *   ST_BODY      bytes up to the next delimiter go to on_part_data, then on_part_end;
 *   ST_EPILOGUE  after the final boundary: ignored.
 *
 * The delimiter is CRLF "--" boundary (RFC 2046). The first one may open the body without its
 * CRLF, so init starts the preamble as if two delimiter bytes had matched. The search is memchr
 * for CR, then memcmp: a CR starts a delimiter or is data. A match cut short by the end of the
 * input is held back as a count, `matched`: held bytes are always delim[0..matched), so nothing
 * is copied. CR occurs in the delimiter only at its first byte (boundary characters exclude it),
 * so when the next input breaks a partial match, no suffix of the held bytes can start another
 * one: they are released as data and the search restarts at the breaking byte.
 *
 * Every callback runs after the state has moved past the bytes that caused it, so when it asks
 * for a pause, execute returns the count consumed so far and the next call resumes exactly there.
 * Errors are sticky in mp->error.
 */
#include "multipart.h"

#include <string.h>
#include <strings.h>

#include "error.h"

enum { ST_PREAMBLE, ST_BODY, ST_AFTER, ST_HEADERS, ST_EPILOGUE };
enum { AD_START, AD_DASH, AD_PAD, AD_CR };                     /* ST_AFTER steps */
enum { HS_LINE, HS_NAME, HS_VALUE, HS_VALUE_CR, HS_END_CR };   /* ST_HEADERS steps */
enum { H_OTHER, H_DISPOSITION, H_TYPE };                       /* the header being read */
enum { T_IGNORE, T_NAME, T_FILENAME, T_EXT };                  /* where a parameter value goes */
enum { EXT_CHARSET, EXT_LANG, EXT_VALUE, EXT_PCT1, EXT_PCT2 }; /* filename* (RFC 8187) */
/* Content-Disposition value: the type, then parameters (name, "=", token or quoted string) */
enum { CD_TYPE_PRE, CD_TYPE, CD_TYPE_POST, CD_PNAME_PRE, CD_PNAME, CD_PNAME_POST, CD_VAL_PRE };
enum { CD_TVAL = CD_VAL_PRE + 1, CD_QVAL, CD_QESC, CD_VAL_POST };

#define F_CD (1u << 0)       /* a Content-Disposition header */
#define F_CT (1u << 1)       /* a Content-Type header */
#define F_FORMDATA (1u << 2) /* ... of type form-data */
#define F_NAME (1u << 3)     /* a name parameter */
#define F_FN (1u << 4)       /* a filename parameter */
#define F_FNX (1u << 5)      /* a filename* parameter */
#define F_EXT (1u << 6)      /* filename* decoded into part.filename: it wins over filename */

#define IS_OWS(c) ((c) == ' ' || (c) == '\t')
#define LOWER(c) ((c) >= 'A' && (c) <= 'Z' ? (c) + ('a' - 'A') : (c))
#define IS_ALNUM(c) (((c) >= '0' && (c) <= '9') || ((LOWER(c)) >= 'a' && (LOWER(c)) <= 'z'))

/* RFC 7230 tchar. */
static int is_tchar(int c)
{
    return IS_ALNUM(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* RFC 2046 bchars. */
static int is_bchar(int c)
{
    return IS_ALNUM(c) || (c != '\0' && strchr("'()+_,-./:=? ", c) != NULL);
}

static int hex(int c)
{
    static const char digits[] = "0123456789abcdef";
    const char *d = c != '\0' ? strchr(digits, LOWER(c)) : NULL;

    return d != NULL ? (int)(d - digits) : -1;
}

static int valid_boundary(const char *b, size_t n)
{
    size_t i;

    if (n == 0 || n > SL_MP_BOUNDARY_MAX || b[n - 1] == ' ')
        return 0;
    for (i = 0; i < n; i++)
        if (!is_bchar((unsigned char)b[i]))
            return 0;
    return 1;
}

int sl_multipart_boundary(const char *content_type, char *out, size_t cap)
{
    static const char type[] = "multipart/form-data";
    char val[SL_MP_BOUNDARY_MAX + 1];
    const char *p, *q;
    size_t n = 0;
    int found = 0, is_boundary;

    if (cap > 0)
        out[0] = '\0';
    if (content_type == NULL)
        return SL_EBADREQUEST;
    p = content_type + strspn(content_type, " \t");
    if (strncasecmp(p, type, sizeof(type) - 1) != 0)
        return SL_EBADREQUEST;
    p += sizeof(type) - 1;
    for (;;) {
        p += strspn(p, " \t");
        if (*p == '\0')
            break;
        if (*p++ != ';')
            return SL_EBADREQUEST; /* also "multipart/form-dataX" */
        p += strspn(p, " \t");
        if (*p == ';' || *p == '\0')
            continue; /* an empty parameter, as in a trailing ';' */
        for (q = p; is_tchar((unsigned char)*p); p++)
            ;
        is_boundary = p - q == 8 && strncasecmp(q, "boundary", 8) == 0;
        p += strspn(p, " \t");
        if (p == q || *p++ != '=')
            return SL_EBADREQUEST;
        p += strspn(p, " \t");
        if (is_boundary && found)
            return SL_EBADREQUEST; /* two boundaries: which one a proxy used is anyone's guess */
        found |= is_boundary;      /* so n counts this one parameter's value */
        if (*p == '"') {
            for (p++; *p != '"'; p++) {
                if (*p == '\\')
                    p++;
                if (*p == '\0')
                    return SL_EBADREQUEST;
                if (is_boundary && n++ < SL_MP_BOUNDARY_MAX)
                    val[n - 1] = *p;
            }
            p++;
        } else {
            for (q = p; is_tchar((unsigned char)*p) || (is_bchar((unsigned char)*p) && *p != ' ');
                 p++)
                if (is_boundary && n++ < SL_MP_BOUNDARY_MAX)
                    val[n - 1] = *p;
            if (p == q)
                return SL_EBADREQUEST;
        }
    }
    if (!found || !valid_boundary(val, n) || n + 1 > cap)
        return SL_EBADREQUEST;
    memcpy(out, val, n);
    out[n] = '\0';
    return 0;
}

void sl_multipart_init(sl_multipart_t *mp, const char *boundary, const sl_mp_limits_t *limits,
                       const sl_mp_callbacks_t *cbs, void *arg)
{
    size_t n = boundary != NULL ? strnlen(boundary, SL_MP_BOUNDARY_MAX + 1) : 0;

    memset(mp, 0, sizeof(*mp));
    if (cbs != NULL)
        mp->cbs = *cbs;
    mp->arg = arg;
    if (limits != NULL)
        mp->limits = *limits;
    if (mp->limits.max_header_bytes == 0)
        mp->limits.max_header_bytes = SL_MP_DEFAULT_MAX_HEADER_BYTES;
    if (mp->limits.max_parts == 0)
        mp->limits.max_parts = SL_MP_DEFAULT_MAX_PARTS;
    mp->state = ST_PREAMBLE;
    if (n == 0 || !valid_boundary(boundary, n)) {
        mp->error = SL_EBADREQUEST;
        return;
    }
    memcpy(mp->delim, "\r\n--", 4);
    memcpy(mp->delim + 4, boundary, n);
    mp->dlen = n + 4;
    mp->matched = 2; /* the first delimiter may open the body without its CRLF */
}

/* Move a state machine to `next`; returns 0, for `return to(&mp->sub, X);`. */
static int to(int *state, int next)
{
    *state = next;
    return 0;
}

/* Set `flag` once: a header or parameter given twice is ambiguous, so it is refused. */
static int once(sl_multipart_t *mp, unsigned flag)
{
    if (mp->flags & flag)
        return SL_EBADREQUEST;
    mp->flags |= flag;
    return 0;
}

/* A callback's return value as the parser's: 0 to go on, SL_MP_PAUSE, or a negative code. */
static int verdict(int rc)
{
    return rc < 0 ? rc : rc == SL_MP_PAUSE ? SL_MP_PAUSE : 0;
}

/* Body bytes go to on_part_data; preamble bytes go nowhere. */
static int emit(sl_multipart_t *mp, const char *data, size_t len)
{
    if (mp->state != ST_BODY || len == 0 || mp->cbs.on_part_data == NULL)
        return 0;
    return verdict(mp->cbs.on_part_data(mp->arg, data, len));
}

static int delimiter_seen(sl_multipart_t *mp)
{
    int in_body = mp->state == ST_BODY;

    mp->state = ST_AFTER;
    mp->sub = AD_START;
    return in_body && mp->cbs.on_part_end != NULL ? verdict(mp->cbs.on_part_end(mp->arg)) : 0;
}

/* ST_PREAMBLE and ST_BODY: consume data[*pos..len) up to and including the next delimiter. */
static int scan(sl_multipart_t *mp, const char *data, size_t len, size_t *pos)
{
    size_t p = *pos, run, k, held;
    const char *cr;
    int rc;

    if (mp->matched > 0) {
        while (p < len && mp->matched < mp->dlen && data[p] == mp->delim[mp->matched]) {
            p++;
            mp->matched++;
        }
        *pos = p;
        if (mp->matched == mp->dlen) {
            mp->matched = 0;
            return delimiter_seen(mp);
        }
        if (p == len)
            return 0; /* still a possible delimiter: keep holding */
        held = mp->matched;
        mp->matched = 0;
        rc = emit(mp, mp->delim, held);
        if (rc != 0)
            return rc;
    }
    for (run = p; p < len; p++) {
        cr = memchr(data + p, '\r', len - p);
        if (cr == NULL)
            break;
        p = (size_t)(cr - data);
        k = len - p < mp->dlen ? len - p : mp->dlen;
        if (memcmp(data + p, mp->delim, k) != 0)
            continue;
        /* A delimiter, or its prefix up to the end of the input: the bytes before it are data.
         * If on_part_data pauses, the next call starts at the CR and finds this match again. */
        *pos = p;
        rc = emit(mp, data + run, p - run);
        if (rc != 0)
            return rc;
        *pos = p + k;
        if (k < mp->dlen) {
            mp->matched = k;
            return 0;
        }
        return delimiter_seen(mp);
    }
    *pos = len;
    return emit(mp, data + run, len - run);
}

static int begin_part(sl_multipart_t *mp)
{
    if (mp->parts >= mp->limits.max_parts)
        return SL_ETOOLARGE;
    mp->parts++;
    memset(&mp->part, 0, sizeof(mp->part));
    mp->state = ST_HEADERS;
    mp->sub = HS_LINE;
    mp->hbytes = 0;
    mp->flags = 0;
    mp->name_len = mp->filename_len = mp->ct_len = mp->ct_trim = 0;
    return 0;
}

/* ST_AFTER: what follows a delimiter, one byte. */
static int after_delimiter(sl_multipart_t *mp, int c)
{
    if (mp->sub == AD_START && c == '-')
        return to(&mp->sub, AD_DASH);
    if (mp->sub == AD_DASH) {
        if (c != '-')
            return SL_EBADREQUEST;
        mp->state = ST_EPILOGUE;
        return mp->cbs.on_end != NULL ? verdict(mp->cbs.on_end(mp->arg)) : 0;
    }
    if (mp->sub == AD_CR)
        return c == '\n' ? begin_part(mp) : SL_EBADREQUEST;
    if (IS_OWS(c))
        return to(&mp->sub, AD_PAD); /* transport padding */
    if (c != '\r')
        return SL_EBADREQUEST; /* a bare LF, or a line that only starts like the delimiter */
    return to(&mp->sub, AD_CR);
}

/* A lower-cased header name, parameter name or charset; a long one is counted but not kept,
 * so it matches nothing. */
static int put_tok(sl_multipart_t *mp, int c)
{
    if (mp->tok_len < sizeof(mp->tok) - 1)
        mp->tok[mp->tok_len] = (char)LOWER(c);
    mp->tok_len++;
    return 0;
}

static int tok_is(const sl_multipart_t *mp, const char *s)
{
    size_t n = strlen(s);

    return mp->tok_len == n && memcmp(mp->tok, s, n) == 0;
}

static int put(char *buf, size_t cap, size_t *len, int c)
{
    if (*len + 1 >= cap)
        return SL_ETOOLARGE;
    buf[(*len)++] = (char)c;
    return 0;
}

/* Decoded filename* bytes; ISO-8859-1 becomes UTF-8. */
static int ext_put(sl_multipart_t *mp, int c)
{
    char *fn = mp->part.filename;
    int latin1 = mp->ext_latin1 && c >= 0x80;

    if (latin1 && put(fn, sizeof(mp->part.filename), &mp->filename_len, 0xc0 | c >> 6) != 0)
        return SL_ETOOLARGE;
    return put(fn, sizeof(mp->part.filename), &mp->filename_len, latin1 ? 0x80 | (c & 0x3f) : c);
}

/* filename*=charset'language'percent-encoded (RFC 8187), one byte. */
static int ext_byte(sl_multipart_t *mp, int c)
{
    switch (mp->ext_state) {
    case EXT_CHARSET:
        if (c != '\'')
            return put_tok(mp, c);
        if (!tok_is(mp, "utf-8") && !tok_is(mp, "iso-8859-1")) {
            mp->target = T_IGNORE; /* a charset we cannot decode: fall back to filename */
            return 0;
        }
        mp->ext_latin1 = tok_is(mp, "iso-8859-1");
        mp->filename_len = 0;
        return to(&mp->ext_state, EXT_LANG);
    case EXT_LANG:
        return c == '\'' ? to(&mp->ext_state, EXT_VALUE) : 0;
    case EXT_VALUE:
        return c == '%' ? to(&mp->ext_state, EXT_PCT1) : ext_put(mp, c);
    case EXT_PCT1:
        if (hex(c) < 0)
            return SL_EBADREQUEST;
        mp->ext_hi = (unsigned char)hex(c);
        return to(&mp->ext_state, EXT_PCT2);
    default:
        if (hex(c) < 0 || (mp->ext_hi == 0 && hex(c) == 0))
            return SL_EBADREQUEST; /* %00 would cut the C string */
        mp->ext_state = EXT_VALUE;
        return ext_put(mp, mp->ext_hi << 4 | hex(c));
    }
}

static int param_start(sl_multipart_t *mp)
{
    unsigned f = 0;

    if (tok_is(mp, "name"))
        f = F_NAME;
    else if (tok_is(mp, "filename"))
        f = F_FN;
    else if (tok_is(mp, "filename*"))
        f = F_FNX;
    if (once(mp, f) != 0)
        return SL_EBADREQUEST;
    mp->target = T_IGNORE;
    if (f == F_NAME)
        mp->target = T_NAME;
    if (f == F_FN && !(mp->flags & F_EXT)) {
        mp->target = T_FILENAME;
        mp->filename_len = 0;
    }
    if (f == F_FNX) {
        mp->target = T_EXT;
        mp->ext_state = EXT_CHARSET;
        mp->tok_len = 0;
    }
    return 0;
}

static int param_byte(sl_multipart_t *mp, int c)
{
    if (mp->target == T_NAME)
        return put(mp->part.name, sizeof(mp->part.name), &mp->name_len, c);
    if (mp->target == T_FILENAME)
        return put(mp->part.filename, sizeof(mp->part.filename), &mp->filename_len, c);
    return mp->target == T_EXT ? ext_byte(mp, c) : 0;
}

static int param_end(sl_multipart_t *mp)
{
    if (mp->target == T_EXT && mp->ext_state != EXT_VALUE)
        return SL_EBADREQUEST;
    if (mp->target == T_NAME)
        mp->part.name[mp->name_len] = '\0';
    if (mp->target == T_FILENAME || mp->target == T_EXT) {
        mp->part.filename[mp->filename_len] = '\0';
        mp->part.has_filename = 1;
    }
    if (mp->target == T_EXT)
        mp->flags |= F_EXT;
    mp->target = T_IGNORE;
    return 0;
}

/* Content-Disposition: type *( ";" name "=" ( token / quoted-string ) ), one byte. A state that
 * ends on a byte it does not take moves on and looks at the byte again. */
static int cd_byte(sl_multipart_t *mp, int c)
{
    int rc;

    switch (mp->cd_state) {
    case CD_TYPE_PRE:
    case CD_PNAME_PRE:
        if (IS_OWS(c) || (c == ';' && mp->cd_state == CD_PNAME_PRE))
            return 0;
        if (!is_tchar(c))
            return SL_EBADREQUEST;
        mp->cd_state = mp->cd_state == CD_TYPE_PRE ? CD_TYPE : CD_PNAME;
        mp->tok_len = 0;
        return put_tok(mp, c);
    case CD_TYPE:
    case CD_PNAME:
        if (is_tchar(c))
            return put_tok(mp, c);
        if (mp->cd_state == CD_TYPE && tok_is(mp, "form-data"))
            mp->flags |= F_FORMDATA;
        mp->cd_state = mp->cd_state == CD_TYPE ? CD_TYPE_POST : CD_PNAME_POST;
        return cd_byte(mp, c);
    case CD_PNAME_POST:
        if (IS_OWS(c))
            return 0;
        if (c != '=')
            return SL_EBADREQUEST;
        mp->cd_state = CD_VAL_PRE;
        return param_start(mp);
    case CD_VAL_PRE:
        if (IS_OWS(c))
            return 0;
        if (c == '"')
            return to(&mp->cd_state, CD_QVAL);
        if (!is_tchar(c) && c < 0x80)
            return SL_EBADREQUEST;
        mp->cd_state = CD_TVAL;
        return param_byte(mp, c);
    case CD_TVAL:
        if (is_tchar(c) || c >= 0x80) /* raw UTF-8 is common enough to accept */
            return param_byte(mp, c);
        mp->cd_state = CD_VAL_POST;
        rc = param_end(mp);
        return rc != 0 ? rc : cd_byte(mp, c);
    case CD_QVAL:
        if (c == '\\')
            return to(&mp->cd_state, CD_QESC);
        if (c != '"')
            return param_byte(mp, c);
        mp->cd_state = CD_VAL_POST;
        return param_end(mp);
    case CD_QESC:
        /* Browsers do not escape backslashes (a Windows path arrives as "C:\dir\f.txt"), so
         * only \" and \\ are escapes; any other backslash stays, for the path to be stripped. */
        mp->cd_state = CD_QVAL;
        rc = c == '"' || c == '\\' ? 0 : param_byte(mp, '\\');
        return rc != 0 ? rc : param_byte(mp, c);
    default: /* CD_TYPE_POST, CD_VAL_POST */
        if (IS_OWS(c))
            return 0;
        return c == ';' ? to(&mp->cd_state, CD_PNAME_PRE) : SL_EBADREQUEST;
    }
}

/* The end of a header line. */
static int end_value(sl_multipart_t *mp)
{
    if (mp->hkind == H_TYPE)
        mp->part.content_type[mp->ct_trim] = '\0';
    if (mp->hkind != H_DISPOSITION || mp->cd_state == CD_TYPE_POST ||
        mp->cd_state == CD_PNAME_PRE || mp->cd_state == CD_VAL_POST)
        return 0;
    if (mp->cd_state == CD_TYPE || mp->cd_state == CD_TVAL)
        return cd_byte(mp, ';'); /* a token ends as it would before a ';' */
    return SL_EBADREQUEST;       /* empty, a parameter without a value, an open quoted string */
}

static int start_value(sl_multipart_t *mp)
{
    mp->sub = HS_VALUE;
    mp->hkind = H_OTHER;
    if (tok_is(mp, "content-disposition")) {
        mp->hkind = H_DISPOSITION;
        mp->cd_state = CD_TYPE_PRE;
        return once(mp, F_CD);
    }
    if (tok_is(mp, "content-type")) {
        mp->hkind = H_TYPE;
        return once(mp, F_CT);
    }
    return 0;
}

static int end_headers(sl_multipart_t *mp)
{
    if (!(mp->flags & F_FORMDATA) || !(mp->flags & F_NAME))
        return SL_EBADREQUEST; /* RFC 7578 4.2: every part has form-data and a name */
    mp->state = ST_BODY;
    return mp->cbs.on_part_begin != NULL ? verdict(mp->cbs.on_part_begin(mp->arg, &mp->part)) : 0;
}

/* ST_HEADERS: one byte of a part's headers. */
static int header_byte(sl_multipart_t *mp, int c)
{
    if (++mp->hbytes > mp->limits.max_header_bytes)
        return SL_ETOOLARGE;
    switch (mp->sub) {
    case HS_LINE:
        if (c == '\r')
            return to(&mp->sub, HS_END_CR);
        if (!is_tchar(c))
            return SL_EBADREQUEST; /* a bare LF, a folded line, no name */
        mp->sub = HS_NAME;
        mp->tok_len = 0;
        return put_tok(mp, c);
    case HS_NAME:
        if (c == ':')
            return start_value(mp);
        if (!is_tchar(c))
            return SL_EBADREQUEST;
        return put_tok(mp, c);
    case HS_VALUE:
        if (c == '\r')
            return to(&mp->sub, HS_VALUE_CR);
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return SL_EBADREQUEST; /* control bytes, NUL and bare LF included */
        if (mp->hkind == H_DISPOSITION)
            return cd_byte(mp, c);
        if (mp->hkind != H_TYPE || (mp->ct_len == 0 && IS_OWS(c)))
            return 0;
        if (put(mp->part.content_type, sizeof(mp->part.content_type), &mp->ct_len, c) != 0)
            return SL_ETOOLARGE;
        if (!IS_OWS(c))
            mp->ct_trim = mp->ct_len;
        return 0;
    case HS_VALUE_CR:
        if (c != '\n')
            return SL_EBADREQUEST;
        mp->sub = HS_LINE;
        return end_value(mp);
    default: /* HS_END_CR */
        return c == '\n' ? end_headers(mp) : SL_EBADREQUEST;
    }
}

ssize_t sl_multipart_execute(sl_multipart_t *mp, const char *data, size_t len)
{
    size_t p = 0;
    int rc = 0;

    if (mp->error != 0)
        return mp->error;
    while (p < len && rc == 0) {
        switch (mp->state) {
        case ST_PREAMBLE:
        case ST_BODY:
            rc = scan(mp, data, len, &p);
            break;
        case ST_AFTER:
            rc = after_delimiter(mp, (unsigned char)data[p++]);
            break;
        case ST_HEADERS:
            rc = header_byte(mp, (unsigned char)data[p++]);
            break;
        default: /* ST_EPILOGUE */
            p = len;
            break;
        }
    }
    if (rc < 0) {
        mp->error = rc;
        return rc;
    }
    return (ssize_t)p;
}

int sl_multipart_finish(sl_multipart_t *mp)
{
    if (mp->error == 0 && mp->state != ST_EPILOGUE)
        mp->error = SL_EBADREQUEST; /* truncated: no final boundary */
    return mp->error;
}
