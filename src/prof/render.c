/*
 * render — text, folded and SVG flame graph writers (see render.h).
 */
#include "prof/render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hashmap.h"
#include "prof/legacy.h"
#include "prof/symbolize.h"
#include "prof/threads.h"

#define MAX_NAMES (OD_PROF_MAX_DEPTH * OD_SYM_MAX_FRAMES)

int od_render_default_type(const od_profile_t *p)
{
    if (p->ntypes == 0) return -1;
    if (p->default_type)
        for (size_t i = 0; i < p->ntypes; i++)
            if (p->types[i].type && strcmp(p->types[i].type, p->default_type) == 0) return (int)i;
    return (int)p->ntypes - 1;
}

const char *od_render_kind_name(od_prof_kind_t k)
{
    switch (k) {
    case OD_PROF_CPU:
        return "cpu";
    case OD_PROF_HEAP:
        return "heap";
    case OD_PROF_THREADS:
        return "threads";
    case OD_PROF_BLOCK:
        return "block";
    case OD_PROF_MUTEX:
        return "mutex";
    }
    return "unknown";
}

/* --- frame names ----------------------------------------------------------------------------- */

typedef struct fname {
    const char *s; /* interned by symbolize.c, or `own` */
    char own[80];
} fname_t;

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* A module's name as the pprof's mapping gives it: the file's base name, and "[vdso]" for the
 * vDSO, which libdw calls "[vdso: PID]" */
static const char *module_name(const char *module)
{
    return strncmp(module, "[vdso", 5) == 0 ? "[vdso]" : base_name(module);
}

/* The name of an unknown PC in the text forms: "module+0xoff" when the module is known, else
 * "0xPC". */
static void unknown_name(fname_t *f, const od_sym_t *sym, uintptr_t pc)
{
    if (sym->module[0])
        snprintf(f->own, sizeof(f->own), "%s+0x%llx", module_name(sym->module),
                 (unsigned long long)(pc - sym->module_base));
    else
        snprintf(f->own, sizeof(f->own), "0x%llx", (unsigned long long)pc);
    f->s = f->own;
}

/* ... and in the folded stacks and the flame graph, the name pprof gives such a frame:
 * "[module]" ("[vdso]", "[libz.so.1]"), else "0xPC" */
static void unknown_frame(fname_t *f, const od_sym_t *sym, uintptr_t pc)
{
    const char *m = sym->module[0] ? module_name(sym->module) : NULL;
    if (m && m[0] == '[')
        snprintf(f->own, sizeof(f->own), "%s", m);
    else if (m)
        snprintf(f->own, sizeof(f->own), "[%s]", m);
    else
        snprintf(f->own, sizeof(f->own), "0x%llx", (unsigned long long)pc);
    f->s = f->own;
}

/* Fills out[] with the stack's function names, root first, inlined frames expanded.
 * Returns the count. */
static size_t stack_names(const od_profile_t *p, const od_prof_sample_t *s, fname_t *out)
{
    size_t n = 0;
    int leaf_exact = p->kind == OD_PROF_CPU;
    for (size_t j = s->npcs; j-- > 0;) {
        uintptr_t pc = od_sym_lookup_pc(s->pcs[j], j, leaf_exact);
        od_sym_t sym;
        od_symbolize(pc, &sym);
        if (sym.nframes == 0) {
            if (n < MAX_NAMES) unknown_frame(&out[n++], &sym, pc);
            continue;
        }
        for (size_t k = sym.nframes; k-- > 0 && n < MAX_NAMES;) {
            if (sym.frames[k].func[0])
                out[n++].s = sym.frames[k].func;
            else
                unknown_frame(&out[n++], &sym, pc);
        }
    }
    return n;
}

/* --- value formatting ------------------------------------------------------------------------ */

