#include "base/json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void od_json_init(od_json_t *j, const char *s, size_t len)
{
    j->start = j->p = s;
    j->end = s + len;
    j->err_at = NULL;
    j->err[0] = '\0';
}

int od_json_fail(od_json_t *j, const char *msg)
{
    if (j->err_at == NULL) {
        j->err_at = j->p;
        snprintf(j->err, sizeof(j->err), "%s", msg);
    }
    return -1;
}

int od_json_at_end(od_json_t *j)
{
    od_json__ws(j);
    return j->p == j->end;
}

size_t od_json_remaining(const od_json_t *j)
{
    return (size_t)(j->end - j->p);
}

int od_json__expected(od_json_t *j, char c)
{
    char msg[48];
    if (j->p == j->end)
        snprintf(msg, sizeof(msg), "'%c' expected near end of input", c);
    else
        snprintf(msg, sizeof(msg), "'%c' expected", c);
    return od_json_fail(j, msg);
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* length of the valid UTF-8 sequence at p (lead byte >= 0x80), or 0 if invalid */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t n;
    unsigned min, cp;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, min = 0x80, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, min = 0x800, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, min = 0x10000, cp = c & 0x07;
    else
        return 0;
    if ((size_t)(end - p) < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return n;
}

/* the bytes a string's plain run copies as they are: printable ASCII but '"' and '\\' */
const unsigned char od_json__plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

int od_json_string(od_json_t *j, char *out, size_t *len)
{
    od_json__ws(j);
    if (j->p == j->end || *j->p != '"') return od_json_fail(j, "string expected");
    j->p++;
    size_t o = 0;
    const char *end = j->end;
    while (j->p < end) {
        /* the plain run, found as od_json_span finds it, copied as it is */
        const char *run = j->p;
        j->p = (const char *)od_json__plain_run((const unsigned char *)run, (const unsigned char *)end);
        memcpy(out + o, run, (size_t)(j->p - run));
        o += (size_t)(j->p - run);
        if (j->p == end) break;
        unsigned char c = (unsigned char)*j->p;
        if (c == '"') {
            j->p++;
            out[o] = '\0';
            *len = o;
            return 0;
        }
        if (c < 0x20) return od_json_fail(j, "control character in a string");
        if (c >= 0x80) {
            size_t n = utf8_len((const unsigned char *)j->p, (const unsigned char *)j->end);
            if (n == 0) return od_json_fail(j, "invalid UTF-8 in a string");
            memcpy(out + o, j->p, n);
            o += n;
            j->p += n;
            continue;
        }
        /* an escape */
        if (j->end - j->p < 2) break;
        char e = j->p[1];
        j->p += 2;
        switch (e) {
        case '"':
            out[o++] = '"';
            break;
        case '\\':
            out[o++] = '\\';
            break;
        case '/':
            out[o++] = '/';
            break;
        case 'b':
            out[o++] = '\b';
            break;
        case 'f':
            out[o++] = '\f';
            break;
        case 'n':
            out[o++] = '\n';
            break;
        case 'r':
            out[o++] = '\r';
            break;
        case 't':
            out[o++] = '\t';
            break;
        case 'u': {
            unsigned cp, lo;
            if (j->end - j->p < 4 || hex4(j->p, &cp) != 0) {
                j->p -= 2;
                return od_json_fail(j, "invalid \\u escape");
            }
            j->p += 4;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' || hex4(j->p + 2, &lo) != 0 ||
                    lo < 0xdc00 || lo > 0xdfff)
                    return od_json_fail(j, "invalid UTF-16 surrogate pair");
                j->p += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                return od_json_fail(j, "invalid UTF-16 surrogate pair");
            }
            if (cp == 0) return od_json_fail(j, "\\u0000 is not allowed in a string");
            o += put_utf8(out + o, cp);
            break;
        }
        default:
            j->p -= 2;
            return od_json_fail(j, "invalid escape");
        }
    }
    return od_json_fail(j, "unterminated string");
}

/* 10^0 .. 10^22: every one exact in a double */
static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                     1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

