-- ramp — a ramping-arrival-rate example: from 5 to 200 orders per second over 20 s, hold
-- 10 s, then down to 0 over 10 s.  At the peak it fetches a CPU profile and the mutex
-- profile from the server and saves them beside the --json report (or in --profile-dir).
--   build/orderload --json out/ramp.json ramp
local orders = require("orders")

return {
  target = "http://127.0.0.1:8080",
  scenarios = {
    ramp = {
      executor = "ramping-arrival-rate",
      start_rate = 5,
      stages = {
        { duration = "20s", target = 200 },
        { duration = "10s", target = 200 },
        { duration = "10s", target = 0 },
      },
    },
  },
  thresholds = {
    ["latency.p99"] = "< 500ms",
    ["dropped"] = "== 0",
  },
  profile = {
    { at = "20s", path = "/profile/cpu?seconds=5", save = "ramp-cpu.pb.gz" },
    { at = "26s", path = "/profile/mutex", save = "ramp-mutex.pb.gz" },
  },
  request = function(ctx)
    -- the basket grows with the rate: the later in the ramp, the busier the shop
    local shape = ctx.elapsed < 20 and orders.shapes.normal or orders.shapes.burst
    return orders.request(ctx, shape)
  end,
}
