/*
 * prof_symbolize — symbolization through the helper process: names, files and lines come
 * back; a batch of thousands of PCs takes a few round trips and fills the cache; a killed
 * helper is replaced (and reaped), a hung one is killed at the deadline and replaced; when no
 * helper can be started (descriptors exhausted) a lookup says "unknown" at once, caches
 * nothing, and works again once the cause is gone; orderd's own cost stays within its mmap'd
 * regions.  TAP.
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "prof/symbolize.h"
#include "prof/symhelper.h"
#include "tap.h"
#include "testutil.h"

int planted_symbol_target(int x);
__attribute__((noinline)) int planted_symbol_target(int x)
{
    __asm__ volatile("" ::: "memory");
    return x * 3 + 1;
}

/* the pid of our child named prof-symbolize, 0 if none; *zombie set if it is one */
static pid_t helper_child(int *zombie)
{
    pid_t found = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        char path[288], line[512];
        snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL) continue;
        int pid = 0, ppid = 0;
        char comm[64] = "", state = 0;
        if (fgets(line, sizeof(line), f) &&
            sscanf(line, "%d (%63[^)]) %c %d", &pid, comm, &state, &ppid) == 4 && ppid == getpid() &&
            strcmp(comm, "prof-symbolize") == 0) {
            found = pid;
            if (zombie) *zombie = state == 'Z';
        }
        fclose(f);
    }
    if (d) closedir(d);
    return found;
}

static int names(uintptr_t pc, const char *fn)
{
    od_sym_t s;
    return od_symbolize(pc, &s) == 0 && strcmp(s.frames[s.nframes - 1].func, fn) == 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    uintptr_t pc = (uintptr_t)planted_symbol_target + 4;
    ok(helper_child(NULL) == 0, "no helper before the first lookup");

    od_sym_t s;
    ok(od_symbolize(pc, &s) == 0, "a function of this binary is found");
    ok(s.nframes >= 1 && strcmp(s.frames[s.nframes - 1].func, "planted_symbol_target") == 0, "  named (%s)",
       s.nframes ? s.frames[s.nframes - 1].func : "-");
    ok(strstr(s.frames[0].file, "t/unit/prof_symbolize.c") != NULL && s.frames[0].line > 20,
       "  with its file and line (%s:%d)", s.frames[0].file, s.frames[0].line);
    ok(strstr(s.module, "prof_symbolize") != NULL, "  and module (%s)", s.module);
    od_buf_t b = OD_BUF_INIT;
    int bid = od_symbolize_build_id(pc, &b);
    ok(bid == 0 && b.len == 40, "the build ID of the binary (%s)", b.base ? b.base : "");
    od_buf_dispose(&b);
    pid_t h = helper_child(NULL);
    ok(h > 0, "the lookup started a helper, our child named prof-symbolize (pid %d)", (int)h);

    /* a batch: every 16th byte of libc's code around printf, many distinct PCs */
    enum { N = 3000 };
    static uintptr_t many[N];
    for (size_t i = 0; i < N; i++)
        many[i] = (uintptr_t)printf + 16 * i;
    uint64_t t0 = od_now_ns();
    od_symbolize_prefetch(many, N);
    uint64_t took = od_now_ns() - t0;
    t0 = od_now_ns();
    size_t named = 0;
    for (size_t i = 0; i < N; i++)
        named += od_symbolize(many[i], &s) == 0;
    uint64_t cached = od_now_ns() - t0;
    ok(named > N / 2, "a batch of %d PCs: %zu named (prefetch %.1f ms)", N, named, took / 1e6);
    ok(cached < took || cached < 20000000ull, "  then answered from the cache (%.2f ms)", cached / 1e6);

    size_t touched = 0, reserved = 0;
    od_symbolize_footprint(&touched, &reserved);
    ok(touched > 0 && touched <= reserved && reserved <= (8u << 20),
       "orderd's side: %zu KiB touched of %zu KiB", touched >> 10, reserved >> 10);

    /* the helper dies: replaced at the next lookup, and reaped (never kill(0, ...): that
     * would signal the whole process group, the harness included) */
    if (h > 0) kill(h, SIGKILL);
    ok(names((uintptr_t)helper_child + 4, "helper_child"), "after the helper was killed, lookups still work");
    int zombie = 0;
    pid_t h2 = helper_child(&zombie);
    ok(h2 > 0 && h2 != h, "  through a new helper (pid %d)", (int)h2);
    int gone = 0;
    for (int i = 0; i < 200 && !gone; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d", (int)h);
        gone = access(path, F_OK) != 0;
        if (!gone) od_sleep_ns(10000000);
    }
    ok(gone, "  the old one is reaped, not left a zombie");

    /* the helper hangs: killed at the deadline, replaced, asked again */
    h = helper_child(NULL);
    ok(h > 0, "a helper to hang (pid %d)", (int)h);
    od_symhelper_set_timeout(500);
    if (h > 0) kill(h, SIGSTOP);
    t0 = od_now_ns();
    ok(names((uintptr_t)names + 4, "names"), "a hung helper is replaced: the lookup still names the PC");
    took = od_now_ns() - t0;
    ok(took >= 400000000ull && took < 5000000000ull, "  after the deadline, not forever (%.0f ms)",
       took / 1e6);
    h2 = helper_child(NULL);
    ok(h2 > 0 && h2 != h, "  by a new helper (pid %d)", (int)h2);
    od_symhelper_set_timeout(0);

    /* no helper can start (no descriptor left for its socket): unknown at once, not cached */
    od_symbolize_reset();
    struct rlimit old, none;
    getrlimit(RLIMIT_NOFILE, &old);
    none = old;
    none.rlim_cur = 3; /* below what is open already: socketpair fails with EMFILE */
    setrlimit(RLIMIT_NOFILE, &none);
    t0 = od_now_ns();
    int rc = od_symbolize(pc, &s);
    took = od_now_ns() - t0;
    setrlimit(RLIMIT_NOFILE, &old);
    ok(rc == -1 && s.nframes == 0, "without a helper the PC is unknown (writers print it in hex)");
    ok(took < 6000000000ull, "  answered without hanging (%.0f ms)", took / 1e6);
    t0 = od_now_ns();
    ok(od_symbolize(pc + 1, &s) == -1 && od_now_ns() - t0 < 100000000ull,
       "  and right after, at once, without another attempt");
    od_sleep_ns(5200000000ull); /* past the back-off */
    ok(names(pc, "planted_symbol_target"),
       "once descriptors are back, the same PC is named (nothing was cached)");
    return done_testing();
}
