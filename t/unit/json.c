/*
 * json — unit tests (TAP) for the request-body reader: numbers read without strtod agree
 * bit for bit with strtod/strtoll on a million random literals of every shape the fast path
 * takes or declines; strings decode plain runs, escapes, surrogate pairs and UTF-8, and
 * refuse control characters, \u0000, bad escapes and bad UTF-8; errors carry a position; spans
 * point into the input unless there is something to decode.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "tap.h"

static uint64_t rng = 88172645463325252u;
static uint64_t next(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

/* a random JSON number: sign, 1-20 integer digits, maybe a fraction of 1-25 digits, maybe an
 * exponent of -30..30 */
static void random_number(char *buf)
{
    char *p = buf;
    if (next() % 4 == 0) *p++ = '-';
    int ni = 1 + (int)(next() % 20);
    if (next() % 3 == 0) ni = 1;
    for (int i = 0; i < ni; i++)
        *p++ = (char)('0' + (i == 0 && ni > 1 ? 1 + next() % 9 : next() % 10));
    if (next() % 2) {
        *p++ = '.';
        int nf = 1 + (int)(next() % 25);
        for (int i = 0; i < nf; i++)
            *p++ = (char)('0' + next() % 10);
    }
    if (next() % 4 == 0) p += sprintf(p, "%s%d", next() % 2 ? "e" : "E-", (int)(next() % 31));
    *p = '\0';
}

static void numbers(void)
{
    int bad = 0, n = 1000000;
    char buf[96], worst[256] = "";
    for (int i = 0; i < n; i++) {
        random_number(buf);
        od_json_t j;
        od_json_init(&j, buf, strlen(buf));
        double v;
        int is_int;
        int64_t iv;
        if (od_json_number(&j, &v, &is_int, &iv) != 0) {
            /* only integers beyond int64 may be refused */
            errno = 0;
            (void)strtoll(buf, NULL, 10);
            if (!(strchr(buf, '.') == NULL && strpbrk(buf, "eE") == NULL && errno == ERANGE) && !bad++)
                snprintf(worst, sizeof(worst), "refused %s: %s", buf, j.err);
            continue;
        }
        int integral = strchr(buf, '.') == NULL && strpbrk(buf, "eE") == NULL;
        double want = integral ? (double)strtoll(buf, NULL, 10) : strtod(buf, NULL); /* "-0" is 0 */
        if (memcmp(&v, &want, sizeof(v)) != 0 || is_int != integral ||
            (integral && iv != strtoll(buf, NULL, 10))) {
            if (!bad++) snprintf(worst, sizeof(worst), "%s: got %.17g want %.17g", buf, v, want);
        }
        if (j.p != buf + strlen(buf) && !bad++) snprintf(worst, sizeof(worst), "%s: not all consumed", buf);
    }
    ok(bad == 0, "%d random numbers read as strtod/strtoll read them (%d differ%s%s)", n, bad,
       bad ? ": " : "", worst);

    static const struct {
        const char *in;
        double want;
        int is_int;
    } cases[] = {{"0", 0, 1},
                 {"-0", 0, 1},
                 {"11.50", 11.5, 0},
                 {"0.1", 0.1, 0},
                 {"9007199254740993.0", 9007199254740992.0, 0}, /* past 2^53: strtod's rounding */
                 {"123456789012345678", 123456789012345678.0, 1},
                 {"1e22", 1e22, 0},
                 {"1e23", 1e23, 0},
                 {"5e-324", 5e-324, 0},
                 {"1e-99999", 0, 0},                                /* underflow is 0, not an error */
                 {"1234567890123456789", 1234567890123456789.0, 1}, /* 19 digits: strtoll's */
                 {"-922337203685477580.7e1", -9223372036854775807.0, 0},
                 {"4.5e-22", 4.5e-22, 0},
                 {"45e-23", 4.5e-22, 0},
                 {"2.2250738585072011e-308", 2.2250738585072011e-308, 0}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        od_json_t j;
        od_json_init(&j, cases[i].in, strlen(cases[i].in));
        double v = -1;
        int is_int = -1;
        int64_t iv;
        int rc = od_json_number(&j, &v, &is_int, &iv);
        ok(rc == 0 && v == cases[i].want && is_int == cases[i].is_int, "%s reads as %.17g (int %d)",
           cases[i].in, v, is_int);
    }
    const char *refused[] = {"-",     "01x", "1.",   ".5",    "1e", "1e+", "9223372036854775808",
                             "1e400", "-x",  "1.e5", "1e1001"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        od_json_t j;
        od_json_init(&j, refused[i], strlen(refused[i]));
        double v;
        int is_int;
        int64_t iv;
        int rc = od_json_number(&j, &v, &is_int, &iv);
        /* "01x" reads the 0 and stops: the caller finds the junk; the rest are errors */
        if (strcmp(refused[i], "01x") == 0)
            ok(rc == 0 && v == 0 && j.p == refused[i] + 1, "01x: reads 0 and stops before the 1");
        else
            ok(rc != 0 && j.err[0] != '\0', "%s is refused: %s", refused[i], j.err);
    }
}

