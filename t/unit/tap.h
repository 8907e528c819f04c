/*
 * A tiny TAP producer for the C unit tests: ok(cond, fmt, ...), is_int, is_str, skip, diag,
 * plan and done_testing.
 *
 * A test either announces its count first with plan(n) (the harness then also catches a test
 * that stops early) or prints it at the end through done_testing().  Descriptions stay on one
 * TAP line: a newline in one (tool output, say) is printed as a space.
 */
#ifndef OD_T_TAP_H
#define OD_T_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed, tap_planned;

static int __attribute__((format(printf, 2, 3), unused)) ok(int cond, const char *fmt, ...)
{
    va_list ap;
    char *d = NULL;
    va_start(ap, fmt);
    if (vasprintf(&d, fmt, ap) < 0) d = NULL;
    va_end(ap);
    for (char *p = d; p && *p; p++)
        if (*p == '\n') *p = ' ';
    printf("%sok %d - %s\n", cond ? "" : "not ", ++tap_n, d ? d : "");
    free(d);
    if (!cond) tap_failed++;
    fflush(stdout);
    return cond;
}

#define is_int(got, want, ...)                                                                     \
    do {                                                                                           \
        long long g_ = (long long)(got), w_ = (long long)(want);                                   \
        if (!ok(g_ == w_, __VA_ARGS__)) printf("#   got %lld, want %lld\n", g_, w_);               \
    } while (0)
#define is_str(got, want, ...)                                                                     \
    do {                                                                                           \
        const char *g_ = (got), *w_ = (want);                                                      \
        if (!ok(g_ && w_ && strcmp(g_, w_) == 0, __VA_ARGS__))                                     \
            printf("#   got \"%s\", want \"%s\"\n", g_ ? g_ : "(null)", w_ ? w_ : "(null)");         \
    } while (0)

/* counts the next n tests as passed, skipped for the reason given */
static void __attribute__((format(printf, 2, 3), unused)) skip(int n, const char *fmt, ...)
{
    va_list ap;
    char *why = NULL;
    va_start(ap, fmt);
    if (vasprintf(&why, fmt, ap) < 0) why = NULL;
    va_end(ap);
    for (int i = 0; i < n; i++)
        printf("ok %d # skip %s\n", ++tap_n, why ? why : "");
    free(why);
    fflush(stdout);
}

/* a line for people reading the output: "# " and the message */
static void __attribute__((format(printf, 1, 2), unused)) diag(const char *fmt, ...)
{
    va_list ap;
    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

/* announces the number of tests before the first one */
static void __attribute__((unused)) plan(int n)
{
    printf("1..%d\n", n);
    fflush(stdout);
    tap_planned = 1;
}

/* prints the plan unless plan() did; returns the exit status: 1 if a test failed, else 0 */
static int __attribute__((unused)) done_testing(void)
{
    if (!tap_planned) printf("1..%d\n", tap_n);
    fflush(stdout);
    return tap_failed ? 1 : 0;
}

#endif
