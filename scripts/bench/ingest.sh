#!/usr/bin/env bash
# Ingest benchmark: POST /orders throughput of orderd ÷ a bare libh2o hello-world server's,
# same client (wrk, 1 thread, 32 connections), alternated in one run.  The pool is one worker
# that sleeps on every order behind a large queue, so what is measured is HTTP + JSON parse +
# validation + enqueue.  Also: idle RSS and bytes per queued order.
#
# Rounds are short and many (27 of 1 s, was 9 of 3 s: the same minute) and each round's pair
# runs in alternating order, so that the two servers of a pair meet nearly the same
# background load (the machine is shared) and neither always goes first; the figures are
# medians of the pairs' ratios.
set -euo pipefail
B=${1:-build}
DUR=${BENCH_SECONDS:-1}
ROUNDS=${BENCH_ROUNDS:-27}
. "$(dirname "$0")/lib.sh"

# run wrk against URL while measuring PID's CPU (its threads' run time, in ns): prints
# "requests/s cpu-µs-per-request"
measure() {
  local t0 t1 out reqs
  t0=$(cpu_ns "$2")
  out=$("${pin_client[@]}" wrk -t1 -c32 -d"${DUR}s" -s "$here/wrk-post.lua" "$1" -- "r$(date +%s%N)")
  t1=$(cpu_ns "$2")
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  echo "$(echo "$out" | awk '/^Requests\/sec/ {print $2}') $(echo "($t1 - $t0) / 1000 / $reqs" | bc -l)"
}

cat > "$tmp/workers.lua" <<'LUA'
return { workers = 1, queue = 2000000, pay = { ms_per_priority = 0, fixed_ms = 1000 },
         price = { work_us = 0 }, reserve = { hold_us = 0 }, record = { alloc_bytes = 0 } }
LUA
port_o=$(free_port)
cat > "$tmp/orderd.yaml" <<YAML
listen: 127.0.0.1:$port_o
pool: { script: $tmp/workers.lua, results_kept: 1000 }
profiling: { schedule: "" }
scenarios: []
YAML
"${pin_server[@]}" "$B/orderd" -c "$tmp/orderd.yaml" 2>"$tmp/orderd.log" &
pid_o=$!; pids+=($pid_o)
port_h=$(free_port)
"${pin_server[@]}" "$B/hello_h2o" -p "$port_h" 2>/dev/null &
pid_h=$!; pids+=($pid_h)
wait_http "http://127.0.0.1:$port_o/health"
wait_http "http://127.0.0.1:$port_h/"

rss_idle=$(awk '/VmRSS/ {print $2}' /proc/$pid_o/status)

: > "$tmp/ratios"; : > "$tmp/cpu"
for i in $(seq "$ROUNDS"); do
  if [ $((i % 2)) = 1 ]; then
    read -r h hc < <(measure "http://127.0.0.1:$port_h/orders" "$pid_h")
    read -r o oc < <(measure "http://127.0.0.1:$port_o" "$pid_o")
  else
    read -r o oc < <(measure "http://127.0.0.1:$port_o" "$pid_o")
    read -r h hc < <(measure "http://127.0.0.1:$port_h/orders" "$pid_h")
  fi
  r=$(echo "$o / $h" | bc -l); c=$(echo "$hc / $oc" | bc -l)
  echo "$r" >> "$tmp/ratios"; echo "$c" >> "$tmp/cpu"
  printf '  round %d: throughput orderd/h2o = %.3f   CPU per request h2o/orderd = %.3f\n' "$i" "$r" "$c"
done
ratio=$(median < "$tmp/ratios")
# every request must have been a real 202 (no 409s from reused ids, no 503s)
codes=$(curl -s "http://127.0.0.1:$port_o/metrics" | grep '^orderd_http_requests_total{method="POST",route="/orders"' | grep -v 'code="202"' || true)
[ -z "$codes" ] || { echo "ingest: orderd answered something other than 202: $codes" >&2; exit 1; }
cpu_ratio=$(median < "$tmp/cpu")
# bytes per queued order: RSS growth over the orders now waiting (one sleeping worker)
stats=$(curl -s "http://127.0.0.1:$port_o/stats")
queued=$(echo "$stats" | sed -n 's/.*"queue_length":\([0-9]*\).*/\1/p')
rss_now=$(awk '/VmRSS/ {print $2}' /proc/$pid_o/status)
printf 'ingest: POST /orders throughput orderd ÷ bare h2o = %.3f (median of %d alternated rounds of %ds, wrk -t1 -c32; goal >= 0.90)\n' "$ratio" "$ROUNDS" "$DUR"
printf 'ingest: server CPU per request, bare h2o ÷ orderd = %.3f (the same rounds; goal >= 0.909, i.e. orderd <= 1.10x)\n' "$cpu_ratio"
printf 'ingest: idle RSS = %.1f MiB (goal <= 16 MiB)\n' "$(echo "$rss_idle / 1024" | bc -l)"
if [ "${queued:-0}" -gt 0 ]; then
  printf 'ingest: bytes per queued order = %.0f (RSS growth %.1f MiB over %d queued orders)\n' \
    "$(echo "($rss_now - $rss_idle) * 1024 / $queued" | bc -l)" "$(echo "($rss_now - $rss_idle) / 1024" | bc -l)" "$queued"
fi
