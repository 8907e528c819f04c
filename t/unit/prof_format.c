/*
 * prof_format — the profile writers, checked with the real tools.
 *
 * Builds synthetic profiles of every kind whose PCs are real return addresses captured with
 * libgcc's unwinder inside this binary's planted functions, writes each in every format to a
 * temporary directory, then opens the files with `go tool pprof`, `google-pprof` and
 * `xmllint` and checks what they show.  TAP output; tools that are missing are skipped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <unwind.h>
#include <zlib.h>
#include <math.h>

#include "prof/format.h"
#include "prof/render.h"
#include "prof/legacy.h"
#include "prof/pprof.h"
#include "prof/symbolize.h"
#include "tap.h"

/* --- planted functions ----------------------------------------------------------------------- */

#define MAXD 64
typedef struct cap_stack {
    uintptr_t pcs[MAXD];
    size_t n;
} cap_stack_t;

volatile int planted_sink;

static _Unwind_Reason_Code unwind_cb(struct _Unwind_Context *ctx, void *arg)
{
    cap_stack_t *st = arg;
    uintptr_t ip = _Unwind_GetIP(ctx);
    if (ip == 0 || st->n >= MAXD) return _URC_END_OF_STACK;
    st->pcs[st->n++] = ip;
    return _URC_NO_REASON;
}

/* Captures the caller's stack, leaf first, every PC a return address: libgcc's unwinder
 * (backtrace(3) is intercepted by the sanitizers, which would add their own frame). */
__attribute__((noinline)) static void capture(cap_stack_t *st)
{
    st->n = 0;
    _Unwind_Backtrace(unwind_cb, st);
    OD_ASSERT(st->n > 1);
    memmove(st->pcs, st->pcs + 1, (st->n - 1) * sizeof(st->pcs[0])); /* drop capture() itself */
    st->n--;
}

__attribute__((noinline)) void planted_hotspot_fn(cap_stack_t *st);
__attribute__((noinline)) void planted_hotspot_fn(cap_stack_t *st)
{
    capture(st); /* PLANTED_MARKER: the hotspot's line */
    planted_sink++;
}

static inline __attribute__((always_inline)) void planted_inline_leaf(cap_stack_t *st)
{
    capture(st); /* INLINE_MARKER */
    planted_sink++;
}

__attribute__((noinline)) void planted_inliner_fn(cap_stack_t *st);
__attribute__((noinline)) void planted_inliner_fn(cap_stack_t *st)
{
    planted_inline_leaf(st);
    planted_sink++;
}

__attribute__((noinline)) void planted_caller_a(cap_stack_t *st);
__attribute__((noinline)) void planted_caller_a(cap_stack_t *st)
{
    planted_hotspot_fn(st);
    planted_sink++; /* no tail call: keep this frame on the stack */
}

__attribute__((noinline)) void planted_caller_b(cap_stack_t *st);
__attribute__((noinline)) void planted_caller_b(cap_stack_t *st)
{
    planted_hotspot_fn(st);
    planted_sink++;
}

static cap_stack_t st_a, st_b, st_inl;

/* --- helpers --------------------------------------------------------------------------------- */

static char tmpdir[256];
static char exe[1024]; /* this binary's path, as the memory map names it */
static char bin[1024]; /* a copy of it, for the tools */

static int run(const char *cmd, od_buf_t *out)
{
    od_buf_reset(out);
    FILE *fp = popen(cmd, "r");
    if (fp == NULL) return -1;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        od_buf_append(out, chunk, n);
    int st = pclose(fp);
    if (out->base == NULL) od_buf_puts(out, "");
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int have(const char *tool)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", tool);
    return system(cmd) == 0;
}

static void write_file(const char *path, const od_buf_t *b)
{
    FILE *fp = fopen(path, "wb");
    OD_ASSERT(fp != NULL);
    if (b->len) OD_ASSERT(fwrite(b->base, 1, b->len, fp) == b->len);
    fclose(fp);
}

/* the line of `text` containing `needle`, copied into line (empty if none) */
static const char *find_line(const char *text, const char *needle, char *line, size_t size)
{
    line[0] = '\0';
    const char *p = text ? strstr(text, needle) : NULL;
    if (p == NULL) return NULL;
    const char *b = p;
    while (b > text && b[-1] != '\n')
        b--;
    size_t n = strcspn(b, "\n");
    if (n >= size) n = size - 1;
    memcpy(line, b, n);
    line[n] = '\0';
    return line;
}

/* the first number of a `go tool pprof -top` line ("  100 71.43% ...") */
static double first_number(const char *line)
{
    return line && *line ? strtod(line, NULL) : -1;
}

static const char *kind_names[] = {"cpu", "heap", "threads", "block", "mutex"};
static const char *fmt_names[] = {"pprof", "legacy", "text", "folded", "svg"};

static od_profile_t profiles[5];

/* heap values as tcmalloc's sampling gives them after scaling: r raw objects of `size` bytes */
static void heap_scaled(int64_t r, int64_t size, int64_t rate, int64_t *n, int64_t *b)
{
    double scale = 1.0 / (1.0 - exp(-(double)size / (double)rate));
    *n = (int64_t)((double)r * scale);
    *b = (int64_t)((double)(r * size) * scale);
}

