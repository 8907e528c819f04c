/* The capture store: profiling.output_dir, its files and manifest.  See capture_store.h. */
#include "schedule/capture_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"

struct od_capture_store {
    char *dir;
    uint64_t keep_files, keep_bytes;
    pthread_mutex_t lock; /* "manifest": serializes the writers, see capture_store.h */
};

/* mkdir -p */
static int make_dirs(const char *dir)
{
    char *p = od_strdup(dir);
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0755) != 0 && errno != EEXIST) {
                rc = -1;
                break;
            }
            *s = c;
            if (c == '\0') break;
        }
    }
    int saved = errno;
    free(p);
    errno = saved;
    return rc;
}

/* writes buf as dir/name through od_write_file_atomic (a temporary name, then a rename) */
static int write_atomic(const char *dir, const char *name, const void *buf, size_t len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return od_write_file_atomic(path, buf, len, 0644, NULL);
}

void od_manifest_read(const char *dir, od_manifest_t *m)
{
    *m = (od_manifest_t){0};
    char path[4096];
    snprintf(path, sizeof(path), "%s/" OD_MANIFEST, dir);
    size_t len;
    char *text = od_read_file(path, &len);
    if (text == NULL) return;
    char *line = text;
    for (char *nl; (nl = memchr(line, '\n', (size_t)(text + len - line))) != NULL; line = nl + 1) {
        /* a line still being appended has no newline yet: skipped by the loop's condition */
        json_t *j = json_loadb(line, (size_t)(nl - line), 0, NULL);
        if (j == NULL || !json_is_object(j) || !json_is_string(json_object_get(j, "name"))) {
            json_decref(j);
            continue;
        }
        if (m->n == m->cap)
            m->items = od_realloc(m->items, (m->cap = m->cap ? m->cap * 2 : 32) * sizeof(json_t *));
        m->items[m->n++] = j;
    }
    free(text);
}

void od_manifest_dispose(od_manifest_t *m)
{
    for (size_t i = 0; i < m->n; i++)
        json_decref(m->items[i]);
    free(m->items);
}

const char *od_manifest_item_name(json_t *j)
{
    return json_string_value(json_object_get(j, "name"));
}

static uint64_t item_bytes(json_t *j)
{
    json_t *b = json_object_get(j, "bytes");
    return json_is_integer(b) && json_integer_value(b) > 0 ? (uint64_t)json_integer_value(b) : 0;
}

/* a name the directory may hold: no path, no hidden or temporary file */
int od_capture_name_ok(const char *s, size_t len)
{
    return od_name_check(s, len, OD_CAPTURE_NAME_MAX, OD_NAME_DOTS);
}

/*
 * drops the oldest captures (file and line) until at most keep_files remain within keep_bytes,
 * and lines whose file is gone; rewrites the manifest when anything changed.  Under the
 * manifest lock.
 */
static void prune_locked(const char *dir, uint64_t keep_files, uint64_t keep_bytes)
{
    od_manifest_t m;
    od_manifest_read(dir, &m);
    char path[4096];
    size_t first = 0, changed = 0;
    uint64_t total = 0;
    size_t live = 0;
    char *gone = od_calloc(m.n ? m.n : 1, 1);
    for (size_t i = 0; i < m.n; i++) {
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, od_manifest_item_name(m.items[i]));
        if (!od_capture_name_ok(od_manifest_item_name(m.items[i]),
                                strlen(od_manifest_item_name(m.items[i]))) ||
            stat(path, &st) != 0) {
            gone[i] = 1;
            changed = 1;
            continue;
        }
        total += item_bytes(m.items[i]);
        live++;
    }
    for (first = 0; first < m.n && (live > keep_files || total > keep_bytes); first++) {
        if (gone[first]) continue;
        snprintf(path, sizeof(path), "%s/%s", dir, od_manifest_item_name(m.items[first]));
        if (unlink(path) != 0 && errno != ENOENT)
            od_warn("schedule: cannot remove %s: %s", path, strerror(errno));
        od_info("schedule: pruned %s (keep: %llu files, %llu bytes)", od_manifest_item_name(m.items[first]),
                (unsigned long long)keep_files, (unsigned long long)keep_bytes);
        gone[first] = 1;
        changed = 1;
        live--;
        total -= item_bytes(m.items[first]);
    }
    if (changed) {
        od_buf_t out = OD_BUF_INIT;
        for (size_t i = 0; i < m.n; i++) {
            if (gone[i]) continue;
            char *s = json_dumps(m.items[i], JSON_COMPACT | JSON_PRESERVE_ORDER);
            if (s) {
                od_buf_puts(&out, s);
                od_buf_putc(&out, '\n');
                free(s);
            }
        }
        if (write_atomic(dir, OD_MANIFEST, out.base ? out.base : "", out.len) != 0)
            od_error("schedule: cannot rewrite %s/%s: %s", dir, OD_MANIFEST, strerror(errno));
        od_buf_dispose(&out);
    }
    free(gone);
    od_manifest_dispose(&m);
}

