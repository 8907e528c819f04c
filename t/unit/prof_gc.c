/*
 * prof_gc — allocator statistics around a release (src/prof/gc.c).
 *
 * Frees 48 MiB of touched memory so tcmalloc's page heap has free spans, then checks that
 * the JSON report parses, carries its fields, and shows the release: free page-heap bytes
 * down, unmapped bytes up by released_bytes.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prof/gc.h"
#include "tap.h"

static json_int_t num(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? json_integer_value(v) : -1;
}

#ifdef OD_NO_TCMALLOC
int main(void)
{
    plan(3);
    od_buf_t b = OD_BUF_INIT;
    od_gc_report(&b);
    json_error_t e;
    json_t *j = json_loads(b.base, 0, &e);
    ok(j != NULL, "report is JSON: %s", b.base);
    ok(j && strcmp(json_string_value(json_object_get(j, "allocator")), "sanitizer") == 0 &&
           num(j, "rss_bytes") > 0 && json_is_string(json_object_get(j, "message")),
       "sanitizer build: allocator, rss_bytes and a message");
    ok(od_alloc_bytes() == 0, "od_alloc_bytes() is 0 (unknown)");
    json_decref(j);
    od_buf_dispose(&b);
    return done_testing();
}
#else
static const char *const keys[] = {
    "allocated_bytes",           "heap_size_bytes",         "physical_bytes",
    "pageheap_free_bytes",       "pageheap_unmapped_bytes", "central_cache_free_bytes",
    "transfer_cache_free_bytes", "thread_cache_free_bytes", "rss_bytes",
};

#define BLOCKS 48
#define BLOCK (1u << 20)

int main(void)
{
    plan(12);
    void *blocks[BLOCKS];
    for (int i = 0; i < BLOCKS; i++) {
        blocks[i] = malloc(BLOCK);
        memset(blocks[i], 0x5a, BLOCK);
    }
    uint64_t held = od_alloc_bytes();
    ok(held >= (uint64_t)BLOCKS * BLOCK, "od_alloc_bytes() %llu with 48 MiB held", (unsigned long long)held);
    for (int i = 0; i < BLOCKS; i++)
        free(blocks[i]);
    ok(od_alloc_bytes() < held - (uint64_t)BLOCKS * BLOCK / 2, "od_alloc_bytes() drops after free (%llu)",
       (unsigned long long)od_alloc_bytes());

    od_buf_t b = OD_BUF_INIT;
    od_gc_report(&b);
    json_error_t e;
    json_t *j = json_loads(b.base, 0, &e);
    ok(j != NULL, "report is JSON%s%s", j ? "" : ": ", j ? "" : e.text);
    json_t *before = json_object_get(j, "before"), *after = json_object_get(j, "after");
    ok(j && strcmp(json_string_value(json_object_get(j, "allocator")), "tcmalloc") == 0,
       "allocator tcmalloc");
    int all = json_is_object(before) && json_is_object(after);
    for (size_t i = 0; all && i < OD_ARRAY_SIZE(keys); i++)
        if (num(before, keys[i]) < 0 || num(after, keys[i]) < 0) {
            all = 0;
            diag("missing %s", keys[i]);
        }
    ok(all, "before and after carry all %zu fields", OD_ARRAY_SIZE(keys));
    ok(num(j, "release_us") >= 0, "release_us present (%lld)", (long long)num(j, "release_us"));
    json_int_t rel = num(j, "released_bytes");
    ok(rel >= (json_int_t)BLOCKS * BLOCK / 2, "released_bytes %lld (48 MiB freed)", (long long)rel);
    ok(num(after, "pageheap_free_bytes") <= num(before, "pageheap_free_bytes"),
       "after.pageheap_free_bytes %lld <= before %lld", (long long)num(after, "pageheap_free_bytes"),
       (long long)num(before, "pageheap_free_bytes"));
    ok(num(after, "pageheap_unmapped_bytes") - num(before, "pageheap_unmapped_bytes") == rel,
       "released_bytes = unmapped after - before");
    ok(num(after, "rss_bytes") < num(before, "rss_bytes"), "RSS went down: %lld -> %lld",
       (long long)num(before, "rss_bytes"), (long long)num(after, "rss_bytes"));
    json_decref(j);
    od_buf_dispose(&b);

    od_gc_report_text(&b);
    ok(b.base && strstr(b.base, "tcmalloc") && strstr(b.base, "allocated") && strstr(b.base, "released "),
       "text form names the allocator, the statistics and the release");
    od_buf_reset(&b);
    od_gc_report(&b);
    j = json_loads(b.base, 0, &e);
    ok(j && num(j, "released_bytes") >= 0 && num(j, "released_bytes") < (1 << 20),
       "a second release finds (almost) nothing left to release (%lld)",
       j ? (long long)num(j, "released_bytes") : -1LL);
    json_decref(j);
    od_buf_dispose(&b);
    return done_testing();
}
#endif
