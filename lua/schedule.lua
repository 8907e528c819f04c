-- The profiling schedule: captures orderd takes on its own while it runs (see lua/README.md).
-- Named by the YAML's profiling.schedule; written to profiling.output_dir (default
-- profiles/) as YYYYmmdd-HHMMSS-<kind>[-<label>].<ext>, listed in manifest.jsonl and at
-- GET /profiles, pruned to profiling.keep.
--
-- Each entry is timed (at: once, that long after start), periodic (every) or triggered
-- (when: a function of the stats snapshot `s`, evaluated about once a second; after it fires
-- it rests for `cooldown`).  `capture` is one kind or a list (cpu, memory, goroutines, block,
-- mutex, trace, gc); the kinds of one entry are captured together, over the same window.
-- `seconds` is the window of cpu and trace (default 10); given explicitly, memory,
-- goroutines, block and mutex capture what happened during that window (a delta).

return {
  -- a first look at every thread once the server has settled
  { at = "10s", capture = "goroutines", label = "startup" },

  -- the heap every five minutes: compare two of them to find what grows
  { every = "5m", capture = "memory", label = "periodic" },

  -- a backlog: where the CPU goes and who holds the locks while the queue is over 80 % full
  { when = function(s) return s.queue_fill > 0.8 end,
    capture = { "cpu", "mutex" }, seconds = 5, cooldown = "60s", label = "backlog" },

  -- orderload announced the burst scenario: a short execution trace and a CPU profile of it
  { when = function(s) return s.scenario == "burst" end,
    capture = { "trace", "cpu" }, seconds = 3, cooldown = "30s", label = "burst" },
}