void od_render_value(od_buf_t *b, int64_t v, const char *unit)
{
    double d = (double)v;
    if (unit && strcmp(unit, "nanoseconds") == 0) {
        if (v >= 1000000000 || v <= -1000000000)
            od_buf_printf(b, "%.2f s", d / 1e9);
        else if (v >= 1000000 || v <= -1000000)
            od_buf_printf(b, "%.2f ms", d / 1e6);
        else if (v >= 1000 || v <= -1000)
            od_buf_printf(b, "%.2f us", d / 1e3);
        else
            od_buf_printf(b, "%lld ns", (long long)v);
    } else if (unit && strcmp(unit, "bytes") == 0) {
        if (v >= (1 << 30) || v <= -(1 << 30))
            od_buf_printf(b, "%.2f GiB", d / (1 << 30));
        else if (v >= (1 << 20) || v <= -(1 << 20))
            od_buf_printf(b, "%.2f MiB", d / (1 << 20));
        else if (v >= (1 << 10) || v <= -(1 << 10))
            od_buf_printf(b, "%.2f KiB", d / (1 << 10));
        else
            od_buf_printf(b, "%lld B", (long long)v);
    } else if (unit == NULL || strcmp(unit, "count") == 0) {
        od_buf_printf(b, "%lld", (long long)v);
    } else {
        od_buf_printf(b, "%lld %s", (long long)v, unit);
    }
}

/* --- text ------------------------------------------------------------------------------------ */

static int cmp_by_value(const void *a, const void *b, void *arg)
{
    const od_profile_t *p = ((void **)arg)[0];
    int t = *(const int *)((void **)arg)[1];
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int64_t vi = t >= 0 ? p->samples[i].values[t] : 0, vj = t >= 0 ? p->samples[j].values[t] : 0;
    if (vi != vj) return vi > vj ? -1 : 1;
    return i < j ? -1 : i > j;
}

/* Sample indices, heaviest first by the default type; caller frees. */
static size_t *sorted_samples(const od_profile_t *p)
{
    size_t *idx = od_malloc((p->nsamples ? p->nsamples : 1) * sizeof(*idx));
    for (size_t i = 0; i < p->nsamples; i++)
        idx[i] = i;
    int t = od_render_default_type(p);
    void *arg[2] = {(void *)p, &t};
    qsort_r(idx, p->nsamples, sizeof(*idx), cmp_by_value, arg);
    return idx;
}

static void put_comments(const od_profile_t *p, od_buf_t *out)
{
    for (const char *c = p->comment; c && *c;) {
        size_t len = strcspn(c, "\n");
        od_buf_puts(out, "# ");
        od_buf_append(out, c, len);
        od_buf_putc(out, '\n');
        c += len + (c[len] == '\n');
    }
}

static void put_labels(const od_prof_sample_t *s, od_buf_t *out)
{
    for (size_t l = 0; l < s->nlabels; l++) {
        const od_prof_label_t *lb = &s->labels[l];
        if (lb->str)
            od_buf_printf(out, "# %s: %s\n", lb->key, lb->str);
        else
            od_buf_printf(out, "# %s: %lld%s%s\n", lb->key, (long long)lb->num, lb->num_unit ? " " : "",
                          lb->num_unit ? lb->num_unit : "");
    }
}

/* "#\t0xPC\tfunc+0xoff\tfile:line" per frame, leaf first (Go's debug=1 layout) */
static void put_frames(const od_profile_t *p, const od_prof_sample_t *s, od_buf_t *out)
{
    int leaf_exact = p->kind == OD_PROF_CPU;
    for (size_t j = 0; j < s->npcs; j++) {
        uintptr_t pc = od_sym_lookup_pc(s->pcs[j], j, leaf_exact);
        od_sym_t sym;
        od_symbolize(pc, &sym);
        if (sym.nframes == 0) {
            fname_t f;
            unknown_name(&f, &sym, pc);
            od_buf_printf(out, "#\t0x%llx\t%s\n", (unsigned long long)pc, f.s);
            continue;
        }
        unsigned long long off = sym.symbol_addr ? (unsigned long long)(pc - sym.symbol_addr) : 0;
        for (size_t k = 0; k < sym.nframes; k++) {
            const od_sym_frame_t *f = &sym.frames[k];
            od_buf_printf(out, "#\t0x%llx\t%s+0x%llx\t%s:%d\n", (unsigned long long)pc,
                          f->func[0] ? f->func : "?", off, f->file[0] ? f->file : "?", f->line);
        }
    }
}

