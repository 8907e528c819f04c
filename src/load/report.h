/*
 * report — orderload's text report (per scenario and total) and the small formatters the
 * progress and threshold lines share; report_json.h is the JSON document.  Pure functions of
 * their inputs; thread-safe.
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
/* The percentiles both reports show, by name ("p99.9") and value (99.9). */
#define OD_NPCT 7
extern const char *const od_pct_names[OD_NPCT];
extern const double od_pct_values[OD_NPCT];

#endif
