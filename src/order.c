#include "order.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CUSTOMER 256
#define MAX_ADDRESS 512
#define MAX_NOTES 2048
#define MAX_SKU 64
#define MAX_ITEMS 1000 /* the API's bound; the validate stage fails orders over its own limit */

static const char *const statuses[] = {"pending", "paid", "shipped", "delivered", "cancelled"};

static int fail(od_order_error_t *err, int status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(od_order_error_t *err, int status, const char *field, const char *fmt, ...)
{
    va_list ap;
    err->status = status;
    snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return -1;
}

int od_order_id_valid(const char *s, size_t len)
{
    if (len == 0 || len > OD_ORDER_ID_MAX) return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-'))
            return 0;
    }
    return 1;
}

/* a required or optional string field, bounded; *out stays NULL when absent */
static int get_string(json_t *v, const char *field, size_t max, int required, const char **out,
                      size_t *len, od_order_error_t *err)
{
    if (v == NULL || json_is_null(v)) {
        if (required) return fail(err, 422, field, "%s is required", field);
        return 0;
    }
    if (!json_is_string(v)) return fail(err, 422, field, "%s must be a string", field);
    size_t n = json_string_length(v);
    if (required && n == 0) return fail(err, 422, field, "%s must not be empty", field);
    if (n > max) return fail(err, 422, field, "%s is longer than %zu bytes", field, max);
    *out = json_string_value(v);
    *len = n;
    return 0;
}

od_order_t *od_order_parse(const char *body, size_t len, od_order_error_t *err)
{
    json_error_t jerr;
    json_t *root = NULL;
    od_order_t *o = NULL;

    if (len == 0) {
        fail(err, 400, NULL, "request body is empty: expected a JSON order");
        return NULL;
    }
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        fail(err, 400, NULL, "invalid JSON at line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        fail(err, 400, NULL, "the order must be a JSON object");
        goto Exit;
    }

    /* unknown fields first, so a typo is named rather than reported as a missing field */
    static const char *const known[] = {"id",      "customer", "items", "amount",    "status",
                                        "address", "notes",    "priority", "created_at"};
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        size_t i;
        for (i = 0; i < OD_ARRAY_SIZE(known); i++)
            if (strcmp(key, known[i]) == 0) break;
        if (i == OD_ARRAY_SIZE(known)) {
            char shown[24];
            snprintf(shown, sizeof(shown), "%s", key);
            fail(err, 422, shown, "unknown field \"%s\"", shown);
            goto Exit;
        }
    }

    const char *id = NULL, *customer = NULL, *address = NULL, *notes = NULL, *status = NULL;
    size_t id_len = 0, customer_len = 0, address_len = 0, notes_len = 0, status_len = 0;
    if (get_string(json_object_get(root, "id"), "id", OD_ORDER_ID_MAX, 0, &id, &id_len, err) != 0)
        goto Exit;
    if (id != NULL && !od_order_id_valid(id, id_len)) {
        fail(err, 422, "id", "id must be 1 to 64 of A-Z a-z 0-9 _ -");
        goto Exit;
    }
    if (get_string(json_object_get(root, "customer"), "customer", MAX_CUSTOMER, 1, &customer, &customer_len,
                   err) != 0 ||
        get_string(json_object_get(root, "address"), "address", MAX_ADDRESS, 1, &address, &address_len, err) !=
            0 ||
        get_string(json_object_get(root, "notes"), "notes", MAX_NOTES, 0, &notes, &notes_len, err) != 0 ||
        get_string(json_object_get(root, "status"), "status", 16, 0, &status, &status_len, err) != 0)
        goto Exit;
    const char *status_static = statuses[0];
    if (status != NULL) {
        size_t i;
        for (i = 0; i < OD_ARRAY_SIZE(statuses); i++)
            if (strcmp(status, statuses[i]) == 0) break;
        if (i == OD_ARRAY_SIZE(statuses)) {
            fail(err, 422, "status", "status must be one of pending, paid, shipped, delivered, cancelled");
            goto Exit;
        }
        status_static = statuses[i];
    }

    json_t *items = json_object_get(root, "items");
    if (items == NULL || json_is_null(items)) {
        fail(err, 422, "items", "items is required");
        goto Exit;
    }
    if (!json_is_array(items)) {
        fail(err, 422, "items", "items must be an array of SKU strings");
        goto Exit;
    }
    size_t nitems = json_array_size(items);
    if (nitems == 0) {
        fail(err, 422, "items", "items must not be empty");
        goto Exit;
    }
    if (nitems > MAX_ITEMS) {
        fail(err, 422, "items", "items has more than %d entries", MAX_ITEMS);
        goto Exit;
    }
    size_t items_bytes = 0;
    for (size_t i = 0; i < nitems; i++) {
        json_t *it = json_array_get(items, i);
        if (!json_is_string(it) || json_string_length(it) == 0 || json_string_length(it) > MAX_SKU) {
            fail(err, 422, "items", "items[%zu] must be a SKU string of 1 to %d bytes", i, MAX_SKU);
            goto Exit;
        }
        items_bytes += json_string_length(it) + 1;
    }

    json_t *amount = json_object_get(root, "amount");
    if (amount == NULL || json_is_null(amount)) {
        fail(err, 422, "amount", "amount is required");
        goto Exit;
    }
    if (!json_is_number(amount)) {
        fail(err, 422, "amount", "amount must be a number");
        goto Exit;
    }
    double amt = json_number_value(amount);
    if (!isfinite(amt) || amt <= 0) {
        fail(err, 422, "amount", "amount must be greater than 0");
        goto Exit;
    }
    if (amt > 1e12) {
        fail(err, 422, "amount", "amount is out of range");
        goto Exit;
    }

    int priority = 2;
    json_t *prio = json_object_get(root, "priority");
    if (prio != NULL && !json_is_null(prio)) {
        if (!json_is_integer(prio) || json_integer_value(prio) < 1 || json_integer_value(prio) > 3) {
            fail(err, 422, "priority", "priority must be 1 (high), 2 (medium) or 3 (low)");
            goto Exit;
        }
        priority = (int)json_integer_value(prio);
    }
    json_t *created = json_object_get(root, "created_at");
    if (created != NULL && !json_is_null(created) && !json_is_string(created)) {
        fail(err, 422, "created_at", "created_at must be a string (it is overwritten)");
        goto Exit;
    }

    /* one allocation: struct, item pointers, then the strings */
    size_t size = sizeof(*o) + nitems * sizeof(char *) + customer_len + 1 + address_len + 1 + notes_len + 1 +
                  items_bytes;
    o = od_calloc(1, size);
    char *p = (char *)(o + 1);
    o->items = (const char **)p;
    p += nitems * sizeof(char *);