static void put_pcs(const od_prof_sample_t *s, od_buf_t *out)
{
    od_buf_puts(out, " @");
    for (size_t j = 0; j < s->npcs; j++)
        od_buf_printf(out, " 0x%llx", (unsigned long long)s->pcs[j]);
}

static const char *label_of(const od_prof_sample_t *s, const char *key)
{
    for (size_t l = 0; l < s->nlabels; l++)
        if (s->labels[l].str && strcmp(s->labels[l].key, key) == 0) return s->labels[l].str;
    return NULL;
}

/* A threads sample of profiler threads none of which is at work (running or capturing):
 * folded into one line, so that the table shows the server's threads. */
static int idle_profiler(const od_profile_t *p, const od_prof_sample_t *s)
{
    const char *prof = label_of(s, "profiler"), *states = label_of(s, "state");
    if (p->kind != OD_PROF_THREADS || prof == NULL || strcmp(prof, "yes") != 0) return 0;
    for (const char *c = states ? states : ""; *c;) {
        size_t len = strcspn(c, ",");
        if ((len == 7 && strncmp(c, "running", 7) == 0) || (len == 9 && strncmp(c, "capturing", 9) == 0))
            return 0;
        c += len + (c[len] == ',');
    }
    return 1;
}

/* "N @ prof-* ×N waiting" and the folded threads' names and states, as one group */
static void put_folded_profiler(const od_profile_t *p, const size_t *idx, od_buf_t *out)
{
    int64_t n = 0;
    od_buf_t names = OD_BUF_INIT, states = OD_BUF_INIT;
    for (size_t k = 0; k < p->nsamples; k++) {
        const od_prof_sample_t *s = &p->samples[idx[k]];
        if (!idle_profiler(p, s)) continue;
        n += p->ntypes ? s->values[0] : 0;
        const char *t = label_of(s, "threads"), *st = label_of(s, "state");
        od_buf_printf(&names, "%s%s", names.len ? "," : "", t ? t : "?");
        od_buf_printf(&states, "%s%s", states.len ? "," : "", st ? st : "?");
    }
    if (n > 0) {
        od_buf_printf(out, "%lld @ " OD_THREAD_PROF_PREFIX "* \xc3\x97%lld waiting\n", (long long)n,
                      (long long)n);
        od_buf_printf(out, "# threads: %s\n# state: %s\n", names.base, states.base);
        od_buf_puts(out,
                    "# profiler: yes (idle profiler threads, folded; the pprof form has their stacks)\n\n");
    }
    od_buf_dispose(&names);
    od_buf_dispose(&states);
}

/* The text form; `fold_idle`: the idle profiler threads as one group (format=text), or each
 * group with its stack, as Go lists every goroutine (debug=1) */
