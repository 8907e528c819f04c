/*
 * pprof — writes an od_profile_t as a gzipped profile.proto (the format of
 * github.com/google/pprof/proto/profile.proto, encoded by hand: varints and length-delimited
 * fields), symbolized in-process so that `go tool pprof FILE` shows function, file and line
 * (inlined frames included) without the binary.
 *
 * What goes in: sample types, samples (location ids, values, string and numeric labels), the
 * executable mappings of /proc/self/maps (main binary first, build IDs, each has_* flag set
 * only when some location in that mapping got it from symbolization: has_functions a
 * function name, has_filenames a file, has_line_numbers a line, has_inline_frames more than
 * one line), one location per distinct PC (address adjusted to
 * the call instruction, lines innermost first), functions (name, system name, file, start
 * line), the string table, time, duration, period type, period, default sample type and
 * comments.
 *
 * Address convention (as pprof's own legacy readers): PCs are return addresses and are looked
 * up at pc - 1, except the leaf of a CPU sample, which is the exact interrupted PC.  The main
 * binary's locations and mapping are written at its link addresses (runtime minus the PIE
 * load bias), as `objdump -d orderd` shows them: Go's pprof reads object files as if loaded
 * there, and its Source view and -disasm need that.  Libraries keep runtime addresses.
 *
 * Threading: thread-safe (symbolization is serialized inside symbolize.c); the profile is
 * only read.
 */
#ifndef OD_PROF_PPROF_H
#define OD_PROF_PPROF_H

#include "prof/profile.h"
#include "base/util.h"

/**
 * appends the gzipped profile.proto encoding of p to out
 * @return 0 if successful, -1 if not (message appended to err)
 */
int od_pprof_write(const od_profile_t *p, od_buf_t *out, od_buf_t *err);

/**
 * appends the uncompressed profile.proto encoding of p to out (tests, fuzzing)
 * @return 0 if successful, -1 if not (message appended to err)
 */
int od_pprof_encode(const od_profile_t *p, od_buf_t *out, od_buf_t *err);

#endif
