#include "pool/order.h"
#include "base/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CUSTOMER 256
#define MAX_ADDRESS 512
#define MAX_NOTES 2048
#define MAX_SKU 64
#define MAX_ITEMS 1000 /* the API's bound; the validate stage fails orders over its own limit */

const char *const od_order_statuses[5] = {"pending", "paid", "shipped", "delivered", "cancelled"};

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
    return od_name_valid(s, len, OD_ORDER_ID_MAX);
}

/*
 * The body is read in one pass with the json cursor (no tree, no allocation but the scratch
 * for decoded strings), recording what each known field held; the checks run afterwards, so
 * a syntax error anywhere is a 400 before any field is judged (422).
 */
enum { F_ID, F_CUSTOMER, F_ITEMS, F_AMOUNT, F_STATUS, F_ADDRESS, F_NOTES, F_PRIORITY, F_CREATED, F_COUNT };

typedef struct field {
    od_json_type_t type; /* OD_JSON_NONE when absent */
    const char *str;     /* in the body, or decoded into the scratch; not NUL-terminated */
    size_t len;
    double num;
    int is_int;
    int64_t ival;
} field_t;

typedef struct parsed {
    field_t f[F_COUNT];
    char unknown[24]; /* the first unknown field's name */
    int has_unknown;
    /* items */
    const char **item;
    size_t *item_len;
    size_t nitems, items_cap;
    const char *item_small[32]; /* most orders fit here: no allocation */
    size_t item_len_small[32];
    long bad_item; /* index of the first item that is not a string, or -1 */
} parsed_t;

/* by length, then one comparison of a constant size, which the compiler inlines: this runs
 * for every key of every POST */
static int field_index(const char *key, size_t len)
{
#define IS(name) (memcmp(key, name, sizeof(name) - 1) == 0)
    switch (len) {
    case 2:
        return IS("id") ? F_ID : -1;
    case 5:
        return IS("items") ? F_ITEMS : IS("notes") ? F_NOTES : -1;
    case 6:
        return IS("amount") ? F_AMOUNT : IS("status") ? F_STATUS : -1;
    case 7:
        return IS("address") ? F_ADDRESS : -1;
    case 8:
        return IS("customer") ? F_CUSTOMER : IS("priority") ? F_PRIORITY : -1;
    case 10:
        return IS("created_at") ? F_CREATED : -1;
    default:
        return -1;
    }
#undef IS
}

static int read_items(od_json_t *j, parsed_t *ps, char **scratch)
{
    j->p++; /* '[' */
    ps->f[F_ITEMS].type = OD_JSON_ARRAY;
    if (od_json_accept(j, ']')) return 0;
    do {
        int keep = ps->nitems <= MAX_ITEMS; /* past the bound only count them */
        if (keep && ps->nitems == ps->items_cap) {
            if (ps->items_cap == 0) {
                ps->items_cap = OD_ARRAY_SIZE(ps->item_small);
                ps->item = ps->item_small;
                ps->item_len = ps->item_len_small;
            } else {
                size_t cap = ps->items_cap * 2;
                const char **item = od_malloc(cap * sizeof(*item));
                size_t *item_len = od_malloc(cap * sizeof(*item_len));
                memcpy(item, ps->item, ps->items_cap * sizeof(*item));
                memcpy(item_len, ps->item_len, ps->items_cap * sizeof(*item_len));
                if (ps->item != ps->item_small) free(ps->item), free(ps->item_len);
                ps->item = item;
                ps->item_len = item_len;
                ps->items_cap = cap;
            }
        }
        if (od_json_peek(j) != OD_JSON_STRING) {
            if (ps->bad_item < 0) ps->bad_item = (long)ps->nitems;
            if (od_json_skip(j) != 0) return -1;
            if (keep) ps->item[ps->nitems] = NULL, ps->item_len[ps->nitems] = 0;
            ps->nitems++;
            continue;
        }
        const char *item;
        size_t len, used;
        if (od_json_span(j, &item, &len, *scratch, &used) != 0) return -1;
        *scratch += used;
        if (keep) ps->item[ps->nitems] = item, ps->item_len[ps->nitems] = len;
        ps->nitems++;
    } while (od_json_accept(j, ','));
    return od_json_expect(j, ']');
}

