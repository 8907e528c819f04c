#include "pool/lanes.h"

void od_lanes_init(od_lanes_t *l, size_t capacity, uint64_t starve_ns)
{
    *l = (od_lanes_t){.capacity = capacity, .starve_ns = starve_ns};
}

int od_lanes_push(od_lanes_t *l, od_order_t *o)
{
    if (l->total >= l->capacity) return -1;
    int lane = o->priority - 1;
    OD_ASSERT(lane >= 0 && lane < OD_LANES);
    o->queue_next = NULL;
    if (l->tail[lane])
        l->tail[lane]->queue_next = o;
    else
        l->head[lane] = o;
    l->tail[lane] = o;
    l->len[lane]++;
    l->total++;
    return 0;
}

od_order_t *od_lanes_pop(od_lanes_t *l, uint64_t now_ns)
{
    int lane = -1;
    if (l->starve_ns) {
        /* the longest-starved lower lane, if any head is past the guard */
        uint64_t oldest = UINT64_MAX;
        for (int i = 1; i < OD_LANES; i++) {
            od_order_t *h = l->head[i];
            if (h && now_ns > h->enqueued_ns && now_ns - h->enqueued_ns > l->starve_ns &&
                h->enqueued_ns < oldest) {
                oldest = h->enqueued_ns;
                lane = i;
            }
        }
        if (lane > 0) {
            /* only a guard pick if a higher lane was actually waiting */
            for (int i = 0; i < lane; i++)
                if (l->head[i]) {
                    l->starvation_picks++;
                    break;
                }
        }
    }
    if (lane < 0)
        for (int i = 0; i < OD_LANES; i++)
            if (l->head[i]) {
                lane = i;
                break;
            }
    if (lane < 0) return NULL;
    od_order_t *o = l->head[lane];
    l->head[lane] = o->queue_next;
    if (l->head[lane] == NULL) l->tail[lane] = NULL;
    o->queue_next = NULL;
    l->len[lane]--;
    l->total--;
    return o;
}
