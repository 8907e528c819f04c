/* GET /profiles (the capture store's manifest as a JSON list) and GET /profiles/{name} (a
 * download): see profiles.h. */
#include "http/profiles.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schedule/capture_store.h"
#include "http/server.h"

/* --- GET /profiles, GET /profiles/{name} ------------------------------------------------------ */

static int list_profiles(od_req_t *r)
{
    const char *dir = r->srv->cfg->profiling.output_dir;
    od_manifest_t m;
    od_manifest_read(dir, &m);
    od_buf_t j = OD_BUF_INIT;
    od_buf_putc(&j, '[');
    for (size_t i = 0; i < m.n; i++) {
        char url[256];
        snprintf(url, sizeof(url), "/profiles/%s", od_manifest_item_name(m.items[i]));
        json_object_set_new(m.items[i], "url", json_string(url));
        char *s = json_dumps(m.items[i], JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (s == NULL) continue;
        if (j.len > 1) od_buf_putc(&j, ',');
        od_buf_puts(&j, s);
        free(s);
    }
    od_buf_putc(&j, ']');
    od_manifest_dispose(&m);
    return od_respond_json(r, 200, &j);
}

typedef struct download {
    char name[256];
} download_t;

static void download_job(od_job_t *job, void *arg)
{
    download_t *d = arg;
    const char *dir = od_job_server(job)->cfg->profiling.output_dir;
    od_buf_t body = OD_BUF_INIT;
    od_manifest_t m;
    od_manifest_read(dir, &m);
    const char *ct = NULL;
    for (size_t i = 0; i < m.n && ct == NULL; i++)
        if (strcmp(od_manifest_item_name(m.items[i]), d->name) == 0) {
            json_t *c = json_object_get(m.items[i], "content_type");
            ct = json_is_string(c) ? json_string_value(c) : "application/octet-stream";
        }
    char ctype[128];
    snprintf(ctype, sizeof(ctype), "%s", ct ? ct : "");
    od_manifest_dispose(&m);
    if (ctype[0] == '\0') {
        od_buf_printf(&body, "{\"error\":\"no scheduled capture named \\\"%s\\\" (see GET /profiles)\"}",
                      d->name);
        od_job_respond(job, 404, "application/json", &body);
        return;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, d->name);
    size_t len;
    char *data = od_read_file(path, &len);
    if (data == NULL) {
        od_buf_printf(&body, "{\"error\":\"capture \\\"%s\\\" is listed but cannot be read: %s\"}", d->name,
                      strerror(errno));
        od_job_respond(job, errno == ENOENT ? 404 : 500, "application/json", &body);
        return;
    }
    body.base = data;
    body.len = len;
    body.cap = len + 1;
    char disp[320];
    snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", d->name);
    od_job_add_header(job, "Content-Disposition", disp);
    od_job_add_header(job, "X-Content-Type-Options", "nosniff");
    od_job_respond(job, 200, ctype, &body);
    od_buf_dispose(&body);
}

static int get_profile(od_req_t *r)
{
    const char *name = r->path + strlen("/profiles/");
    size_t len = r->path_len - strlen("/profiles/");
    if (len == 0) return list_profiles(r);
    if (!od_capture_name_ok(name, len) || len >= sizeof(((download_t *)0)->name))
        return od_respond_error(
            r, 400, "name",
            "a capture name is a file name in the output directory (A-Z a-z 0-9 . _ -, no "
            "path, not hidden); see GET /profiles");
    download_t *d = od_calloc(1, sizeof(*d));
    memcpy(d->name, name, len);
    if (od_defer(r, download_job, d, free) != 0) {
        free(d);
        od_add_header(r, "Retry-After", "1");
        return od_respond_error(r, 503, NULL, "too many profiling jobs running; retry");
    }
    return 0;
}

void od_profiles_register(void)
{
    od_route_add("/profiles", OD_GET | OD_HEAD, OD_ROUTE_PROFILING, OD_ROUTE_PROFILE, list_profiles);
    od_route_add("/profiles/", OD_GET | OD_HEAD, OD_ROUTE_PROFILING | OD_ROUTE_PREFIX, OD_ROUTE_PROFILE,
                 get_profile);
}
