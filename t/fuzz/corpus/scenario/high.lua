-- high — the Go seed's "high load": 50 orders per second for 20 seconds, more customers,
-- bigger baskets and amounts, every priority.
--   build/orderload high
local orders = require("orders")

return {
  target = "http://127.0.0.1:8080",
  scenarios = {
    high = { executor = "constant-arrival-rate", rate = 50, duration = "20s" },
  },
  thresholds = {
    ["latency.p99"] = "< 250ms",
    ["error_rate"] = "< 1%",
  },
  request = function(ctx)
    return orders.request(ctx, orders.shapes.high)
  end,
}
