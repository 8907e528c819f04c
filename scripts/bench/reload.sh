#!/usr/bin/env bash
# Reload benchmark: orderload's open model at BENCH_RELOAD_RATE (200) orders/s against one
# orderd, p99 time-to-202 during a run with a SIGHUP every second (alternating two valid
# configs: workers 4 <-> 2, reserve.stripes 4 <-> 1, price.work_us 200 <-> 300) ÷ p99 of a steady
# run of the same load on the same server, the two alternating for BENCH_ROUNDS rounds (medians).
# Goal: <= 1.5.  Also: the reloads counted ok and failed, and the answers other than 202.
#
#   scripts/bench/reload.sh [BUILD_DIR]   (BENCH_SECONDS=10, BENCH_ROUNDS=3, BENCH_RELOAD_RATE=200)
#
# Only 127.0.0.1; it starts one orderd and stops only that one.
set -euo pipefail
B=${1:-build}
SECS=${BENCH_SECONDS:-10}
ROUNDS=${BENCH_ROUNDS:-3}
RATE=${BENCH_RELOAD_RATE:-200}
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_built reload.sh "$B/orderd" "$B/orderload"

workers_lua() { # WORKERS STRIPES WORK_US
    cat <<EOF2
return { workers = $1, queue = 10000, reserve = { stripes = $2, hold_us = 20 }, price = { work_us = $3 },
         pay = { ms_per_priority = 0, fixed_ms = 2 }, record = { alloc_bytes = 1024 } }
EOF2
}
a_lua=$(workers_lua 4 4 200)
b_lua=$(workers_lua 2 1 300)
printf '%s\n' "$a_lua" >"$tmp/workers.lua"
port=$(free_port)
cat >"$tmp/orderd.yaml" <<EOF2
listen: 127.0.0.1:$port
scenarios: []
pool:
  script: $tmp/workers.lua
  results_kept: 20000
profiling:
  schedule: ""
  output_dir: $tmp/profiles
EOF2
cat >"$tmp/load.lua" <<EOF2
local orders = require("orders")
return {
  scenarios = { r = { executor = "constant-arrival-rate", rate = $RATE, duration = "${SECS}s" } },
  request = function(ctx) return orders.request(ctx, orders.shapes.normal) end,
}
EOF2
"${pin_server[@]}" "$B/orderd" -c "$tmp/orderd.yaml" >"$tmp/orderd.log" 2>&1 &
server=$!
pids+=("$server")
wait_http "http://127.0.0.1:$port/health"

# p99 time-to-202 (us) and the answers other than 2xx, of an orderload --json document
figures() {
    perl -MJSON::PP -e 'local $/; open my $f, "<", $ARGV[0] or die; my $j = decode_json(<$f>);
        my ($s) = values %{ $j->{scenarios} }; my $c = $s->{status_codes} // {};
        my $bad = 0; $bad += $c->{$_} for grep { !/^2/ } keys %$c;
        print $s->{latency_us}{p99}, " ", $bad, "\n"' "$1"
}
run_load() { # JSON
    "${pin_client[@]}" "$B/orderload" -u "http://127.0.0.1:$port" --quiet --no-announce -t 1 --json "$1" \
        "$tmp/load.lua" >/dev/null 2>"$tmp/load.err" || { echo "reload.sh: orderload failed:" >&2; cat "$tmp/load.err" >&2; exit 1; }
}
reloads() { curl -s "http://127.0.0.1:$port/metrics" | awk -v r="result=\"$1\"" 'index($0, "orderd_config_reloads_total{" r "}") == 1 {print $2}'; }

run_load "$tmp/warm.json" # warm up
: >"$tmp/steady"
: >"$tmp/reload"
bad=0
for round in $(seq "$ROUNDS"); do
    run_load "$tmp/steady.json"
    read -r p99 nbad < <(figures "$tmp/steady.json")
    echo "$p99" >>"$tmp/steady"
    bad=$((bad + nbad))

    # a SIGHUP every second while the same load runs, alternating the two configs, written
    # with builtins (lib.sh's nap says why)
    (
        i=0
        while :; do
            nap 1
            if [ $((i % 2)) = 0 ]; then printf '%s\n' "$b_lua" >"$tmp/workers.lua"; else printf '%s\n' "$a_lua" >"$tmp/workers.lua"; fi
            kill -HUP "$server" 2>/dev/null || exit 0
            i=$((i + 1))
        done
    ) &
    hup=$!
    run_load "$tmp/reload.json"
    kill "$hup" 2>/dev/null || true
    wait "$hup" 2>/dev/null || true
    read -r p99 nbad < <(figures "$tmp/reload.json")
    echo "$p99" >>"$tmp/reload"
    bad=$((bad + nbad))
    echo "  round $round: p99 steady $(tail -1 "$tmp/steady") us, with a SIGHUP a second $p99 us"
done
steady=$(median <"$tmp/steady")
during=$(median <"$tmp/reload")
ok=$(reloads ok)
failed=$(reloads failed)
ratio=$(awk -v a="$during" -v b="$steady" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
kill -TERM "$server" && wait "$server" 2>/dev/null || true # its queue is short: a quick drain
pids=()
echo "reload: $RATE orders/s, ${SECS}s runs, $ROUNDS rounds: reloads applied $ok, failed $failed; answers other than 2xx: $bad"
echo "reload: p99 time-to-202 with a SIGHUP every second / steady = $during / $steady us = $ratio (goal <= 1.5)"
[ "$bad" = 0 ] && [ "${failed:-1}" = 0 ] && [ "${ok:-0}" -gt 0 ] || { echo "reload.sh: requests failed or reloads were refused" >&2; exit 1; }
