-- wrk script: POST /orders with a realistic order body, a unique id per request.
-- Used by the ingest and profiling benchmarks.
--   wrk ... -s wrk-post.lua URL [-- RUN]
-- RUN (optional) goes into every id, so that several runs against one server (whose queue
-- still holds the earlier orders) do not repeat ids and measure 409s instead of 202s.
local counter = 0
local thread_id = 0
local run = ""

function setup(thread)
  thread:set("tid", thread_id)
  thread_id = thread_id + 1
end

function init(args)
  counter = 0
  if args[1] then run = args[1] .. "-" end
end

request = function()
  counter = counter + 1
  local body = string.format(
    '{"id":"w%s%d-%d","customer":"Customer %d","items":["SKU-%d","SKU-%d","SKU-7"],' ..
    '"amount":%d.50,"status":"pending","address":"%d Main St","priority":%d,"notes":"bench"}',
    run, tid or 0, counter, counter % 100, counter % 50, counter % 13, 10 + counter % 900, counter % 1000,
    1 + counter % 3)
  return wrk.format("POST", "/orders", { ["Content-Type"] = "application/json" }, body)
end