static int decode(const char *in, char *out, size_t *len, od_json_t *j)
{
    od_json_init(j, in, strlen(in));
    return od_json_string(j, out, len);
}

static void strings(void)
{
    char out[256];
    size_t len = 0;
    od_json_t j;
    ok(decode("\"plain text\"", out, &len, &j) == 0 && len == 10 && strcmp(out, "plain text") == 0,
       "plain: %s", out);
    ok(decode("\"a\\\"b\\\\c\\/d\\n\\t\\r\\b\\f\"", out, &len, &j) == 0 && len == 12 &&
           memcmp(out, "a\"b\\c/d\n\t\r\b\f", 12) == 0,
       "simple escapes");
    ok(decode("\"\\u00e9\\u20ac\\ud83d\\ude00\"", out, &len, &j) == 0 && strcmp(out, "é€😀") == 0,
       "\\u escapes and a surrogate pair decode to UTF-8: %s", out);
    ok(decode("\"caf\xc3\xa9 \xe2\x82\xac\"", out, &len, &j) == 0 && strcmp(out, "café €") == 0,
       "UTF-8 passes through: %s", out);
    ok(decode("\"\"", out, &len, &j) == 0 && len == 0 && out[0] == '\0', "the empty string");
    ok(decode("  \"x\"", out, &len, &j) == 0 && len == 1 && *j.p == '\0', "white space before it is skipped");
    static const struct {
        const char *in, *err;
    } bad[] = {
        {"\"a\x01b\"", "control character"}, {"\"a\\u0000b\"", "\\u0000"},
        {"\"a\\qb\"", "invalid escape"},     {"\"a\\u12\"", "invalid \\u escape"},
        {"\"\\ud83d\"", "surrogate"},        {"\"\\ude00\"", "surrogate"},
        {"\"\xc3\x28\"", "invalid UTF-8"},   {"\"\xed\xa0\x80\"", "invalid UTF-8"}, /* an encoded surrogate */
        {"\"\xc0\xaf\"", "invalid UTF-8"},                                          /* overlong */
        {"\"abc", "unterminated"},           {"abc", "string expected"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = decode(bad[i].in, out, &len, &j);
        ok(rc != 0 && strstr(j.err, bad[i].err) != NULL, "refused (%s): %s", bad[i].err, j.err);
    }
    int line, col;
    od_json_init(&j, "{\n  \"a\": \"x\x02\"}", 15);
    j.p += 9;
    (void)od_json_string(&j, out, &len);
    od_json_where(&j, &line, &col);
    ok(line == 2 && col == 10, "the error's position is line 2, column 10 (got %d:%d)", line, col);
}

static void spans(void)
{
    char scratch[64];
    const char *sp = NULL;
    size_t len = 0, used = 99;
    od_json_t j;
    const char *in = " \"caf\xc3\xa9 plain\" , 1";
    od_json_init(&j, in, strlen(in));
    ok(od_json_span(&j, &sp, &len, scratch, &used) == 0 && sp == in + 2 && len == 11 && used == 0 &&
           memcmp(sp, "caf\xc3\xa9 plain", 11) == 0 && *j.p == ' ',
       "a string without escapes is a span of the input (UTF-8 checked in place)");
    in = "\"a\\nb\u00e9\"";
    od_json_init(&j, in, strlen(in));
    ok(od_json_span(&j, &sp, &len, scratch, &used) == 0 && sp == scratch && len == 5 && used == 6 &&
           strcmp(sp, "a\nb\xc3\xa9") == 0 && j.p == in + strlen(in),
       "a string with escapes is decoded into the scratch, and says how much it used");
    static const char *bad[] = {"\"a\x01\"", "\"\xc3\x28\"", "\"abc", "\"a\\u0000\"", "5"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        od_json_init(&j, bad[i], strlen(bad[i]));
        ok(od_json_span(&j, &sp, &len, scratch, &used) != 0 && j.err[0], "span refuses bad input %zu: %s", i,
           j.err);
    }
}

/* every length 0..40 and every position of one stopping byte in it, with and without bytes
 * after the closing quote: the 16-byte scan and the byte loop agree at each boundary */
static void boundaries(void)
{
    static const struct {
        const char *bytes; /* what is put at the position */
        int ok;            /* decodes (in place or escaped) */
    } stops[] = {{"\\n", 1}, {"\xc3\xa9", 1}, {"\x01", 0}, {"\x1f", 0}, {"\x80", 0}, {"\x7f", 1}};
    int bad = 0;
    char in[128], scratch[128], want[128], where[96] = "";
    for (int n = 0; n <= 40; n++)
        for (int k = -1; k < n; k++)
            for (size_t si = 0; si < sizeof(stops) / sizeof(stops[0]); si++)
                for (int tail = 0; tail < 2; tail++) {
                    size_t w = 0, wl = 0;
                    in[w++] = '"';
                    for (int i = 0; i < n; i++) {
                        if (i == k) {
                            size_t bl = strlen(stops[si].bytes);
                            memcpy(in + w, stops[si].bytes, bl);
                            w += bl;
                            if (strcmp(stops[si].bytes, "\\n") == 0)
                                want[wl++] = '\n';
                            else
                                memcpy(want + wl, stops[si].bytes, bl), wl += bl;
                        } else {
                            in[w++] = want[wl++] = (char)('a' + i % 26);
                        }
                    }
                    in[w++] = '"';
                    if (tail) memcpy(in + w, ", \"more\": 12345678901234567890", 31), w += 31;
                    od_json_t j;
                    od_json_init(&j, in, w);
                    const char *sp;
                    size_t len, used;
                    int rc = od_json_span(&j, &sp, &len, scratch, &used);
                    int expect_ok = k < 0 || stops[si].ok;
                    int good = expect_ok ? rc == 0 && len == wl && memcmp(sp, want, wl) == 0 &&
                                               j.p == in + (w - (tail ? 31 : 0))
                                         : rc != 0;
                    if (!good && !bad++)
                        snprintf(where, sizeof(where), "length %d, stop %zu at %d, tail %d: rc %d", n, si, k,
                                 tail, rc);
                }
    ok(bad == 0, "spans of every length 0..40 with a stopping byte at every position (%d wrong%s%s)", bad,
       bad ? ": " : "", where);
}

/* the early look at one member: found only as the first member with plain string key and value */
static void first_member(void)
{
    const char *v = NULL;
    size_t n = 0;
    const char *in = "{\"id\":\"w-1_a\",\"customer\":\"x\"}";
    ok(od_json_first_member(in, strlen(in), "id", &v, &n) == 1 && v == in + 7 && n == 5 &&
           memcmp(v, "w-1_a", 5) == 0,
       "the first member's value points into the input");
    in = " {\n \"id\" :  \"a b\" }";
    ok(od_json_first_member(in, strlen(in), "id", &v, &n) == 1 && n == 3 && memcmp(v, "a b", 3) == 0,
       "white space anywhere JSON allows it");
    in = "{\"id\":\"\"}";
    ok(od_json_first_member(in, strlen(in), "id", &v, &n) == 1 && n == 0, "an empty value is found (empty)");
    static const char *no[] = {
        "",                                  /* nothing */
        "[\"id\",\"x\"]",                    /* not an object */
        "{\"customer\":\"x\",\"id\":\"y\"}", /* not first */
        "{\"idx\":\"y\"}",                   /* another key */
        "{\"i\":\"y\"}",                     /* a prefix of the key */
        "{\"id\":7}",                        /* not a string */
        "{\"id\":\"a\\u0041\"}",             /* needs decoding */
        "{\"id\":\"caf\xc3\xa9\"}",          /* not ASCII */
        "{\"id\":\"unterminated",            /* cut short */
        "{\"id\" \"x\"}",                    /* no colon */
        "{\"\\u0069d\":\"x\"}",              /* the key itself escaped */
    };
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        ok(od_json_first_member(no[i], strlen(no[i]), "id", &v, &n) == 0, "not found in case %zu", i);
    in = "{\"id\":\"abcdef\"}";
    int cut = 0;
    for (size_t len = 0; len < strlen(in) - 1; len++) /* every prefix that ends before the closing quote */
        cut += od_json_first_member(in, len, "id", &v, &n) == 1 && len < 14;
    is_int(cut, 0, "no prefix of the input that cuts the value short is found");
}

int main(void)
{
    first_member();
    spans();
    boundaries();
    numbers();
    strings();
    done_testing();
}
