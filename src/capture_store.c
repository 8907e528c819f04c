/* The capture store: profiling.output_dir, its files and manifest.  See capture_store.h. */
#include "capture_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* --- the output directory and its manifest ---------------------------------------------------- */

pthread_mutex_t manifest_lock = PTHREAD_MUTEX_INITIALIZER; /* "manifest": see schedule.h */

/* mkdir -p */
int make_dirs(const char *dir)
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

/* writes all of buf to a new file `path` via a temporary name, then renames it into place */
int write_atomic(const char *dir, const char *name, const void *buf, size_t len)
{
    char tmp[4096], dst[4096];
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
    snprintf(dst, sizeof(dst), "%s/%s", dir, name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    const char *p = buf;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            goto Failed;
        }
        p += w;
        left -= (size_t)w;
    }
    if (close(fd) != 0) {
        fd = -1;
        goto Failed;
    }
    if (rename(tmp, dst) != 0) {
        fd = -1;
        goto Failed;
    }
    return 0;
Failed:;
    int saved = errno;
    if (fd >= 0) close(fd);
    unlink(tmp);
    errno = saved;
    return -1;
}

void manifest_read(const char *dir, manifest_t *m)
{
    *m = (manifest_t){0};
    char path[4096];
    snprintf(path, sizeof(path), "%s/" MANIFEST, dir);
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

void manifest_dispose(manifest_t *m)
{
    for (size_t i = 0; i < m->n; i++)
        json_decref(m->items[i]);
    free(m->items);
}

const char *item_name(json_t *j)
{
    return json_string_value(json_object_get(j, "name"));
}

uint64_t item_bytes(json_t *j)
{
    json_t *b = json_object_get(j, "bytes");
    return json_is_integer(b) && json_integer_value(b) > 0 ? (uint64_t)json_integer_value(b) : 0;
}

/* a name the directory may hold: no path, no hidden or temporary file */
int name_ok(const char *s, size_t len)
{
    if (len == 0 || len > 200 || s[0] == '.') return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-' || c == '.'))
            return 0;
        if (c == '.' && i + 1 < len && s[i + 1] == '.') return 0;
    }
    return 1;
}

/*
 * drops the oldest captures (file and line) until at most keep_files remain within keep_bytes,
 * and lines whose file is gone; rewrites the manifest when anything changed.  Under the
 * manifest lock.
 */
void prune_locked(const char *dir, uint64_t keep_files, uint64_t keep_bytes)
{
    manifest_t m;
    manifest_read(dir, &m);
    char path[4096];
    size_t first = 0, changed = 0;
    uint64_t total = 0;
    size_t live = 0;
    char *gone = od_calloc(m.n ? m.n : 1, 1);
    for (size_t i = 0; i < m.n; i++) {
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, item_name(m.items[i]));
        if (!name_ok(item_name(m.items[i]), strlen(item_name(m.items[i]))) || stat(path, &st) != 0) {
            gone[i] = 1;
            changed = 1;
            continue;
        }
        total += item_bytes(m.items[i]);
        live++;
    }
    for (first = 0; first < m.n && (live > keep_files || total > keep_bytes); first++) {
        if (gone[first]) continue;
        snprintf(path, sizeof(path), "%s/%s", dir, item_name(m.items[first]));
        if (unlink(path) != 0 && errno != ENOENT)
            od_warn("schedule: cannot remove %s: %s", path, strerror(errno));
        od_info("schedule: pruned %s (keep: %llu files, %llu bytes)", item_name(m.items[first]),
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
        if (write_atomic(dir, MANIFEST, out.base ? out.base : "", out.len) != 0)
            od_error("schedule: cannot rewrite %s/%s: %s", dir, MANIFEST, strerror(errno));
        od_buf_dispose(&out);
    }
    free(gone);
    manifest_dispose(&m);
}

/* removes ".NAME.tmp" files a previous run left behind (it stopped mid-write) */
void remove_temporaries(const char *dir)
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
