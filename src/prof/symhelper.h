/*
 * symhelper — the symbolizer helper process: libdw's tables out of orderd's heap and RSS.
 *
 * At the first symbolization, a long-lived thread of orderd ("prof-symbolize") forks and
 * execs /proc/self/exe with the private argument OD_SYMHELPER_ARG and orderd's pid; a
 * constructor in this module (which runs before main in any binary that links it: orderd,
 * the unit tests) sees the argument and runs the helper's loop instead of the program.  The
 * helper holds the libdwfl session for orderd (prof/symdwfl.h) and answers batched requests
 * on a socketpair: many PCs per round trip.
 *
 * Wire format (native byte order: both ends are the same binary on the same machine):
 *   request  u32 op, u32 n, then n u64 (PCs or addresses); n <= OD_SYMHELPER_BATCH_MAX
 *   reply    u32 op, u32 len, then len bytes: for each request word, in order,
 *     OD_SYMHELPER_SYM:      str module, u64 module_base, str symbol, u64 symbol_addr,
 *                            u8 nframes, then per frame str func, str sysname, str file,
 *                            i32 line, i32 start_line
 *     OD_SYMHELPER_BUILD_ID: str (lowercase hex build ID, "" when none)
 *   str = u16 length + bytes (no NUL; at most OD_SYMHELPER_STR_MAX)
 *
 * Robustness: the helper dies with orderd (PR_SET_PDEATHSIG on the spawning thread, which
 * never exits, and EOF on its socket); the spawning thread reaps it (no zombies); no
 * descriptor but the socket reaches it (CLOEXEC and closing the rest before exec); gperftools'
 * and tcmalloc's profiling variables are removed from its environment.  orderd never waits
 * more than OD_SYMHELPER_TIMEOUT_MS for an answer: a helper that is late, dead or talks
 * nonsense is killed, started again once and asked again; if that fails too the call fails
 * (the caller shows hex addresses) and no new helper is tried for OD_SYMHELPER_BACKOFF_MS.
 * orderd allows the helper to read its memory (PR_SET_PTRACER) for [vdso] under Yama.
 *
 * Threading: od_symhelper_call is serialized by the caller (symbolize.c's sym_lock); the
 * process state is guarded by helper_lock (symhelper.c), shared with the spawning thread.
 */
#ifndef OD_PROF_SYMHELPER_H
#define OD_PROF_SYMHELPER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/util.h"

#define OD_SYMHELPER_ARG "--od-symbolizer-helper"
#define OD_SYMHELPER_SYM 1u
#define OD_SYMHELPER_BUILD_ID 2u
#define OD_SYMHELPER_BATCH_MAX 1024
#define OD_SYMHELPER_STR_MAX 1024
#define OD_SYMHELPER_REPLY_MAX (16u << 20)
#define OD_SYMHELPER_TIMEOUT_MS 15000
#define OD_SYMHELPER_BACKOFF_MS 5000

/**
 * sends request `op` with words in[0..n) (n <= OD_SYMHELPER_BATCH_MAX) to the helper,
 * starting it if needed, and stores the reply's payload in *reply (reset first)
 * @return 0 if successful, -1 if not (message appended to err)
 */
int od_symhelper_call(uint32_t op, const uint64_t *in, size_t n, od_buf_t *reply, od_buf_t *err);

/** kills the helper, if any (the next call starts a new one; tests) */
void od_symhelper_stop(void);

/** sets the deadline of an exchange (<= 0: OD_SYMHELPER_TIMEOUT_MS); serialized like
 *  od_symhelper_call (tests) */
void od_symhelper_set_timeout(int ms);

#endif