static int text(const od_profile_t *p, od_buf_t *out, od_buf_t *err, int fold_idle)
{
    od_symbolize_profile(p);
    od_legacy_lines_t lines;
    int use_lines = p->kind == OD_PROF_HEAP || p->kind == OD_PROF_BLOCK || p->kind == OD_PROF_MUTEX;
    if (use_lines && od_legacy_lines_init(&lines, p, err) != 0) return -1;

    if (use_lines) {
        od_legacy_lines_go(&lines);
        od_legacy_lines_header(&lines, out);
        /* the contention header says its window; a heap delta says it here */
        if (p->kind == OD_PROF_HEAP && p->duration_ns)
            od_buf_printf(out, "# duration: %.3f s\n", (double)p->duration_ns / 1e9);
    } else if (p->kind == OD_PROF_THREADS) {
        int64_t total = 0;
        for (size_t i = 0; i < p->nsamples; i++)
            total += p->ntypes ? p->samples[i].values[0] : 0;
        od_buf_printf(out, "goroutine profile: total %lld\n", (long long)total);
    } else {
        od_buf_printf(out, "--- %s profile:", od_render_kind_name(p->kind));
        for (size_t t = 0; t < p->ntypes; t++)
            od_buf_printf(out, " %s/%s", p->types[t].type, p->types[t].unit);
        od_buf_puts(out, "\n# total:");
        for (size_t t = 0; t < p->ntypes; t++) {
            int64_t sum = 0;
            for (size_t i = 0; i < p->nsamples; i++)
                sum += p->samples[i].values[t];
            od_buf_putc(out, ' ');
            od_render_value(out, sum, p->types[t].unit);
        }
        od_buf_putc(out, '\n');
        if (p->period_type.type)
            od_buf_printf(out, "# period: %lld %s/%s\n", (long long)p->period, p->period_type.type,
                          p->period_type.unit ? p->period_type.unit : "");
        if (p->duration_ns) od_buf_printf(out, "# duration: %.3f s\n", (double)p->duration_ns / 1e9);
    }
    put_comments(p, out);

    size_t *idx = sorted_samples(p);
    for (size_t k = 0; k < p->nsamples; k++) {
        const od_prof_sample_t *s = &p->samples[idx[k]];
        if (fold_idle && idle_profiler(p, s)) continue; /* folded below */
        if (use_lines) {
            if (od_legacy_lines_sample(&lines, idx[k], out) != 0) continue;
        } else if (p->kind == OD_PROF_THREADS) {
            /* Go's readers want an address on a count line: threads that did not answer in
             * time (state "... (no stack)") are a comment there */
            if (!fold_idle && s->npcs == 0) od_buf_puts(out, "# ");
            od_buf_printf(out, "%lld", (long long)(p->ntypes ? s->values[0] : 0));
            put_pcs(s, out);
        } else {
            for (size_t t = 0; t < p->ntypes; t++)
                od_buf_printf(out, "%s%lld", t ? " " : "", (long long)s->values[t]);
            put_pcs(s, out);
        }
        od_buf_putc(out, '\n');
        put_labels(s, out);
        put_frames(p, s, out);
        od_buf_putc(out, '\n');
    }
    if (fold_idle) put_folded_profiler(p, idx, out);
    free(idx);
    return 0;
}

int od_render_text(const od_profile_t *p, od_buf_t *out, od_buf_t *err)
{
    return text(p, out, err, 1);
}

int od_render_go_text(const od_profile_t *p, od_buf_t *out, od_buf_t *err)
{
    return text(p, out, err, 0);
}

/* --- goroutine?debug=2 ------------------------------------------------------------------------- */

/* splits the comma-separated label `key` of s into at most n pointers into `copy` (caller
 * frees *copy) */
static size_t split_label(const od_prof_sample_t *s, const char *key, char **copy, const char **parts,
                          size_t n)
{
    *copy = NULL;
    const char *v = label_of(s, key);
    if (v == NULL) return 0;
    *copy = od_strdup(v);
    size_t k = 0;
    for (char *q = *copy, *save = NULL, *tok; k < n && (tok = strtok_r(q, ",", &save)) != NULL; q = NULL)
        parts[k++] = tok;
    return k;
}

/* One thread's stack as Go's traceback prints a goroutine's: "func()" and
 * "\tfile:line +0xOFF" for the real function at each PC, "func(...)" and "\tfile:line" for
 * the frames inlined into it (innermost first, as Go lists them). */
static void put_traceback(const od_prof_sample_t *s, od_buf_t *out)
{
    for (size_t f = 0; f < s->npcs; f++) {
        od_sym_t sym;
        uintptr_t pc = s->pcs[f];
        od_symbolize(od_sym_lookup_pc(pc, f, 0), &sym);
        if (sym.nframes == 0) {
            fname_t n;
            unknown_name(&n, &sym, od_sym_lookup_pc(pc, f, 0));
            od_buf_printf(out, "%s()\n\t?:0\n", n.s);
            continue;
        }
        for (size_t k = 0; k < sym.nframes; k++) {
            const od_sym_frame_t *fr = &sym.frames[k];
            int real = k + 1 == sym.nframes;
            od_buf_printf(out, "%s(%s)\n\t%s:%d", fr->func[0] ? fr->func : "?", real ? "" : "...",
                          fr->file[0] ? fr->file : "?", fr->file[0] ? fr->line : 0);
            if (real && sym.symbol_addr)
                od_buf_printf(out, " +0x%llx", (unsigned long long)(pc - sym.symbol_addr));
            od_buf_putc(out, '\n');
        }
    }
}