static int read_document(od_json_t *j, parsed_t *ps, char *scratch, od_order_error_t *err)
{
    od_json_type_t top = od_json_peek(j);
    if (top == OD_JSON_NONE && j->p == j->end)
        return fail(err, 400, NULL, "request body is empty: expected a JSON order");
    if (top != OD_JSON_OBJECT) {
        if (od_json_skip(j) == 0 && od_json_at_end(j))
            return fail(err, 400, NULL, "the order must be a JSON object");
        return -2;
    }
    j->p++;
    if (!od_json_accept(j, '}')) {
        do {
            const char *key;
            size_t klen, used;
            if (od_json_span(j, &key, &klen, scratch, &used) != 0) return -2;
            scratch += used;
            if (od_json_expect(j, ':') != 0) return -2;
            int fi = field_index(key, klen);
            if (fi < 0) {
                if (!ps->has_unknown) {
                    snprintf(ps->unknown, sizeof(ps->unknown), "%.*s", (int)(klen < 23 ? klen : 23), key);
                    ps->has_unknown = 1;
                }
                if (od_json_skip(j) != 0) return -2;
                continue;
            }
            field_t *f = &ps->f[fi];
            if (f->type != OD_JSON_NONE) {
                od_json_fail(j, "duplicate object key");
                return -2;
            }
            od_json_type_t t = od_json_peek(j);
            if (t == OD_JSON_STRING) {
                if (od_json_span(j, &f->str, &f->len, scratch, &used) != 0) return -2;
                scratch += used;
            } else if (t == OD_JSON_NUMBER) {
                if (od_json_number(j, &f->num, &f->is_int, &f->ival) != 0) return -2;
            } else if (t == OD_JSON_ARRAY && fi == F_ITEMS) {
                if (read_items(j, ps, &scratch) != 0) return -2;
                continue;
            } else if (od_json_skip(j) != 0) {
                return -2;
            }
            f->type = t;
        } while (od_json_accept(j, ','));
        if (od_json_expect(j, '}') != 0) return -2;
    }
    if (!od_json_at_end(j)) {
        od_json_fail(j, "end of input expected after the order");
        return -2;
    }
    return 0;
}

/* a string field: required or optional, bounded; *out stays NULL when absent or null (the JSON
 * reader never decodes a NUL, so none is looked for) */
static int get_string(const field_t *f, const char *name, size_t max, int required, const char **out,
                      size_t *len, od_order_error_t *err)
{
    if (f->type == OD_JSON_NONE || f->type == OD_JSON_NULL) {
        if (required) return fail(err, 422, name, "%s is required", name);
        return 0;
    }
    if (f->type != OD_JSON_STRING) return fail(err, 422, name, "%s must be a string", name);
    if (required && f->len == 0) return fail(err, 422, name, "%s must not be empty", name);
    if (f->len > max) return fail(err, 422, name, "%s is longer than %zu bytes", name, max);
    *out = f->str;
    *len = f->len;
    return 0;
}

