/*
 * Differential test of the order parser's JSON reader against jansson (a packaged, widely
 * used parser): over many mutated documents, whenever jansson rejects a document as JSON the
 * order parser must refuse it too, and whenever jansson accepts one the order parser must not
 * call it invalid JSON.
 */
#include "pool/order.h"
#include "tap.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static const char *const seeds[] = {
    "{\"id\":\"a-1\",\"customer\":\"Ada\",\"items\":[\"S1\",\"S2\"],\"amount\":12.5,\"status\":\"paid\","
    "\"address\":\"1 Way\",\"notes\":\"n\\u00e9\\ud83d\\ude00\",\"priority\":1,\"created_at\":null}",
    "{\"customer\":\"B\\\"q\\\\\",\"items\":[\"x\"],\"amount\":1e3,\"address\":\"\\/x\\t\"}",
    "{\"customer\":\"c\",\"items\":[1,{\"a\":[true,false,null]}],\"amount\":-0.5e-3,\"address\":\"x\"}",
    "[1,2,{\"a\":\"b\"}]",
    "{\"x\":{\"y\":{\"z\":[[[\"deep\"]]]}},\"customer\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}",
};
static const char tokens[] = "{}[]\",:\\0123456789.eE+-tfnulrsa \t\n\xc3\xa9\xff\x80u";

int main(void)
{
    int mismatches = 0, checked = 0, accepted_by_both = 0;
    char buf[1024];
    for (int round = 0; round < 200000; round++) {
        const char *seed = seeds[next() % OD_ARRAY_SIZE(seeds)];
        size_t len = strlen(seed);
        memcpy(buf, seed, len);
        int edits = 1 + (int)(next() % 4);
        for (int e = 0; e < edits && len > 0; e++) {
            size_t at = next() % len;
            switch (next() % 4) {
            case 0:
                buf[at] = tokens[next() % (sizeof(tokens) - 1)];
                break; /* replace */
            case 1:
                memmove(buf + at, buf + at + 1, len - at - 1), len--;
                break; /* delete */
            case 2:    /* insert */
                if (len + 1 < sizeof(buf)) {
                    memmove(buf + at + 1, buf + at, len - at);
                    buf[at] = tokens[next() % (sizeof(tokens) - 1)];
                    len++;
                }
                break;
            case 3:
                len = at;
                break; /* truncate */
            }
        }
        json_error_t jerr;
        json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
        od_order_error_t err;
        od_order_t *o = od_order_parse(buf, len, &err);
        int ours_syntax_error = o == NULL && err.status == 400 &&
                                (strncmp(err.message, "invalid JSON", 12) == 0 ||
                                 strncmp(err.message, "request body is empty", 21) == 0);
        int bad = 0;
        if (root == NULL && o != NULL) bad = 1; /* jansson: not JSON; we made an order */
        if (root != NULL && ours_syntax_error) {
            /* the one deliberate difference: we nest at most 64 levels */
            bad = strstr(err.message, "nested too deeply") == NULL;
        }
        if (root && o) accepted_by_both++;
        if (bad && mismatches++ < 5) {
            printf("# mismatch: jansson %s, ours %d %s: ", root ? "accepts" : jerr.text, o ? 202 : err.status,
                   o ? "" : err.message);
            for (size_t i = 0; i < len; i++)
                printf((unsigned char)buf[i] >= 0x20 && (unsigned char)buf[i] < 0x7f ? "%c" : "\\x%02x",
                       (unsigned char)buf[i]);
            printf("\n");
        }
        checked++;
        json_decref(root);
        od_order_free(o);
    }
    ok(mismatches == 0,
       "%d mutated documents: the order parser agrees with jansson on what is JSON (%d mismatches)", checked,
       mismatches);
    ok(accepted_by_both > 100, "and the mutations still produce valid orders (%d)", accepted_by_both);
    return done_testing();
}
