#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void od_fatal_at(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "orderd: fatal: %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

void *od_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) od_fatal("out of memory (%zu bytes)", n);
    return p;
}

void *od_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL) od_fatal("out of memory (%zu x %zu bytes)", n, size);
    return p;
}

void *od_realloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (p == NULL) od_fatal("out of memory (%zu bytes)", n);
    return p;
}

char *od_strdup(const char *s)
{
    return od_strndup(s, strlen(s));
}

char *od_strndup(const char *s, size_t n)
{
    char *p = od_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *od_asprintf(const char *fmt, ...)
{
    od_buf_t b = OD_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    od_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    return od_buf_detach(&b, NULL);
}

void od_buf_init(od_buf_t *b)
{
    b->base = NULL;
    b->len = b->cap = 0;
}

void od_buf_dispose(od_buf_t *b)
{
    free(b->base);
    od_buf_init(b);
}

void od_buf_reserve(od_buf_t *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1)
        cap *= 2;
    b->base = od_realloc(b->base, cap);
    b->cap = cap;
}

void od_buf_append(od_buf_t *b, const void *p, size_t n)
{
    od_buf_reserve(b, n);
    if (n) memcpy(b->base + b->len, p, n);
    b->len += n;
    b->base[b->len] = '\0';
}

void od_buf_puts(od_buf_t *b, const char *s)
{
    od_buf_append(b, s, strlen(s));
}

void od_buf_putc(od_buf_t *b, char c)
{
    od_buf_append(b, &c, 1);
}

void od_buf_vprintf(od_buf_t *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    od_buf_reserve(b, 64);
    int n = vsnprintf(b->base + b->len, b->cap - b->len, fmt, ap);
    if (n < 0) od_fatal("vsnprintf failed");
    if ((size_t)n >= b->cap - b->len) {
        od_buf_reserve(b, (size_t)n);
        vsnprintf(b->base + b->len, b->cap - b->len, fmt, ap2);
    }
    va_end(ap2);
    b->len += (size_t)n;
}

void od_buf_printf(od_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    od_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void od_buf_json_str(od_buf_t *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    od_buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            od_buf_append(b, "\\\"", 2);
            break;
        case '\\':
            od_buf_append(b, "\\\\", 2);
            break;
        case '\n':
            od_buf_append(b, "\\n", 2);
            break;
        case '\r':
            od_buf_append(b, "\\r", 2);
            break;
        case '\t':
            od_buf_append(b, "\\t", 2);
            break;
        default:
            if (*p < 0x20) {
                char e[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
                od_buf_append(b, e, 6);
            } else {
                od_buf_putc(b, (char)*p);
            }
        }
    }
    od_buf_putc(b, '"');
}

void od_buf_xml(od_buf_t *b, const char *s, size_t max)
{
    for (size_t i = 0; *s && i < max; s++, i++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '&':
            od_buf_puts(b, "&amp;");
            break;
        case '<':
            od_buf_puts(b, "&lt;");
            break;
        case '>':
            od_buf_puts(b, "&gt;");
            break;
        case '"':
            od_buf_puts(b, "&#34;");
            break;
        case '\'':
            od_buf_puts(b, "&#39;");
            break;
        default:
            od_buf_putc(b, c < 0x20 || c >= 0x7f ? '?' : (char)c);
        }
    }
}

char *od_buf_detach(od_buf_t *b, size_t *len)
{
    if (b->base == NULL) od_buf_reserve(b, 0), b->base[0] = '\0';
    char *p = b->base;
    if (len) *len = b->len;
    od_buf_init(b);
    return p;
}

void od_buf_reset(od_buf_t *b)
{
    b->len = 0;
    if (b->base) b->base[0] = '\0';
}

uint64_t od_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t od_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void od_sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

void od_format_time(uint64_t wall_ns, char out[32])
{
    /* the seconds part changes once a second: each thread keeps its last one */
    static __thread time_t cached_secs = -1;
    static __thread char cached[24];
    time_t secs = (time_t)(wall_ns / 1000000000u);
    if (secs != cached_secs) {
        struct tm tm;
        gmtime_r(&secs, &tm);
        strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &tm);
        cached_secs = secs;
    }
    unsigned ms = (unsigned)((wall_ns / 1000000u) % 1000u);
    memcpy(out, cached, 19);
    out[19] = '.';
    out[20] = (char)('0' + ms / 100);
    out[21] = (char)('0' + ms / 10 % 10);
    out[22] = (char)('0' + ms % 10);
    out[23] = 'Z';
    out[24] = '\0';
}

