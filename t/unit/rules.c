/*
 * rules: the bounded Lua states (memory bound, instruction budget, sandbox) and the price and
 * route hooks driven through od_pipeline_run.
 *
 * `build/t/rules --bench [SECONDS]` measures instead (scripts/bench/rules.sh): pipeline
 * throughput on one thread with the Lua price hook and with the C price stage doing the same
 * arithmetic (reserve, pay and the C stage's fraud-score work set to 0), and the hook's cost
 * per order.
 */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "lua/lua_layer.h"
#include "pool/pipeline.h"
#include "pool/rules.h"
#include "tap.h"
#include "tmpfiles.h"

static od_order_t *mk_order(const char *customer, double amount, int nitems, int priority)
{
    od_buf_t b = OD_BUF_INIT;
    od_buf_printf(&b,
                  "{\"customer\":\"%s\",\"address\":\"1 Main St\",\"amount\":%g,\"priority\":%d,\"items\":[",
                  customer, amount, priority);
    for (int i = 0; i < nitems; i++)
        od_buf_printf(&b, "%s\"SKU-%d\"", i ? "," : "", i);
    od_buf_puts(&b, "]}");
    od_order_error_t err;
    od_order_t *o = od_order_parse(b.base, b.len, &err);
    if (o == NULL) od_fatal("bad test order: %s", err.message);
    snprintf(od_order_id_buf(o), OD_ORDER_GEN_ID_SIZE, "t-1"); /* the body had no id: room for one */
    od_buf_dispose(&b);
    return o;
}

static void outcome_dispose(od_outcome_t *out)
{
    free(out->message);
    free(out->record);
}

static void test_bounded_state(void)
{
    /* the rules' policy: the layer's sandbox with a budget and a memory bound */
    lua_State *L = od_lua_open(&(od_lua_policy_t){
        .libs = OD_LUA_LIBS_SANDBOX, .sandbox = 1, .budget = 100000, .memory = 1u << 20, .subject = "rule"});
    ok(od_lua_memory(L) > 1000 && od_lua_memory(L) < (1u << 20), "a fresh state's memory is counted (%zu)",
       od_lua_memory(L));
    od_buf_t err = OD_BUF_INIT;
    luaL_loadstring(L, "local t = {} for i = 1, 1e9 do t[i] = ('x'):rep(100) .. i end");
    is_int(od_lua_call(L, 0, 0, &err), OD_LUA_ERRMEM, "allocating past the bound is a memory error");
    ok(strstr(err.base, "rule exceeded its memory limit of 1.0 MiB") != NULL, "named: %s", err.base);
    ok(od_lua_memory(L) < (1u << 20), "the bound held (%zu bytes)", od_lua_memory(L));
    od_buf_reset(&err);
    luaL_loadstring(L, "while true do end");
    is_int(od_lua_call(L, 0, 0, &err), OD_LUA_ERR, "an endless loop is stopped");
    ok(strstr(err.base, ":1: rule exceeded its budget of 100000 instructions") != NULL, "with its line: %s",
       err.base);
    od_buf_reset(&err);
    luaL_loadstring(L, "local n = 0 for i = 1, 1000 do n = n + i end return n");
    is_int(od_lua_call(L, 0, 1, &err), 0, "the state works after both");
    is_int(lua_tointeger(L, -1), 500500, "and computes");
    lua_pop(L, 1);
    for (int i = 0; i < 3; i++) { /* the budget is per call, not cumulative */
        luaL_loadstring(L, "local n = 0 for i = 1, 20000 do n = n + i end");
        is_int(od_lua_call(L, 0, 0, NULL), 0, "call %d within its own budget", i + 1);
    }
    luaL_loadstring(L,
                    "return os.exit == nil and os.execute == nil and debug == nil and package.loadlib == nil "
                    "and os.time ~= nil and string.format ~= nil");
    od_lua_call(L, 0, 1, NULL);
    ok(lua_toboolean(L, -1), "the sandbox drops os.exit, os.execute, debug, package.loadlib");
    lua_pop(L, 1);
    luaL_loadstring(L, "return require('debug')");
    ok(od_lua_call(L, 0, 1, NULL) != 0, "and require cannot bring debug back");
    od_buf_dispose(&err);
    od_lua_close(L);
}

