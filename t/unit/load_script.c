/*
 * load/script — unit tests (TAP) of orderload's Lua glue (src/load/script.c): the request
 * bytes request(ctx) turns into, the ctx it sees, response()'s three answers, script errors
 * with file:line, and the static request of a file without request().  Includes the .c under
 * test (h2o style): orderd's objects do not contain it.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../../src/load/http.c" /* od_resp_each_header */
#include "../../src/load/script.c"
#include "tap.h"

static char dir[] = "/tmp/od-script-XXXXXX";

/* Writes text to DIR/name.lua, loads it as a scenario set; NULL (with a diagnostic) if not. */
static od_scenario_set_t *load(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s.lua", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    od_buf_t err = OD_BUF_INIT;
    od_scenario_set_t *s = od_scenario_load(path, &err);
    if (s == NULL) printf("# %s", err.base ? err.base : "?");
    od_buf_dispose(&err);
    return s;
}

static od_url_t target(void)
{
    od_url_t u;
    memset(&u, 0, sizeof(u));
    snprintf(u.hostport, sizeof(u.hostport), "127.0.0.1:8080");
    snprintf(u.path, sizeof(u.path), "/health");
    return u;
}

int main(void)
{
    if (mkdtemp(dir) == NULL) return 1;
    od_url_t u = target();
    od_buf_t out = OD_BUF_INIT, err = OD_BUF_INIT;

    od_scenario_set_t *s =
        load("fn", "return { scenarios = { a = { rate = 1, duration = '1s' } },\n"
                   "  request = function(ctx)\n"
                   "    if ctx.seq == 7 then error('seven') end\n"
                   "    return 'POST', '/orders?s=' .. ctx.scenario .. ctx.thread .. '/' .. "
                   "ctx.threads .. ctx.run .. ctx.seq .. ':' .. ctx.elapsed,\n"
                   "      { ['X-A'] = 'b', Host = 'evil', ['Content-Length'] = '9' }, 'body'\n"
                   "  end,\n"
                   "  response = function(ctx, status, headers, body)\n"
                   "    if ctx.seq == 1 then return false end\n"
                   "    if ctx.seq == 2 then error('bad answer') end\n"
                   "    return status == 202 and headers['x-id'] == 'q' and body == 'ok'\n"
                   "  end }\n");
    od_script_t *sc = s ? od_script_create(s, &u, 2, 4, "run9", &err) : NULL;
    ok(sc != NULL, "a script with request() and response() is created");
    if (sc) {
        size_t len = 1;
        ok(od_script_static_request(sc, &len) == NULL && od_script_wants_response(sc),
           "it has no static request and wants the answers");
        ok(od_script_request(sc, 0, 5, 1.5, &out, &err) == 0, "request(ctx) builds a request");
        ok(out.base && strcmp(out.base, "POST /orders?s=a2/4run95:1.5 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
                                        "X-A: b\r\nContent-Length: 4\r\n\r\nbody") == 0,
           "method, path from ctx (scenario, thread, threads, run, seq, elapsed), the target's Host, "
           "the script's headers but Host and Content-Length, the body's length");
        od_buf_reset(&err);
        ok(od_script_request(sc, 0, 7, 0, &out, &err) == -1 && err.base && strstr(err.base, "fn.lua:3:") &&
               strstr(err.base, "seven"),
           "an error in request(ctx) comes back with file:line");
        const char *head = "HTTP/1.1 202 Accepted\r\nX-Id: q\r\n\r\n";
        ok(od_script_response(sc, 0, 3, 202, head, strlen(head), "ok", 2, &err) == 1,
           "response() accepting the answer (lowercased header names) gives 1");
        ok(od_script_response(sc, 0, 3, 500, head, strlen(head), "ok", 2, &err) == 0,
           "response() returning false gives 0");
        ok(od_script_response(sc, 0, 1, 202, head, strlen(head), "ok", 2, &err) == 0, "... false by seq too");
        od_buf_reset(&err);
        ok(od_script_response(sc, 0, 2, 202, head, strlen(head), "ok", 2, &err) == -1 && err.base &&
               strstr(err.base, "fn.lua:9:"),
           "an error in response() gives -1 with file:line");
        ok(od_script_request(sc, 0, 6, 0, &out, &err) == 0, "the state stays usable after an error");
    }
    od_script_destroy(sc);
    od_scenario_set_free(s);

    s = load("bad", "return { scenarios = { a = { rate = 1, duration = '1s' } },\n"
                    "  request = function(ctx) return 'GET', 'no-slash' end }\n");
    sc = s ? od_script_create(s, &u, 0, 1, "r", &err) : NULL;
    od_buf_reset(&err);
    ok(sc && od_script_request(sc, 0, 1, 0, &out, &err) == -1 && err.base &&
           strstr(err.base, "request(ctx) must return a path starting with /"),
       "a request(ctx) whose path has no leading / is refused, naming the file");
    od_script_destroy(sc);
    od_scenario_set_free(s);

    s = load("static",
             "return { scenarios = { a = { rate = 1, duration = '1s' } },\n"
             "  request = { method = 'PUT', path = '/x', headers = { ['X-B'] = 'c' }, body = 'hey' } }\n");
    sc = s ? od_script_create(s, &u, 0, 1, "r", &err) : NULL;
    size_t len = 0;
    const char *req = sc ? od_script_static_request(sc, &len) : NULL;
    ok(req && len == strlen(req) &&
           strcmp(req, "PUT /x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nX-B: c\r\nContent-Length: 3\r\n\r\nhey") ==
               0 &&
           !od_script_wants_response(sc),
       "a request table becomes the one static request");
    od_script_destroy(sc);
    od_scenario_set_free(s);

    s = load("none", "return { scenarios = { a = { rate = 1, duration = '1s' } } }\n");
    sc = s ? od_script_create(s, &u, 0, 1, "r", &err) : NULL;
    req = sc ? od_script_static_request(sc, &len) : NULL;
    ok(req && strcmp(req, "GET /health HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n") == 0,
       "without request, every connection GETs the target's path");
    od_script_destroy(sc);
    od_scenario_set_free(s);

    od_buf_dispose(&out);
    od_buf_dispose(&err);
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0) diag("could not remove %s", dir);
    return done_testing();
}
