/*
 * cpu_samples — what both CPU engines share: the profile's sample types, merging identical
 * stacks into one sample, and parsing gperftools' legacy CPU format (the itimer engine's
 * output, and what /debug/pprof/profile's legacy form is).  See cpu.h and cpu_engine.h.
 */
#include <stdlib.h>
#include <string.h>

#include "prof/cpu_engine.h"

#define HEADER_WORDS 5
#define MAX_DEPTH 1024 /* sanity bound on a record's depth (gperftools writes <= 64) */

void od_cpu_set_types(od_profile_t *p, int64_t period_ns)
{
    p->kind = OD_PROF_CPU;
    p->ntypes = 0;
    od_profile_add_type(p, "samples", "count");
    od_profile_add_type(p, "cpu", "nanoseconds");
    p->default_type = "cpu";
    p->period_type = (od_prof_valtype_t){"cpu", "nanoseconds"};
    p->period = period_ns;
}

void od_cpu_stack_index_dispose(od_cpu_stack_index_t *ix)
{
    free(ix->slots);
    ix->slots = NULL;
    ix->cap = 0;
}

void od_cpu_add_stack(od_profile_t *p, od_cpu_stack_index_t *ix, const uintptr_t *pcs, size_t n,
                      int64_t count)
{
    if ((p->nsamples + 1) * 2 > ix->cap) {
        size_t ncap = ix->cap ? ix->cap * 2 : 256;
        size_t *nslots = od_calloc(ncap, sizeof(*nslots));
        for (size_t i = 0; i < p->nsamples; i++) {
            size_t j = od_prof_hash_pcs(p->samples[i].pcs, p->samples[i].npcs) & (ncap - 1);
            while (nslots[j])
                j = (j + 1) & (ncap - 1);
            nslots[j] = i + 1;
        }
        free(ix->slots);
        ix->slots = nslots;
        ix->cap = ncap;
    }
    size_t j = od_prof_hash_pcs(pcs, n) & (ix->cap - 1);
    while (ix->slots[j]) {
        od_prof_sample_t *s = &p->samples[ix->slots[j] - 1];
        if (s->npcs == n && memcmp(s->pcs, pcs, n * sizeof(*pcs)) == 0) {
            s->values[0] += count;
            s->values[1] += count * p->period;
            return;
        }
        j = (j + 1) & (ix->cap - 1);
    }
    int64_t values[2] = {count, count * p->period};
    od_profile_add(p, pcs, n, values);
    ix->slots[j] = p->nsamples;
}

long od_cpu_parse_legacy(const void *data, size_t len, od_profile_t *p, od_buf_t *err)
{
    const size_t W = sizeof(uintptr_t);
    size_t nw = len / W, i;
    /* The buffer may be unaligned (it comes from a byte buffer): copy words out. */
#define WORD(k) (memcpy(&w, (const char *)data + (k)*W, W), w)
    uintptr_t w;

    if (nw < HEADER_WORDS || WORD(0) != 0 || WORD(1) != 3 || WORD(2) != 0) {
        od_buf_printf(err, "cpu profile: not a gperftools legacy CPU profile (%zu bytes, bad header)", len);
        return -1;
    }
    uintptr_t period_us = WORD(3);
    if (period_us == 0 || period_us > 1000000) {
        od_buf_printf(err, "cpu profile: implausible sampling period %lu us in header",
                      (unsigned long)period_us);
        return -1;
    }
    od_cpu_set_types(p, (int64_t)period_us * 1000);

    od_cpu_stack_index_t ix = {NULL, 0};
    uintptr_t pcs[MAX_DEPTH];
    long ret = -1;
    for (i = HEADER_WORDS;;) {
        if (i + 2 > nw) {
            od_buf_printf(err, "cpu profile: truncated at word %zu of %zu (no trailer)", i, nw);
            goto done;
        }
        uintptr_t count = WORD(i), depth = WORD(i + 1);
        if (count == 0) {
            /* the trailer is 0, 1, 0 */
            if (depth != 1 || i + 3 > nw || WORD(i + 2) != 0) {
                od_buf_printf(err, "cpu profile: bad trailer at word %zu", i);
                goto done;
            }
            ret = (long)((i + 3) * W);
            break;
        }
        if (depth > MAX_DEPTH || i + 2 + depth > nw) {
            od_buf_printf(err, "cpu profile: bad record at word %zu (depth %lu)", i, (unsigned long)depth);
            goto done;
        }
        for (size_t d = 0; d < depth; d++)
            pcs[d] = WORD(i + 2 + d);
        size_t n = depth > OD_PROF_MAX_DEPTH ? OD_PROF_MAX_DEPTH : depth;
        od_cpu_add_stack(p, &ix, pcs, n, (int64_t)count);
        i += 2 + depth;
    }
done:
    od_cpu_stack_index_dispose(&ix);
    return ret;
#undef WORD
}
