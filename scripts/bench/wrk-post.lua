-- wrk script: POST /orders with a realistic order body, a unique id per request.
-- Used by the ingest and profiling benchmarks.
local counter = 0
local thread_id = 0

function setup(thread)
  thread:set("tid", thread_id)
  thread_id = thread_id + 1
end

function init(args)
  counter = 0
end

request = function()
  counter = counter + 1
  local body = string.format(
    '{"id":"w%d-%d","customer":"Customer %d","items":["SKU-%d","SKU-%d","SKU-7"],' ..
    '"amount":%d.50,"status":"pending","address":"%d Main St","priority":%d,"notes":"bench"}',
    tid or 0, counter, counter % 100, counter % 50, counter % 13, 10 + counter % 900, counter % 1000,
    1 + counter % 3)
  return wrk.format("POST", "/orders", { ["Content-Type"] = "application/json" }, body)
end
