/*
 * log — one line per event on stderr: "orderd: LEVEL: message".  Thread-safe (one write(2)
 * per line).  od_log_quiet silences info lines (tests, --check).
 */
#ifndef OD_LOG_H
#define OD_LOG_H

#include <stdarg.h>

enum { OD_LOG_ERROR, OD_LOG_WARN, OD_LOG_INFO, OD_LOG_DEBUG };
extern int od_log_level;
/** the program name printed before each line ("orderd" unless changed before threads start) */
extern const char *od_log_prog;

void od_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define od_error(...) od_log(OD_LOG_ERROR, __VA_ARGS__)
#define od_warn(...) od_log(OD_LOG_WARN, __VA_ARGS__)
#define od_info(...) od_log(OD_LOG_INFO, __VA_ARGS__)

#endif
