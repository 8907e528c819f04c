/*
 * util — small helpers every module uses: allocation that never returns NULL, a growable
 * byte buffer, monotonic and wall clocks, duration and size parsing, the name check, the
 * FNV-1a hash and the atomic file writer.  There is one of each: a module that needs one of
 * these calls it here rather than keeping a copy.
 *
 * Out-of-memory and broken invariants abort with file and line (od_fatal); everything else
 * reports errors through return values.  All functions are thread-safe (no shared state).
 */
#ifndef OD_UTIL_H
#define OD_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define OD_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/** prints "orderd: FILE:LINE: message" to stderr and aborts */
#define od_fatal(...) od_fatal_at(__FILE__, __LINE__, __VA_ARGS__)
void od_fatal_at(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));
#define OD_ASSERT(cond)                                                                                      \
    do {                                                                                                     \
        if (!(cond)) od_fatal("assertion failed: %s", #cond);                                                \
    } while (0)

/* Allocation: never returns NULL (aborts on out-of-memory).  Caller owns the result and
 * releases it with free(3). */
void *od_malloc(size_t n);
void *od_calloc(size_t n, size_t size);
void *od_realloc(void *p, size_t n);
char *od_strdup(const char *s);
char *od_strndup(const char *s, size_t n);
/** returns a newly allocated printf-formatted string; caller frees */
char *od_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * od_buf_t — a growable byte buffer, always NUL-terminated (base[len] == 0) once it has
 * storage.  Initialize with OD_BUF_INIT or od_buf_init; the buffer owns `base`; release with
 * od_buf_dispose, or take ownership of the bytes with od_buf_detach (then free(3) them).
 */
typedef struct od_buf {
    char *base;
    size_t len;
    size_t cap;
} od_buf_t;
#define OD_BUF_INIT                                                                                          \
    {                                                                                                        \
        NULL, 0, 0                                                                                           \
    }
void od_buf_init(od_buf_t *b);
void od_buf_dispose(od_buf_t *b);
void od_buf_reserve(od_buf_t *b, size_t extra);
void od_buf_append(od_buf_t *b, const void *p, size_t n);
void od_buf_puts(od_buf_t *b, const char *s);
void od_buf_putc(od_buf_t *b, char c);
void od_buf_printf(od_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void od_buf_vprintf(od_buf_t *b, const char *fmt, va_list ap);
/** appends s as a JSON string literal, quotes included, escaping as JSON requires */
void od_buf_json_str(od_buf_t *b, const char *s);
/** appends at most `max` bytes of s escaped for XML and HTML text or attributes (&, <, >, ",
 *  ' as entities; control and non-ASCII bytes as '?', so the document stays valid) */
void od_buf_xml(od_buf_t *b, const char *s, size_t max);
/** returns the bytes (caller frees) and leaves b empty */
char *od_buf_detach(od_buf_t *b, size_t *len);
void od_buf_reset(od_buf_t *b);

/* Clocks. */
uint64_t od_now_ns(void);      /* CLOCK_MONOTONIC */
uint64_t od_wall_ns(void);     /* CLOCK_REALTIME, ns since the epoch */
void od_sleep_ns(uint64_t ns); /* sleeps the whole time despite signals */
/** formats wall time `ns` as RFC 3339 UTC with milliseconds ("2026-11-25T18:42:00.123Z") */
void od_format_time(uint64_t wall_ns, char out[32]);

/**
 * parses a duration such as "250ms", "10s", "1.5m", "2h", "30" (seconds when no unit)
 * into nanoseconds
 * @return 0 if successful, -1 if not
 */
int od_parse_duration(const char *s, uint64_t *out_ns);
/**
 * parses a size such as "256MiB", "64KiB", "1GB", "4096" into bytes
 * @return 0 if successful, -1 if not
 */
int od_parse_size(const char *s, uint64_t *out);
/**
 * a number of seconds as nanoseconds (the other spelling of a duration in Lua files: 30 for
 * "30s"): finite, from 0 to max_ns
 * @return 0 if successful, -1 if not
 */
int od_seconds_to_ns(double secs, uint64_t max_ns, uint64_t *out_ns);

/* Names (order ids, scenario names, schedule labels, file names in a captures directory). */
enum {
    /** also accept '.', but not as the first character nor two in a row (a file name that is
     *  neither hidden, nor a temporary file of od_write_file_atomic, nor a path) */
    OD_NAME_DOTS = 1,
};
/** returns 1 if s[0..len) is 1 to max characters of [A-Za-z0-9_-] (safe in a URL path and in
 *  a file name), and of '.' too under OD_NAME_DOTS, else 0 */
int od_name_check(const char *s, size_t len, size_t max, unsigned flags);
/** od_name_check without flags: 1 to max characters of [A-Za-z0-9_-] */
int od_name_valid(const char *s, size_t len, size_t max);

/*
 * FNV-1a (64 bits), the one hash of in-process tables: od_hash_bytes(p, n) or
 * od_hash_str(s) for a whole key; od_hash_add / od_hash_word to continue a hash started at
 * OD_HASH_INIT over several pieces (a stack's pcs a word at a time, then its labels).  It
 * neither allocates nor locks: malloc hooks and signal handlers may call it.
 */
#define OD_HASH_INIT 0xcbf29ce484222325ull /* the offset basis: the copies had lost its last digit */
#define OD_HASH_PRIME 1099511628211ull
static inline uint64_t od_hash_add(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = (const unsigned char *)p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * OD_HASH_PRIME;
    return h;
}
/** one FNV-1a step over a whole word (not its bytes): for keys made of words */
static inline uint64_t od_hash_word(uint64_t h, uint64_t w)
{
    return (h ^ w) * OD_HASH_PRIME;
}
static inline uint64_t od_hash_bytes(const void *p, size_t n)
{
    return od_hash_add(OD_HASH_INIT, p, n);
}
static inline uint64_t od_hash_str(const char *s)
{
    uint64_t h = OD_HASH_INIT;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * OD_HASH_PRIME;
    return h;
}

/** reads a whole file; returns malloc'd bytes (NUL-terminated) or NULL with errno set */
char *od_read_file(const char *path, size_t *len);
/**
 * writes buf[0..len) to `path` so that a reader sees the old file or the whole new one, never a
 * part: it writes ".NAME.tmp" in the same directory (NAME: path's last component), fsyncs it
 * and renames it over `path` (mode: open(2)'s, before the umask).  One writer per path at a
 * time: two would share the temporary file.  On failure the temporary file is removed,
 * `path` is untouched, errno says why and err (if not NULL) gets "cannot write PATH: REASON".
 * @return 0 if successful, -1 if not
 */
int od_write_file_atomic(const char *path, const void *buf, size_t len, int mode, od_buf_t *err);
/** returns the process's resident set size in bytes, or 0 if unknown */
uint64_t od_rss_bytes(void);

/** starts fn(arg) on a detached thread
 * @return 0 if successful, else pthread_create's error number (nothing started) */
int od_thread_start_detached(void *(*fn)(void *), void *arg);

#endif
