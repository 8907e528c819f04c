/*
 * hashmap — unit tests (TAP): put and find, binary keys, values kept across growth, keys
 * that stay at their address, iteration that visits every entry once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hashmap.h"
#include "tap.h"
#include "base/util.h"

int main(void)
{
    od_map_t m = OD_MAP_INIT;
    ok(od_map_find_str(&m, "a") == NULL, "an empty map finds nothing");

    int added = 0;
    od_map_entry_t *e = od_map_put_str(&m, "alpha", &added);
    ok(added && e->value.num == 0, "a new key is added with value zero");
    e->value.num = 7;
    const char *alpha = e->key;
    e = od_map_put_str(&m, "alpha", &added);
    ok(!added && e->value.num == 7, "the same key again finds the entry");
    ok(od_map_find(&m, "alp", 3) == NULL, "a prefix is another key");

    /* binary keys: a NUL inside, and keys that differ only past it */
    static const char k1[] = {'x', 0, 'y'}, k2[] = {'x', 0, 'z'};
    od_map_put(&m, k1, 3, NULL)->value.num = 1;
    od_map_put(&m, k2, 3, NULL)->value.num = 2;
    ok(od_map_find(&m, k1, 3) && od_map_find(&m, k1, 3)->value.num == 1 &&
           od_map_find(&m, k2, 3)->value.num == 2,
       "keys with a NUL inside are compared whole");

    /* growth: many keys, each keeps its value; the first key keeps its address */
    enum { N = 20000 };
    for (int i = 0; i < N; i++) {
        char k[32];
        snprintf(k, sizeof(k), "key-%d", i);
        od_map_put_str(&m, k, &added)->value.num = i * 3;
        if (!added) break;
    }
    is_int(m.count, N + 3, "every key was added");
    int bad = 0;
    for (int i = 0; i < N; i++) {
        char k[32];
        snprintf(k, sizeof(k), "key-%d", i);
        od_map_entry_t *f = od_map_find_str(&m, k);
        if (f == NULL || f->value.num != i * 3 || strcmp(f->key, k) != 0) bad++;
    }
    is_int(bad, 0, "every key finds its value after the table grew");
    ok(m.nslots >= 2 * m.count && (m.nslots & (m.nslots - 1)) == 0,
       "at most half full, a power of two (%zu/%zu)", m.count, m.nslots);
    ok(od_map_find_str(&m, "alpha") && od_map_find_str(&m, "alpha")->key == alpha,
       "a key stays at its address across growth");

    size_t it = 0, seen = 0;
    long long sum = 0;
    while ((e = od_map_next(&m, &it)) != NULL) {
        seen++;
        if (strncmp(e->key, "key-", 4) == 0) sum += e->value.num;
    }
    is_int(seen, m.count, "iteration visits every entry once");
    is_int(sum, 3LL * N * (N - 1) / 2, "... with its value");

    od_map_dispose(&m);
    ok(m.count == 0 && m.nslots == 0 && od_map_find_str(&m, "alpha") == NULL, "dispose empties the map");
    return done_testing();
}
