/*
 * render — the human-facing text formats: text (Go's debug=1), Go's goroutine?debug=2 dump
 * and folded stacks, all symbolized in-process (symbolize.h).  The flame graph (flame.h) is
 * drawn from the folded stacks.
 *
 *   text    one block per sample, heaviest first: the values and PCs in the grammar of the
 *           legacy format for the kind ("N: M [N: M] @ ...", "DELAY COUNT @ ...",
 *           "N @ ..." under "goroutine profile: total N" for threads; contention under
 *           runtime/pprof's "--- contention:" / "--- mutex:" headers), the labels as
 *           "# key: value" lines (thread names and states), then one
 *           "#\t0xPC\tfunc+0xoff\tfile:line" line per frame, inlined frames included; in
 *           the threads profile, the groups of idle profiler threads (label profiler=yes,
 *           no thread running or capturing) are folded into one last group
 *           "N @ prof-* ×N waiting" with their names and states, without stacks
 *   folded  "root;caller;leaf N" per distinct stack (the default sample type), sorted;
 *           code without symbols named as pprof names it, "[module]" ("[vdso]")
 *
 * Unknown PCs in the text forms: "module+0xoff" ("[vdso]+0x7bd"), else "0xPC".
 *
 * Threading: thread-safe; the profile is only read.
 */
#ifndef OD_PROF_RENDER_H
#define OD_PROF_RENDER_H

#include "prof/profile.h"
#include "base/util.h"

/** each appends p to out; @return 0 if successful, -1 if not (message appended to err) */
int od_render_text(const od_profile_t *p, od_buf_t *out, od_buf_t *err);
int od_render_folded(const od_profile_t *p, od_buf_t *out, od_buf_t *err);
/** Go's debug=1 text: the text form with every group listed (idle profiler threads too) */
int od_render_go_text(const od_profile_t *p, od_buf_t *out, od_buf_t *err);

/** appends Go's goroutine?debug=2 dump of a threads profile: per thread, a "# thread: NAME"
 *  comment, then "goroutine N [STATE]:" and its traceback as Go prints one */
void od_render_goroutine_dump(const od_profile_t *p, od_buf_t *out);

/** appends v in its unit for a reader: "12.50 ms", "3.00 MiB", "42" */
void od_render_value(od_buf_t *b, int64_t v, const char *unit);
/** "cpu", "heap", "threads", "block", "mutex" */
const char *od_render_kind_name(od_prof_kind_t k);

/** index of the default sample type (p->default_type, else the last type); -1 if none */
int od_render_default_type(const od_profile_t *p);

#endif
