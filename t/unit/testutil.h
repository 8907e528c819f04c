/*
 * Helpers shared by the profiler unit tests (prof_cpu, prof_heap, prof_lockprof,
 * prof_threads): naming the functions in a sample's stack and finding a function's address
 * range, both through the dynamic symbol table.  The functions a test looks for must be
 * global and noinline, and the binary links with -rdynamic so that dladdr finds them.
 */
#ifndef OD_T_TESTUTIL_H
#define OD_T_TESTUTIL_H

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <stdint.h>
#include <string.h>

#include "prof/format.h"

/* Name of the function containing pc ("" if unknown; the string belongs to the loader).  A
 * return address (leaf 0) is looked up at pc - 1: the call may be the function's last
 * instruction.  leaf 1: pc is where the thread was interrupted, looked up as it is. */
static inline const char *fn_name(uintptr_t pc, int leaf)
{
    Dl_info di;
    if (pc == 0 || dladdr((void *)(leaf ? pc : pc - 1), &di) == 0 || di.dli_sname == NULL) return "";
    return di.dli_sname;
}

/* 1 if a frame of s's stack is in function fn, else 0; leaf: the first pc is an interrupted
 * pc rather than a return address (see fn_name) */
static inline int stack_has(const od_prof_sample_t *s, const char *fn, int leaf)
{
    for (size_t i = 0; i < s->npcs; i++)
        if (strcmp(fn_name(s->pcs[i], leaf && i == 0), fn) == 0) return 1;
    return 0;
}

typedef struct range {
    uintptr_t lo, hi; /* [lo, hi): the function's code */
} range_t;

/* the address range of the function fn, from its symbol's size ({0, 0} if unknown) */
static inline range_t fn_range(void *fn)
{
    Dl_info info;
    const ElfW(Sym) *sym = NULL;
    range_t r = {0, 0};
    if (dladdr1(fn, &info, (void **)&sym, RTLD_DL_SYMENT) && sym != NULL && info.dli_saddr != NULL) {
        r.lo = (uintptr_t)info.dli_saddr;
        r.hi = r.lo + sym->st_size;
    }
    return r;
}

#endif