static void build_profiles(void)
{
    od_profile_t *p;

    /* CPU samples hold the interrupted PC itself as the leaf: pretend it was the call */
    cap_stack_t ca = st_a, cb = st_b, ci = st_inl;
    ca.pcs[0]--, cb.pcs[0]--, ci.pcs[0]--;
    p = &profiles[OD_PROF_CPU];
    od_profile_init(p, OD_PROF_CPU);
    od_profile_add_type(p, "samples", "count");
    od_profile_add_type(p, "cpu", "nanoseconds");
    p->period_type = (od_prof_valtype_t){"cpu", "nanoseconds"};
    p->period = 10000000;
    p->time_ns = od_wall_ns();
    p->duration_ns = 2000000000;
    p->comment = od_strdup("synthetic CPU profile\nsecond comment line");
    od_profile_add(p, ca.pcs, ca.n, (int64_t[]){70, 700000000});
    od_profile_add(p, cb.pcs, cb.n, (int64_t[]){30, 300000000});
    od_profile_add(p, ci.pcs, ci.n, (int64_t[]){20, 200000000});

    p = &profiles[OD_PROF_HEAP];
    od_profile_init(p, OD_PROF_HEAP);
    od_profile_add_type(p, "alloc_objects", "count");
    od_profile_add_type(p, "alloc_space", "bytes");
    od_profile_add_type(p, "inuse_objects", "count");
    od_profile_add_type(p, "inuse_space", "bytes");
    p->default_type = "inuse_space";
    p->period_type = (od_prof_valtype_t){"space", "bytes"};
    p->period = 524288;
    int64_t an, ab, in, ib;
    heap_scaled(40, 65536, p->period, &an, &ab);
    heap_scaled(10, 65536, p->period, &in, &ib);
    od_prof_sample_t *s = od_profile_add(p, st_a.pcs, st_a.n, (int64_t[]){an, ab, in, ib});
    od_profile_label_num(s, "bytes", 65536, "bytes");
    heap_scaled(5, 1024, p->period, &an, &ab);
    heap_scaled(2, 1024, p->period, &in, &ib);
    s = od_profile_add(p, st_inl.pcs, st_inl.n, (int64_t[]){an, ab, in, ib});
    od_profile_label_num(s, "bytes", 1024, "bytes");

    p = &profiles[OD_PROF_THREADS];
    od_profile_init(p, OD_PROF_THREADS);
    od_profile_add_type(p, "goroutine", "count");
    p->period_type = (od_prof_valtype_t){"goroutine", "count"};
    p->period = 1;
    s = od_profile_add(p, st_a.pcs, st_a.n, (int64_t[]){3});
    od_profile_label_str(s, "thread", "worker-0, worker-1, worker-2");
    od_profile_label_str(s, "state", "waiting for order");
    s = od_profile_add(p, st_inl.pcs, st_inl.n, (int64_t[]){1});
    od_profile_label_str(s, "thread", "http-0");
    od_profile_label_str(s, "state", "running");

    for (int k = OD_PROF_BLOCK; k <= OD_PROF_MUTEX; k++) {
        p = &profiles[k];
        od_profile_init(p, (od_prof_kind_t)k);
        od_profile_add_type(p, "contentions", "count");
        od_profile_add_type(p, "delay", "nanoseconds");
        p->period_type = (od_prof_valtype_t){"contentions", "count"};
        /* mutex: 1 in 4 sampled, values already scaled (multiples of 4) */
        p->period = k == OD_PROF_MUTEX ? 4 : 1;
        p->duration_ns = 5000000000ull;
        od_profile_add(p, st_a.pcs, st_a.n, (int64_t[]){8, 80000000});
        od_profile_add(p, st_b.pcs, st_b.n, (int64_t[]){4, 20000000});
        od_profile_add(p, st_inl.pcs, st_inl.n, (int64_t[]){4, 4000000});
    }
}

static int64_t total_of(const od_profile_t *p, int t)
{
    int64_t sum = 0;
    for (size_t i = 0; i < p->nsamples; i++)
        sum += p->samples[i].values[t];
    return sum;
}

static void path_of(char *out, size_t size, int kind, int fmt)
{
    snprintf(out, size, "%s/%s.%s", tmpdir, kind_names[kind],
             od_prof_format_ext((od_prof_format_t)fmt, (od_prof_kind_t)kind));
}

/* --- tests ----------------------------------------------------------------------------------- */

static void test_formats_table(void)
{
    od_prof_format_t f;
    ok(od_prof_format_parse("pprof", &f) == 0 && f == OD_FMT_PPROF, "parse pprof");
    ok(od_prof_format_parse("svg", &f) == 0 && f == OD_FMT_SVG, "parse svg");
    ok(od_prof_format_parse("flame", &f) == -1, "parse rejects an unknown format");
    ok(strcmp(od_prof_format_ext(OD_FMT_PPROF, OD_PROF_CPU), "pb.gz") == 0, "pprof extension");
    ok(strcmp(od_prof_format_ext(OD_FMT_LEGACY, OD_PROF_HEAP), "heap") == 0, "legacy heap extension");
    ok(strcmp(od_prof_format_content_type(OD_FMT_SVG), "image/svg+xml") == 0, "svg content type");
    ok(strncmp(od_prof_format_content_type(OD_FMT_TEXT), "text/plain", 10) == 0, "text content type");
}

