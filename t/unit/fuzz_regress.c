/*
 * Fuzz regression: replays every committed corpus file (t/fuzz/corpus/TARGET/: the seeds and
 * every input a fuzzer ever found a problem with) through the same target functions the
 * libFuzzer binaries run (t/fuzz/fuzz_TARGET.c, included here under other names), so that
 * `make test` (and `make test-asan`, where leaks and overflows are caught) needs no clang.
 * A target aborts when one of its invariants fails: each file is replayed in a child process,
 * and the test asserts that the child returned 0 and exited 0 (no abort, no sanitizer report),
 * naming the file when it did not.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"
#include "base/util.h"

#define LLVMFuzzerTestOneInput fuzz_order
#include "../fuzz/fuzz_order.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_config
#include "../fuzz/fuzz_config.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_scenario
#include "../fuzz/fuzz_scenario.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_route
#define LLVMFuzzerInitialize fuzz_route_init
#include "../fuzz/fuzz_route.c"
#undef LLVMFuzzerTestOneInput
#undef LLVMFuzzerInitialize

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs fn(data, len) in a child process; returns its wait status (0: returned 0, exited 0). */
static int run_isolated(int (*fn)(const uint8_t *, size_t), const uint8_t *data, size_t len)
{
    fflush(stdout); /* the child must not print the parent's buffered lines again */
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) exit(fn(data, len) == 0 ? 0 : 3); /* exit, not _exit: LeakSanitizer runs at exit */
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        ;
    return st;
}

static void explain(int st)
{
    if (st == -1)
        diag("fork failed");
    else if (WIFSIGNALED(st))
        diag("the target died of signal %d", WTERMSIG(st));
    else if (WIFEXITED(st))
        diag("the target exited %d", WEXITSTATUS(st));
}

/* a target whose invariant never holds: shows that a failing target fails the test */
static int always_aborts(const uint8_t *data, size_t size)
{
    (void)data;
    (void)size;
    abort();
}

static int returns_nonzero(const uint8_t *data, size_t size)
{
    (void)data;
    (void)size;
    return 1;
}

static void replay(const char *target, int (*fn)(const uint8_t *, size_t))
{
    char dirpath[256];
    snprintf(dirpath, sizeof(dirpath), "t/fuzz/corpus/%s", target);
    DIR *d = opendir(dirpath);
    if (!ok(d != NULL, "%s: corpus directory %s", target, dirpath)) return;
    char **files = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        files = od_realloc(files, (n + 1) * sizeof(*files));
        files[n++] = od_strdup(e->d_name);
    }
    closedir(d);
    qsort(files, n, sizeof(*files), by_name);
    ok(n > 0, "%s: %zu corpus files", target, n);
    for (size_t i = 0; i < n; i++) {
        char *file = od_asprintf("%s/%s", dirpath, files[i]);
        size_t len = 0;
        char *data = od_read_file(file, &len);
        if (ok(data != NULL, "%s: read %s", target, files[i])) {
            printf("# replaying %s\n", file);
            fflush(stdout);
            int st = run_isolated(fn, (const uint8_t *)data, len);
            if (!ok(st == 0, "%s: %s replayed, invariants held", target, files[i])) explain(st);
        }
        free(data);
        free(file);
        free(files[i]);
    }
    free(files);
}

int main(void)
{
    ok(run_isolated(always_aborts, (const uint8_t *)"", 0) != 0, "a target that aborts is caught");
    ok(run_isolated(returns_nonzero, (const uint8_t *)"", 0) != 0,
       "a target that returns non-zero is caught");
    fuzz_route_init(NULL, NULL);
    replay("order", fuzz_order);
    replay("config", fuzz_config);
    replay("scenario", fuzz_scenario);
    replay("route", fuzz_route);
    return done_testing();
}
