/*
 * fuzz_order — libFuzzer target for the JSON order parser (od_order_parse): every input is
 * a request body.  A body that parses is also rendered back (od_order_json), so the
 * renderer sees whatever the parser lets through.  Invariants checked: a refused body says
 * why (status 400 or 422 and a message); an accepted one has a valid id, items, a positive
 * amount and a priority in 1..3.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pool/order.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy, so that a read past the end is caught (no NUL to lean on) */
    char *body = malloc(size ? size : 1);
    if (size) memcpy(body, data, size);
    od_order_error_t err;
    memset(&err, 0, sizeof(err));
    od_order_t *o = od_order_parse(body, size, &err);
    if (o == NULL) {
        if ((err.status != 400 && err.status != 422) || err.message[0] == '\0') abort();
    } else {
        if (o->nitems == 0 || !(o->amount > 0) || o->priority < 1 || o->priority > 3) abort();
        if (od_order_id(o)[0] != '\0' && !od_order_id_valid(od_order_id(o), strlen(od_order_id(o)))) abort();
        od_buf_t out = OD_BUF_INIT;
        od_order_json(o, &out);
        od_buf_dispose(&out);
        od_order_free(o);
    }
    free(body);
    return 0;
}