static void test_symbolize(void)
{
    od_sym_t sym;
    int rc = od_symbolize(od_sym_lookup_pc(st_a.pcs[0], 1, 0), &sym);
    ok(rc == 0 && strcmp(sym.frames[0].func, "planted_hotspot_fn") == 0,
       "symbolize: leaf is planted_hotspot_fn (%s)", rc == 0 ? sym.frames[0].func : "?");
    ok(rc == 0 && strstr(sym.frames[0].file, "t/unit/prof_format.c") != NULL && sym.frames[0].line > 0,
       "symbolize: file and line (%s:%d)", rc == 0 ? sym.frames[0].file : "?",
       rc == 0 ? sym.frames[0].line : 0);
    ok(rc == 0 && sym.frames[0].start_line > 0 && sym.frames[0].start_line < sym.frames[0].line,
       "symbolize: start line before the sample line");
    rc = od_symbolize(od_sym_lookup_pc(st_a.pcs[1], 1, 0), &sym);
    ok(rc == 0 && strcmp(sym.frames[sym.nframes - 1].func, "planted_caller_a") == 0, "symbolize: caller");

    rc = od_symbolize(od_sym_lookup_pc(st_inl.pcs[0], 1, 0), &sym);
    ok(rc == 0 && sym.nframes >= 2 && strcmp(sym.frames[0].func, "planted_inline_leaf") == 0 &&
           strcmp(sym.frames[1].func, "planted_inliner_fn") == 0,
       "symbolize: inlined frame then its caller (%zu frames, %s)", sym.nframes,
       rc == 0 ? sym.frames[0].func : "?");
    ok(rc == 0 && sym.nframes >= 2 && sym.frames[1].line > 0 && sym.frames[1].line != sym.frames[0].line,
       "symbolize: the inlined call site's line (%d vs %d)", sym.nframes >= 2 ? sym.frames[1].line : 0,
       sym.frames[0].line);

    /* a libc function: ELF symbols at least */
    rc = od_symbolize((uintptr_t)&getpid + 1, &sym);
    ok(rc == 0 && strstr(sym.frames[sym.nframes - 1].func, "getpid") != NULL, "symbolize: libc symbol (%s)",
       rc == 0 ? sym.frames[sym.nframes - 1].func : "?");

    od_buf_t b = OD_BUF_INIT;
    ok(od_symbolize_name((uintptr_t)&planted_caller_b + 2, &b) == 0 &&
           strcmp(b.base, "planted_caller_b") == 0,
       "od_symbolize_name");
    od_buf_reset(&b);
    ok(od_symbolize_name(16, &b) == -1 && b.len == 0, "od_symbolize_name: unknown PC");
    ok(od_symbolize_build_id((uintptr_t)&planted_caller_b, &b) == 0 && b.len >= 16,
       "build id of the test binary");
    od_buf_dispose(&b);
}

/* writes every kind in every format; returns the number of failures */
static void test_write_all(void)
{
    for (int k = 0; k < 5; k++) {
        for (int f = 0; f < 5; f++) {
            od_buf_t out = OD_BUF_INIT, err = OD_BUF_INIT;
            int rc = od_prof_write(&profiles[k], (od_prof_format_t)f, &out, &err);
            ok(rc == 0 && out.len > 0, "write %s as %s (%zu bytes%s%s)", kind_names[k], fmt_names[f], out.len,
               err.len ? ": " : "", err.len ? err.base : "");
            char path[512];
            path_of(path, sizeof(path), k, f);
            write_file(path, &out);
            od_buf_dispose(&out);
            od_buf_dispose(&err);
        }
    }
}

static void test_pprof_bytes(void)
{
    od_buf_t out = OD_BUF_INIT, err = OD_BUF_INIT;
    od_prof_write(&profiles[OD_PROF_CPU], OD_FMT_PPROF, &out, &err);
    ok(out.len > 2 && (unsigned char)out.base[0] == 0x1f && (unsigned char)out.base[1] == 0x8b,
       "pprof is gzip");
    od_buf_reset(&out);
    od_pprof_encode(&profiles[OD_PROF_CPU], &out, &err);
    ok(out.len > 0 && memmem(out.base, out.len, "planted_hotspot_fn", 18) != NULL,
       "proto holds the function name");
    ok(memmem(out.base, out.len, "prof_format.c", 13) != NULL, "proto holds the file name");
    od_buf_dispose(&out);
    od_buf_dispose(&err);
}

