-- orders — order bodies for the load scenarios (lua/scenarios/*.lua).
--
-- The order fields are the Go seed's: id, customer, items (SKU strings), amount, status,
-- address, notes, priority.  A "shape" says how a scenario's orders vary: how many
-- customers, how many items, the amount range and how often an amount passes the seed's
-- limits (> 1000: priority processing; > 10000: "order amount exceeds limit"), how often an
-- order has too many items (> 50: "too many items in order"), and the priority mix.
--
-- Usage from a scenario file (package.path already includes lua/lib):
--   local orders = require("orders")
--   request = function(ctx) return orders.request(ctx, orders.shapes.normal) end
--
-- Each orderload thread runs this file in its own Lua state; nothing here is shared.

local M = {}

M.SKUS = {
  "SKU-1001", "SKU-1002", "SKU-1003", "SKU-1004", "SKU-1005", "SKU-1006", "SKU-1007", "SKU-1008",
  "SKU-2001", "SKU-2002", "SKU-2003", "SKU-2004", "SKU-3001", "SKU-3002", "SKU-3003", "SKU-4001",
  "SKU-4002", "SKU-5001", "SKU-5002", "SKU-6001", "SKU-7001", "SKU-8001", "SKU-9001", "SKU-9002",
}

M.ADDRESSES = {
  "1 Main St, Springfield", "42 Elm Ave, Shelbyville", "7 Harbour Rd, Portsmouth",
  "221B Baker St, London", "350 Fifth Ave, New York", "10 Downing St, London",
  "1600 Amphitheatre Pkwy, Mountain View", "4 Privet Drive, Little Whinging",
}

M.NOTES = {
  "leave at the door", "gift wrap please", "call before delivery", "fragile",
  "deliver after 5pm", "no substitutions",
}

M.STATUSES = { "pending", "paid" }

M.HEADERS = { ["Content-Type"] = "application/json" }

-- Shapes per scenario.  amount: the usual range; big: share of amounts in (1000, 10000];
-- huge: share above 10000 (the seed rejects them); too_many: share with 51-60 items;
-- priority: weights of 1 (high), 2 (medium), 3 (low); notes: share with a note.
M.shapes = {
  normal = { prefix = "normal", customers = 100, items = { 1, 5 }, amount = { 10, 1000 },
             big = 0.10, huge = 0.01, too_many = 0.0, priority = { 1, 6, 3 }, notes = 0.2 },
  high   = { prefix = "high", customers = 500, items = { 1, 10 }, amount = { 20, 1000 },
             big = 0.25, huge = 0.02, too_many = 0.005, priority = { 2, 5, 3 }, notes = 0.3 },
  burst  = { prefix = "burst", customers = 2000, items = { 1, 20 }, amount = { 5, 1000 },
             big = 0.30, huge = 0.05, too_many = 0.01, priority = { 5, 3, 2 }, notes = 0.1 },
}

local random, floor, format, concat = math.random, math.floor, string.format, table.concat

local function pick(list)
  return list[random(#list)]
end

local function weighted(weights)
  local total = 0
  for _, w in ipairs(weights) do total = total + w end
  local r = random() * total
  for i, w in ipairs(weights) do
    r = r - w
    if r < 0 then return i end
  end
  return #weights
end

-- Returns a JSON string literal for s.
local function jstr(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    if c == '"' then return '\\"' elseif c == "\\" then return "\\\\"
    elseif c == "\n" then return "\\n" elseif c == "\t" then return "\\t"
    else return format("\\u%04x", c:byte()) end
  end) .. '"'
end
M.jstr = jstr

-- Returns an order table for ctx (ctx.scenario, ctx.run, ctx.seq) in the given shape.
function M.order(ctx, shape)
  local r = random()
  local amount
  if r < shape.huge then
    amount = 10000 + random() * 40000
  elseif r < shape.huge + shape.big then
    amount = 1000 + random() * 9000
  else
    amount = shape.amount[1] + random() * (shape.amount[2] - shape.amount[1])
  end
  local nitems
  if random() < shape.too_many then
    nitems = random(51, 60)
  else
    nitems = random(shape.items[1], shape.items[2])
  end
  local items = {}
  for i = 1, nitems do items[i] = pick(M.SKUS) end
  return {
    id = format("%s-%s-%d", ctx.scenario or shape.prefix, ctx.run or "x", ctx.seq or 0),
    customer = format("customer-%d", random(shape.customers)),
    items = items,
    amount = floor(amount * 100 + 0.5) / 100,
    status = pick(M.STATUSES),
    address = pick(M.ADDRESSES),
    notes = random() < shape.notes and pick(M.NOTES) or nil,
    priority = weighted(shape.priority),
  }
end

-- Returns the order as JSON, fields in a fixed order.
function M.encode(o)
  local items = {}
  for i, sku in ipairs(o.items) do items[i] = jstr(sku) end
  local parts = {
    '{"id":', jstr(o.id),
    ',"customer":', jstr(o.customer),
    ',"items":[', concat(items, ","), "]",
    ',"amount":', format("%.2f", o.amount),
    ',"status":', jstr(o.status),
    ',"address":', jstr(o.address),
  }
  if o.notes then
    parts[#parts + 1] = ',"notes":'
    parts[#parts + 1] = jstr(o.notes)
  end
  parts[#parts + 1] = ',"priority":'
  parts[#parts + 1] = tostring(o.priority)
  parts[#parts + 1] = "}"
  return concat(parts)
end

-- The request for one order: what a scenario's request(ctx) returns.
function M.request(ctx, shape)
  return "POST", "/orders", M.HEADERS, M.encode(M.order(ctx, shape))
end

return M
