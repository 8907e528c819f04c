-- soak — ten minutes of mixed traffic for scripts/soak.sh (`make soak`): a steady stream of
-- orders in the three shapes, lookups of orders this thread saw accepted plus /stats,
-- /health and /metrics, and a burst every 108 s — all well within what the shipped
-- pool (lua/workers.lua) processes, so that every request should succeed.  Any answer of
-- 400 or more is an error here (as everywhere in orderload).
--   build/orderload -d 600s soak        (soak.sh runs it with -d SOAK_SECONDS)
local orders = require("orders")

local shapes = { orders.shapes.normal, orders.shapes.high, orders.shapes.burst }

-- ids this thread saw accepted (202), a ring of the latest 256: lookups pick from them
local seen, nseen, RING = {}, 0, 256

local function remember(body)
  local id = body and body:match('"id":"([%w_%-]+)"')
  if id then
    nseen = nseen + 1
    seen[(nseen - 1) % RING + 1] = id
  end
end

local pages = { "/stats", "/health", "/metrics" }

-- a burst of 10 s up to 60 orders/s every 108 s after a first quiet minute: 5 cycles, so the
-- bursts end with the other two scenarios at 600 s
local burst_stages = {}
for _ = 1, 5 do
  burst_stages[#burst_stages + 1] = { duration = "2s", target = 60 }
  burst_stages[#burst_stages + 1] = { duration = "8s", target = 60 }
  burst_stages[#burst_stages + 1] = { duration = "2s", target = 0 }
  burst_stages[#burst_stages + 1] = { duration = "96s", target = 0 }
end

return {
  target = "http://127.0.0.1:8080",
  scenarios = {
    orders = { executor = "constant-arrival-rate", rate = 30, duration = "600s" },
    reads = { executor = "constant-arrival-rate", rate = 20, duration = "600s" },
    bursts = { executor = "ramping-arrival-rate", start_time = "60s", start_rate = 0, stages = burst_stages },
  },
  request = function(ctx)
    if ctx.scenario == "reads" then
      local seq = ctx.seq or 0
      if seq % 2 == 0 and nseen > 0 then
        local pick = seen[math.random(math.min(nseen, RING))]
        return "GET", "/orders/" .. pick
      end
      return "GET", pages[seq // 2 % #pages + 1]
    end
    local shape = ctx.scenario == "bursts" and orders.shapes.burst or shapes[(ctx.seq or 0) % #shapes + 1]
    return orders.request(ctx, shape)
  end,
  response = function(ctx, status, headers, body)
    if status == 202 then remember(body) end
    return status < 400
  end,
}
