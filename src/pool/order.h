/*
 * order — one customer order: its fields (as the Go seed names them), parsed and validated
 * from a JSON request body, and its lifecycle (queued → processing → done | failed).
 *
 * An order is one allocation: the struct followed by its strings and item list, so that a
 * queued order costs a few hundred bytes and frees with one free(3).  The results store
 * (results.h) owns every accepted order; the queue and the workers borrow it.
 *
 * Threading: the identity fields are immutable after parsing.  The lifecycle fields are
 * written by the worker that processes the order and read by HTTP threads, both under the
 * results store's lock.
 */
#ifndef OD_ORDER_H
#define OD_ORDER_H

#include <stddef.h>
#include <stdint.h>

#include "base/util.h"

#define OD_ORDER_ID_MAX 64

typedef enum od_order_state {
    OD_STATE_QUEUED,
    OD_STATE_PROCESSING,
    OD_STATE_DONE,
    OD_STATE_FAILED,
} od_order_state_t;

typedef struct od_order od_order_t;
/*
 * Laid out for size: a queue of a million orders is a million allocations of fresh memory,
 * which the kernel clears first (about 2 ns a byte on this kind of virtual machine, when the
 * host has not backed the memory yet), so the order keeps no field it can do without: the id
 * is the first of the trailing strings (od_order_id), the status an index into a fixed list,
 * the queue wait shares its bytes with the enqueue time it is computed from, and the small
 * fields share one word.  A typical order with its strings fits tcmalloc's 224-byte class.
 */
struct od_order {
    uint32_t id_hash; /* the id's hash, for the results store's index (set when it claims the id) */
    /* identity, immutable after od_order_parse (but priority: see below); state and
     * worker_id are lifecycle fields (below) */
    od_order_state_t state : 4;
    signed int priority : 4; /* 1 high, 2 medium, 3 low; the rules' route hook may change it,
                              * under the results store's lock */
    uint8_t status_index;    /* into od_order_statuses: od_order_status */
    int16_t worker_id;       /* -1 until a worker takes the order (at most 1024 workers) */
    const char *customer;    /* point into the trailing storage */
    const char *address;
    const char *notes; /* "" when absent */
    size_t nitems;
    double amount;
    uint64_t created_wall_ns;
    union {
        uint64_t enqueued_ns; /* while queued: od_now_ns at acceptance */
        uint64_t queue_ns;    /* from when a worker takes it (state PROCESSING on): the wait */
    };

    /* lifecycle, under the results store's lock (and state and worker_id above) */
    const char *outcome; /* static: "priority_processing", "expedited", "processing" */
    char *message;       /* owned: result or error text */
    uint64_t processing_ns;
    uint64_t processed_wall_ns;
    void *record; /* owned: what the record stage allocated (freed with the order) */
    double price; /* what the price stage computed (C stage or the rules' price hook) */

    /* links, owned by the module that uses them: a queued order is never finished, so the
     * queue's link and the eviction list's share their bytes */
    union {
        od_order_t *queue_next; /* lanes */
        od_order_t *done_next;  /* results store eviction list (and its evicted chain) */
    };
    const char *items[]; /* nitems SKUs, in the same allocation; then the id, then the strings */
};
#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(od_order_t) == 120, "od_order_t grew: see the layout note above");
#endif

/* room for a generated id ("ord-%08x-%llu") */
#define OD_ORDER_GEN_ID_SIZE 34

/** the order's id (NUL-terminated): the first string after the item list; "" until one is
 *  given or made */
static inline const char *od_order_id(const od_order_t *o)
{
    return (const char *)&o->items[o->nitems];
}
/** the id's bytes, to write: room for OD_ORDER_GEN_ID_SIZE when the body had no id, for the
 *  client's id when it had one */
static inline char *od_order_id_buf(od_order_t *o)
{
    return (char *)&o->items[o->nitems];
}

extern const char *const od_order_statuses[5]; /* pending|paid|shipped|delivered|cancelled */
/** the order's status (pending|paid|shipped|delivered|cancelled), a static string */
static inline const char *od_order_status(const od_order_t *o)
{
    return od_order_statuses[o->status_index];
}

/** links the trace's enqueue and dequeue of o (from fields it keeps, so not stored) */
static inline uint64_t od_order_flow_id(const od_order_t *o)
{
    return (uint64_t)(uintptr_t)o ^ o->enqueued_ns;
}

/** why a body was refused: the HTTP status (400, 422) and the message/field for the JSON */
typedef struct od_order_error {
    int status;
    char message[160];
    char field[32]; /* "" when no single field is at fault */
} od_order_error_t;

/**
 * parses and validates a JSON order body (the seed's fields; unknown fields rejected)
 * @return a new order (caller owns it; release with od_order_free), or NULL with err filled
 */
od_order_t *od_order_parse(const char *body, size_t len, od_order_error_t *err);
void od_order_free(od_order_t *o);
/** fills the id (od_order_id_buf) with a fresh unique id ("ord-..."); thread-safe */
void od_order_make_id(od_order_t *o);
const char *od_order_state_name(od_order_state_t s);
/** appends the order's public JSON (state, outcome, timings) */
void od_order_json(const od_order_t *o, od_buf_t *out);
/** @return 1 if s is a valid id: 1..64 of [A-Za-z0-9_-] */
int od_order_id_valid(const char *s, size_t len);

#endif
