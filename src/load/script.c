/*
 * script — see script.h.  The one file that touches the worker's lua_State.
 */
#include "load/script.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lua/lua_layer.h"

/* the scenario's own code, trusted as the user's: every library, no budget (a request()
 * that loops forever shows as a stalled run, as with wrk) */
static const od_lua_policy_t run_policy = {.libs = OD_LUA_LIBS_ALL, .subject = "the scenario script"};

struct od_script {
    lua_State *L; /* NULL when the file has neither request() nor response() */
    int req_ref, resp_ref;
    int *ctx_refs; /* one ctx table per scenario, in the set's order */
    size_t nctx;
    char *file, *hostport;
    char *static_req; /* NULL when request() builds each request */
    size_t static_len;
};

static void put_u64(od_buf_t *b, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    od_buf_reserve(b, (size_t)n);
    while (n > 0)
        b->base[b->len++] = tmp[--n];
    b->base[b->len] = '\0';
}

/* ---- requests ---------------------------------------------------------------------------- */

int od_script_request(od_script_t *sc, size_t i, uint64_t seq, double elapsed, od_buf_t *out, od_buf_t *err)
{
    lua_State *L = sc->L;
    OD_ASSERT(L != NULL && sc->req_ref != LUA_NOREF && i < sc->nctx);
    int base = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, sc->req_ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, sc->ctx_refs[i]);
    lua_pushinteger(L, (lua_Integer)seq);
    lua_setfield(L, -2, "seq");
    lua_pushnumber(L, elapsed);
    lua_setfield(L, -2, "elapsed");
    if (od_lua_call(L, 1, 4, err) != 0) {
        lua_settop(L, base);
        return -1;
    }
    int m = base + 1, p = base + 2, h = base + 3, b = base + 4;
    if (lua_istable(L, m)) { /* { method =, path =, headers =, body = } */
        lua_settop(L, base + 1);
        lua_getfield(L, m, "method");
        lua_getfield(L, m, "path");
        lua_getfield(L, m, "headers");
        lua_getfield(L, m, "body");
        m = base + 2, p = base + 3, h = base + 4, b = base + 5;
    }
    size_t blen = 0, plen = 0;
    const char *body = lua_type(L, b) == LUA_TSTRING ? lua_tolstring(L, b, &blen) : NULL;
    const char *method = lua_type(L, m) == LUA_TSTRING ? lua_tostring(L, m) : (body ? "POST" : "GET");
    const char *path = lua_type(L, p) == LUA_TSTRING ? lua_tolstring(L, p, &plen) : NULL;
    const char *bad = NULL;
    if (path == NULL || path[0] != '/' || strpbrk(path, " \r\n") != NULL)
        bad = "a path starting with /";
    else if (strpbrk(method, " \r\n") != NULL || method[0] == '\0')
        bad = "a method such as GET";
    else if (!lua_isnil(L, h) && !lua_istable(L, h))
        bad = "headers as a table";
    else if (!lua_isnil(L, b) && body == NULL)
        bad = "the body as a string";
    if (bad) {
        od_buf_printf(err, "%s: request(ctx) must return %s", sc->file, bad);
        lua_settop(L, base);
        return -1;
    }
    od_buf_reset(out);
    od_buf_puts(out, method);
    od_buf_putc(out, ' ');
    od_buf_append(out, path, plen);
    od_buf_puts(out, " HTTP/1.1\r\nHost: ");
    od_buf_puts(out, sc->hostport);
    od_buf_puts(out, "\r\n");
    if (lua_istable(L, h)) {
        lua_pushnil(L);
        while (lua_next(L, h)) {
            if (lua_type(L, -2) == LUA_TSTRING &&
                (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER)) {
                size_t klen, vlen;
                const char *k = lua_tolstring(L, -2, &klen);
                lua_pushvalue(L, -1); /* tolstring on a number would confuse lua_next */
                const char *v = lua_tolstring(L, -1, &vlen);
                if (strcasecmp(k, "host") != 0 && strcasecmp(k, "content-length") != 0 &&
                    strpbrk(k, ":\r\n") == NULL && strpbrk(v, "\r\n") == NULL) {
                    od_buf_append(out, k, klen);
                    od_buf_puts(out, ": ");
                    od_buf_append(out, v, vlen);
                    od_buf_puts(out, "\r\n");
                }
                lua_pop(L, 1);
            }
            lua_pop(L, 1);
        }
    }
    if (body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
        od_buf_puts(out, "Content-Length: ");
        put_u64(out, blen);
        od_buf_puts(out, "\r\n");
    }
    od_buf_puts(out, "\r\n");
    if (body) od_buf_append(out, body, blen);
    lua_settop(L, base);
    return 0;
}

/* ---- answers ------------------------------------------------------------------------------ */

typedef struct hdr_arg {
    lua_State *L;
    int t;
} hdr_arg_t;