static void test_legacy_bytes(void)
{
    od_buf_t out = OD_BUF_INIT, err = OD_BUF_INIT;
    od_prof_write(&profiles[OD_PROF_HEAP], OD_FMT_LEGACY, &out, &err);
    ok(strncmp(out.base, "heap profile: ", 14) == 0 && strstr(out.base, "@ heap_v2/524288\n") != NULL,
       "legacy heap header");
    ok(strstr(out.base, "\nMAPPED_LIBRARIES:\n") != NULL, "legacy heap has the memory map");
    /* 10 in-use objects of 64 KiB were sampled: the file carries the raw counts again */
    char line[512], needle[64];
    snprintf(needle, sizeof(needle), "0x%llx", (unsigned long long)st_a.pcs[0]);
    find_line(out.base, needle, line, sizeof(line));
    long long r[4] = {0, 0, 0, 0};
    sscanf(line, "%lld: %lld [%lld: %lld] @", &r[0], &r[1], &r[2], &r[3]);
    ok(r[0] == 10 && r[2] == 40 && llabs(r[1] - 655360) <= 66 && llabs(r[3] - 2621440) <= 262,
       "legacy heap sample is the raw sample, within the scaled values' rounding (%s)", line);

    od_buf_reset(&out);
    od_prof_write(&profiles[OD_PROF_MUTEX], OD_FMT_LEGACY, &out, &err);
    ok(strncmp(out.base, "--- contention:\ncycles/second = 1000000000\nsampling period = 4\n", 63) == 0,
       "legacy contention header");
    ok(strstr(out.base, "\n20000000 2 @ 0x") != NULL, "contention values divided by the sampling period");
    ok(strstr(out.base, "--- Memory map: ---\n") != NULL, "contention has the memory map");

    od_buf_reset(&out);
    od_prof_write(&profiles[OD_PROF_THREADS], OD_FMT_LEGACY, &out, &err);
    ok(strncmp(out.base, "--- threadz 4 ---\n", 18) == 0, "threadz header");
    ok(strstr(out.base, "(name: worker-2/3) stack: ---\n  same as previous thread\n") != NULL,
       "threadz names and grouping");

    /* CPU: our own encoding, then gperftools' raw bytes with and without their map */
    od_buf_reset(&out);
    od_prof_write(&profiles[OD_PROF_CPU], OD_FMT_LEGACY, &out, &err);
    const uintptr_t *w = (const uintptr_t *)out.base;
    ok(out.len > 8 * sizeof(uintptr_t) && w[0] == 0 && w[1] == 3 && w[2] == 0 && w[3] == 10000 && w[4] == 0 &&
           w[5] == 70 && w[6] == st_a.n && w[7] == st_a.pcs[0] - 1,
       "legacy CPU binary header and first record");
    size_t nw = 5 + (2 + st_a.n) + (2 + st_b.n) + (2 + st_inl.n) + 3;
    ok(w[nw - 3] == 0 && w[nw - 2] == 1 && w[nw - 1] == 0 &&
           strstr(out.base + nw * sizeof(uintptr_t), "-") != NULL,
       "legacy CPU trailer then the memory map");

    od_profile_t raw;
    od_profile_init(&raw, OD_PROF_CPU);
    od_profile_add_type(&raw, "samples", "count");
    od_buf_append(&raw.raw_legacy, out.base, nw * sizeof(uintptr_t));
    od_buf_t o2 = OD_BUF_INIT;
    od_prof_write(&raw, OD_FMT_LEGACY, &o2, &err);
    ok(o2.len > nw * sizeof(uintptr_t) && memcmp(o2.base, out.base, nw * sizeof(uintptr_t)) == 0 &&
           strstr(o2.base + nw * sizeof(uintptr_t), "r-xp") != NULL,
       "raw gperftools bytes: verbatim, map appended");
    od_buf_reset(&raw.raw_legacy);
    od_buf_append(&raw.raw_legacy, out.base, out.len);
    od_buf_reset(&o2);
    od_prof_write(&raw, OD_FMT_LEGACY, &o2, &err);
    ok(o2.len == out.len && memcmp(o2.base, out.base, out.len) == 0,
       "raw bytes with their own map: verbatim only");
    od_profile_dispose(&raw);
    od_buf_dispose(&o2);
    od_buf_dispose(&out);
    od_buf_dispose(&err);
}

static void test_text(void)
{
    od_buf_t out = OD_BUF_INIT, err = OD_BUF_INIT;
    od_prof_write(&profiles[OD_PROF_CPU], OD_FMT_TEXT, &out, &err);
    ok(strstr(out.base, "#\t0x") && strstr(out.base, "\tplanted_hotspot_fn+0x") &&
           strstr(out.base, "prof_format.c:"),
       "text: frames with function+offset and file:line");
    ok(strstr(out.base, "\tplanted_inline_leaf+0x") != NULL &&
           strstr(out.base, "\tplanted_inliner_fn+0x") != NULL,
       "text: inlined frames");
    const char *a = strstr(out.base, "\n70 700000000 @"), *b = strstr(out.base, "\n30 300000000 @");
    ok(a && b && a < b, "text: values per sample, heaviest first");
    ok(strstr(out.base, "# synthetic CPU profile\n") != NULL, "text: comments");
    od_buf_reset(&out);
    od_prof_write(&profiles[OD_PROF_THREADS], OD_FMT_TEXT, &out, &err);
    ok(strncmp(out.base, "goroutine profile: total 4\n3 @ 0x", 33) == 0,
       "text threads: header and group count");
    ok(strstr(out.base, "# thread: worker-0, worker-1, worker-2\n# state: waiting for order\n") != NULL,
       "text threads: names and states");
    od_buf_reset(&out);
    od_prof_write(&profiles[OD_PROF_BLOCK], OD_FMT_TEXT, &out, &err);
    ok(strncmp(out.base, "--- contention:\n", 16) == 0 && strstr(out.base, "\n80000000 8 @ 0x") != NULL,
       "text block: contention lines");
    od_buf_dispose(&out);
    od_buf_dispose(&err);
}

