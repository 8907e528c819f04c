#include "base/log.h"
#include "base/util.h"

#include <stdio.h>
#include <unistd.h>

int od_log_level = OD_LOG_INFO;
const char *od_log_prog = "orderd";

void od_log(int level, const char *fmt, ...)
{
    static const char *names[] = {"error", "warning", "info", "debug"};
    if (level > od_log_level) return;
    char line[2048];
    int n = snprintf(line, sizeof(line), "%s: %s: ", od_log_prog, names[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2) len = sizeof(line) - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