void od_render_goroutine_dump(const od_profile_t *p, od_buf_t *out)
{
    od_symbolize_profile(p);
    int no = 0;
    for (size_t i = 0; i < p->nsamples; i++) {
        const od_prof_sample_t *s = &p->samples[i];
        char *names_copy, *states_copy;
        const char *names[OD_THREADS_MAX], *states[OD_THREADS_MAX];
        size_t nn = split_label(s, "threads", &names_copy, names, OD_THREADS_MAX);
        size_t ns = split_label(s, "state", &states_copy, states, OD_THREADS_MAX);
        size_t count = nn ? nn : (size_t)(p->ntypes && s->values[0] > 0 ? s->values[0] : 1);
        for (size_t t = 0; t < count; t++) {
            od_buf_printf(out, "# thread: %s\ngoroutine %d [%s]:\n", t < nn ? names[t] : "unnamed", ++no,
                          t < ns ? states[t] : "unknown");
            put_traceback(s, out);
            od_buf_putc(out, '\n');
        }
        free(names_copy);
        free(states_copy);
    }
}

/* --- folded ---------------------------------------------------------------------------------- */

/* a frame name as folded text: ';' separates frames and the line ends the stack */
static void put_folded_name(od_buf_t *b, const char *s)
{
    for (; *s; s++)
        od_buf_putc(b, *s == ';' ? ':' : *s == '\n' || *s == '\r' ? ' ' : *s);
}

static int cmp_fold(const void *a, const void *b)
{
    return strcmp((*(od_map_entry_t *const *)a)->key, (*(od_map_entry_t *const *)b)->key);
}

/* Fills m with one entry per distinct stack ("root;...;leaf") holding the summed value of the
 * default type (value.num); returns its n entries sorted by stack, an array the caller frees
 * (the entries themselves are m's). */
static od_map_entry_t **fold(const od_profile_t *p, od_map_t *m, size_t *count)
{
    int t = od_render_default_type(p);
    fname_t *names = od_malloc(MAX_NAMES * sizeof(*names));
    od_buf_t key = OD_BUF_INIT;
    for (size_t i = 0; i < p->nsamples && t >= 0; i++) {
        const od_prof_sample_t *s = &p->samples[i];
        if (s->values[t] == 0) continue;
        size_t n = stack_names(p, s, names);
        od_buf_reset(&key);
        for (size_t k = 0; k < n; k++) {
            if (k) od_buf_putc(&key, ';');
            put_folded_name(&key, names[k].s[0] ? names[k].s : "?");
        }
        if (n == 0) od_buf_puts(&key, "[no stack]");
        od_map_put(m, key.base, key.len, NULL)->value.num += s->values[t];
    }
    od_buf_dispose(&key);
    free(names);
    /* sorted for a stable output */
    od_map_entry_t **v = od_malloc((m->count ? m->count : 1) * sizeof(*v)), *e;
    size_t n = 0, it = 0;
    while ((e = od_map_next(m, &it)) != NULL)
        v[n++] = e;
    if (n) qsort(v, n, sizeof(*v), cmp_fold);
    *count = n;
    return v;
}

int od_render_folded(const od_profile_t *p, od_buf_t *out, od_buf_t *err)
{
    od_symbolize_profile(p);
    if (p->ntypes == 0) {
        od_buf_puts(err, "folded: profile has no sample types");
        return -1;
    }
    od_map_t m = OD_MAP_INIT;
    size_t n;
    od_map_entry_t **v = fold(p, &m, &n);
    for (size_t i = 0; i < n; i++)
        od_buf_printf(out, "%s %lld\n", v[i]->key, (long long)v[i]->value.num);
    free(v);
    od_map_dispose(&m);
    return 0;
}