/* Go's debug=1 and debug=2 forms: runtime/pprof's contention headers, the traceback layout */
static void test_go_text(void)
{
    od_buf_t out = OD_BUF_INIT, err = OD_BUF_INIT;
    ok(od_render_go_text(&profiles[OD_PROF_MUTEX], &out, &err) == 0, "go text mutex: written");
    ok(strncmp(out.base, "--- mutex:\ncycles/second=1000000000\nsampling period=4\n# duration: 5.000 s\n",
               71) == 0,
       "go text mutex: Go's header, the window as a comment");
    ok(strstr(out.base, "ms since reset") == NULL && strstr(out.base, "\n20000000 2 @ 0x") != NULL,
       "go text mutex: no gperftools line; values divided by the sampling period");
    od_buf_reset(&out);
    od_render_go_text(&profiles[OD_PROF_BLOCK], &out, &err);
    ok(strncmp(out.base, "--- contention:\ncycles/second=1000000000\n# duration", 51) == 0,
       "go text block: Go's header, no sampling period");
    ok(strstr(out.base, "\n80000000 8 @ 0x") != NULL && strstr(out.base, "\n20000000 4 @ 0x") != NULL,
       "go text block: whole values");
    od_buf_reset(&out);
    od_render_text(&profiles[OD_PROF_MUTEX], &out, &err);
    ok(strncmp(out.base, "--- mutex:\ncycles/second=1000000000\n", 36) == 0,
       "format=text mutex: the same header");

    od_profile_t t;
    od_profile_init(&t, OD_PROF_THREADS);
    od_profile_add_type(&t, "goroutine", "count");
    od_prof_sample_t *s = od_profile_add(&t, st_inl.pcs, st_inl.n, (int64_t[]){2});
    od_profile_label_str(s, "threads", "worker-0,worker-1");
    od_profile_label_str(s, "state", "waiting for order,running");
    od_profile_add(&t, NULL, 0, (int64_t[]){1}); /* a thread that did not answer */
    od_buf_reset(&out);
    od_render_go_text(&t, &out, &err);
    ok(strstr(out.base, "\n# 1 @\n") != NULL && strstr(out.base, "\n2 @ 0x") != NULL,
       "go text threads: a group without a stack is a comment (Go's readers want an address)");
    od_buf_reset(&out);
    od_render_goroutine_dump(&t, &out);
    ok(strncmp(out.base, "# thread: worker-0\ngoroutine 1 [waiting for order]:\nplanted_inline_leaf(...)\n\t",
               76) == 0,
       "debug=2: the thread as a comment, Go's goroutine line, an inlined frame as name(...)");
    ok(strstr(out.base, "\n# thread: worker-1\ngoroutine 2 [running]:\n") != NULL,
       "debug=2: each thread on its own");
    const char *real = strstr(out.base, "\nplanted_inliner_fn()\n\t");
    const char *eol = real ? strchr(real + 24, '\n') : NULL;
    ok(real && eol && strstr(real, " +0x") && strstr(real, " +0x") < eol && strstr(real, "prof_format.c:"),
       "debug=2: the real function as name() with file:line +0xOFF");
    od_profile_dispose(&t);
    od_buf_dispose(&out);
    od_buf_dispose(&err);
}

static void test_folded(void)
{
    for (int k = 0; k < 5; k++) {
        od_buf_t out = OD_BUF_INIT, err = OD_BUF_INIT;
        od_prof_write(&profiles[k], OD_FMT_FOLDED, &out, &err);
        int t = k == OD_PROF_HEAP ? 3 : (int)profiles[k].ntypes - 1;
        int64_t sum = 0;
        int bad = 0, lines = 0, leaf_ok = 0, inl_ok = 0;
        for (char *line = out.base; line && *line;) {
            char *nl = strchr(line, '\n');
            if (nl == NULL) {
                bad++;
                break;
            }
            *nl = '\0';
            char *sp = strrchr(line, ' ');
            char *end = NULL;
            long long v = sp ? strtoll(sp + 1, &end, 10) : 0;
            if (sp == NULL || sp == line || *end != '\0' || v <= 0 || strstr(line, ";;") || line[0] == ';')
                bad++;
            if (sp) *sp = '\0';
            if (strstr(line, "planted_caller_a;planted_hotspot_fn") &&
                strcmp(strrchr(line, ';') + 1, "planted_hotspot_fn") == 0)
                leaf_ok++;
            if (strstr(line, "planted_inliner_fn;planted_inline_leaf")) inl_ok++;
            sum += v;
            lines++;
            line = nl + 1;
        }
        ok(bad == 0 && lines == 3 - (k == OD_PROF_HEAP || k == OD_PROF_THREADS),
           "folded %s: %d well-formed lines", kind_names[k], lines);
        ok(sum == total_of(&profiles[k], t), "folded %s: values sum to the total (%lld)", kind_names[k],
           (long long)sum);
        ok(leaf_ok == 1 && inl_ok == 1, "folded %s: root first, leaf last, inlined frames", kind_names[k]);
        od_buf_dispose(&out);
        od_buf_dispose(&err);
    }
}