int od_parse_duration(const char *s, uint64_t *out_ns)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno != 0 || !isfinite(v) || v < 0) return -1;
    double mult;
    if (*end == '\0' || strcmp(end, "s") == 0)
        mult = 1e9;
    else if (strcmp(end, "ms") == 0)
        mult = 1e6;
    else if (strcmp(end, "us") == 0)
        mult = 1e3;
    else if (strcmp(end, "ns") == 0)
        mult = 1;
    else if (strcmp(end, "m") == 0)
        mult = 60e9;
    else if (strcmp(end, "h") == 0)
        mult = 3600e9;
    else
        return -1;
    double ns = v * mult;
    if (ns > 1e18) return -1;
    *out_ns = (uint64_t)ns;
    return 0;
}

int od_parse_size(const char *s, uint64_t *out)
{
    static const struct {
        const char *suffix;
        double mult;
    } units[] = {
        {"", 1},     {"B", 1},    {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"KB", 1e3},
        {"MB", 1e6}, {"GB", 1e9}, {"K", 1024.0},   {"M", 1048576.0},   {"G", 1073741824.0}};
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno != 0 || !isfinite(v) || v < 0) return -1;
    for (size_t i = 0; i < OD_ARRAY_SIZE(units); i++) {
        if (strcmp(end, units[i].suffix) == 0) {
            double bytes = v * units[i].mult;
            if (bytes > 9e18) return -1;
            *out = (uint64_t)bytes;
            return 0;
        }
    }
    return -1;
}

char *od_read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) return NULL;
    od_buf_t b = OD_BUF_INIT;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        od_buf_append(&b, chunk, n);
    int err = ferror(fp);
    fclose(fp);
    if (err) {
        od_buf_dispose(&b);
        errno = EIO;
        return NULL;
    }
    return od_buf_detach(&b, len);
}

uint64_t od_rss_bytes(void)
{
    FILE *fp = fopen("/proc/self/statm", "r");
    if (fp == NULL) return 0;
    unsigned long size, resident;
    int n = fscanf(fp, "%lu %lu", &size, &resident);
    fclose(fp);
    if (n != 2) return 0;
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* A-Z a-z 0-9 _ - (a table: order ids are checked on every POST) */
static const unsigned char name_char[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

int od_name_check(const char *s, size_t len, size_t max, unsigned flags)
{
    if (len == 0 || len > max) return 0;
    int dots = (flags & OD_NAME_DOTS) != 0;
    if (dots && s[0] == '.') return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (dots && c == '.') {
            if (i + 1 < len && s[i + 1] == '.') return 0;
            continue;
        }
        if (!name_char[(unsigned char)c]) return 0;
    }
    return 1;
}

int od_name_valid(const char *s, size_t len, size_t max)
{
    return od_name_check(s, len, max, 0);
}

int od_seconds_to_ns(double secs, uint64_t max_ns, uint64_t *out_ns)
{
    if (!isfinite(secs) || secs < 0 || secs * 1e9 > (double)max_ns) return -1;
    *out_ns = (uint64_t)(secs * 1e9);
    return 0;
}

int od_write_file_atomic(const char *path, const void *buf, size_t len, int mode, od_buf_t *err)
{
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    char *tmp = od_asprintf("%.*s.%s.tmp", (int)(name - path), path, name);
    const char *p = buf;
    size_t left = len;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) goto Failed;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) goto Failed;
        if (w == 0) { /* no progress and no error: call it what it nearly always is */
            errno = ENOSPC;
            goto Failed;
        }
        p += w;
        left -= (size_t)w;
    }
    /* the data reaches the disk before the name does: a crash leaves the old file or the new */
    if (fsync(fd) != 0) goto Failed;
    int rc = close(fd);
    fd = -1;
    if (rc != 0 || rename(tmp, path) != 0) goto Failed;
    free(tmp);
    return 0;
Failed:;
    int saved = errno;
    if (fd >= 0) close(fd);
    unlink(tmp);
    free(tmp);
    if (err) od_buf_printf(err, "cannot write %s: %s", path, strerror(saved));
    errno = saved;
    return -1;
}

int od_thread_start_detached(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    return rc;
}
