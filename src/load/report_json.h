/*
 * report_json — orderload's --json document (schema 1, SPEC's "orderload" section): one
 * result (a scenario or a total) as the JSON object SPEC describes.  Pure functions of their
 * inputs; thread-safe.
 */
#ifndef OD_LOAD_REPORT_JSON_H
#define OD_LOAD_REPORT_JSON_H

#include "load/stats.h"

/** appends one result as the JSON object SPEC describes (executor only when set; a scenario's
 *  "timeline_step_s" and "timeline" of per-second points when its stats have a timeline) */
void od_report_json(od_buf_t *b, const od_load_result_t *r);

#endif
