/* The JSON order parser: valid orders, defaults, and the hostile-input matrix. */
#include "pool/order.h"
#include "tap.h"

#include <stdlib.h>

static od_order_error_t err;

static od_order_t *parse(const char *s)
{
    memset(&err, 0, sizeof(err));
    return od_order_parse(s, strlen(s), &err);
}

static void refused(const char *body, int status, const char *field, const char *what)
{
    od_order_t *o = parse(body);
    ok(o == NULL && err.status == status && strcmp(err.field, field) == 0, "%s -> %d field=\"%s\" (%s)", what,
       status, field, err.message);
    if (o || err.status != status || strcmp(err.field, field) != 0)
        printf("#   got status %d field \"%s\"\n", err.status, err.field);
    od_order_free(o);
}

int main(void)
{
    od_order_t *o =
        parse("{\"id\":\"A-1_z\",\"customer\":\"Ada\",\"items\":[\"S1\",\"S2\",\"S3\"],\"amount\":12.5,"
              "\"status\":\"paid\",\"address\":\"1 Way\",\"notes\":\"n\",\"priority\":1,"
              "\"created_at\":\"2020-01-01T00:00:00Z\"}");
    ok(o != NULL, "a full order parses");
    if (o) {
        is_str(od_order_id(o), "A-1_z", "id kept");
        is_str(o->customer, "Ada", "customer");
        is_int(o->nitems, 3, "three items");
        is_str(o->items[2], "S3", "items copied in order");
        ok(o->amount == 12.5, "amount");
        is_str(od_order_status(o), "paid", "status");
        is_int(o->priority, 1, "priority");
        is_str(o->notes, "n", "notes");
        ok(o->created_wall_ns > 1700000000ull * 1000000000ull, "created_at overwritten with now");
    }
    od_order_free(o);

    o = parse("{\"customer\":\"B\",\"items\":[\"S\"],\"amount\":1,\"address\":\"x\"}");
    ok(o && o->priority == 2 && strcmp(od_order_status(o), "pending") == 0 && od_order_id(o)[0] == '\0' &&
           o->notes[0] == '\0',
       "defaults: priority 2, status pending, no id, empty notes");
    if (o) {
        od_order_make_id(o);
        od_order_t *o2 = parse("{\"customer\":\"B\",\"items\":[\"S\"],\"amount\":1,\"address\":\"x\"}");
        od_order_make_id(o2);
        ok(od_order_id_valid(od_order_id(o), strlen(od_order_id(o))) &&
               strcmp(od_order_id(o), od_order_id(o2)) != 0,
           "generated ids valid and unique (%s, %s)", od_order_id(o), od_order_id(o2));
        od_order_free(o2);
    }
    od_order_free(o);

    /* syntax: 400 */
    refused("", 400, "", "empty body");
    refused("{\"customer\":", 400, "", "truncated JSON");
    refused("{\"customer\":\"a\"} trailing", 400, "", "trailing garbage");
    refused("[1,2,3]", 400, "", "an array, not an object");
    refused("\"just a string\"", 400, "", "a bare string");
    refused("{\"amount\":NaN,\"customer\":\"a\",\"items\":[\"s\"],\"address\":\"x\"}", 400, "", "NaN");
    refused("{\"amount\":1e999,\"customer\":\"a\",\"items\":[\"s\"],\"address\":\"x\"}", 400, "",
            "huge real");
    refused("{\"priority\":123456789012345678901234567890,\"customer\":\"a\"}", 400, "", "huge integer");
    refused("{\"customer\":\"\xff\xfe\",\"items\":[\"s\"],\"amount\":1,\"address\":\"x\"}", 400, "",
            "non-UTF-8");
    refused("{\"customer\":\"a\",\"customer\":\"b\"}", 400, "", "duplicate key");
    refused("{\"customer\":\"a\\u0000b\",\"items\":[\"s\"],\"amount\":1,\"address\":\"x\"}", 400, "",
            "NUL inside a string");
    {
        /* deep nesting: 100000 brackets must be refused without blowing the stack */
        size_t n = 100000;
        char *deep = malloc(2 * n + 32);
        strcpy(deep, "{\"notes\":");
        size_t p = strlen(deep);
        for (size_t i = 0; i < n; i++)
            deep[p++] = '[';
        for (size_t i = 0; i < n; i++)
            deep[p++] = ']';
        deep[p++] = '}';
        deep[p] = '\0';
        od_order_t *d = od_order_parse(deep, p, &err);
        ok(d == NULL && (err.status == 400 || err.status == 422), "100000-deep nesting refused (%d)",
           err.status);
        od_order_free(d);
        free(deep);
    }

    /* fields: 422 naming the field */
    refused("{\"customer\":\"a\",\"items\":[\"s\"],\"amount\":1,\"address\":\"x\",\"colour\":\"red\"}", 422,
            "colour", "unknown field");
    refused("{\"items\":[\"s\"],\"amount\":1,\"address\":\"x\"}", 422, "customer", "missing customer");
    refused("{\"customer\":\"\",\"items\":[\"s\"],\"amount\":1,\"address\":\"x\"}", 422, "customer",
            "empty customer");
    refused("{\"customer\":7,\"items\":[\"s\"],\"amount\":1,\"address\":\"x\"}", 422, "customer",
            "customer a number");
    refused("{\"customer\":\"a\",\"amount\":1,\"address\":\"x\"}", 422, "items", "missing items");
    refused("{\"customer\":\"a\",\"items\":[],\"amount\":1,\"address\":\"x\"}", 422, "items", "empty items");
    refused("{\"customer\":\"a\",\"items\":\"s\",\"amount\":1,\"address\":\"x\"}", 422, "items",
            "items a string");
    refused("{\"customer\":\"a\",\"items\":[1],\"amount\":1,\"address\":\"x\"}", 422, "items",
            "an item a number");
    refused("{\"customer\":\"a\",\"items\":[\"s\"],\"address\":\"x\"}", 422, "amount", "missing amount");
    refused("{\"customer\":\"a\",\"items\":[\"s\"],\"amount\":0,\"address\":\"x\"}", 422, "amount",
            "zero amount");
    refused("{\"customer\":\"a\",\"items\":[\"s\"],\"amount\":-5,\"address\":\"x\"}", 422, "amount",
            "negative amount");
    refused("{\"customer\":\"a\",\"items\":[\"s\"],\"amount\":\"5\",\"address\":\"x\"}", 422, "amount",
            "amount a string");
    refused("{\"customer\":\"a\",\"items\":[\"s\"],\"amount\":1}", 422, "address", "missing address");
    refused("{\"customer\":\"a\",\"items\":[\"s\"],\"amount\":1,\"address\":\"x\",\"priority\":4}", 422,
            "priority", "priority 4");
    refused("{\"customer\":\"a\",\"items\":[\"s\"],\"amount\":1,\"address\":\"x\",\"priority\":1.5}", 422,
            "priority", "priority 1.5");
    refused("{\"customer\":\"a\",\"items\":[\"s\"],\"amount\":1,\"address\":\"x\",\"status\":\"lost\"}", 422,
            "status", "unknown status");
    refused("{\"customer\":\"a\",\"items\":[\"s\"],\"amount\":1,\"address\":\"x\",\"id\":\"a b\"}", 422, "id",
            "id with a space");
    refused("{\"customer\":\"a\",\"items\":[\"s\"],\"amount\":1,\"address\":\"x\",\"id\":\"../etc\"}", 422,
            "id", "id with a slash");
    {
        char body[256];
        char id[80];
        memset(id, 'a', 65);
        id[65] = '\0';
        snprintf(body, sizeof(body),
                 "{\"customer\":\"a\",\"items\":[\"s\"],\"amount\":1,\"address\":\"x\",\"id\":\"%s\"}", id);
        refused(body, 422, "id", "65-character id");
        id[64] = '\0';
        snprintf(body, sizeof(body),
                 "{\"customer\":\"a\",\"items\":[\"s\"],\"amount\":1,\"address\":\"x\",\"id\":\"%s\"}", id);
        od_order_t *ok64 = parse(body);
        ok(ok64 != NULL, "64-character id accepted");
        od_order_free(ok64);
    }
    {
        /* 1001 items: over the API's bound */
        od_buf_t b = OD_BUF_INIT;
        od_buf_puts(&b, "{\"customer\":\"a\",\"amount\":1,\"address\":\"x\",\"items\":[");
        for (int i = 0; i < 1001; i++)
            od_buf_printf(&b, "%s\"S%d\"", i ? "," : "", i);
        od_buf_puts(&b, "]}");
        od_order_t *big = od_order_parse(b.base, b.len, &err);
        ok(big == NULL && err.status == 422 && strcmp(err.field, "items") == 0, "1001 items refused");
        od_order_free(big);
        od_buf_dispose(&b);
    }
    {
        /* 51 items: accepted here, failed later by the validate stage */
        od_buf_t b = OD_BUF_INIT;
        od_buf_puts(&b, "{\"customer\":\"a\",\"amount\":1,\"address\":\"x\",\"items\":[");
        for (int i = 0; i < 51; i++)
            od_buf_printf(&b, "%s\"S%d\"", i ? "," : "", i);
        od_buf_puts(&b, "]}");
        od_order_t *many = od_order_parse(b.base, b.len, &err);
        ok(many != NULL && many->nitems == 51, "51 items accepted by the API");
        od_order_free(many);
        od_buf_dispose(&b);
    }

    /* the order's JSON */
    o = parse(
        "{\"id\":\"j1\",\"customer\":\"Q \\\"uote\\\"\",\"items\":[\"S\"],\"amount\":3,\"address\":\"x\"}");
    od_buf_t j = OD_BUF_INIT;
    od_order_json(o, &j);
    ok(strstr(j.base, "\"id\":\"j1\"") && strstr(j.base, "\"state\":\"queued\"") &&
           strstr(j.base, "\"customer\":\"Q \\\"uote\\\"\""),
       "order JSON escapes and carries the state: %s", j.base);
    od_buf_dispose(&j);
    od_order_free(o);
    return done_testing();
}