static void test_svg(void)
{
    od_buf_t out = OD_BUF_INIT, err = OD_BUF_INIT;
    od_prof_write(&profiles[OD_PROF_CPU], OD_FMT_SVG, &out, &err);
    ok(strstr(out.base, "cpu profile: cpu (nanoseconds), total 1.20 s") != NULL,
       "svg title: kind, type, total");
    ok(strstr(out.base, "<title>planted_hotspot_fn (700.00 ms, 58.33%)</title>") != NULL, "svg tooltip");
    ok(strstr(out.base, "planted_inline_leaf") != NULL, "svg has inlined frames");
    ok(strstr(out.base, "id=\"search\"") && strstr(out.base, "id=\"unzoom\"") &&
           strstr(out.base, "id=\"matched\"") && strstr(out.base, "ctrlKey"),
       "svg: search (button, Ctrl-F, matched share) and reset zoom");

    /* code without symbols is named as the pprof names it: the vDSO's ELF header, "[vdso]" */
    uintptr_t vdso = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
    if (vdso) {
        od_profile_t v;
        od_profile_init(&v, OD_PROF_THREADS);
        od_profile_add_type(&v, "goroutine", "count");
        uintptr_t pcs[2] = {vdso + 0x11, st_a.pcs[0]};
        od_profile_add(&v, pcs, 2, (int64_t[]){1});
        od_buf_reset(&out);
        od_prof_write(&v, OD_FMT_FOLDED, &out, &err);
        ok(strstr(out.base, ";[vdso] 1\n") != NULL && strstr(out.base, "vdso:") == NULL,
           "folded: the vDSO's unknown code as [vdso], no PID (%s)", out.base);
        od_buf_reset(&out);
        od_prof_write(&v, OD_FMT_SVG, &out, &err);
        ok(strstr(out.base, "data-n=\"[vdso]\"") != NULL && strstr(out.base, "vdso:") == NULL, "svg: [vdso]");
        od_buf_reset(&out);
        od_prof_write(&v, OD_FMT_TEXT, &out, &err);
        ok(strstr(out.base, "\t[vdso]+0x10\n") != NULL, "text: [vdso]+0xOFF");
        od_profile_dispose(&v);
    } else {
        skip(3, "no vDSO");
    }
    /* an empty profile is still a valid document */
    od_profile_t empty;
    od_profile_init(&empty, OD_PROF_MUTEX);
    od_profile_add_type(&empty, "contentions", "count");
    od_profile_add_type(&empty, "delay", "nanoseconds");
    od_buf_reset(&out);
    ok(od_prof_write(&empty, OD_FMT_SVG, &out, &err) == 0 && strstr(out.base, "no samples"),
       "svg of an empty profile");
    char path[512];
    snprintf(path, sizeof(path), "%s/empty.svg", tmpdir);
    write_file(path, &out);
    od_profile_dispose(&empty);
    od_buf_dispose(&out);
    od_buf_dispose(&err);

    if (!have("xmllint")) {
        skip(6, "xmllint not installed");
        return;
    }
    od_buf_t o = OD_BUF_INIT;
    char cmd[1200];
    for (int k = 0; k < 5; k++) {
        path_of(path, sizeof(path), k, OD_FMT_SVG);
        snprintf(cmd, sizeof(cmd), "xmllint --noout '%s' 2>&1", path);
        int rc = run(cmd, &o);
        ok(rc == 0 && o.len == 0, "xmllint accepts the %s flame graph %s", kind_names[k], o.base);
    }
    snprintf(cmd, sizeof(cmd), "xmllint --noout '%s/empty.svg' 2>&1", tmpdir);
    ok(run(cmd, &o) == 0, "xmllint accepts the empty flame graph");
    od_buf_dispose(&o);
}

