/*
 * render — the human-facing profile formats: text (like Go's debug=1), folded stacks and an
 * SVG flame graph, all symbolized in-process (symbolize.h).
 *
 *   text    one block per sample, heaviest first: the values and PCs in the grammar of the
 *           legacy format for the kind ("N: M [N: M] @ ...", "DELAY COUNT @ ...",
 *           "N @ ..." under "goroutine profile: total N" for threads), the labels as
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

/** index of the default sample type (p->default_type, else the last type); -1 if none */
int od_render_default_type(const od_profile_t *p);

#endif
