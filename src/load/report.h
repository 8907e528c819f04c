/*
 * report — orderload's output: the text report (per scenario and total), the threshold
 * lines, and the JSON document (schema 1), plus the small formatters the progress line
 * shares.  Pure functions of their inputs; thread-safe.
 */
#ifndef OD_LOAD_REPORT_H
#define OD_LOAD_REPORT_H

#include <stdio.h>

#include "load/stats.h"

/** formats a duration in µs as "850us", "12.34ms" or "1.23s" */
void od_fmt_us(char out[24], double us);
/** formats a threshold metric's value for people ("9.80ms", "1.2%", "300") */
void od_fmt_metric(char out[32], const char *metric, double value);

/** writes one result (a scenario or a total) as text */
void od_report_text(FILE *f, const od_load_result_t *r, const char *title);
/** appends one result as the JSON object SPEC describes (executor only when set; a scenario's
 *  "timeline_step_s" and "timeline" of per-second points when its stats have a timeline) */
void od_report_json(od_buf_t *b, const od_load_result_t *r);

#endif