/* go tool pprof on the proto files, without the binary */
static void test_go_pprof(void)
{
    if (!have("go")) {
        skip(16, "go not installed");
        return;
    }
    od_buf_t o = OD_BUF_INIT;
    char cmd[2048], path[512], line[512];
    static const struct {
        int kind;
        const char *index;
        double flat;
    } want[] = {
        {OD_PROF_CPU, "samples", 100},      {OD_PROF_HEAP, "inuse_objects", 0},
        {OD_PROF_THREADS, "goroutine", 3},  {OD_PROF_BLOCK, "contentions", 12},
        {OD_PROF_MUTEX, "contentions", 12},
    };
    int64_t in_a = profiles[OD_PROF_HEAP].samples[0].values[2];
    for (size_t i = 0; i < OD_ARRAY_SIZE(want); i++) {
        path_of(path, sizeof(path), want[i].kind, OD_FMT_PPROF);
        snprintf(cmd, sizeof(cmd), "go tool pprof -top -symbolize=none -sample_index=%s '%s' 2>&1",
                 want[i].index, path);
        int rc = run(cmd, &o);
        find_line(o.base, " planted_hotspot_fn", line, sizeof(line));
        double flat = want[i].kind == OD_PROF_HEAP ? (double)in_a : want[i].flat;
        ok(rc == 0 && first_number(line) == flat,
           "go tool pprof -top -symbolize=none %s.pb.gz: planted_hotspot_fn flat %g (%s)",
           kind_names[want[i].kind], flat, line[0] ? line : o.base);
    }
    path_of(path, sizeof(path), OD_PROF_CPU, OD_FMT_PPROF);
    snprintf(cmd, sizeof(cmd), "go tool pprof -top '%s' 2>&1", path);
    int rc = run(cmd, &o);
    ok(rc == 0 && strstr(o.base, "planted_hotspot_fn") && strstr(o.base, "planted_caller_a"),
       "go tool pprof -top (default symbolization) names the functions");

    snprintf(cmd, sizeof(cmd), "go tool pprof -list planted_hotspot_fn '%s' 2>&1", path);
    rc = run(cmd, &o);
    ok(rc == 0 && strstr(o.base, "ROUTINE ======================== planted_hotspot_fn in ") &&
           strstr(o.base, "PLANTED_MARKER"),
       "go tool pprof -list shows the source lines");
    find_line(o.base, "PLANTED_MARKER", line, sizeof(line));
    ok(strstr(line, "1s") != NULL, "-list attributes 1s to the hotspot line (%s)", line);

    snprintf(cmd, sizeof(cmd), "go tool pprof -traces '%s' 2>&1", path);
    rc = run(cmd, &o);
    ok(rc == 0 && strstr(o.base, "planted_inline_leaf") && strstr(o.base, "(inline)"),
       "go tool pprof -traces shows the inlined frame");

    snprintf(cmd, sizeof(cmd), "go tool pprof -raw '%s' 2>&1", path);
    rc = run(cmd, &o);
    ok(rc == 0 && strstr(o.base, "PeriodType: cpu nanoseconds") && strstr(o.base, "Period: 10000000") &&
           strstr(o.base, "Duration: 2s"),
       "period type, period and duration");
    ok(strstr(o.base, "synthetic CPU profile") != NULL, "comments");
    ok(strstr(o.base, "prof_format.c") != NULL && strstr(o.base, " s=") != NULL,
       "locations carry file and start line");

    path_of(path, sizeof(path), OD_PROF_HEAP, OD_FMT_PPROF);
    snprintf(cmd, sizeof(cmd), "go tool pprof -raw '%s' 2>&1", path);
    rc = run(cmd, &o);
    ok(rc == 0 && strstr(o.base, "bytes:[65536 bytes]") != NULL, "numeric labels");
    snprintf(cmd, sizeof(cmd), "go tool pprof -top -symbolize=none '%s' 2>&1", path);
    rc = run(cmd, &o);
    ok(rc == 0 && strstr(o.base, "Type: inuse_space") != NULL, "default sample type is inuse_space");

    path_of(path, sizeof(path), OD_PROF_THREADS, OD_FMT_PPROF);
    snprintf(cmd, sizeof(cmd), "go tool pprof -raw '%s' 2>&1", path);
    rc = run(cmd, &o);
    ok(rc == 0 && strstr(o.base, "thread:[worker-0, worker-1, worker-2]") &&
           strstr(o.base, "state:[waiting for order]"),
       "string labels");
    snprintf(cmd, sizeof(cmd), "go tool pprof -raw '%s' 2>&1", path);
    rc = run(cmd, &o);
    find_line(o.base, "planted_hotspot_fn", line, sizeof(line));
    ok(rc == 0 && strstr(o.base, "Mappings") && strstr(o.base, exe) != NULL, "mappings name the binary");
    od_buf_dispose(&o);
}

/* whether the file at this binary's path is still this binary */
static int exe_unchanged(void)
{
    struct stat a, b;
    return stat("/proc/self/exe", &a) == 0 && stat(exe, &b) == 0 && a.st_ino == b.st_ino &&
           a.st_dev == b.st_dev;
}

