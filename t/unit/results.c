/* The results store: find, duplicate detection, eviction of finished orders only; ids whose
 * 32-bit hashes collide (same home, same tag) told apart; the unlocked prefetch changes nothing. */
#include "pool/results.h"
#include "tap.h"

#include <stdlib.h>

static od_order_t *mk(const char *id)
{
    od_order_t *o = od_calloc(1, sizeof(*o) + strlen(id) + 1); /* the id after the (empty) item list */
    strcpy(od_order_id_buf(o), id);
    o->customer = o->address = o->notes = "";
    return o;
}

typedef struct named {
    uint32_t h;
    char id[16];
} named_t;

static int by_hash(const void *a, const void *b)
{
    uint32_t x = ((const named_t *)a)->h, y = ((const named_t *)b)->h;
    return x < y ? -1 : x > y;
}

/* two different ids with one 32-bit hash (the index's home bits and tag both come from it):
 * a birthday search over 300000 random ids finds about ten */
static int colliding_ids(char *a, char *b)
{
    enum { M = 300000 };
    named_t *v = od_malloc(M * sizeof(*v));
    uint64_t x = 88172645463325252u;
    for (int i = 0; i < M; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        snprintf(v[i].id, sizeof(v[i].id), "c%012llx", (unsigned long long)(x & 0xffffffffffffull));
        v[i].h = (uint32_t)od_hash_str(v[i].id);
    }
    qsort(v, M, sizeof(*v), by_hash);
    int found = 0;
    for (int i = 1; i < M && !found; i++)
        if (v[i].h == v[i - 1].h) {
            strcpy(a, v[i - 1].id);
            strcpy(b, v[i].id);
            found = 1;
        }
    free(v);
    return found;
}

static void collisions_and_prefetch(void)
{
    char a[16], b[16];
    if (!ok(colliding_ids(a, b), "two ids with the same 32-bit hash exist among 300000")) return;
    od_results_t *r = od_results_create(0);
    od_results_lock(r);
    od_order_t *oa = mk(a), *ob = mk(b);
    ok(od_results_claim_locked(r, oa) == 0, "%s claimed", a);
    od_results_add_locked(r, oa);
    ok(od_results_find_locked(r, b) == NULL, "%s (same home, same tag) is not taken for %s", b, a);
    ok(od_results_claim_locked(r, ob) == 0, "... and can be claimed");
    od_results_add_locked(r, ob);
    ok(od_results_find_locked(r, a) == oa && od_results_find_locked(r, b) == ob, "each finds its own order");
    od_results_remove_locked(r, oa);
    ok(od_results_find_locked(r, a) == NULL && od_results_find_locked(r, b) == ob,
       "removing one leaves the other findable");
    od_results_unlock(r);

    /* the prefetch reads, unlocked, and writes nothing: any id, any length, before and after
     * the index grows */
    char ids[3000][12];
    static const char *odd[] = {"", "x",
                                "an id that is far longer than any order id could be, and then some more"};
    for (size_t k = 0; k < OD_ARRAY_SIZE(odd); k++)
        od_results_prefetch(r, odd[k], strlen(odd[k]));
    od_results_lock(r);
    for (int i = 0; i < 3000; i++) {
        snprintf(ids[i], sizeof(ids[i]), "p%d", i);
        od_results_prefetch(r, ids[i], strlen(ids[i]));
        od_order_t *o = mk(ids[i]);
        if (od_results_claim_locked(r, o) != 0) ok(0, "claim %s", ids[i]);
        od_results_add_locked(r, o);
        od_results_prefetch(r, ids[i], strlen(ids[i]));
    }
    int found = 0;
    for (int i = 0; i < 3000; i++)
        found += od_results_find_locked(r, ids[i]) != NULL;
    od_results_unlock(r);
    is_int(found, 3000, "every order found after prefetches around each claim and growth");
    is_int(od_results_count(r), 3001, "the count is what was added");
    od_results_destroy(r);
}