/* removes ".NAME.tmp" files a previous run left behind (it stopped mid-write) */
static void remove_temporaries(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (de->d_name[0] != '.' || n < 6 || strcmp(de->d_name + n - 4, ".tmp") != 0) continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        unlink(path);
    }
    closedir(d);
}

/* --- the store ---------------------------------------------------------------------------------- */

od_capture_store_t *od_capture_store_create(const char *dir, uint64_t keep_files, uint64_t keep_bytes)
{
    od_capture_store_t *st = od_calloc(1, sizeof(*st));
    st->dir = od_strdup(dir);
    st->keep_files = keep_files;
    st->keep_bytes = keep_bytes;
    pthread_mutex_init(&st->lock, NULL);
    if (make_dirs(st->dir) != 0)
        od_warn("schedule: cannot create %s (%s); captures will be retried there", st->dir, strerror(errno));
    pthread_mutex_lock(&st->lock);
    remove_temporaries(st->dir);
    prune_locked(st->dir, st->keep_files, st->keep_bytes); /* keep may have shrunk since the last run */
    pthread_mutex_unlock(&st->lock);
    return st;
}

void od_capture_store_destroy(od_capture_store_t *st)
{
    if (st == NULL) return;
    pthread_mutex_destroy(&st->lock);
    free(st->dir);
    free(st);
}

int od_capture_store_put(od_capture_store_t *st, const od_capture_record_t *rec, const od_buf_t *data)
{
    const char *kind = rec->kind, *ext = rec->ext, *dir = st->dir;
    char stamp[32], base[128], name[160], started[32];
    time_t secs = (time_t)(rec->started_wall_ns / 1000000000ull);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
    snprintf(base, sizeof(base), "%s-%s%s%s", stamp, kind, rec->label[0] ? "-" : "", rec->label);
    od_format_time(rec->started_wall_ns, started);
    int rc = -1;

    pthread_mutex_lock(&st->lock);
    if (make_dirs(dir) != 0) {
        od_error("%s:%d: schedule: cannot create %s: %s; the %s capture is lost", rec->script, rec->line, dir,
                 strerror(errno), kind);
        goto Exit;
    }
    /* the same kind and label twice in one second: number the later ones */
    for (int k = 1;; k++) {
        char path[4096];
        if (k == 1)
            snprintf(name, sizeof(name), "%s.%s", base, ext);
        else
            snprintf(name, sizeof(name), "%s-%d.%s", base, k, ext);
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        if (access(path, F_OK) != 0) break;
    }
    if (write_atomic(dir, name, data->base ? data->base : "", data->len) != 0) {
        od_error("%s:%d: schedule: cannot write %s/%s: %s; the %s capture is lost", rec->script, rec->line,
                 dir, name, strerror(errno), kind);
        goto Exit;
    }
    char entry_at[4200];
    snprintf(entry_at, sizeof(entry_at), "%s:%d", rec->script, rec->line);
    json_t *line = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:f, s:s, s:s, s:i, s:s}", "name", name, "kind",
                             kind, "label", rec->label, "format", rec->format, "bytes", (json_int_t)data->len,
                             "started_at", started, "seconds", rec->seconds, "trigger", rec->trigger, "entry",
                             entry_at, "line", rec->line, "content_type", rec->content_type);
    char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(line);
    char mpath[4096];
    snprintf(mpath, sizeof(mpath), "%s/" OD_MANIFEST, dir);
    int fd = open(mpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    od_buf_t l = OD_BUF_INIT;
    od_buf_printf(&l, "%s\n", text);
    free(text);
    size_t want = l.len;
    ssize_t w = fd >= 0 ? write(fd, l.base, want) : -1;
    int saved = errno;
    if (fd >= 0 && close(fd) != 0 && w >= 0) w = -1, saved = errno;
    od_buf_dispose(&l);
    if (w < 0 || (size_t)w != want) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        unlink(path);
        od_error("%s:%d: schedule: cannot append to %s: %s; the %s capture is dropped", rec->script,
                 rec->line, mpath, w < 0 ? strerror(saved) : "short write", kind);
        /* a partial line (no newline) is skipped by readers and rewritten away by the prune */
        prune_locked(dir, st->keep_files, st->keep_bytes);
        goto Exit;
    }
    od_info("schedule: %s:%d: wrote %s/%s (%zu bytes, %s)", rec->script, rec->line, dir, name, data->len,
            rec->trigger);
    prune_locked(dir, st->keep_files, st->keep_bytes);
    rc = 0;
Exit:
    pthread_mutex_unlock(&st->lock);
    return rc;
}
