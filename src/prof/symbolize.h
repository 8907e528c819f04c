/*
 * symbolize — in-process symbolization of program counters: function, file and line, with
 * inlined frames, for the main binary and every shared library, using libdw (elfutils).
 *
 * The profile writers (pprof, text, folded, svg) call od_symbolize for each distinct PC; the
 * /pprof/symbol and /debug/pprof/symbol endpoints call od_symbolize_name.
 *
 * Address convention: these functions look up the address they are given, unchanged.  A
 * return address must be turned into an address inside the call instruction first
 * (od_sym_lookup_pc: subtract 1) — except the leaf of a CPU sample, which gperftools records
 * as the exact interrupted PC (pprof does the same adjustment when it reads legacy profiles).
 *
 * Results: with DWARF, one frame per function level at the PC — the innermost inlined
 * function first, the out-of-line function last — each with the file and line of the PC
 * (innermost) or of the inlined call site (outer frames).  Without DWARF, one frame with the
 * ELF symbol name and an empty file.  C++ names are demangled.
 *
 * Where the work happens: not in orderd.  libdw's tables of every module cost tens of MiB,
 * which orderd's own heap profile and RSS would show a learner hunting a leak; they live in
 * a helper process (prof/symhelper.h, prof/symdwfl.h) started at the first lookup.  orderd
 * keeps only a bounded cache of its answers and their interned strings, in mmap'd regions
 * outside the sampled heap (od_symbolize_footprint says how much).  When the helper cannot
 * answer (dead twice, late), lookups return "unknown" (writers print hex addresses), one
 * line is logged, and nothing is cached, so later lookups try again.
 *
 * Batching: writers call od_symbolize_profile (od_symbolize_prefetch with every PC of a profile)
 * first (a round trip per 1024 PCs), then od_symbolize for each from the cache.
 *
 * Ownership: every string in an od_sym_t is interned by this module and stays valid for the
 * life of the process; callers never free them.  The od_sym_t itself is a plain copy.
 *
 * Threading: thread-safe.  One mutex (sym_lock, in symbolize.c) guards the PC cache, the
 * string intern table and the conversation with the helper.  The PC cache is bounded (it is
 * emptied when it fills); the intern table only grows with the distinct names seen and is
 * capped (4 MiB; then new names read "?").  Modules loaded after the first lookup (dlopen)
 * are picked up by the helper (see symdwfl.h).
 */
#ifndef OD_PROF_SYMBOLIZE_H
#define OD_PROF_SYMBOLIZE_H

#include <stddef.h>
#include <stdint.h>

#include "base/util.h"
#include "prof/profile.h"

#define OD_SYM_MAX_FRAMES 8

typedef struct od_sym_frame {
    const char *func;    /* interned; demangled function name, "" when unknown */
    const char *sysname; /* interned; linkage / ELF symbol name ("" when unknown) */
    const char *file;    /* interned; absolute source path when known, "" when not */
    int line;            /* source line, 0 when unknown */
    int start_line;      /* line where the function is declared, 0 when unknown */
} od_sym_frame_t;

typedef struct od_sym {
    od_sym_frame_t frames[OD_SYM_MAX_FRAMES]; /* innermost (inlined) first, real function last */
    size_t nframes;                           /* 0 when nothing is known about the PC */
    const char *module;                       /* interned; path of the containing module, "" if none */
    uintptr_t module_base;                    /* load bias of that module (0 if none) */
    const char *symbol;                       /* interned; ELF symbol containing the PC, "" if none */
    uintptr_t symbol_addr;                    /* address of that symbol, 0 if none */
} od_sym_t;

/** the address to look up for the i-th PC of a stack (leaf first): pc - 1 for return
 *  addresses; `leaf_exact` says whether pcs[0] is an exact PC (CPU samples) */
static inline uintptr_t od_sym_lookup_pc(uintptr_t pc, size_t i, int leaf_exact)
{
    return (i == 0 && leaf_exact) || pc == 0 ? pc : pc - 1;
}

/**
 * symbolizes `pc` (looked up unchanged) into *out (always filled, nframes 0 when unknown)
 * @return 0 if at least a function name was found, -1 if not
 */
int od_symbolize(uintptr_t pc, od_sym_t *out);

/**
 * appends the name of the (innermost) function containing `pc` (looked up unchanged) to out,
 * for the symbol endpoints
 * @return 0 if successful, -1 if the PC is unknown (nothing appended)
 */
int od_symbolize_name(uintptr_t pc, od_buf_t *out);

/**
 * appends the GNU build ID (lowercase hex) of the module mapped at `addr` to out
 * @return 0 if successful, -1 if the module has none or is unknown (nothing appended)
 */
int od_symbolize_build_id(uintptr_t addr, od_buf_t *out);

/** looks up every PC of pcs[0..n) not cached yet (looked up unchanged), in batches, so that
 *  the od_symbolize calls that follow are answered from the cache */
void od_symbolize_prefetch(const uintptr_t *pcs, size_t n);
/** od_symbolize_prefetch with every PC of p (as the writers look them up: the leaf exact in a
 *  CPU profile), so that a writer's lookups that follow come from the cache: call it first in
 *  every writer that symbolizes */
void od_symbolize_profile(const od_profile_t *p);

/** empties the PC cache and stops the helper, which forgets the module list (tests; after
 *  dlclose) */
void od_symbolize_reset(void);

/** the bytes of orderd's memory symbolization has touched (the cache, its records, the
 *  interned names) and the size of the regions reserved for them */
void od_symbolize_footprint(size_t *touched_bytes, size_t *reserved_bytes);

#endif
