-- normal — the Go seed's "normal load": 10 orders per second for 30 seconds, everyday
-- orders (a few above 1000, rarely one above the 10000 limit).
--   build/orderload normal
local orders = require("orders")

return {
  target = "http://127.0.0.1:8080",
  scenarios = {
    normal = { executor = "constant-arrival-rate", rate = 10, duration = "30s" },
  },
  thresholds = {
    ["latency.p99"] = "< 250ms",
    ["error_rate"] = "< 1%",
  },
  request = function(ctx)
    return orders.request(ctx, orders.shapes.normal)
  end,
}
