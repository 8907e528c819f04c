/*
 * Fuzz regression: replays every committed corpus file (t/fuzz/corpus/TARGET/: the seeds and
 * every input a fuzzer ever found a problem with) through the same target functions the
 * libFuzzer binaries run (t/fuzz/fuzz_TARGET.c, included here under other names), so that
 * `make test` (and `make test-asan`, where leaks and overflows are caught) needs no clang.
 * A target aborts when one of its invariants fails; the line before says which file.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "util.h"

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
            fn((const uint8_t *)data, len);
            ok(1, "%s: %s replayed", target, files[i]);
        }
        free(data);
        free(file);
        free(files[i]);
    }
    free(files);
}

int main(void)
{
    fuzz_route_init(NULL, NULL);
    replay("order", fuzz_order);
    replay("config", fuzz_config);
    replay("scenario", fuzz_scenario);
    replay("route", fuzz_route);
    return done_testing();
}