#define COPY(dst, src, n)                                                                              \
    do {                                                                                               \
        memcpy(p, (src) ? (src) : "", (n));                                                            \
        p[n] = '\0';                                                                                   \
        (dst) = p;                                                                                     \
        p += (n) + 1;                                                                                  \
    } while (0)
    COPY(o->customer, customer, customer_len);
    COPY(o->address, address, address_len);
    COPY(o->notes, notes, notes_len);
    for (size_t i = 0; i < nitems; i++) {
        json_t *it = json_array_get(items, i);
        COPY(o->items[i], json_string_value(it), json_string_length(it));
    }
#undef COPY
    o->nitems = nitems;
    o->status = status_static;
    o->amount = amt;
    o->priority = priority;
    o->worker_id = -1;
    if (id != NULL) memcpy(o->id, id, id_len);
    o->created_wall_ns = od_wall_ns();

Exit:
    json_decref(root);
    return o;
}

void od_order_free(od_order_t *o)
{
    if (o == NULL) return;
    free(o->message);
    free(o->record);
    free(o);
}

void od_order_make_id(od_order_t *o)
{
    static uint64_t seq;
    static uint32_t boot;
    uint32_t b = __atomic_load_n(&boot, __ATOMIC_RELAXED);
    if (b == 0) {
        uint32_t want = (uint32_t)(od_wall_ns() / 1000000u) | 1u;
        __atomic_compare_exchange_n(&boot, &b, want, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
        b = __atomic_load_n(&boot, __ATOMIC_RELAXED);
    }
    uint64_t n = __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED);
    snprintf(o->id, sizeof(o->id), "ord-%08x-%llu", b, (unsigned long long)n);
}

const char *od_order_state_name(od_order_state_t s)
{
    switch (s) {
    case OD_STATE_QUEUED: return "queued";
    case OD_STATE_PROCESSING: return "processing";
    case OD_STATE_DONE: return "done";
    case OD_STATE_FAILED: return "failed";
    }
    return "unknown";
}

void od_order_json(const od_order_t *o, od_buf_t *out)
{
    char created[32];
    od_format_time(o->created_wall_ns, created);
    od_buf_puts(out, "{\"id\":");
    od_buf_json_str(out, o->id);
    od_buf_printf(out, ",\"state\":\"%s\",\"status\":\"%s\",\"order_status\":\"%s\",\"priority\":%d,",
                  od_order_state_name(o->state), o->outcome ? o->outcome : o->status, o->status, o->priority);
    od_buf_puts(out, "\"customer\":");
    od_buf_json_str(out, o->customer);
    od_buf_printf(out, ",\"amount\":%.17g,\"items\":%zu", o->amount, o->nitems);
    if (o->state == OD_STATE_DONE && o->message) {
        od_buf_puts(out, ",\"result\":");
        od_buf_json_str(out, o->message);
        od_buf_printf(out, ",\"price\":%.2f", o->price);
    } else if (o->state == OD_STATE_FAILED && o->message) {
        od_buf_puts(out, ",\"error\":");
        od_buf_json_str(out, o->message);
    }
    if (o->worker_id >= 0) od_buf_printf(out, ",\"worker_id\":%d", o->worker_id);
    if (o->state != OD_STATE_QUEUED) od_buf_printf(out, ",\"queue_ms\":%.3f", (double)o->queue_ns / 1e6);
    if (o->state == OD_STATE_DONE || o->state == OD_STATE_FAILED)
        od_buf_printf(out, ",\"processing_ms\":%.3f", (double)o->processing_ns / 1e6);
    od_buf_printf(out, ",\"created_at\":\"%s\"", created);
    if (o->processed_wall_ns) {
        char done[32];
        od_format_time(o->processed_wall_ns, done);
        od_buf_printf(out, ",\"processed_at\":\"%s\"", done);
    }
    od_buf_putc(out, '}');
}