static const char rules_lua[] = "local function price(o)\n"                                  /* 1 */
                                "  if o.customer == 'err' then error('bad customer') end\n"  /* 2 */
                                "  return o.amount * 2 + #o.items + o.priority\n"            /* 3 */
                                "end\n"                                                      /* 4 */
                                "local function route(o)\n"                                  /* 5 */
                                "  if o.customer == 'no' then return false, 'go away' end\n" /* 6 */
                                "  if o.amount > 500 then return { priority = 1 } end\n"     /* 7 */
                                "end\n"                                                      /* 8 */
                                "return { price = price, route = route, budget = 5000 }\n";  /* 9 */

static void test_hooks(void)
{
    const char *path = put("rules.lua", rules_lua);
    od_buf_t errors = OD_BUF_INIT;
    is_int(od_rules_check(path, &errors), 0, "the rules pass the check");
    is_int(od_rules_install(path, &errors), 0, "and install");

    od_pool_config_t cfg;
    od_pool_config_defaults(&cfg);
    cfg.reserve.hold_us = 0;
    cfg.price.work_us = 0;
    cfg.pay.ms_per_priority = 0;
    od_inventory_t inv;
    od_inventory_init(&inv, 2, 16);
    od_stage_ctx_t ctx = {.cfg = &cfg, .inv = &inv, .rules = od_rules_create(path, 7)};
    ctx.hooks = od_rules_stage_hooks(ctx.rules);
    ok(ctx.rules != NULL, "a worker's rules state");
    ok(ctx.hooks && ctx.hooks->price == od_rules_price_hook && ctx.hooks->route == od_rules_route_hook,
       "both hooks in the stage context");

    od_order_t *o = mk_order("ann", 100, 3, 2);
    od_outcome_t out;
    od_pipeline_run(&ctx, o, &out);
    ok(out.ok && out.price == 205, "price(order) is the price (%g)", out.price);
    is_int(out.priority, 2, "priority unchanged");
    outcome_dispose(&out);
    od_order_free(o);

    o = mk_order("bob", 600, 1, 3);
    od_pipeline_run(&ctx, o, &out);
    is_int(out.priority, 1, "route { priority = 1 }");
    ok(out.price == 1202, "price sees the new priority (%g)", out.price);
    is_str(out.status, "expedited", "the outcome follows it");
    outcome_dispose(&out);
    od_order_free(o);

    o = mk_order("no", 10, 1, 2);
    od_pipeline_run(&ctx, o, &out);
    ok(!out.ok, "a rejected order fails");
    is_str(out.message, "rejected by rules: go away", "with the reason");
    outcome_dispose(&out);
    od_order_free(o);

    o = mk_order("err", 10, 1, 2);
    od_pipeline_run(&ctx, o, &out);
    ok(!out.ok && strstr(out.message, "rules.lua:2: bad customer") != NULL, "an error names its line: %s",
       out.message);
    outcome_dispose(&out);
    od_order_free(o);

    o = mk_order("ann", 10, 1, 3);
    double total = 0;
    char *err = NULL;
    is_int(od_rules_price_hook(ctx.rules, o, 3, &total, &err), 0, "the hook called directly");
    ok(total == 24, "returns the price (%g)", total);
    od_order_free(o);

    od_rules_destroy(ctx.rules);
    ok(od_rules_create("", 0) == NULL && od_rules_create(NULL, 0) == NULL, "no path, no rules");
    is_int(od_rules_install("", NULL), 0, "installing \"\" is no rules");
    ok(od_rules_stage_hooks(NULL) == NULL, "no rules, no hooks");
    {
        od_rules_t *only =
            od_rules_create(put("only.lua", "return { price = function(o) return 1 end }\n"), 2);
        const od_stage_hooks_t *h = od_rules_stage_hooks(only);
        ok(h && h->price == od_rules_price_hook && h->route == NULL,
           "a script with price only: no route hook");
        od_rules_destroy(only);
        only = od_rules_create(put("broken.lua", "return {\n"), 3);
        h = od_rules_stage_hooks(only);
        ok(h && h->price && h->route, "a script that does not load: both hooks, so orders fail saying why");
        od_rules_destroy(only);
    }

    /* a script that stops loading: orders fail with the reason until it loads again */
    const char *p2 = put("flaky.lua", "return { price = function(o) return 1 end }\n");
    od_rules_t *r = od_rules_create(p2, 1);
    put("flaky.lua", "return { price = function(o) return 2 end }\n");
    o = mk_order("ann", 10, 1, 3);
    is_int(od_rules_price_hook(r, o, 3, &total, &err), 0, "a loaded state keeps its script");
    ok(total == 1, "(the one it loaded)");
    od_rules_destroy(r);
    put("flaky.lua", "return { price = \n");
    r = od_rules_create(p2, 1);
    is_int(od_rules_price_hook(r, o, 3, &total, &err), -1, "a script that does not load fails the order");
    ok(err && strstr(err, "rules unavailable: ") && strstr(err, "flaky.lua:2:"), "saying why: %s", err);
    free(err);
    err = NULL;
    put("flaky.lua", "return { price = function(o) return 3 end }\n");
    is_int(od_rules_price_hook(r, o, 3, &total, &err), 0, "and recovers once it loads");
    ok(total == 3, "(%g)", total);
    od_rules_destroy(r);
    od_order_free(o);

    is_int(od_rules_check(put("bad.lua", "return {\n  price = 1,\n  extra = true,\n}\n"), &errors), -1,
           "a bad rules table fails the check");
    ok(strstr(errors.base, "bad.lua:2: price must be a function") &&
           strstr(errors.base, "bad.lua:3: unknown key"),
       "with FILE:LINE for each problem");
    od_buf_reset(&errors);
    /* the line is the field's in the returned table, not a local of the same name above it */
    is_int(od_rules_check(put("pos.lua", "local function route(o)\n  local budget = 5\nend\nreturn {\n"
                                         "  route = route,\n  budget = 5,\n}\n"),
                          &errors),
           -1, "a budget too small fails the check");
    ok(strstr(errors.base, "pos.lua:6: budget (instructions per hook call) must be a whole number from 1000 "
                           "to 1000000000, got 5") != NULL,
       "at the field's line, with the value: %s", errors.base);
    od_buf_dispose(&errors);
    od_inventory_dispose(&inv);
}

