/* request.c's pieces that need no connection: a body built in a request's pool (growth past
 * its hint, NUL termination, printf that does not fit), and query-parameter decoding. */
#include "http/server.h"
#include "tap.h"

int main(void)
{
    h2o_req_t req;
    memset(&req, 0, sizeof(req));
    h2o_mem_init_pool(&req.pool);
    od_req_t r = {.h = &req};

    od_body_t b;
    od_body_init(&b, &r, 8);
    ok(b.len == 0 && b.base[0] == '\0' && b.cap == 8, "an empty body with the hinted room");
    od_body_puts(&b, "abc");
    od_body_putc(&b, '-');
    is_str(b.base, "abc-", "puts and putc, NUL-terminated");
    char *old = b.base;
    od_body_append(&b, "0123456789", 10);
    ok(b.base != old && b.cap >= 15, "appending past the hint moves it to a bigger allocation");
    is_str(b.base, "abc-0123456789", "... keeping what was there");
    od_body_printf(&b, "[%d:%s]", 42, "a string longer than what is left in the buffer");
    is_str(b.base, "abc-0123456789[42:a string longer than what is left in the buffer]",
           "printf that does not fit grows and formats again");
    is_int(b.len, strlen(b.base), "len counts every byte");
    size_t before = b.len;
    for (int i = 0; i < 1000; i++)
        od_body_printf(&b, "%04d", i);
    is_int(b.len, before + 4000, "many appends");
    ok(memcmp(b.base + b.len - 8, "09980999", 8) == 0 && b.base[b.len] == '\0',
       "... in order, NUL-terminated");
    char *p = od_body_reserve(&b, 3);
    memcpy(p, "xyz", 3);
    b.len += 3;
    ok(memcmp(b.base + b.len - 3, "xyz", 3) == 0, "reserve gives the place of the next bytes");

    char out[16];
    is_int(od_query_lookup("a=1&b=x%20y+z&c", 15, "b", out, sizeof(out)), 1, "a parameter found");
    is_str(out, "x y z", "... URL-decoded");
    is_int(od_query_lookup("a=1&b=2", 7, "c", out, sizeof(out)), 0, "an absent parameter");
    is_int(od_query_lookup("a=%zz", 5, "a", out, sizeof(out)), -1, "bad percent-encoding");
    is_int(od_query_lookup("a=0123456789abcdefg", 19, "a", out, sizeof(out)), -1, "too long for out");

    h2o_mem_clear_pool(&req.pool);
    done_testing();
}
