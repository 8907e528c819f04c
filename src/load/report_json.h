/*
 * report_json — orderload's --json document (schema 1, SPEC's "orderload" section), built
 * with jansson: one result (a scenario or a total) as the JSON object SPEC describes, the
 * helpers the rest of the document (written by main.c) uses, and the writer.
 *
 * Figures keep the precision the document has always had (rates and durations to 3
 * decimals, means to 1, thresholds to 6 significant digits): od_json_fixed rounds a value
 * through its printf format and od_json_write_file prints it back with 15 significant
 * digits, so each reads as it was rounded (20.000 becomes 20.0: the same number).
 *
 * Ownership: every json_t returned is a new reference the caller owns (json_decref, or hand
 * it to a *_set_new / *_append_new).  Pure functions of their inputs; thread-safe.
 */
#ifndef OD_LOAD_REPORT_JSON_H
#define OD_LOAD_REPORT_JSON_H

#include <jansson.h>

#include "load/stats.h"

/** returns one result as the JSON object SPEC describes (executor only when set; a
 *  scenario's "timeline_step_s" and "timeline" of per-second points when its stats have a
 *  timeline; when it follows its orders, "completion_us" shaped as "latency_us", a "follow"
 *  object of counts, and "completion_p99_us" in each timeline point) */
json_t *od_report_json(const od_load_result_t *r);
/** returns v rounded as printf's fmt (e.g. "%.3f") writes it, as a JSON number; null when v
 *  is not finite (JSON has no NaN) */
json_t *od_json_fixed(const char *fmt, double v);
/** returns s as a JSON string; bytes that are not UTF-8 (which jansson refuses) become
 *  U+FFFD */
json_t *od_json_text(const char *s);
/**
 * writes doc, compact, in insertion order, with a final newline, to path (replacing it);
 * prints "orderload: cannot write PATH: reason" on stderr when that fails
 * @return 0 if successful, -1 if not
 */
int od_json_write_file(const char *path, const json_t *doc);

#endif
