/*
 * lua_where: where each field of a script's returned table was written (nested constructors,
 * positional elements, comments, strings and function bodies skipped), and FILE:LINE reports.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lua/lua_layer.h"
#include "tap.h"
#include "tmpfiles.h"

static void test_fields(void)
{
    od_lua_src_t *src = od_lua_src_open(put("w.lua", "-- workers = 99 (a comment: not a field)\n"
                                                     "local s = \"workers = 98\"\n"
                                                     "--[[ reserve = {\n  stripes = 1 } ]]\n"
                                                     "return {\n"
                                                     "  workers = 4,\n"
                                                     "  reserve = {\n"
                                                     "    stripes = 2, skus = 3,\n"
                                                     "  },\n"
                                                     "  [\"queue\"] = 10,\n"
                                                     "  [1 + 1] = 'computed',\n"
                                                     "}\n"),
                                        1);
    const od_lua_where_t *root = od_lua_where_root(src);
    ok(root != NULL, "the returned constructor is found");
    is_int(od_lua_where_line(root), 5, "at its line");
    const od_lua_where_t *w = od_lua_where_field(root, "workers");
    is_int(od_lua_where_line(w), 6, "workers: the field, not the comment or the string");
    is_int(od_lua_where_col(w), 3, "and its column");
    const od_lua_where_t *r = od_lua_where_field(root, "reserve");
    is_int(od_lua_where_line(r), 7, "reserve");
    is_int(od_lua_where_line(od_lua_where_field(r, "stripes")), 8,
           "reserve.stripes, nested, not the long comment");
    is_int(od_lua_where_col(od_lua_where_field(r, "skus")), 18, "reserve.skus: its column on a shared line");
    ok(od_lua_where_field(root, "stripes") == NULL, "a nested key is not a top-level one");
    is_int(od_lua_where_line(od_lua_where_field(root, "queue")), 10, "[\"queue\"] = counts as a key");
    is_int((long long)od_lua_where_count(root), 0, "a computed key is not an element");
    ok(od_lua_where_field(NULL, "x") == NULL && od_lua_where_line(NULL) == 0, "NULL is safe");

    od_lua_src_close(src);
}

static void test_report(void)
{
    const char *path = put("r.lua", "return {\n  a = 1,\n  b = { c = 2 },\n}\n");
    od_lua_src_t *src = od_lua_src_open(path, 0), *cols = od_lua_src_open(path, 1);
    const od_lua_where_t *c = od_lua_where_field(od_lua_where_field(od_lua_where_root(src), "b"), "c");
    od_buf_t b = OD_BUF_INIT;
    od_lua_report(&b, src, c, "b.c must be %d", 3);
    char want[256];
    snprintf(want, sizeof(want), "%s:3: b.c must be 3\n", path);
    is_str(b.base, want, "FILE:LINE: message");
    od_buf_reset(&b);
    od_lua_report(&b, cols, od_lua_where_field(od_lua_where_field(od_lua_where_root(cols), "b"), "c"), "x");
    snprintf(want, sizeof(want), "%s:3:9: x\n", path);
    is_str(b.base, want, "FILE:LINE:COL with columns");
    od_buf_reset(&b);
    od_lua_report(&b, src, NULL, "unplaced");
    snprintf(want, sizeof(want), "%s:1: unplaced\n", path);
    is_str(b.base, want, "an unknown place is line 1");
    od_buf_dispose(&b);
    od_lua_src_close(src);
    od_lua_src_close(cols);

    src = od_lua_src_open("/nonexistent/x.lua", 0);
    ok(od_lua_where_root(src) == NULL, "an unreadable file: no positions, no failure");
    od_lua_src_close(src);
}

static void test_code(void)
{
    /* function bodies hold commas, tables and returns of their own: none of them is a field */
    od_lua_src_t *src = od_lua_src_open(put("rules.lua", "local function helper(a, b)\n"
                                                         "  return { reject = 'x' }\n"
                                                         "end\n"
                                                         "return {\n"
                                                         "  price = function(order, extra)\n"
                                                         "    local a, b = 1, { budget = 5 }\n"
                                                         "    if a then for i = 1, 2 do end end\n"
                                                         "    return a\n"
                                                         "  end,\n"
                                                         "  budget = 5000,\n"
                                                         "  route = helper,\n"
                                                         "}\n"),
                                        0);
    const od_lua_where_t *root = od_lua_where_root(src);
    is_int(od_lua_where_line(root), 4, "the chunk's return, not the function's");
    is_int(od_lua_where_line(od_lua_where_field(root, "price")), 5, "price");
    is_int(od_lua_where_line(od_lua_where_field(root, "budget")), 10, "budget: not the one inside price");
    is_int(od_lua_where_line(od_lua_where_field(root, "route")), 11, "route, after a function body");
    ok(od_lua_where_field(root, "b") == NULL && od_lua_where_field(root, "reject") == NULL,
       "names inside the function are not fields");
    od_lua_src_close(src);

    /* a list of entries, and `return t` after `t = { ... }` */
    src = od_lua_src_open(put("list.lua", "local t = {\n"
                                          "  { every = '1m' },\n"
                                          "  { at = '5s',\n"
                                          "    capture = { 'cpu', 'heap' } },\n"
                                          "  'bare',\n"
                                          "}\n"
                                          "return t\n"),
                          0);
    root = od_lua_where_root(src);
    is_int((long long)od_lua_where_count(root), 3, "three elements");
    is_int(od_lua_where_line(od_lua_where_item(root, 2)), 3, "the second entry's line");
    is_int(od_lua_where_line(od_lua_where_field(od_lua_where_item(root, 2), "capture")), 4,
           "its capture key");
    is_int(od_lua_where_line(od_lua_where_item(od_lua_where_field(od_lua_where_item(root, 2), "capture"), 2)),
           4, "an element of a nested list");
    is_int(od_lua_where_line(od_lua_where_item(root, 3)), 5, "a bare element");
    ok(od_lua_where_item(root, 4) == NULL && od_lua_where_item(root, 0) == NULL, "no element past the end");
    od_lua_src_close(src);
}

int main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/orderd-luaw-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) od_fatal("mkdtemp failed");
    test_fields();
    test_report();
    test_code();
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) diag("could not remove %s", tmpdir);
    done_testing();
}
