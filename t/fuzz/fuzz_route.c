/*
 * fuzz_route — libFuzzer target for the HTTP routing and query parsing: the real routes are
 * registered (the order API, the profiling families and /profiles, as main.c does), then every input is
 * read as a request target "PATH[?QUERY]": od_route_match on the path, od_query_lookup for
 * every parameter name the handlers read (with output buffers from 1 byte up), and the
 * path-derived checks the handlers make (order ids, durations, sizes).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pool/order.h"
#include "http/profiling.h"
#include "http/routes.h"
#include "http/profiles.h"
#include "http/server.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int registered;

static void register_routes(void)
{
    if (registered) return;
    registered = 1;
    od_routes_register();
    od_profiling_register();
    od_profiles_register();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    register_routes();
    return 0;
}

static const char *const names[] = {"seconds", "duration", "format", "debug", "gc",
                                    "kind",    "name",     "label",  ""};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    register_routes();
    /* exact-size copies, so that reading past the end of the path or the query is caught */
    const char *q = memchr(data, '?', size);
    size_t plen = q ? (size_t)(q - (const char *)data) : size;
    char *path = malloc(plen ? plen : 1);
    if (plen) memcpy(path, data, plen);
    int i = od_route_match(path, plen);
    if (i < -1) abort();
    if (plen > 8 && memcmp(path, "/orders/", 8) == 0) (void)od_order_id_valid(path + 8, plen - 8);
    free(path);

    if (q) {
        size_t qlen = size - plen - 1;
        char *query = malloc(qlen ? qlen : 1);
        if (qlen) memcpy(query, q + 1, qlen);
        static const size_t sizes[] = {1, 2, 3, 8, 64, 4096};
        for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++) {
            for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
                char *out = malloc(sizes[s]);
                int rc = od_query_lookup(query, qlen, names[n], out, sizes[s]);
                if (rc < -1 || rc > 1) abort();
                if (rc == 1) {
                    if (strlen(out) >= sizes[s]) abort();
                    uint64_t v;
                    (void)od_parse_duration(out, &v);
                    (void)od_parse_size(out, &v);
                }
                free(out);
            }
        }
        free(query);
    }
    return 0;
}
