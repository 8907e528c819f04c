#!/usr/bin/env bash
# Ingest benchmark: POST /orders throughput of orderd ÷ a bare libh2o hello-world server's,
# same client (wrk, 1 thread, 32 connections), alternated in one run.  The pool is one worker
# that sleeps on every order behind a large queue, so what is measured is HTTP + JSON parse +
# validation + enqueue.  Also: idle RSS and bytes per queued order.
set -euo pipefail
B=${1:-build}
DUR=${BENCH_SECONDS:-5}
ROUNDS=${BENCH_ROUNDS:-3}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])' 2>/dev/null ||
  perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(Listen=>1,LocalAddr=>"127.0.0.1:0")->sockport'; }
wait_http() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.05; done; echo "no answer from $1" >&2; return 1; }
rps() { wrk -t1 -c32 -d"${DUR}s" -s "$here/wrk-post.lua" "$1" | awk '/^Requests\/sec/ {print $2}'; }

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
"$B/orderd" -c "$tmp/orderd.yaml" 2>"$tmp/orderd.log" &
pid_o=$!; pids+=($pid_o)
port_h=$(free_port)
"$B/hello_h2o" -p "$port_h" 2>/dev/null &
pids+=($!)
wait_http "http://127.0.0.1:$port_o/health"
wait_http "http://127.0.0.1:$port_h/"

rss_idle=$(awk '/VmRSS/ {print $2}' /proc/$pid_o/status)

sum_o=0; sum_h=0
for i in $(seq "$ROUNDS"); do
  h=$(rps "http://127.0.0.1:$port_h/orders")
  o=$(rps "http://127.0.0.1:$port_o")
  printf '  round %d: orderd/h2o = %.3f\n' "$i" "$(echo "$o / $h" | bc -l)"
  sum_o=$(echo "$sum_o + $o" | bc -l); sum_h=$(echo "$sum_h + $h" | bc -l)
done
ratio=$(echo "$sum_o / $sum_h" | bc -l)

# bytes per queued order: RSS growth over the orders now waiting (one sleeping worker)
stats=$(curl -s "http://127.0.0.1:$port_o/stats")
queued=$(echo "$stats" | sed -n 's/.*"queue_length":\([0-9]*\).*/\1/p')
rss_now=$(awk '/VmRSS/ {print $2}' /proc/$pid_o/status)
printf 'ingest: POST /orders throughput orderd ÷ bare h2o = %.3f (goal >= 0.90; %d rounds of %ds, wrk -t1 -c32)\n' "$ratio" "$ROUNDS" "$DUR"
printf 'ingest: idle RSS = %.1f MiB (goal <= 16 MiB)\n' "$(echo "$rss_idle / 1024" | bc -l)"
if [ "${queued:-0}" -gt 0 ]; then
  printf 'ingest: bytes per queued order = %.0f (RSS growth %.1f MiB over %d queued orders)\n' \
    "$(echo "($rss_now - $rss_idle) * 1024 / $queued" | bc -l)" "$(echo "($rss_now - $rss_idle) / 1024" | bc -l)" "$queued"
fi
