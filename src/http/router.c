#include "http/router.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "http/metrics.h"
#include "http/server.h"

/* --- routes ---------------------------------------------------------------------------------- */

typedef struct route {
    const char *path;
    size_t len;
    unsigned methods;
    int flags;
    od_handler_fn fn;
    char label[48]; /* the template */
    int ok;         /* the status of a good answer, for the series shown at 0 */
} route_t;

#define ROUTES_MAX (OD_ROUTE_LABELS_MAX - 1)
static route_t routes[ROUTES_MAX];
static size_t nroutes;

/* the templates of the prefix routes (a prefix not listed gets PREFIX{path}) and the routes
 * whose good answer is not 200 */
static const struct {
    const char *path, *label;
    int ok;
} known[] = {
    {"/orders", NULL, 202},
    {"/orders/", "/orders/{id}", 200},
    {"/scenarios/", "/scenarios/{name}/{action}", 200},
    {"/profile/", "/profile/{kind}", 200},
    {"/profiles/", "/profiles/{file}", 200},
    {"/debug/pprof", NULL, 301},
    {"/debug/pprof/", "/debug/pprof/{profile}", 200},
    {"/pprof/", "/pprof/{profile}", 200},
};

void od_route_add(const char *path, unsigned methods, int flags, od_route_id_t group, od_handler_fn fn)
{
    (void)group;
    OD_ASSERT(nroutes < ROUTES_MAX);
    if (methods & OD_GET) methods |= OD_HEAD; /* RFC 9110: HEAD wherever GET */
    route_t *rt = &routes[nroutes++];
    *rt =
        (route_t){.path = path, .len = strlen(path), .methods = methods, .flags = flags, .fn = fn, .ok = 200};
    const char *label = NULL;
    for (size_t i = 0; i < OD_ARRAY_SIZE(known); i++)
        if (strcmp(known[i].path, path) == 0) {
            label = known[i].label;
            rt->ok = known[i].ok;
        }
    if (label)
        snprintf(rt->label, sizeof(rt->label), "%s", label);
    else
        snprintf(rt->label, sizeof(rt->label), "%s%s", path, (flags & OD_ROUTE_PREFIX) ? "{path}" : "");
}

static const route_t *find_route(const char *path, size_t len)
{
    int i = od_route_match(path, len);
    return i < 0 ? NULL : &routes[i];
}

int od_route_match(const char *path, size_t len)
{
    const route_t *best = NULL;
    for (size_t i = 0; i < nroutes; i++) {
        const route_t *rt = &routes[i];
        if (!(rt->flags & OD_ROUTE_PREFIX)) {
            if (rt->len == len && memcmp(rt->path, path, len) == 0) return (int)i;
        } else if (len >= rt->len && memcmp(rt->path, path, rt->len) == 0) {
            if (best == NULL || rt->len > best->len) best = rt;
        }
    }
    return best ? (int)(best - routes) : -1;
}

/* --- labels -------------------------------------------------------------------------------- */

int od_route_labels(void)
{
    return (int)nroutes + 1;
}

int od_route_label_other(void)
{
    return (int)nroutes;
}

const char *od_route_label(int label)
{
    return label >= 0 && (size_t)label < nroutes ? routes[label].label : "other";
}

unsigned od_route_label_methods(int label)
{
    return label >= 0 && (size_t)label < nroutes ? routes[label].methods : 0;
}

int od_route_label_ok(int label)
{
    return label >= 0 && (size_t)label < nroutes ? routes[label].ok : 404;
}

int od_route_label_of(const char *path, size_t len)
{
    int i = od_route_match(path, len);
    return i < 0 ? od_route_label_other() : i;
}

static const struct {
    const char *name;
    unsigned bit;
} methods[OD_METHOD_COUNT] = {{"GET", OD_GET},       {"HEAD", OD_HEAD}, {"POST", OD_POST}, {"PUT", OD_PUT},
                              {"DELETE", OD_DELETE}, {"PATCH", 0},      {"OPTIONS", 0},    {"other", 0}};

