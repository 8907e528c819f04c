/*
 * hashmap — the one hash table of in-process lookups: byte-string keys to a caller's value,
 * open addressing with linear probing, hashed with util.h's FNV-1a.  For the tables a module
 * builds and throws away (a profile's string table, folded stacks) or keeps for the process's
 * life (interned symbol names).
 *
 * Keys: any bytes, key[0..len); the map stores its own copy, NUL-terminated, so that a string
 * key can be used as a C string (entry->key) and stays at the same address until
 * od_map_dispose — an interning table returns it.  Values: entry->value, a pointer or an
 * integer, the caller's (a new entry's is zero); the map never frees one.
 *
 * Growth: the slot array doubles when it would be more than half full, so a lookup probes a
 * slot or two; growing moves the entries, so an od_map_entry_t pointer is good only until the
 * next od_map_put (the key it points to stays).  No removal: the tables here only grow.
 *
 * Threading: none inside; a map used by several threads needs its owner's lock.  The map
 * allocates (od_malloc): not for malloc hooks or signal handlers.
 */
#ifndef OD_HASHMAP_H
#define OD_HASHMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct od_map_entry {
    char *key; /* the map's copy (NUL-terminated), NULL in an empty slot */
    size_t len;
    uint64_t hash;
    union {
        void *ptr;
        int64_t num;
    } value;
} od_map_entry_t;

typedef struct od_map {
    od_map_entry_t *slots;
    size_t count, nslots; /* nslots: 0 or a power of two */
} od_map_t;

#define OD_MAP_INIT                                                                                          \
    {                                                                                                        \
        NULL, 0, 0                                                                                           \
    }

void od_map_init(od_map_t *m);
/** frees the slots and the keys (not the values: free those first, through od_map_next) */
void od_map_dispose(od_map_t *m);
/** @return the entry for key[0..len), or NULL */
od_map_entry_t *od_map_find(const od_map_t *m, const void *key, size_t len);
/** @return the entry for key[0..len), added (value zero, *added = 1) when absent; added may be NULL */
od_map_entry_t *od_map_put(od_map_t *m, const void *key, size_t len, int *added);
/** od_map_find and od_map_put for a C string */
od_map_entry_t *od_map_find_str(const od_map_t *m, const char *key);
od_map_entry_t *od_map_put_str(od_map_t *m, const char *key, int *added);
/** iteration in slot order (no order to rely on): start *iter at 0
 *  @return the next entry, or NULL at the end */
od_map_entry_t *od_map_next(const od_map_t *m, size_t *iter);

#endif
