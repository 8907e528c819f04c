/*
 * format — the profile writers' front door: format names, file extensions, MIME types and
 * the dispatch to pprof.c, legacy.c and render.c (see format.h).
 */
#include "prof/format.h"

#include <string.h>

#include "prof/legacy.h"
#include "prof/pprof.h"
#include "prof/flame.h"
#include "prof/render.h"

static const struct {
    const char *name;
    od_prof_format_t fmt;
} formats[] = {
    {"pprof", OD_FMT_PPROF},   {"legacy", OD_FMT_LEGACY}, {"text", OD_FMT_TEXT},
    {"folded", OD_FMT_FOLDED}, {"svg", OD_FMT_SVG},
};

int od_prof_format_parse(const char *name, od_prof_format_t *out)
{
    if (name == NULL) return -1;
    for (size_t i = 0; i < OD_ARRAY_SIZE(formats); i++) {
        if (strcmp(name, formats[i].name) == 0) {
            *out = formats[i].fmt;
            return 0;
        }
    }
    return -1;
}

const char *od_prof_format_ext(od_prof_format_t fmt, od_prof_kind_t kind)
{
    switch (fmt) {
    case OD_FMT_PPROF:
        return "pb.gz";
    case OD_FMT_LEGACY:
        switch (kind) {
        case OD_PROF_CPU:
            return "prof";
        case OD_PROF_HEAP:
            return "heap";
        case OD_PROF_THREADS:
            return "threadz";
        case OD_PROF_BLOCK:
        case OD_PROF_MUTEX:
            return "contention";
        }
        return "prof";
    case OD_FMT_TEXT:
        return "txt";
    case OD_FMT_FOLDED:
        return "folded";
    case OD_FMT_SVG:
        return "svg";
    }
    return "bin";
}

const char *od_prof_format_content_type(od_prof_format_t fmt)
{
    switch (fmt) {
    case OD_FMT_PPROF:
    case OD_FMT_LEGACY:
        return "application/octet-stream";
    case OD_FMT_TEXT:
    case OD_FMT_FOLDED:
        return "text/plain; charset=utf-8";
    case OD_FMT_SVG:
        return "image/svg+xml";
    }
    return "application/octet-stream";
}

int od_prof_write(const od_profile_t *p, od_prof_format_t fmt, od_buf_t *out, od_buf_t *err)
{
    switch (fmt) {
    case OD_FMT_PPROF:
        return od_pprof_write(p, out, err);
    case OD_FMT_LEGACY:
        return od_legacy_write(p, out, err);
    case OD_FMT_TEXT:
        return od_render_text(p, out, err);
    case OD_FMT_FOLDED:
        return od_render_folded(p, out, err);
    case OD_FMT_SVG:
        return od_flame_svg(p, out, err);
    }
    od_buf_printf(err, "unknown profile format %d", (int)fmt);
    return -1;
}