/* the legacy files, read with the binary by go tool pprof and google-pprof */
static void test_legacy_tools(void)
{
    od_buf_t o = OD_BUF_INIT;
    char cmd[2048], path[512], line[512];
    static const struct {
        int kind;
        const char *index;
    } want[] = {
        {OD_PROF_CPU, "samples"},       {OD_PROF_HEAP, "inuse_objects"}, {OD_PROF_THREADS, "thread"},
        {OD_PROF_BLOCK, "contentions"}, {OD_PROF_MUTEX, "contentions"},
    };
    if (have("go")) {
        for (size_t i = 0; i < OD_ARRAY_SIZE(want); i++) {
            int k = want[i].kind;
            path_of(path, sizeof(path), k, OD_FMT_LEGACY);
            snprintf(cmd, sizeof(cmd), "go tool pprof -top -sample_index=%s '%s' '%s' 2>&1", want[i].index,
                     bin, path);
            int rc = run(cmd, &o);
            find_line(o.base, " planted_hotspot_fn", line, sizeof(line));
            /* the same numbers as the proto file (heap: within the rounding of the raw counts) */
            double flat = k == OD_PROF_CPU       ? 100
                          : k == OD_PROF_THREADS ? 3
                          : k == OD_PROF_HEAP    ? (double)profiles[k].samples[0].values[2]
                                                 : 12;
            double got = first_number(line);
            ok(rc == 0 && fabs(got - flat) <= flat * 0.01,
               "go tool pprof reads legacy %s: planted_hotspot_fn %g ~ %g (%s)", kind_names[k], got, flat,
               line[0] ? line : o.base);
        }
        path_of(path, sizeof(path), OD_PROF_MUTEX, OD_FMT_LEGACY);
        snprintf(cmd, sizeof(cmd), "go tool pprof -top -sample_index=delay '%s' '%s' 2>&1", bin, path);
        run(cmd, &o);
        find_line(o.base, " planted_hotspot_fn", line, sizeof(line));
        ok(strncmp(line + strspn(line, " "), "100ms ", 6) == 0,
           "legacy mutex delay scaled back by the period (%s)", line);
    } else {
        skip(6, "go not installed");
    }

    /* google-pprof finds the main binary only under the path of the memory map, which a
     * concurrent build in a shared tree may replace at any time: then the result says
     * nothing about the writer, and the assertion is skipped */
    if (!have("google-pprof")) {
        skip(5, "google-pprof not installed");
        od_buf_dispose(&o);
        return;
    }
    int kinds[] = {OD_PROF_CPU, OD_PROF_HEAP, OD_PROF_BLOCK, OD_PROF_MUTEX};
    for (size_t i = 0; i < OD_ARRAY_SIZE(kinds); i++) {
        int k = kinds[i];
        path_of(path, sizeof(path), k, OD_FMT_LEGACY);
        snprintf(cmd, sizeof(cmd), "google-pprof --text %s '%s' '%s' 2>&1",
                 k == OD_PROF_HEAP  ? "--inuse_objects"
                 : k == OD_PROF_CPU ? ""
                                    : "--contentions",
                 exe, path);
        int rc = run(cmd, &o);
        find_line(o.base, " planted_hotspot_fn", line, sizeof(line));
        double flat = k == OD_PROF_CPU    ? 100
                      : k == OD_PROF_HEAP ? (double)profiles[k].samples[0].values[2]
                                          : 12;
        double got = first_number(line);
        if (!exe_unchanged()) {
            skip(1, "this binary was replaced by a concurrent build");
            continue;
        }
        ok(rc == 0 && fabs(got - flat) <= flat * 0.01 + 0.5,
           "google-pprof --text reads legacy %s: planted_hotspot_fn %g ~ %g (%s)", kind_names[k], got, flat,
           line[0] ? line : o.base);
    }
    path_of(path, sizeof(path), OD_PROF_CPU, OD_FMT_LEGACY);
    snprintf(cmd, sizeof(cmd), "google-pprof --text --lines '%s' '%s' 2>&1", exe, path);
    run(cmd, &o);
    find_line(o.base, " planted_hotspot_fn ", line, sizeof(line));
    if (!exe_unchanged())
        skip(1, "this binary was replaced by a concurrent build");
    else
        ok(strstr(line, "t/unit/prof_format.c:") != NULL && first_number(line) == 100,
           "google-pprof --lines: the hotspot's source line (%s)", line);
    od_buf_dispose(&o);
}

/* A binary replaced on disk while it runs (a rebuild under a running server) is still
 * symbolized: run a copy of this test that deletes itself first. */
static int deleted_check(const char *self)
{
    if (unlink(self) != 0) return 2;
    od_sym_t sym;
    int rc = od_symbolize((uintptr_t)&planted_caller_b + 1, &sym);
    printf("%s %s\n", rc == 0 ? sym.frames[0].func : "?", rc == 0 ? sym.frames[0].file : "?");
    return 0;
}

static void test_deleted_binary(void)
{
    char cmd[2400];
    od_buf_t o = OD_BUF_INIT;
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s/deleted.bin' && '%s/deleted.bin' --deleted-check 2>&1", bin,
             tmpdir, tmpdir);
    int rc = run(cmd, &o);
    ok(rc == 0 && strncmp(o.base, "planted_caller_b /", 18) == 0 &&
           strstr(o.base, "t/unit/prof_format.c") != NULL,
       "symbolizes a binary deleted since it started (%s)", o.base);
    od_buf_dispose(&o);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--deleted-check") == 0) return deleted_check(argv[0]);
    planted_caller_a(&st_a);
    planted_caller_b(&st_b);
    planted_inliner_fn(&st_inl);
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    exe[n > 0 ? n : 0] = '\0';

    snprintf(tmpdir, sizeof(tmpdir), "%s/prof_format.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    OD_ASSERT(mkdtemp(tmpdir) != NULL);
    char env[512];
    setenv("HOME", tmpdir, 1);
    snprintf(env, sizeof(env), "%s/gocache", tmpdir);
    setenv("GOCACHE", env, 1);
    setenv("PPROF_TMPDIR", tmpdir, 1);
    setenv("PPROF_BINARY_PATH", tmpdir, 1);
    unsetenv("DEBUGINFOD_URLS");

    /* The tools read symbols from a private copy of this very binary: in a shared tree, a
     * concurrent `make` may replace build/t/prof_format while the tests run. */
    snprintf(bin, sizeof(bin), "%s/prof_format.bin", tmpdir);
    char cp[2400];
    snprintf(cp, sizeof(cp), "cp /proc/%d/exe '%s'", (int)getpid(), bin);
    OD_ASSERT(system(cp) == 0);

    build_profiles();
    test_formats_table();
    test_symbolize();
    test_deleted_binary();
    test_write_all();
    test_pprof_bytes();
    test_legacy_bytes();
    test_text();
    test_go_text();
    test_folded();
    test_svg();
    test_go_pprof();
    test_legacy_tools();

    for (int k = 0; k < 5; k++)
        od_profile_dispose(&profiles[k]);
    int rc = done_testing();
    if (rc == 0 && getenv("KEEP_TMP") == NULL) {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    } else {
        fprintf(stderr, "# files kept in %s\n", tmpdir);
    }
    return rc;
}