int od_json__span_slow(od_json_t *j, const char **s, size_t *len, char *scratch, size_t *used)
{
    od_json__ws(j);
    if (j->p == j->end || *j->p != '"') return od_json_fail(j, "string expected");
    const unsigned char *p = (const unsigned char *)j->p + 1, *end = (const unsigned char *)j->end;
    for (;;) {
        p = od_json__plain_run(p, end);
        if (p == end || *p != '"') {
            if (p < end && *p >= 0x80) {
                size_t n = utf8_len(p, end);
                if (n > 0) {
                    p += n;
                    continue;
                }
            }
            break; /* an escape, or an error: od_json_string decodes it or says what is wrong */
        }
        *s = j->p + 1;
        *len = (size_t)((const char *)p - *s);
        *used = 0;
        j->p = (const char *)p + 1;
        return 0;
    }
    if (od_json_string(j, scratch, len) != 0) return -1;
    *s = scratch;
    *used = *len + 1;
    return 0;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/*
 * One pass checks the syntax and gathers the digits.  The value is then computed without
 * strtod when that is exact: a mantissa of at most 2^53 and a power of ten of at most 22 are
 * both exact doubles, so one IEEE multiplication or division rounds the result correctly
 * (Clinger's fast path); integers of up to 18 digits are exact in int64.  Anything else goes
 * to strtod/strtoll.
 */
int od_json_number(od_json_t *j, double *val, int *is_int, int64_t *ival)
{
    od_json__ws(j);
    const char *s = j->p, *q = s, *end = j->end;
    int neg = q < end && *q == '-';
    q += neg;
    if (q == end || !is_digit(*q)) return od_json_fail(j, "invalid number");
    uint64_t m = 0; /* wraps past 19 digits, and is then not used */
    int digits = 0, frac = 0, integral = 1;
    if (*q == '0')
        q++, digits++;
    else
        for (; q < end && is_digit(*q); q++, digits++)
            m = m * 10 + (uint64_t)(*q - '0');
    if (q < end && *q == '.') {
        integral = 0;
        q++;
        if (q == end || !is_digit(*q)) return od_json_fail(j, "invalid number: digits expected after '.'");
        for (; q < end && is_digit(*q); q++, digits++, frac++)
            m = m * 10 + (uint64_t)(*q - '0');
    }
    int e = 0, eneg = 0;
    if (q < end && (*q == 'e' || *q == 'E')) {
        integral = 0;
        q++;
        if (q < end && (*q == '+' || *q == '-')) eneg = *q++ == '-';
        if (q == end || !is_digit(*q)) return od_json_fail(j, "invalid number: exponent expected");
        for (; q < end && is_digit(*q); q++)
            if (e <= 1000) e = e * 10 + (*q - '0'); /* past 1000 it only needs to stay large */
    }
    if (digits <= 18) {
        if (integral) {
            *ival = neg ? -(int64_t)m : (int64_t)m;
            *val = (double)*ival;
            *is_int = 1;
            j->p = q;
            return 0;
        }
        int exp10 = (eneg ? -e : e) - frac;
        if (m <= (UINT64_C(1) << 53) && exp10 <= 22 && exp10 >= -22) {
            double v = (double)m;
            v = exp10 >= 0 ? v * pow10_exact[exp10] : v / pow10_exact[-exp10];
            *val = neg ? -v : v;
            *is_int = 0;
            j->p = q;
            return 0;
        }
    }
    size_t n = (size_t)(q - s);
    char tmp[64], *buf = tmp;
    if (n >= sizeof(tmp)) {
        if (n > 4096) return od_json_fail(j, "number too long");
        buf = malloc(n + 1);
        if (buf == NULL) return od_json_fail(j, "out of memory");
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    int rc = 0;
    errno = 0;
    if (integral) {
        long long v = strtoll(buf, NULL, 10);
        if (errno == ERANGE)
            rc = od_json_fail(j, "too big integer");
        else
            *ival = v, *val = (double)v;
    } else {
        double v = strtod(buf, NULL);
        if (errno == ERANGE && !(v > -1 && v < 1)) /* overflow; underflow to 0 is fine */
            rc = od_json_fail(j, "real number overflow");
        else
            *val = v;
    }
    if (buf != tmp) free(buf);
    if (rc == 0) {
        *is_int = integral;
        j->p = q;
    }
    return rc;
}

int od_json_literal(od_json_t *j)
{
    od_json__ws(j);
    static const char *const lits[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(lits[i]);
        if ((size_t)(j->end - j->p) >= n && memcmp(j->p, lits[i], n) == 0) {
            j->p += n;
            return 0;
        }
    }
    return od_json_fail(j, "invalid token");
}

/* strings skipped without a caller's buffer: validated in chunks through a small one */
static int skip_string(od_json_t *j)
{
    od_json__ws(j);
    if (j->p == j->end || *j->p != '"') return od_json_fail(j, "string expected");
    /* decode into a scratch buffer sized by the string's encoded length */
    const char *q = j->p + 1;
    while (q < j->end && *q != '"')
        q += (*q == '\\' && q + 1 < j->end) ? 2 : 1;
    size_t need = (size_t)(q - j->p) + 8;
    char small[256], *buf = need <= sizeof(small) ? small : malloc(need);
    if (buf == NULL) return od_json_fail(j, "out of memory");
    size_t len;
    int rc = od_json_string(j, buf, &len);
    if (buf != small) free(buf);
    return rc;
}

static int skip_value(od_json_t *j, int depth)
{
    if (depth > OD_JSON_MAX_DEPTH) return od_json_fail(j, "nested too deeply");
    double d;
    int64_t i;
    int is_int;
    switch (od_json_peek(j)) {
    case OD_JSON_OBJECT:
        j->p++;
        if (od_json_accept(j, '}')) return 0;
        do {
            if (skip_string(j) != 0 || od_json_expect(j, ':') != 0 || skip_value(j, depth + 1) != 0)
                return -1;
        } while (od_json_accept(j, ','));
        return od_json_expect(j, '}');
    case OD_JSON_ARRAY:
        j->p++;
        if (od_json_accept(j, ']')) return 0;
        do {
            if (skip_value(j, depth + 1) != 0) return -1;
        } while (od_json_accept(j, ','));
        return od_json_expect(j, ']');
    case OD_JSON_STRING:
        return skip_string(j);
    case OD_JSON_NUMBER:
        return od_json_number(j, &d, &is_int, &i);
    case OD_JSON_TRUE:
    case OD_JSON_FALSE:
    case OD_JSON_NULL:
        return od_json_literal(j);
    case OD_JSON_NONE:
    default:
        return od_json_fail(j, j->p == j->end ? "value expected near end of input" : "invalid token");
    }
}

int od_json_skip(od_json_t *j)
{
    return skip_value(j, 1);
}

void od_json_where(const od_json_t *j, int *line, int *col)
{
    const char *at = j->err_at ? j->err_at : j->p;
    int l = 1, c = 1;
    for (const char *s = j->start; s < at; s++) {
        if (*s == '\n')
            l++, c = 1;
        else
            c++;
    }
    *line = l;
    *col = c;
}
