/*
 * resolve — see resolve.h.  The YAML is read as an event stream: find the top-level key
 * `scenarios`, collect the scalars of its sequence, skip everything else.
 */
#include "load/resolve.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

void od_resolve_free(char **list)
{
    if (list == NULL) return;
    for (char **p = list; *p; p++)
        free(*p);
    free(list);
}

static void push(char ***list, size_t *n, const char *s)
{
    *list = od_realloc(*list, (*n + 2) * sizeof(**list));
    (*list)[(*n)++] = od_strdup(s);
    (*list)[*n] = NULL;
}

int od_resolve_config(const char *config_path, int required, char ***list, od_buf_t *err)
{
    *list = NULL;
    FILE *f = fopen(config_path, "rb");
    if (f == NULL) {
        if (!required && errno == ENOENT) return 0;
        od_buf_printf(err, "%s: %s", config_path, strerror(errno));
        return -1;
    }
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    size_t n = 0;
    int depth = 0, rc = 0, done = 0;
    int expect_key = 0;  /* at depth 1 of the top mapping: next scalar is a key */
    int in_list = 0;     /* inside the value of `scenarios` */
    int want_value = 0;  /* the key just read was `scenarios` */
    int skip_depth = -1; /* skipping a nested value that began at this depth */
    while (!done) {
        yaml_event_t e;
        if (!yaml_parser_parse(&p, &e)) {
            od_buf_printf(err, "%s:%zu:%zu: %s", config_path, p.problem_mark.line + 1,
                          p.problem_mark.column + 1, p.problem ? p.problem : "malformed YAML");
            rc = -1;
            break;
        }
        switch (e.type) {
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        case YAML_MAPPING_START_EVENT:
        case YAML_SEQUENCE_START_EVENT:
            depth++;
            if (depth == 1 && e.type == YAML_MAPPING_START_EVENT) {
                expect_key = 1;
            } else if (depth == 2 && want_value && e.type == YAML_SEQUENCE_START_EVENT) {
                in_list = 1;
                want_value = 0;
            } else if (depth == 2 && skip_depth < 0) {
                skip_depth = 2;
                if (want_value) {
                    od_buf_printf(err, "%s:%zu:%zu: scenarios must be a list of file paths", config_path,
                                  e.start_mark.line + 1, e.start_mark.column + 1);
                    rc = -1;
                    done = 1;
                }
            }
            break;
        case YAML_MAPPING_END_EVENT:
        case YAML_SEQUENCE_END_EVENT:
            if (depth == 2) {
                in_list = 0;
                skip_depth = -1;
                expect_key = 1;
            }
            depth--;
            break;
        case YAML_SCALAR_EVENT: {
            const char *v = (const char *)e.data.scalar.value;
            if (depth == 1 && expect_key) {
                want_value = strcmp(v, "scenarios") == 0;
                expect_key = 0;
            } else if (depth == 1) {
                if (want_value && v[0] != '\0') { /* scenarios: one/path.lua */
                    od_buf_printf(err, "%s:%zu:%zu: scenarios must be a list of file paths", config_path,
                                  e.start_mark.line + 1, e.start_mark.column + 1);
                    rc = -1;
                    done = 1;
                }
                want_value = 0;
                expect_key = 1;
            } else if (depth == 2 && in_list) {
                push(list, &n, v);
            }
            break;
        }
        default:
            break;
        }
        yaml_event_delete(&e);
    }
    yaml_parser_delete(&p);
    fclose(f);
    if (rc != 0) {
        od_resolve_free(*list);
        *list = NULL;
    }
    return rc;
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Returns 1 when path's basename without ".lua" is name. */
static int names(const char *path, const char *name)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strlen(name);
    return strncmp(b, name, n) == 0 && (b[n] == '\0' || strcmp(b + n, ".lua") == 0);
}

char *od_resolve_scenario(const char *arg, char *const *list, od_buf_t *err)
{
    size_t len = strlen(arg);
    int looks_like_path = strchr(arg, '/') != NULL || (len > 4 && strcmp(arg + len - 4, ".lua") == 0);
    if (looks_like_path) {
        if (is_file(arg)) return od_strdup(arg);
        od_buf_printf(err, "%s: no such scenario file", arg);
        return NULL;
    }
    for (char *const *p = list; p && *p; p++)
        if (names(*p, arg)) {
            if (is_file(*p)) return od_strdup(*p);
            od_buf_printf(err, "scenario %s: the config lists %s, which does not exist", arg, *p);
            return NULL;
        }
    char *path = od_asprintf("lua/scenarios/%s.lua", arg);
    if (is_file(path)) return path;
    free(path);
    if (is_file(arg)) return od_strdup(arg);
    od_buf_printf(err,
                  "scenario %s: not a file, not in the config's scenarios list, and no lua/scenarios/%s.lua",
                  arg, arg);
    return NULL;
}