int od_method_index(const char *method, size_t len)
{
    for (int i = 0; i < OD_METHOD_COUNT - 1; i++)
        if (h2o_memis(method, len, methods[i].name, strlen(methods[i].name))) return i;
    return OD_METHOD_COUNT - 1;
}

const char *od_method_name(int index)
{
    return methods[index >= 0 && index < OD_METHOD_COUNT ? index : OD_METHOD_COUNT - 1].name;
}

unsigned od_method_bit(int index)
{
    return index >= 0 && index < OD_METHOD_COUNT ? methods[index].bit : 0;
}

/* --- dispatch ------------------------------------------------------------------------------ */

typedef struct od_handler {
    h2o_handler_t super;
    od_server_t *srv;
} od_handler_t;

static int prof_port; /* the separate profiling listener's port, 0 if none */

static int local_port(h2o_req_t *req)
{
    struct sockaddr_storage ss;
    socklen_t len = req->conn->callbacks->get_sockname(req->conn, (struct sockaddr *)&ss);
    if (len == 0) return 0;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

/* constant time in the length of the expected token */
static int token_ok(h2o_req_t *req, const char *token)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i < 0) return 0;
    h2o_iovec_t v = req->headers.entries[i].value;
    static const char bearer[] = "Bearer ";
    if (v.len < sizeof(bearer) - 1 || memcmp(v.base, bearer, sizeof(bearer) - 1) != 0) return 0;
    const char *given = v.base + sizeof(bearer) - 1;
    size_t glen = v.len - (sizeof(bearer) - 1), tlen = strlen(token);
    unsigned char diff = (unsigned char)(glen != tlen);
    for (size_t k = 0; k < tlen; k++)
        diff |= (unsigned char)(token[k] ^ (k < glen ? given[k] : 0));
    return diff == 0;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    od_handler_t *h = (od_handler_t *)self;
    const char *path = req->path.base;
    size_t plen = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    od_req_t r = {.h = req,
                  .srv = h->srv,
                  .path = path,
                  .path_len = plen,
                  .route = od_route_label_other(),
                  .method = od_method_index(req->method.base, req->method.len)};
    if (req->query_at != SIZE_MAX) {
        r.query = path + req->query_at + 1;
        r.query_len = req->path.len - req->query_at - 1;
    }

    const route_t *rt = find_route(path, plen);
    const od_config_t *cfg = h->srv->cfg;
    if (rt && (rt->flags & OD_ROUTE_PROFILING)) {
        if (!cfg->profiling.enabled)
            rt = NULL;
        else if (prof_port && local_port(req) != prof_port)
            rt = NULL; /* only on its own listener */
    } else if (prof_port && local_port(req) == prof_port) {
        rt = NULL; /* the profiling listener serves nothing else */
    }
    if (rt == NULL)
        return od_respond_error(&r, 404, NULL, "no such path: %.*s", (int)(plen > 200 ? 200 : plen), path);
    r.route = (int)(rt - routes);

    if (!(rt->methods & od_method_bit(r.method))) {
        char allow[64] = "";
        static const char *names[] = {"GET", "POST", "HEAD", "DELETE", "PUT"};
        for (int i = 0; i < 5; i++)
            if (rt->methods & (1u << i))
                snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), "%s%s", allow[0] ? ", " : "",
                         names[i]);
        od_add_header(&r, "Allow", allow);
        return od_respond_error(&r, 405, NULL, "method %.*s not allowed here; allowed: %s",
                                (int)(req->method.len > 16 ? 16 : req->method.len), req->method.base, allow);
    }
    if ((rt->flags & OD_ROUTE_PROFILING) && cfg->profiling.token[0] && !token_ok(req, cfg->profiling.token)) {
        od_add_header(&r, "WWW-Authenticate", "Bearer realm=\"orderd profiling\"");
        return od_respond_error(&r, 401, NULL, "profiling needs \"Authorization: Bearer TOKEN\"");
    }
    return rt->fn(&r);
}

void od_router_attach(h2o_pathconf_t *pathconf, od_server_t *srv, int profiling_port)
{
    prof_port = profiling_port;
    od_handler_t *handler = (od_handler_t *)h2o_create_handler(pathconf, sizeof(*handler));
    handler->super.on_req = on_req;
    handler->srv = srv;
}