od_order_t *od_order_parse(const char *body, size_t len, od_order_error_t *err)
{
    od_order_t *o = NULL;
    parsed_t ps; /* not = {0}: its two small arrays (512 bytes) are written before they are read */
    for (int i = 0; i < F_COUNT; i++)
        ps.f[i].type = OD_JSON_NONE; /* the rest of a field is written with its type */
    ps.has_unknown = 0;
    ps.item = NULL;
    ps.item_len = NULL;
    ps.nitems = ps.items_cap = 0;
    ps.bad_item = -1;
    /* decoded strings are never longer than the body */
    char stack_scratch[2048];
    char *scratch = len + 64 <= sizeof(stack_scratch) ? stack_scratch : od_malloc(len + 64);

    od_json_t j;
    od_json_init(&j, body, len);
    int rc = read_document(&j, &ps, scratch, err);
    if (rc == -2) {
        int line, col;
        od_json_where(&j, &line, &col);
        fail(err, 400, NULL, "invalid JSON at line %d, column %d: %s", line, col, j.err);
    }
    if (rc != 0) goto Exit;

    if (ps.has_unknown) {
        fail(err, 422, ps.unknown, "unknown field \"%s\"", ps.unknown);
        goto Exit;
    }
    const char *id = NULL, *customer = NULL, *address = NULL, *notes = NULL, *status = NULL;
    size_t id_len = 0, customer_len = 0, address_len = 0, notes_len = 0, status_len = 0;
    if (get_string(&ps.f[F_ID], "id", OD_ORDER_ID_MAX, 0, &id, &id_len, err) != 0) goto Exit;
    if (id != NULL && !od_order_id_valid(id, id_len)) {
        fail(err, 422, "id", "id must be 1 to 64 of A-Z a-z 0-9 _ -");
        goto Exit;
    }
    if (get_string(&ps.f[F_CUSTOMER], "customer", MAX_CUSTOMER, 1, &customer, &customer_len, err) != 0 ||
        get_string(&ps.f[F_ADDRESS], "address", MAX_ADDRESS, 1, &address, &address_len, err) != 0 ||
        get_string(&ps.f[F_NOTES], "notes", MAX_NOTES, 0, &notes, &notes_len, err) != 0 ||
        get_string(&ps.f[F_STATUS], "status", 16, 0, &status, &status_len, err) != 0)
        goto Exit;
    size_t status_index = 0;
    if (status != NULL) {
        size_t i;
        for (i = 0; i < OD_ARRAY_SIZE(od_order_statuses); i++)
            if (strlen(od_order_statuses[i]) == status_len &&
                memcmp(status, od_order_statuses[i], status_len) == 0)
                break;
        if (i == OD_ARRAY_SIZE(od_order_statuses)) {
            fail(err, 422, "status", "status must be one of pending, paid, shipped, delivered, cancelled");
            goto Exit;
        }
        status_index = i;
    }

    od_json_type_t it = ps.f[F_ITEMS].type;
    if (it == OD_JSON_NONE || it == OD_JSON_NULL) {
        fail(err, 422, "items", "items is required");
        goto Exit;
    }
    if (it != OD_JSON_ARRAY) {
        fail(err, 422, "items", "items must be an array of SKU strings");
        goto Exit;
    }
    if (ps.nitems == 0) {
        fail(err, 422, "items", "items must not be empty");
        goto Exit;
    }
    if (ps.nitems > MAX_ITEMS) {
        fail(err, 422, "items", "items has more than %d entries", MAX_ITEMS);
        goto Exit;
    }
    size_t items_bytes = 0;
    for (size_t i = 0; i < ps.nitems; i++) {
        if ((ps.bad_item >= 0 && (size_t)ps.bad_item == i) || ps.item_len[i] == 0 ||
            ps.item_len[i] > MAX_SKU) {
            fail(err, 422, "items", "items[%zu] must be a SKU string of 1 to %d bytes", i, MAX_SKU);
            goto Exit;
        }
        items_bytes += ps.item_len[i] + 1;
    }

    const field_t *amount = &ps.f[F_AMOUNT];
    if (amount->type == OD_JSON_NONE || amount->type == OD_JSON_NULL) {
        fail(err, 422, "amount", "amount is required");
        goto Exit;
    }
    if (amount->type != OD_JSON_NUMBER) {
        fail(err, 422, "amount", "amount must be a number");
        goto Exit;
    }
    double amt = amount->num;
    if (!isfinite(amt) || amt <= 0) {
        fail(err, 422, "amount", "amount must be greater than 0");
        goto Exit;
    }
    if (amt > 1e12) {
        fail(err, 422, "amount", "amount is out of range");
        goto Exit;
    }

    int priority = 2;
    const field_t *prio = &ps.f[F_PRIORITY];
    if (prio->type != OD_JSON_NONE && prio->type != OD_JSON_NULL) {
        if (prio->type != OD_JSON_NUMBER || !prio->is_int || prio->ival < 1 || prio->ival > 3) {
            fail(err, 422, "priority", "priority must be 1 (high), 2 (medium) or 3 (low)");
            goto Exit;
        }
        priority = (int)prio->ival;
    }
    od_json_type_t ct = ps.f[F_CREATED].type;
    if (ct != OD_JSON_NONE && ct != OD_JSON_NULL && ct != OD_JSON_STRING) {
        fail(err, 422, "created_at", "created_at must be a string (it is overwritten)");
        goto Exit;
    }

    /* one allocation: struct, item pointers, the id (or room for a generated one), then the
     * strings.  malloc, not calloc: the struct is written whole below and the tail is all
     * copies */
    size_t id_size = id != NULL ? id_len + 1 : OD_ORDER_GEN_ID_SIZE;
    size_t size = sizeof(*o) + ps.nitems * sizeof(char *) + id_size + customer_len + 1 + address_len + 1 +
                  notes_len + 1 + items_bytes;
    o = od_malloc(size);
    *o = (od_order_t){.status_index = (uint8_t)status_index,
                      .amount = amt,
                      .priority = priority,
                      .worker_id = -1,
                      .nitems = ps.nitems};
    char *p = (char *)&o->items[ps.nitems];
    if (id != NULL) memcpy(p, id, id_len);
    p[id != NULL ? id_len : 0] = '\0';
    p += id_size;
#define COPY(dst, src, n)                                                                                    \
    do {                                                                                                     \
        if (n) memcpy(p, (src), (n));                                                                        \
        p[n] = '\0';                                                                                         \
        (dst) = p;                                                                                           \
        p += (n) + 1;                                                                                        \
    } while (0)
    COPY(o->customer, customer, customer_len);
    COPY(o->address, address, address_len);
    COPY(o->notes, notes, notes_len);
    for (size_t i = 0; i < ps.nitems; i++)
        COPY(o->items[i], ps.item[i], ps.item_len[i]);
#undef COPY
    o->created_wall_ns = od_wall_ns();

Exit:
    if (ps.item != ps.item_small) {
        free(ps.item);
        free(ps.item_len);
    }
    if (scratch != stack_scratch) free(scratch);
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
    snprintf(od_order_id_buf(o), OD_ORDER_GEN_ID_SIZE, "ord-%08x-%llu", b, (unsigned long long)n);
}

const char *od_order_state_name(od_order_state_t s)
{
    switch (s) {
    case OD_STATE_QUEUED:
        return "queued";
    case OD_STATE_PROCESSING:
        return "processing";
    case OD_STATE_DONE:
        return "done";
    case OD_STATE_FAILED:
        return "failed";
    }
    return "unknown";
}

void od_order_json(const od_order_t *o, od_buf_t *out)
{
    char created[32];
    od_format_time(o->created_wall_ns, created);
    od_buf_puts(out, "{\"id\":");
    od_buf_json_str(out, od_order_id(o));
    od_buf_printf(out, ",\"state\":\"%s\",\"status\":\"%s\",\"order_status\":\"%s\",\"priority\":%d,",
                  od_order_state_name(o->state), o->outcome ? o->outcome : od_order_status(o),
                  od_order_status(o), o->priority);
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
