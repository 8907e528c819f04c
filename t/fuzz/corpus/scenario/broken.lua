return {
  scenarios = { s = { executor = "nope", rate = -1, duration = "forever" }, [1] = 2 },
  thresholds = { ["latency.p42"] = "~ 3" },
  request = function(ctx) error("boom") end,
  extra = true,
}