/* od_results_reserve: sized once for what the store may hold, the index does not grow (no
 * rehash with the lock held) while it fills; a mapped table (2 MiB and up) works as the small
 * one does; the size is capped and never shrinks */
static void reserve(void)
{
    od_results_t *r = od_results_create(10);
    size_t before = od_results_slots(r);
    od_results_reserve(r, 140000);
    size_t n = od_results_slots(r);
    ok(n > before && n >= 2 * (140000 + 10) && n * sizeof(uint64_t) >= ((size_t)2 << 20),
       "reserve(140000): %zu slots (was %zu), a mapped table", n, before);
    /* at most half the slots are used: n / 2 orders fit */
    size_t m = n / 2;
    od_order_t **os = od_malloc(m * sizeof(*os));
    unsigned wrong = 0;
    od_results_lock(r);
    for (size_t i = 0; i < m; i++) {
        char id[24];
        snprintf(id, sizeof(id), "r%zu", i);
        os[i] = mk(id);
        if (od_results_claim_locked(r, os[i]) != 0) wrong++;
        od_results_add_locked(r, os[i]);
    }
    for (size_t i = 0; i < m; i += 7) {
        char id[24];
        snprintf(id, sizeof(id), "r%zu", i);
        if (od_results_find_locked(r, id) != os[i]) wrong++;
    }
    od_results_unlock(r);
    is_int(od_results_slots(r), n, "%zu orders added: the index did not grow", m);
    ok(wrong == 0, "every one claimed once and found (%u wrong)", wrong);
    od_results_lock(r);
    od_order_t *one = mk("one-more");
    ok(od_results_claim_locked(r, one) == 0, "one more than that is claimed");
    od_results_add_locked(r, one);
    int found = od_results_find_locked(r, "r0") == os[0] && od_results_find_locked(r, "one-more") == one;
    for (size_t i = 1; i < m; i += 101)
        if (od_results_find_locked(r, od_order_id(os[i])) != os[i]) found = 0;
    od_results_unlock(r);
    ok(od_results_slots(r) == 2 * n && found, "... the index doubles and still finds every order (%zu slots)",
       od_results_slots(r));
    od_results_reserve(r, 10);
    is_int(od_results_slots(r), 2 * n, "reserve never shrinks");
    free(os);
    od_results_destroy(r);

    r = od_results_create(0);
    od_results_reserve(r, (size_t)1 << 30);
    ok(od_results_slots(r) == 2 * OD_RESULTS_RESERVE_MAX,
       "reserve is capped at OD_RESULTS_RESERVE_MAX orders (%zu slots, %zu MiB, untouched)",
       od_results_slots(r), od_results_slots(r) * sizeof(uint64_t) >> 20);
    od_results_destroy(r);
}