static void push_header(void *arg, const char *name, size_t nlen, const char *value, size_t vlen)
{
    hdr_arg_t *a = arg;
    char lower[128];
    if (nlen >= sizeof(lower)) return;
    for (size_t i = 0; i < nlen; i++)
        lower[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
    lua_pushlstring(a->L, lower, nlen);
    lua_pushlstring(a->L, value, vlen);
    lua_rawset(a->L, a->t);
}

int od_script_response(od_script_t *sc, size_t i, uint64_t seq, int status, const char *head, size_t head_len,
                       const char *body, size_t body_len, od_buf_t *err)
{
    lua_State *L = sc->L;
    OD_ASSERT(L != NULL && sc->resp_ref != LUA_NOREF && i < sc->nctx);
    int base = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, sc->resp_ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, sc->ctx_refs[i]);
    lua_pushinteger(L, (lua_Integer)seq);
    lua_setfield(L, -2, "seq");
    lua_pushinteger(L, status);
    lua_newtable(L);
    hdr_arg_t a = {L, lua_gettop(L)};
    od_resp_each_header(head ? head : "", head_len, push_header, &a);
    lua_pushlstring(L, body ? body : "", body_len);
    if (od_lua_call(L, 4, 1, err) != 0) {
        lua_settop(L, base);
        return -1;
    }
    int rejected = lua_isboolean(L, -1) && !lua_toboolean(L, -1);
    lua_settop(L, base);
    return rejected ? 0 : 1;
}

/* ---- the state ---------------------------------------------------------------------------- */

/* Builds the state, as every worker does: run the file, keep its functions. */
static int load_state(od_script_t *sc, const od_scenario_set_t *set, int thread, int nthreads,
                      const char *run_id, od_buf_t *err)
{
    od_request_kind_t kind = od_scenario_set_request_kind(set);
    if (kind != OD_REQ_FUNCTION && !od_scenario_set_has_response(set)) return 0;
    lua_State *L = sc->L = od_lua_open(&run_policy);
    od_scenario_prepare_state(L, od_scenario_set_file(set));
    if (od_lua_run_file(L, od_scenario_set_file(set), 1, err) != 0) return -1;
    if (!lua_istable(L, -1)) {
        od_buf_printf(err, "%s: the file no longer returns a table", od_scenario_set_file(set));
        return -1;
    }
    lua_getfield(L, -1, "request");
    if (kind == OD_REQ_FUNCTION && lua_isfunction(L, -1))
        sc->req_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    else
        lua_pop(L, 1);
    lua_getfield(L, -1, "response");
    if (lua_isfunction(L, -1))
        sc->resp_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    else
        lua_pop(L, 1);
    lua_pop(L, 1);
    for (size_t i = 0; i < sc->nctx; i++) {
        lua_createtable(L, 0, 8);
        lua_pushstring(L, od_scenario_set_get(set, i)->name);
        lua_setfield(L, -2, "scenario");
        lua_pushinteger(L, thread);
        lua_setfield(L, -2, "thread");
        lua_pushinteger(L, nthreads);
        lua_setfield(L, -2, "threads");
        lua_pushstring(L, run_id);
        lua_setfield(L, -2, "run");
        lua_pushinteger(L, 0);
        lua_setfield(L, -2, "seq");
        sc->ctx_refs[i] = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    return 0;
}

/* The request every connection sends when the file has no request function. */
static void build_static(od_script_t *sc, const od_scenario_set_t *set, const od_url_t *target)
{
    od_request_kind_t kind = od_scenario_set_request_kind(set);
    if (kind == OD_REQ_FUNCTION) return;
    od_buf_t b = OD_BUF_INIT;
    if (kind == OD_REQ_NONE) {
        od_buf_printf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", target->path, target->hostport);
    } else {
        const char *method, *path, *headers, *body;
        size_t blen;
        od_scenario_set_static_request(set, &method, &path, &headers, &body, &blen);
        od_buf_printf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n%s", method, path, target->hostport, headers);
        if (body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0)
            od_buf_printf(&b, "Content-Length: %zu\r\n", blen);
        od_buf_puts(&b, "\r\n");
        if (body) od_buf_append(&b, body, blen);
    }
    sc->static_req = od_buf_detach(&b, &sc->static_len);
}

od_script_t *od_script_create(const od_scenario_set_t *set, const od_url_t *target, int thread, int nthreads,
                              const char *run_id, od_buf_t *err)
{
    od_script_t *sc = od_calloc(1, sizeof(*sc));
    sc->file = od_strdup(od_scenario_set_file(set));
    sc->hostport = od_strdup(target->hostport);
    sc->req_ref = sc->resp_ref = LUA_NOREF;
    sc->nctx = od_scenario_set_count(set);
    sc->ctx_refs = od_calloc(sc->nctx ? sc->nctx : 1, sizeof(*sc->ctx_refs));
    if (load_state(sc, set, thread, nthreads, run_id, err) != 0) {
        od_script_destroy(sc);
        return NULL;
    }
    build_static(sc, set, target);
    return sc;
}

void od_script_destroy(od_script_t *sc)
{
    if (sc == NULL) return;
    od_lua_close(sc->L);
    free(sc->ctx_refs);
    free(sc->static_req);
    free(sc->hostport);
    free(sc->file);
    free(sc);
}

const char *od_script_static_request(const od_script_t *sc, size_t *len)
{
    *len = sc->static_len;
    return sc->static_req;
}

int od_script_wants_response(const od_script_t *sc)
{
    return sc->resp_ref != LUA_NOREF;
}
