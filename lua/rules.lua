-- Per-order rules: hooks each worker runs in its own Lua state (see lua/README.md).
-- Named by the YAML's pool.rules (off by default: set `rules: lua/rules.lua` to use them).
--
-- price(order) returns the price the price stage records, instead of the C stage's tax,
-- discounts and fraud-score work; route(order) runs first and may reject the order or
-- change its priority.  `order` is a copy: { id, customer, items, amount, status, address,
-- notes, priority }.  Each call runs under `budget` instructions and the state's memory is
-- bounded by `memory`; going past either, or raising an error, fails that order only.

local TAX = 0.0825                 -- sales tax
local EXPRESS_FEE = 15.00          -- priority 1 handling

-- loyalty discount by customer
local LOYALTY = {
  ["Ada Lovelace"] = 0.10,
  ["Grace Hopper"] = 0.05,
}

-- bulk pricing: the first tier an order reaches applies
local BULK = {
  { items = 20, discount = 0.10 },
  { items = 10, discount = 0.05 },
}

-- customers whose orders are refused, with the reason the order shows
local BLOCKED = {
  ["Mallory"] = "customer is blocked (chargebacks)",
}

local LARGE_ORDER = 5000           -- amounts from here on are promoted to priority 1

local function round_cents(x)
  return math.floor(x * 100 + 0.5) / 100
end

local function price(order)
  local total = order.amount
  for _, tier in ipairs(BULK) do
    if #order.items >= tier.items then
      total = total * (1 - tier.discount)
      break
    end
  end
  local loyalty = LOYALTY[order.customer]
  if loyalty then total = total * (1 - loyalty) end
  if order.priority == 1 then total = total + EXPRESS_FEE end
  return round_cents(total * (1 + TAX))
end

local function route(order)
  local why = BLOCKED[order.customer]
  if why then return false, why end                         -- or: return { reject = why }
  if order.amount >= LARGE_ORDER and order.priority > 1 then
    return { priority = 1 }                                 -- large orders go first
  end
  return true                                               -- unchanged (nil works too)
end

return {
  price = price,
  route = route,
  budget = 1000000,                -- instructions per hook call
  memory = "8MiB",                 -- this worker's Lua state, all included
}
