-- burst — the Go seed's "burst": 100 orders per second for 10 seconds, a flash sale: many
-- high-priority orders, large baskets, a share of amounts over the limits and a few orders
-- with too many items, so failures show in orderd's statistics.
--   build/orderload burst
local orders = require("orders")

return {
  target = "http://127.0.0.1:8080",
  scenarios = {
    burst = { executor = "constant-arrival-rate", rate = 100, duration = "10s" },
  },
  thresholds = {
    ["latency.p99"] = "< 500ms",
    ["error_rate"] = "< 5%",
  },
  request = function(ctx)
    return orders.request(ctx, orders.shapes.burst)
  end,
}
