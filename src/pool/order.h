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
struct od_order {
    /* identity, immutable after od_order_parse */
    char id[OD_ORDER_ID_MAX + 1];
    uint16_t id_tag;      /* 16 more bits of the id's hash, for the index (in the padding after id) */
    const char *customer; /* point into the trailing storage */
    const char *address;
    const char *notes;  /* "" when absent */
    const char *status; /* pending|paid|shipped|delivered|cancelled */
    const char **items;
    size_t nitems;
    double amount;
    int priority;     /* 1 high, 2 medium, 3 low; the rules' route hook may change it, under the
                       * results store's lock */
    uint32_t id_hash; /* the id's hash, for the results store's index (set when it claims the id) */
    uint64_t created_wall_ns;
    uint64_t enqueued_ns; /* od_now_ns at acceptance */

    /* lifecycle, under the results store's lock */
    od_order_state_t state;
    int worker_id; /* beside state: the two ints share 8 bytes (an order is ~300 bytes, queued by the million)
                    */
    const char *outcome; /* static: "priority_processing", "expedited", "processing" */
    char *message;       /* owned: result or error text */
    uint64_t queue_ns, processing_ns;
    uint64_t processed_wall_ns;
    void *record; /* owned: what the record stage allocated (freed with the order) */
    double price; /* what the price stage computed (C stage or the rules' price hook) */

    /* links, owned by the module that uses them */
    od_order_t *queue_next;            /* lanes */
    od_order_t *done_prev, *done_next; /* results store eviction list */
};

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
/** fills o->id with a fresh unique id ("ord-..."); thread-safe */
void od_order_make_id(od_order_t *o);
const char *od_order_state_name(od_order_state_t s);
/** appends the order's public JSON (state, outcome, timings) */
void od_order_json(const od_order_t *o, od_buf_t *out);
/** @return 1 if s is a valid id: 1..64 of [A-Za-z0-9_-] */
int od_order_id_valid(const char *s, size_t len);

#endif
