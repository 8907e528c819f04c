-- demo — all.lua (normal, high, burst with 5 s gaps) plus the profile captures that
-- scripts/start_profiling.sh puts in its report, each at the moment its subject is busiest:
--   high   cpu (three windows: pprof, flame graph, legacy), a trace, the heap at its start
--   burst  the threads mid-burst; mutex and block contention over the burst
-- The memory and gc profiles and /stats are fetched by the script once the queue is empty.
--   build/orderload --json out/load.json demo        (captures saved beside the JSON)
-- Under `orderload -d DURATION` the capture times scale with the scenarios, but the windows in
-- the paths (?seconds=) do not: set ORDERD_DEMO_SPAN to the same number of seconds and the
-- windows shrink with the run (start_profiling.sh --quick does).
local all = require("all")

local span = 70 -- all.lua: normal 0-30 s, high 35-55 s, burst 60-70 s
local scale = (tonumber(orderd.env("ORDERD_DEMO_SPAN") or "") or span) / span
if scale > 1 then scale = 1 end
-- a window of `s` seconds at full length, whole seconds, at least 2
local function win(s) return math.max(2, math.floor(s * scale + 0.5)) end
local cpu = win(5)

-- the same capture in several formats (`query` adds e.g. "seconds=5&"), saved as KIND.EXT
local function each_format(kind, at, scenario, query, formats)
  local list = {}
  for _, f in ipairs(formats) do
    local ext = ({ pprof = "pb.gz", svg = "svg", legacy = "prof", text = "txt" })[f]
    list[#list + 1] = { at = at, scenario = scenario, path = "/profile/" .. kind .. "?" .. query .. "format=" .. f,
                        save = kind .. "." .. ext }
  end
  return list
end

local profile = {
  -- high, 50/s for 20 s: CPU profiles one at a time, so three windows 6 s apart (1-6, 7-12,
  -- 13-18 s at full length); a trace alongside the first; the heap as the load begins, the
  -- base for a -base diff against the heap at the end
  { at = "1s", scenario = "high", path = "/profile/cpu?seconds=" .. cpu, save = "cpu.pb.gz" },
  { at = "7s", scenario = "high", path = "/profile/cpu?seconds=" .. cpu .. "&format=svg", save = "cpu.svg" },
  { at = "13s", scenario = "high", path = "/profile/cpu?seconds=" .. cpu .. "&format=legacy", save = "cpu.prof" },
  { at = "3s", scenario = "high", path = "/profile/trace?seconds=" .. win(3), save = "trace.json" },
  { at = "0.5s", scenario = "high", path = "/profile/memory", save = "memory-base.pb.gz" },
}
-- burst, 100/s for 10 s: every thread mid-burst; lock contention and blocking over the burst
-- (a delta: what happened from 1 s to its end, not since the server started, so that the
-- workers' idle waits before the burst do not drown the payment waits)
for _, c in ipairs(each_format("goroutines", "5s", "burst", "", { "pprof", "svg", "legacy", "text" })) do
  profile[#profile + 1] = c
end
for _, kind in ipairs({ "mutex", "block" }) do
  for _, c in ipairs(each_format(kind, "1s", "burst", "seconds=" .. win(8) .. "&", { "pprof", "svg", "legacy" })) do
    profile[#profile + 1] = c
  end
end

return {
  target = all.target,
  scenarios = all.scenarios,
  thresholds = all.thresholds,
  request = all.request,
  profile = profile,
}
