/* The priority lanes: order, FIFO within a lane, capacity, and the starvation guard. */
#include "pool/lanes.h"
#include "tap.h"

static od_order_t *orders[16]; /* each with room for its id after the (empty) item list */

static od_order_t *mk(int i, int prio, uint64_t t)
{
    if (orders[i] == NULL) orders[i] = od_malloc(sizeof(od_order_t) + 16);
    od_order_t *o = orders[i];
    memset(o, 0, sizeof(*o));
    snprintf(od_order_id_buf(o), 16, "o%d", i);
    o->priority = prio;
    o->enqueued_ns = t;
    return o;
}

int main(void)
{
    od_lanes_t l;
    od_lanes_init(&l, 5, 0);
    ok(od_lanes_pop(&l, 0) == NULL, "empty lanes pop nothing");
    od_lanes_push(&l, mk(0, 3, 1));
    od_lanes_push(&l, mk(1, 2, 2));
    od_lanes_push(&l, mk(2, 1, 3));
    od_lanes_push(&l, mk(3, 1, 4));
    od_lanes_push(&l, mk(4, 2, 5));
    is_int(l.total, 5, "five queued");
    is_int(od_lanes_push(&l, mk(5, 1, 6)), -1, "a sixth is refused at capacity 5");
    is_int(l.len[0], 2, "two in lane 1");
    const char *want[] = {"o2", "o3", "o1", "o4", "o0"};
    for (int i = 0; i < 5; i++) {
        od_order_t *o = od_lanes_pop(&l, 10);
        is_str(o ? od_order_id(o) : NULL, want[i], "pop %d: priority first, FIFO within a lane", i + 1);
    }
    is_int(l.total, 0, "drained");

    /* starvation guard: a low-priority head older than 100 ns goes before fresh high ones */
    od_lanes_init(&l, 10, 100);
    od_lanes_push(&l, mk(0, 3, 1000));
    od_lanes_push(&l, mk(1, 1, 1050));
    od_lanes_push(&l, mk(2, 1, 1060));
    od_order_t *o = od_lanes_pop(&l, 1080);
    is_str(od_order_id(o), "o1", "before the guard time, high priority first");
    o = od_lanes_pop(&l, 1200);
    is_str(od_order_id(o), "o0", "past the guard time, the starved low-priority order goes next");
    is_int(l.starvation_picks, 1, "the guard pick is counted");
    o = od_lanes_pop(&l, 1300);
    is_str(od_order_id(o), "o2", "then high priority again");

    /* the longest-starved of two lower lanes first */
    od_lanes_init(&l, 10, 100);
    od_lanes_push(&l, mk(0, 2, 500));
    od_lanes_push(&l, mk(1, 3, 400));
    od_lanes_push(&l, mk(2, 1, 900));
    o = od_lanes_pop(&l, 1000);
    is_str(od_order_id(o), "o1", "the oldest starved head (lane 3) first");
    for (int i = 0; i < 16; i++)
        free(orders[i]);
    return done_testing();
}
