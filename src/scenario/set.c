/*
 * set — a loaded scenario set: its release, accessors and time scaling (see scenario.h).
 */
#include "scenario/loader.h"

#include <stdlib.h>
#include <string.h>

void od_scenario_set_free(od_scenario_set_t *s)
{
    if (s == NULL) return;
    for (size_t i = 0; i < s->nscenarios; i++)
        od_scenario_dispose(&s->scenarios[i]);
    free(s->scenarios);
    for (size_t i = 0; i < s->nthresholds; i++) {
        free(s->thresholds[i].expr);
        free(s->thresholds[i].scope);
        free(s->thresholds[i].metric);
    }
    free(s->thresholds);
    for (size_t i = 0; i < s->ncaptures; i++) {
        free(s->captures[i].scenario);
        free(s->captures[i].path);
        free(s->captures[i].save);
    }
    free(s->captures);
    free(s->req_method);
    free(s->req_path);
    free(s->req_headers);
    free(s->req_body);
    free(s->file);
    free(s->name);
    free(s->target);
    free(s);
}

/* ---- accessors ---------------------------------------------------------------------------- */

const char *od_scenario_set_name(const od_scenario_set_t *s)
{
    return s->name;
}

const char *od_scenario_set_file(const od_scenario_set_t *s)
{
    return s->file;
}

const char *od_scenario_set_target(const od_scenario_set_t *s)
{
    return s->target;
}

size_t od_scenario_set_count(const od_scenario_set_t *s)
{
    return s->nscenarios;
}

const od_scenario_t *od_scenario_set_get(const od_scenario_set_t *s, size_t i)
{
    return i < s->nscenarios ? &s->scenarios[i] : NULL;
}

const od_scenario_t *od_scenario_set_find(const od_scenario_set_t *s, const char *name)
{
    for (size_t i = 0; i < s->nscenarios; i++)
        if (strcmp(s->scenarios[i].name, name) == 0) return &s->scenarios[i];
    return NULL;
}

size_t od_scenario_set_nthresholds(const od_scenario_set_t *s)
{
    return s->nthresholds;
}

const od_threshold_t *od_scenario_set_threshold(const od_scenario_set_t *s, size_t i)
{
    return i < s->nthresholds ? &s->thresholds[i] : NULL;
}

size_t od_scenario_set_ncaptures(const od_scenario_set_t *s)
{
    return s->ncaptures;
}

const od_capture_t *od_scenario_set_capture(const od_scenario_set_t *s, size_t i)
{
    return i < s->ncaptures ? &s->captures[i] : NULL;
}

od_request_kind_t od_scenario_set_request_kind(const od_scenario_set_t *s)
{
    return s->request_kind;
}

int od_scenario_set_has_response(const od_scenario_set_t *s)
{
    return s->has_response;
}

void od_scenario_set_static_request(const od_scenario_set_t *s, const char **method, const char **path,
                                    const char **headers, const char **body, size_t *body_len)
{
    *method = s->req_method;
    *path = s->req_path;
    *headers = s->req_headers;
    *body = s->req_body;
    *body_len = s->req_body_len;
}

uint64_t od_scenario_set_span_ns(const od_scenario_set_t *s)
{
    uint64_t span = 0;
    for (size_t i = 0; i < s->nscenarios; i++) {
        uint64_t end = s->scenarios[i].start_time_ns + s->scenarios[i].duration_ns;
        if (end > span) span = end;
    }
    return span;
}

void od_scenario_set_scale(od_scenario_set_t *s, double f)
{
    OD_ASSERT(f > 0);
    for (size_t i = 0; i < s->nscenarios; i++) {
        od_scenario_t *sc = &s->scenarios[i];
        sc->start_time_ns = (uint64_t)((double)sc->start_time_ns * f);
        if (sc->nstages > 0) {
            sc->duration_ns = 0;
            for (size_t j = 0; j < sc->nstages; j++) {
                sc->stages[j].duration_ns = (uint64_t)((double)sc->stages[j].duration_ns * f);
                sc->duration_ns += sc->stages[j].duration_ns;
            }
        } else {
            sc->duration_ns = (uint64_t)((double)sc->duration_ns * f);
        }
        if (sc->duration_ns == 0) sc->duration_ns = 1;
    }
    for (size_t i = 0; i < s->ncaptures; i++)
        s->captures[i].at_ns = (uint64_t)((double)s->captures[i].at_ns * f);
}