/* --- the benchmark -------------------------------------------------------------------------- */

/* the C stage's arithmetic (price_tax_and_discounts in pipeline.c), in Lua */
static const char bench_lua[] = "return { price = function(o)\n"
                                "  local total = o.amount\n"
                                "  if #o.items >= 10 then total = total * 0.95 end\n"
                                "  if o.priority == 1 then total = total + 15.0 end\n"
                                "  return total * 1.0825\n"
                                "end }\n";

/* runs the pipeline for `seconds`; returns orders per second */
static double pipeline_rate(od_stage_ctx_t *ctx, od_order_t *o, double seconds)
{
    uint64_t end = od_now_ns() + (uint64_t)(seconds * 1e9), t0 = od_now_ns(), n = 0;
    do {
        for (int i = 0; i < 256; i++) {
            od_outcome_t out;
            od_pipeline_run(ctx, o, &out);
            if (!out.ok) od_fatal("bench order failed: %s", out.message);
            outcome_dispose(&out);
        }
        n += 256;
    } while (od_now_ns() < end);
    return (double)n / ((double)(od_now_ns() - t0) / 1e9);
}

/* ns per call of the price stage alone */
static double stage_ns(od_stage_ctx_t *ctx, od_order_t *o, double seconds)
{
    uint64_t end = od_now_ns() + (uint64_t)(seconds * 1e9), t0 = od_now_ns(), n = 0;
    double total, sink = 0;
    char *err = NULL;
    do {
        for (int i = 0; i < 256; i++) {
            if (od_stage_price(ctx, o, &total, &err) != 0) od_fatal("bench price failed: %s", err);
            sink += total;
        }
        n += 256;
    } while (od_now_ns() < end);
    __asm__ volatile("" : : "r"(&sink) : "memory");
    return (double)(od_now_ns() - t0) / (double)n;
}

