#!/usr/bin/env bash
# Rules benchmark: pipeline throughput with the Lua price hook ÷ with the C price stage doing
# the same arithmetic (tax, bulk discount, express fee), one thread, the other stages' planted
# work set to 0 so the price stage is what differs; and the hook's cost per order in µs
# (price hook call − C price stage call).  Both measured in one run, alternating rounds, best
# of each (see t/unit/rules.c, bench()).
set -euo pipefail
B=${1:-build}
SECS=${BENCH_SECONDS:-5}
bin="$B/t/rules"
[ -x "$bin" ] || { echo "rules bench: $bin is missing (make first)" >&2; exit 1; }
out=$("$bin" --bench "$SECS")
echo "$out" | sed 's/^/  /'
ratio=$(echo "$out" | awk '/^rules_throughput_ratio_lua_over_c/ {print $2}')
us=$(echo "$out" | awk '/^rules_hook_cost_us_per_order/ {print $2}')
[ -n "$ratio" ] && [ -n "$us" ] || { echo "rules bench: no figures" >&2; exit 1; }
echo "rules: pipeline throughput Lua price hook / C price stage = $ratio"
echo "rules: Lua price hook cost = $us us per order"
