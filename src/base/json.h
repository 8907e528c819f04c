/*
 * json — a small, strict JSON reader (RFC 8259) for request bodies: a cursor over the bytes
 * with one function per value kind, so a caller can walk a document it expects (the order)
 * without building a tree.  It validates everything it passes over — UTF-8, escapes,
 * number syntax — and skips unexpected values with bounded nesting, so any input ends in a
 * clean error rather than a crash or an unbounded recursion.
 *
 * No allocation: decoded strings go into buffers the caller provides (a decoded string is
 * never longer than its encoded form).  Not thread-safe per cursor; cursors share nothing.
 */
#ifndef OD_JSON_H
#define OD_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define OD_JSON_MAX_DEPTH 64

typedef struct od_json {
    const char *start, *p, *end;
    const char *err_at; /* where the first error was found, NULL if none */
    char err[96];
} od_json_t;

typedef enum od_json_type {
    OD_JSON_NONE, /* at the end of input, or an error */
    OD_JSON_OBJECT,
    OD_JSON_ARRAY,
    OD_JSON_STRING,
    OD_JSON_NUMBER,
    OD_JSON_TRUE,
    OD_JSON_FALSE,
    OD_JSON_NULL,
} od_json_type_t;

void od_json_init(od_json_t *j, const char *s, size_t len);
/** skips white space; @return 1 if the input is exhausted */
int od_json_at_end(od_json_t *j);
/* The three calls a walk makes between values, inline: most of a body is punctuation. */
static inline void od_json__ws(od_json_t *j)
{
    const char *p = j->p, *end = j->end;
    while (p < end && (unsigned char)*p <= ' ' && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    j->p = p;
}
static inline od_json_type_t od_json__type(char c)
{
    switch (c) {
    case '{':
        return OD_JSON_OBJECT;
    case '[':
        return OD_JSON_ARRAY;
    case '"':
        return OD_JSON_STRING;
    case 't':
        return OD_JSON_TRUE;
    case 'f':
        return OD_JSON_FALSE;
    case 'n':
        return OD_JSON_NULL;
    default:
        return (c == '-' || (c >= '0' && c <= '9')) ? OD_JSON_NUMBER : OD_JSON_NONE;
    }
}
extern const unsigned char od_json__plain[256]; /* printable ASCII but '"' and '\\' */
int od_json__span_slow(od_json_t *j, const char **s, size_t *len, char *scratch, size_t *used);
int od_json__expected(od_json_t *j, char c);

/** skips white space; @return the type of the value that starts here (by its first byte) */
static inline od_json_type_t od_json_peek(od_json_t *j)
{
    od_json__ws(j);
    return j->p == j->end ? OD_JSON_NONE : od_json__type(*j->p);
}
/** skips white space and consumes `c` if it is next; @return 1 if consumed */
static inline int od_json_accept(od_json_t *j, char c)
{
    od_json__ws(j);
    if (j->p < j->end && *j->p == c) {
        j->p++;
        return 1;
    }
    return 0;
}
/** skips white space and consumes `c`; @return 0 if it was there, -1 (error set) if not */
static inline int od_json_expect(od_json_t *j, char c)
{
    return od_json_accept(j, c) ? 0 : od_json__expected(j, c);
}

/**
 * decodes a string into out (capacity: at least the encoded length, which is what remains of
 * the input in the worst case — use od_json_remaining), NUL-terminated.  A decoded string never
 * holds a NUL of its own: a raw one is a control character and \u0000 is refused.
 * @return 0 if successful with *len set, -1 if not (error set)
 */
int od_json_string(od_json_t *j, char *out, size_t *len);
/**
 * reads a string without copying it when it needs no decoding (no escapes; UTF-8 is checked in
 * place): *s then points into the input, not NUL-terminated, and *used is 0.  A string with
 * escapes is decoded into scratch as od_json_string does (same capacity rule), and *used is
 * what it took there (its length + 1).
 * @return 0 if successful, -1 if not (error set)
 */
/* the first byte from q on that a plain run stops at (a quote, a backslash, a control byte or
 * one from 0x80 up), or end */
static inline const unsigned char *od_json__plain_run(const unsigned char *q, const unsigned char *end)
{
#ifdef __SSE2__
    /* 16 bytes a step: as signed chars, control bytes and those from 0x80 up are all below
     * 0x20, so one comparison finds both; the quote and backslash by equality */
    while (end - q >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)q);
        __m128i stop = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
            _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
        int m = _mm_movemask_epi8(stop);
        if (m != 0) return q + __builtin_ctz((unsigned)m);
        q += 16;
    }
#endif
    while (q < end && od_json__plain[*q])
        q++;
    return q;
}

static inline int od_json_span(od_json_t *j, const char **s, size_t *len, char *scratch, size_t *used)
{
    /* inline for the common string, plain ASCII: the rest is od_json__span_slow's */
    od_json__ws(j);
    const unsigned char *p = (const unsigned char *)j->p, *end = (const unsigned char *)j->end;
    if (p < end && *p == '"') {
        const unsigned char *q = od_json__plain_run(p + 1, end);
        if (q < end && *q == '"') {
            *s = (const char *)p + 1;
            *len = (size_t)(q - p - 1);
            *used = 0;
            j->p = (const char *)q + 1;
            return 0;
        }
    }
    return od_json__span_slow(j, s, len, scratch, used);
}
/**
 * reads a number; *is_int says it had no fraction or exponent, and then *ival holds it
 * @return 0 if successful, -1 if not (error set: bad syntax, integer beyond int64, overflow)
 */
int od_json_number(od_json_t *j, double *val, int *is_int, int64_t *ival);
static inline const char *od_json__skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}
/**
 * the value of `key` when it is the first member of the object `s` holds and both are plain
 * strings (printable ASCII, no escape), read without walking the rest: a hint for a caller
 * that wants one field early (orderd prefetches the id's index slot before it parses the
 * order), not validation; any other input, valid JSON or not, is simply "not found".  Inline,
 * so that a literal key's length and comparison fold away: it runs on every POST.
 * @return 1 with [*val, +*vlen) pointing into s, 0 if not found
 */
static inline int od_json_first_member(const char *s, size_t len, const char *key, const char **val,
                                       size_t *vlen)
{
    const char *end = s + len, *p = od_json__skip_ws(s, end);
    size_t klen = strlen(key);
    if (p == end || *p != '{') return 0;
    p = od_json__skip_ws(p + 1, end);
    if ((size_t)(end - p) < klen + 2 || p[0] != '"' || memcmp(p + 1, key, klen) != 0 || p[klen + 1] != '"')
        return 0;
    p = od_json__skip_ws(p + klen + 2, end);
    if (p == end || *p != ':') return 0;
    p = od_json__skip_ws(p + 1, end);
    if (p == end || *p != '"') return 0;
    const char *q =
        (const char *)od_json__plain_run((const unsigned char *)p + 1, (const unsigned char *)end);
    if (q == end || *q != '"') return 0;
    *val = p + 1;
    *vlen = (size_t)(q - p - 1);
    return 1;
}
/** consumes true, false or null; @return 0 if successful, -1 if not */
int od_json_literal(od_json_t *j);
/** skips any value, validating it, nesting at most OD_JSON_MAX_DEPTH; @return 0 or -1 */
int od_json_skip(od_json_t *j);
size_t od_json_remaining(const od_json_t *j);
/** sets the error (the first one wins) at the current position; @return -1 */
int od_json_fail(od_json_t *j, const char *msg);
/** the 1-based line and column of the error (or of the cursor when there is none) */
void od_json_where(const od_json_t *j, int *line, int *col);

#endif