int main(void)
{
    od_results_t *r = od_results_create(3);
    char id[16];
    od_results_lock(r);
    for (int i = 0; i < 5000; i++) { /* grows the index several times */
        snprintf(id, sizeof(id), "q%d", i);
        od_order_t *o = mk(id);
        if (od_results_claim_locked(r, o) != 0) ok(0, "claim %s", id);
        od_results_add_locked(r, o);
    }
    od_order_t *dup = mk("q42");
    ok(od_results_claim_locked(r, dup) == -1, "a known id cannot be claimed again");
    od_order_free(dup);
    od_results_unlock(r);
    is_int(od_results_count(r), 5000, "5000 stored");
    od_results_lock(r);
    ok(od_results_find_locked(r, "q0") && od_results_find_locked(r, "q4999") &&
           !od_results_find_locked(r, "q5000"),
       "find after growth");
    /* finish 5: only the newest 3 finished stay; the unfinished are never evicted */
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof(id), "q%d", i);
        od_order_t *o = od_results_find_locked(r, id);
        o->state = OD_STATE_DONE;
        od_results_finish_locked(r, o);
    }
    ok(!od_results_find_locked(r, "q0") && !od_results_find_locked(r, "q1"),
       "the two oldest finished evicted");
    ok(od_results_find_locked(r, "q2") && od_results_find_locked(r, "q4"), "the newest three finished kept");
    ok(od_results_find_locked(r, "q5") != NULL, "unfinished orders never evicted");
    od_order_t *x = od_results_find_locked(r, "q6");
    od_results_remove_locked(r, x);
    ok(od_results_find_locked(r, "q6") == NULL, "remove");
    od_results_unlock(r);
    is_int(od_results_count(r), 4997, "count after eviction and removal");
    od_buf_t j = OD_BUF_INIT;
    ok(od_results_json(r, "q4", &j) == 0 && strstr(j.base, "\"state\":\"done\""), "JSON of a finished order");
    ok(od_results_json(r, "q0", &j) == -1, "an evicted order is unknown");
    od_buf_dispose(&j);
    od_results_destroy(r);

    /* retire: the evicted orders leave the index at once but are freed by the caller, later */
    r = od_results_create(1);
    od_results_lock(r);
    od_order_t *a = mk("a"), *b = mk("b");
    od_results_claim_locked(r, a);
    od_results_add_locked(r, a);
    od_results_claim_locked(r, b);
    od_results_add_locked(r, b);
    ok(od_results_retire_locked(r, a) == NULL, "retire within results_kept evicts nothing");
    od_order_t *ev = od_results_retire_locked(r, b);
    ok(ev == a && a->done_next == NULL, "retire beyond results_kept hands back the oldest");
    ok(od_results_find_locked(r, "a") == NULL && od_results_find_locked(r, "b") == b,
       "... gone from the index");
    od_results_unlock(r);
    is_int(od_results_count(r), 1, "count after retire");
    od_results_free_evicted(ev);
    od_results_free_evicted(NULL);
    od_results_destroy(r);

    /* results_kept 0 keeps nothing finished */
    r = od_results_create(0);
    od_results_lock(r);
    od_order_t *o = mk("z");
    od_results_claim_locked(r, o);
    od_results_add_locked(r, o);
    o->state = OD_STATE_FAILED;
    od_results_finish_locked(r, o);
    ok(od_results_find_locked(r, "z") == NULL, "results_kept 0 evicts at once");
    od_results_unlock(r);
    od_results_destroy(r);

    /* the index against a plain list: 40000 random adds and removes around a thousand live
     * orders (half the slots of the smallest index: long clusters, wrapping at the end),
     * every id checked after each step of the first 2000 and at intervals after */
    enum { N = 1500 };
    static od_order_t *live[N];
    static char ids[N][16];
    r = od_results_create(0);
    od_results_lock(r);
    unsigned seed = 12345, wrong = 0, steps = 0;
    for (int i = 0; i < N; i++)
        snprintf(ids[i], sizeof(ids[i]), "k%d", i);
    for (int step = 0; step < 40000; step++) {
        seed = seed * 1103515245u + 12345u;
        int i = (int)((seed >> 8) % N);
        if (live[i] == NULL) {
            od_order_t *fresh = mk(ids[i]);
            if (od_results_claim_locked(r, fresh) != 0) wrong++;
            od_results_add_locked(r, fresh);
            live[i] = fresh;
        } else {
            od_order_t *twin = mk(ids[i]);
            if (od_results_claim_locked(r, twin) != -1) wrong++;
            od_order_free(twin);
            od_results_remove_locked(r, live[i]);
            live[i] = NULL;
        }
        if (step < 2000 || step % 997 == 0) {
            steps++;
            for (int k = 0; k < N; k++)
                if (od_results_find_locked(r, ids[k]) != live[k]) wrong++;
        }
    }
    od_results_unlock(r);
    size_t nlive = 0;
    for (int k = 0; k < N; k++)
        nlive += live[k] != NULL;
    is_int(od_results_count(r), nlive, "count matches the live orders after 40000 adds and removes");
    ok(wrong == 0,
       "every id found exactly when it is live, and refused as a duplicate then, over %u checks (%u wrong)",
       steps, wrong);
    od_results_destroy(r);
    collisions_and_prefetch();
    reserve();
    return done_testing();
}