static int bench(double seconds)
{
    od_log_level = OD_LOG_WARN;
    const char *path = put("bench.lua", bench_lua);
    od_pool_config_t cfg;
    od_pool_config_defaults(&cfg);
    cfg.reserve.hold_us = 0;
    cfg.price.work_us = 0;
    cfg.pay.ms_per_priority = 0;
    cfg.pay.fixed_ms = 0;
    cfg.record.alloc_bytes = 256;
    od_inventory_t inv;
    od_inventory_init(&inv, cfg.reserve.stripes, cfg.reserve.skus);
    od_order_t *o = mk_order("Ada Lovelace", 99.5, 3, 2);
    od_stage_ctx_t c_ctx = {.cfg = &cfg, .inv = &inv, .worker_id = 0, .rules = NULL};
    od_stage_ctx_t l_ctx = c_ctx;
    if (od_rules_install(path, NULL) != 0) od_fatal("bench rules do not load");
    l_ctx.rules = od_rules_create(path, 0);
    l_ctx.hooks = od_rules_stage_hooks(l_ctx.rules);

    /* check they agree, then alternate rounds (a shared machine drifts) and keep the best */
    double tc = 0, tl = 0;
    char *err = NULL;
    if (od_stage_price(&c_ctx, o, &tc, &err) != 0 || od_stage_price(&l_ctx, o, &tl, &err) != 0 || tc != tl)
        od_fatal("the Lua and C prices differ: %g vs %g", tl, tc);
    double best_c = 0, best_l = 0, ns_c = 1e18, ns_l = 1e18;
    int rounds = 5;
    for (int r = 0; r < rounds; r++) {
        double rc = pipeline_rate(&c_ctx, o, seconds / rounds / 4);
        double rl = pipeline_rate(&l_ctx, o, seconds / rounds / 4);
        double sc = stage_ns(&c_ctx, o, seconds / rounds / 4);
        double sl = stage_ns(&l_ctx, o, seconds / rounds / 4);
        if (rc > best_c) best_c = rc;
        if (rl > best_l) best_l = rl;
        if (sc < ns_c) ns_c = sc;
        if (sl < ns_l) ns_l = sl;
    }
    printf("pipeline, one thread, reserve/pay/fraud work 0, the same price arithmetic:\n");
    printf("  C price stage     %10.0f orders/s   price stage %7.3f us\n", best_c, ns_c / 1000);
    printf("  Lua price hook    %10.0f orders/s   price hook  %7.3f us\n", best_l, ns_l / 1000);
    printf("rules_throughput_ratio_lua_over_c %.3f\n", best_l / best_c);
    printf("rules_hook_cost_us_per_order %.3f\n", (ns_l - ns_c) / 1000);
    od_rules_destroy(l_ctx.rules);
    od_order_free(o);
    od_inventory_dispose(&inv);
    return 0;
}

int main(int argc, char **argv)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/orderd-rules-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) od_fatal("mkdtemp failed");
    int rc;
    if (argc > 1 && strcmp(argv[1], "--bench") == 0) {
        rc = bench(argc > 2 ? atof(argv[2]) : 4.0);
    } else {
        od_log_level = -1; /* the failures below are on purpose */
        test_bounded_state();
        test_hooks();
        rc = done_testing();
    }
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return rc;
}
