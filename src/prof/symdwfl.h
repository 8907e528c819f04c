/*
 * symdwfl — the symbolizer's libdwfl (elfutils) session, run inside the symbolizer helper
 * process (prof/symhelper.h), never inside orderd: libdw's tables of every module (tens of
 * MiB once a profile has touched a few libraries) then live in the helper's memory, not in
 * the heap and RSS that orderd's own profiles show.
 *
 * It reads the modules of the target process from /proc/PID/maps and their ELF files
 * (through /proc/PID/map_files or /proc/PID/exe when replaced on disk; [vdso] through
 * /proc/PID/mem, which needs the target's PR_SET_PTRACER under Yama).  Modules are loaded at
 * their first lookup; a PC outside every known module re-reads the maps at most once a second
 * (a library dlopen'ed since).  Separate debug info comes only from the local build-id tree.
 *
 * Results follow symbolize.h's conventions (innermost inlined frame first, demangled names,
 * absolute paths, the ELF symbol when there is no DWARF).
 *
 * Ownership: every string in an od_sym_t is interned here and lives until the helper exits
 * (capped: beyond 32 MiB of names, new ones become "?").
 *
 * Threading: not thread-safe; the helper is single-threaded.
 */
#ifndef OD_PROF_SYMDWFL_H
#define OD_PROF_SYMDWFL_H

#include <stdint.h>
#include <sys/types.h>

#include "prof/symbolize.h"
#include "base/util.h"

/** targets process `pid` (the session is built at the first lookup) */
void od_symdwfl_open(pid_t pid);

/** symbolizes `pc` (looked up unchanged) into *out (always filled; nframes 0 when unknown) */
void od_symdwfl_lookup(uintptr_t pc, od_sym_t *out);

/**
 * appends the GNU build ID (lowercase hex) of the module mapped at `addr` to out
 * @return 0 if successful, -1 if the module has none or is unknown (nothing appended)
 */
int od_symdwfl_build_id(uintptr_t addr, od_buf_t *out);

/** ends the session (the interned strings stay) */
void od_symdwfl_close(void);

#endif
