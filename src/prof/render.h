/*
 * render — the human-facing profile formats: text (like Go's debug=1), folded stacks and an
 * SVG flame graph, all symbolized in-process (symbolize.h).
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
 *   folded  "root;caller;leaf N" per distinct stack (the default sample type), sorted
 *   svg     a self-contained flame graph (root at the bottom, width by value, warm colours
 *           by name, tooltips, click to zoom)
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
int od_render_svg(const od_profile_t *p, od_buf_t *out, od_buf_t *err);
/** Go's debug=1 text: the text form with every group listed (idle profiler threads too) */
int od_render_go_text(const od_profile_t *p, od_buf_t *out, od_buf_t *err);

/** appends Go's goroutine?debug=2 dump of a threads profile: per thread, a "# thread: NAME"
 *  comment, then "goroutine N [STATE]:" and its traceback as Go prints one */
void od_render_goroutine_dump(const od_profile_t *p, od_buf_t *out);

/** index of the default sample type (p->default_type, else the last type); -1 if none */
int od_render_default_type(const od_profile_t *p);

#endif
