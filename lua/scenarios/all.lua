-- all — the seed's three scenarios in sequence with 5 s gaps: normal (0-30 s), high
-- (35-55 s), burst (60-70 s).  Each keeps its own name, so orderd sees three scenario
-- announcements and a profiling schedule can react to any of them.  Each follows its orders
-- (follow = true), so the report shows completion latency (accepted -> done, the pipeline's
-- time) beside time-to-202.
--   build/orderload all            (or: build/orderload -d 20s all   for a short version)
local orders = require("orders")

return {
  target = "http://127.0.0.1:8080",
  scenarios = {
    normal = { executor = "constant-arrival-rate", rate = 10, duration = "30s", start_time = "0s", follow = true },
    high = { executor = "constant-arrival-rate", rate = 50, duration = "20s", start_time = "35s", follow = true },
    burst = { executor = "constant-arrival-rate", rate = 100, duration = "10s", start_time = "60s", follow = true },
  },
  thresholds = {
    ["normal:latency.p99"] = "< 250ms",
    ["high:latency.p99"] = "< 250ms",
    ["burst:latency.p99"] = "< 500ms",
    ["error_rate"] = "< 5%",
  },
  request = function(ctx)
    return orders.request(ctx, orders.shapes[ctx.scenario])
  end,
}
