/*
 * control — see control.h.
 */
#include "load/control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/log.h"

#define ANNOUNCE_TIMEOUT_NS 2000000000ull
#define CAPTURE_SLACK_NS 30000000000ull /* beyond the profile's own ?seconds= */
#define CAPTURE_DEFAULT_NS 60000000000ull

void od_announce(od_announcer_t *a, const char *name, const char *what)
{
    if (a->disabled) return;
    char path[160];
    snprintf(path, sizeof(path), "/scenarios/%s/%s", name, what);
    od_buf_t err = OD_BUF_INIT;
    int status = od_http_request(a->url, "POST", path, NULL, NULL, 0, ANNOUNCE_TIMEOUT_NS, NULL, &err);
    if (status == 404) {
        a->disabled = 1; /* not an orderd: nothing to tell it */
    } else if (status >= 200 && status < 300) {
        a->sent++;
    } else if (!a->warned) {
        a->warned = 1;
        if (status < 0)
            od_warn("announcing %s %s: %s", name, what, err.base ? err.base : "failed");
        else
            od_warn("announcing %s %s: the target answered %d", name, what, status);
    }
    od_buf_dispose(&err);
}

/* The capture's own length from "seconds=N" or "duration=D" in its query, or 0. */
static uint64_t query_seconds(const char *path)
{
    const char *q = strchr(path, '?');
    if (q == NULL) return 0;
    for (const char *p = q + 1; *p;) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        char part[64];
        if (n < sizeof(part)) {
            memcpy(part, p, n);
            part[n] = '\0';
            uint64_t ns;
            if (strncmp(part, "seconds=", 8) == 0 && od_parse_duration(part + 8, &ns) == 0) return ns;
            if (strncmp(part, "duration=", 9) == 0 && od_parse_duration(part + 9, &ns) == 0) return ns;
        }
        if (!amp) break;
        p = amp + 1;
    }
    return 0;
}

void od_capture_init(od_capture_job_t *j, const od_capture_t *cap, const od_url_t *url, const char *dir)
{
    memset(j, 0, sizeof(*j));
    j->cap = cap;
    j->url = url;
    j->status = -1;
    if (dir && dir[0] && strcmp(dir, ".") != 0) {
        mkdir(dir, 0777); /* one level; an error shows when the file is written */
        j->file = od_asprintf("%s/%s", dir, cap->save);
    } else {
        j->file = od_strdup(cap->save);
    }
    j->timeout_ns = cap->timeout_ns ? cap->timeout_ns : query_seconds(cap->path) + CAPTURE_SLACK_NS;
    if (j->timeout_ns == CAPTURE_SLACK_NS && !cap->timeout_ns) j->timeout_ns = CAPTURE_DEFAULT_NS;
}

static void *capture_main(void *arg)
{
    od_capture_job_t *j = arg;
    od_buf_t body = OD_BUF_INIT, err = OD_BUF_INIT;
    j->status = od_http_request(j->url, "GET", j->cap->path, NULL, NULL, 0, j->timeout_ns, &body, &err);
    if (j->status < 0) {
        j->error = od_strdup(err.base ? err.base : "request failed");
    } else if (j->status < 200 || j->status >= 300) {
        /* keep the first line of the answer: servers explain there (409: one at a time) */
        size_t n = body.len;
        const char *nl = body.base ? memchr(body.base, '\n', n) : NULL;
        if (nl) n = (size_t)(nl - body.base);
        if (n > 200) n = 200;
        j->error = od_asprintf("GET %s answered %d%s%.*s", j->cap->path, j->status, n ? ": " : "", (int)n,
                               body.base ? body.base : "");
    } else {
        /* whole or not at all: a reader never sees half a capture */
        od_buf_t werr = OD_BUF_INIT;
        if (od_write_file_atomic(j->file, body.base ? body.base : "", body.len, 0666, &werr) != 0)
            j->error = od_buf_detach(&werr, NULL);
        else
            j->bytes = body.len;
        od_buf_dispose(&werr);
    }
    od_buf_dispose(&body);
    od_buf_dispose(&err);
    atomic_store(&j->done, 1);
    return NULL;
}

void od_capture_start(od_capture_job_t *j)
{
    if (j->started) return;
    if (pthread_create(&j->tid, NULL, capture_main, j) != 0) {
        j->error = od_asprintf("cannot start a capture thread: %s", strerror(errno));
        atomic_store(&j->done, 1);
        return;
    }
    j->started = 1;
}

void od_capture_join(od_capture_job_t *j)
{
    if (j->started) pthread_join(j->tid, NULL);
    j->started = 0;
}

void od_capture_dispose(od_capture_job_t *j)
{
    od_capture_join(j);
    free(j->file);
    free(j->error);
}
