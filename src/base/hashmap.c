#include "base/hashmap.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

void od_map_init(od_map_t *m)
{
    m->slots = NULL;
    m->count = m->nslots = 0;
}

void od_map_dispose(od_map_t *m)
{
    for (size_t i = 0; i < m->nslots; i++)
        free(m->slots[i].key);
    free(m->slots);
    od_map_init(m);
}

/* the slot holding key, or the empty slot where it would go */
static od_map_entry_t *probe(const od_map_t *m, const void *key, size_t len, uint64_t h)
{
    size_t mask = m->nslots - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        od_map_entry_t *e = &m->slots[i];
        if (e->key == NULL || (e->hash == h && e->len == len && memcmp(e->key, key, len) == 0)) return e;
    }
}

static void grow(od_map_t *m)
{
    size_t ns = m->nslots ? m->nslots * 2 : 64;
    od_map_entry_t *slots = od_calloc(ns, sizeof(*slots));
    for (size_t i = 0; i < m->nslots; i++) {
        if (m->slots[i].key == NULL) continue;
        size_t j = (size_t)m->slots[i].hash & (ns - 1);
        while (slots[j].key)
            j = (j + 1) & (ns - 1);
        slots[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = slots;
    m->nslots = ns;
}

od_map_entry_t *od_map_find(const od_map_t *m, const void *key, size_t len)
{
    if (m->count == 0) return NULL;
    od_map_entry_t *e = probe(m, key, len, od_hash_bytes(key, len));
    return e->key ? e : NULL;
}

od_map_entry_t *od_map_put(od_map_t *m, const void *key, size_t len, int *added)
{
    if ((m->count + 1) * 2 > m->nslots) grow(m);
    uint64_t h = od_hash_bytes(key, len);
    od_map_entry_t *e = probe(m, key, len, h);
    if (added) *added = e->key == NULL;
    if (e->key == NULL) {
        e->key = od_strndup(key, len);
        e->len = len;
        e->hash = h;
        m->count++;
    }
    return e;
}

od_map_entry_t *od_map_find_str(const od_map_t *m, const char *key)
{
    return od_map_find(m, key, strlen(key));
}

od_map_entry_t *od_map_put_str(od_map_t *m, const char *key, int *added)
{
    return od_map_put(m, key, strlen(key), added);
}

od_map_entry_t *od_map_next(const od_map_t *m, size_t *iter)
{
    for (; *iter < m->nslots; (*iter)++)
        if (m->slots[*iter].key) return &m->slots[(*iter)++];
    return NULL;
}
