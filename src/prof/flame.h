/*
 * flame — a profile as a self-contained SVG flame graph that opens in a browser.
 *
 * The graph is built from the folded stacks (render.h: one "root;...;leaf N" per distinct
 * stack of the default sample type), so its frame names are the folded form's: the
 * symbolized functions, inlined frames included, and for code without symbols the name pprof
 * gives it, "[module]" ("[vdso]", "[libz.so.1]").  Root at the bottom, width by value,
 * children ordered by name, warm colours by name (a name keeps its colour across graphs).
 *
 * In the browser (script inside the SVG, nothing loaded from anywhere):
 *   - hover: the frame's name, value and share in a tooltip and in the details line
 *   - click a frame: zoom into it (its subtree spans the width; its ancestors stay below it,
 *     full width and faded); "Reset Zoom" (top left), the root frame or Escape zooms out
 *   - "Search" (top right), Ctrl-F or F3: a regular expression (a plain string when it does
 *     not compile) prompted for; matching frames turn magenta and "Matched: N%" (bottom
 *     right) says what share of the whole profile lies under at least one match (nested
 *     matches counted once); "Reset Search" or Escape clears it
 * Each frame is a <g class="f"> carrying data-x and data-w (its start and width as fractions
 * of the total), data-d (its depth, 0 for the root) and data-n (its name).
 *
 * Threading: thread-safe; the profile is only read.
 */
#ifndef OD_PROF_FLAME_H
#define OD_PROF_FLAME_H

#include "prof/profile.h"
#include "base/util.h"

/**
 * appends p's flame graph (the default sample type) to out
 * @return 0 if successful, -1 if not (message appended to err)
 */
int od_flame_svg(const od_profile_t *p, od_buf_t *out, od_buf_t *err);

#endif
