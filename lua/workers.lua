-- The worker pool: returned as a table of values (no functions).  orderd reads it at
-- startup; edit it and send SIGHUP to apply it live.  Every key is optional; unknown keys are errors.
--
-- The knobs plant each profile's hotspot.  Under the bundled scenarios the defaults make:
--   price.work_us     the CPU profile's hotspot (od_stage_price, price_fraud_score)
--   reserve.hold_us   the mutex profile's subject (inventory stripes, od_stage_reserve)
--   pay.*             the block profile's subject (od_stage_pay), the seed's priority x 10 ms
--   record.*          the heap profile's subject (od_stage_record); leak_bytes > 0 leaks
--
-- Calibrated so that, under scripts/start_profiling.sh's load (all.lua: 10, 50, then 100 orders/s),
-- each planted stage dominates its profile with margin (the report checks the targets):
-- 6 ms of CPU per order keeps od_stage_price >= 80 % of the CPU samples; one stripe held 650 us
-- per item makes the inventory lock's waits >= 5 % of the workers' time over the burst (at 4
-- stripes and 200 us arrivals 10 ms apart rarely collide and the waits were under 1 %); six
-- workers keep the burst from saturating the pool; 24 KiB per order keeps od_stage_record the
-- top in-use site.  (Keys left out take the built-in defaults of lua/README.md.)
--
-- orderd.cpus() is the number of online processors; orderd.env("NAME") reads the environment.

local workers = tonumber(orderd.env("ORDERD_WORKERS") or "") or 6

return {
  workers = workers,          -- worker threads
  queue = 1000,               -- queue capacity, all priority lanes together (then 503)
  starvation_ms = 250,        -- a low-priority order waiting longer than this goes next

  validate = {
    max_amount = 10000,       -- the seed's "order amount exceeds limit"
    max_items = 50,           -- the seed's "too many items in order"
  },
  reserve = {
    stripes = 1,              -- inventory mutexes: fewer stripes, more contention
    skus = 256,               -- inventory slots SKUs hash onto
    hold_us = 650,            -- time each item holds its stripe
  },
  price = {
    work_us = 6000,           -- CPU time per order: tax, discounts, fraud score
  },
  pay = {
    ms_per_priority = 10,     -- the seed's payment wait: priority x 10 ms
    fixed_ms = 0,             -- added to every payment
  },
  record = {
    alloc_bytes = 24576,      -- result and history kept with each finished order
    leak_bytes = 0,           -- bytes leaked per order, on purpose (the leak-hunting lesson)
  },
}
