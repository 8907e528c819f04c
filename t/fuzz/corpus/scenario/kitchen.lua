return {
  target = "http://127.0.0.1:8080",
  scenarios = {
    a = { executor = "constant-arrival-rate", rate = 5, duration = "2s", connections = 4, timeout = "1s" },
    r = { executor = "ramping-arrival-rate", start_rate = 1, start_time = "3s",
          stages = { { duration = "1s", target = 10 }, { duration = "500ms", target = 0 } } },
    c = { executor = "constant-concurrency", connections = 2, duration = "1s" },
  },
  thresholds = { ["latency.p99"] = "< 250ms", ["a:error_rate"] = "< 1%", ["rate"] = ">= 4",
                 ["latency.p99.9"] = "<= 1s", ["c:completed"] = "> 10" },
  request = function(ctx) return { method = "POST", path = "/orders", headers = { ["Content-Type"] = "application/json" }, body = "{}" } end,
  response = function(ctx, status, headers, body) end,
  profile = { { at = "1s", path = "/profile/cpu?seconds=1", save = "cpu.pb.gz" } },
}
