/* predecessor — the old process's orders after a hand-over (predecessor.h) */
#include "http/predecessor.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/hashmap.h"
#include "base/log.h"
#include "http/jobs.h"
#include "prof/lockprof.h"

#define POLL_MS 20
#define LOAD_WAIT_S 900 /* the old process's drain may take this long (a deep queue) */

static od_mutex_t lock;
static od_map_t orders; /* id -> JSON (malloc'd string), guarded by lock */
static int pending;     /* atomic: 1 while the file is awaited */
static int active;      /* set before the loops run: this process was started by a hand-over */
static char *path;      /* the file; owned by the loader thread once it runs */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* reads the lines "ID\tJSON" of f into the table; returns how many */
static size_t load(FILE *f)
{
    size_t n = 0, cap = 0;
    char *line = NULL;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] == '\n') line[--len] = '\0';
        char *tab = strchr(line, '\t');
        if (tab == NULL) continue;
        *tab = '\0';
        int added = 0;
        od_mutex_lock(&lock);
        od_map_entry_t *e = od_map_put_str(&orders, line, &added);
        if (!added) free(e->value.ptr);
        e->value.ptr = od_strdup(tab + 1);
        od_mutex_unlock(&lock);
        n++;
    }
    free(line);
    return n;
}

static void *loader_main(void *arg)
{
    (void)arg;
    uint64_t deadline = od_now_ns() + (uint64_t)LOAD_WAIT_S * 1000000000u;
    FILE *f;
    while ((f = fopen(path, "r")) == NULL && errno == ENOENT && od_now_ns() < deadline)
        sleep_ms(POLL_MS);
    if (f == NULL) {
        od_warn("hand-over: the old process's orders did not arrive (%s: %s); their lookups answer 404", path,
                strerror(errno));
    } else {
        size_t n = load(f);
        fclose(f);
        unlink(path);
        od_info("hand-over: %zu orders of the old process answer GET /orders/{id} here", n);
    }
    free(path);
    __atomic_store_n(&pending, 0, __ATOMIC_RELEASE);
    return NULL;
}

void od_predecessor_start(void)
{
    od_mutex_init(&lock, "predecessor");
    od_map_init(&orders);
    const char *p = getenv(OD_PREDECESSOR_ENV);
    if (p == NULL || *p == '\0') return;
    path = od_strdup(p);
    active = 1;
    unsetenv(OD_PREDECESSOR_ENV);
    __atomic_store_n(&pending, 1, __ATOMIC_RELEASE);
    pthread_t t;
    int rc = pthread_create(&t, NULL, loader_main, NULL);
    if (rc != 0) od_fatal("cannot start the hand-over's loader thread: %s", strerror(rc));
    pthread_detach(t);
}

int od_predecessor_json(const char *id, od_buf_t *out)
{
    if (!active) return -1; /* no hand-over started this process: no lock on every 404 */
    int was_pending = __atomic_load_n(&pending, __ATOMIC_ACQUIRE);
    od_mutex_lock(&lock);
    od_map_entry_t *e = orders.count ? od_map_find_str(&orders, id) : NULL;
    if (e) od_buf_puts(out, e->value.ptr);
    od_mutex_unlock(&lock);
    return e ? 0 : was_pending ? 1 : -1;
}

static void wait_job(od_job_t *job, void *arg)
{
    const char *id = arg;
    od_buf_t json = OD_BUF_INIT;
    int rc;
    uint64_t deadline = od_now_ns() + (uint64_t)OD_PREDECESSOR_WAIT_S * 1000000000u;
    while ((rc = od_predecessor_json(id, &json)) == 1 && od_now_ns() < deadline && !od_job_cancelled(job))
        sleep_ms(POLL_MS);
    if (rc == 0) {
        od_job_respond(job, 200, "application/json", &json);
    } else { /* the answer get_order gives (routes.c) */
        od_buf_t msg = OD_BUF_INIT;
        od_buf_printf(&msg, "no order \"%s\" (unknown, or evicted from the results kept)", id);
        od_buf_puts(&json, "{\"error\":");
        od_buf_json_str(&json, msg.base);
        od_buf_puts(&json, ",\"field\":\"id\"}");
        od_buf_dispose(&msg);
        od_job_respond(job, 404, "application/json", &json);
    }
    od_buf_dispose(&json);
}

int od_predecessor_defer(od_req_t *r, const char *id)
{
    char *arg = od_strdup(id);
    if (od_defer(r, wait_job, arg, free) == 0) return 0;
    free(arg);
    return -1;
}
