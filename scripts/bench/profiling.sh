#!/usr/bin/env bash
# Profiling overhead benchmark: POST /orders throughput with profiling active ÷ without,
# measured in one run:
#
#   cpu       a CPU profile running (profiling.cpu_engine, BENCH_CPU_ENGINE:
#             auto, i.e. perf_event where allowed; at profiling.cpu_hz) ÷ none  goal >= 0.97
#   lockprof  block and mutex profiling at the default rates (block_rate_ns 1,
#             mutex_fraction 1) ÷ both off (a second server)                    goal >= 0.95
#   trace     a trace running ÷ none                                            goal >= 0.90
#   armed     no profile running, with the perf_event engine's inherited event armed (it
#             waits, disabled, in every thread's perf context) ÷ a server with the itimer
#             engine, which has no perf event at all: the idle cost    goal >= 0.97
#   perf      `perf record -e cpu-clock -F <cpu_hz> -g -p PID` running ÷ none: no goal, a
#             reference.  perf opens an event per thread, whose timer the kernel stops and
#             restarts at each of that thread's context switches; the engine's event is
#             inherited, and the kernel swaps inherited copies between threads instead.  Once
#             perf has attached, those threads' contexts are no longer copies (for the
#             process's life), so this pair runs on a third server of its own.
#
# Pool: one worker whose stages cost nothing (so the queue never fills over many runs): what
# is measured is the HTTP path (parse, validate, enqueue under the queue lock, the enqueue flow
# event while tracing) and the worker taking and finishing each order, not the planted stages.  Client: wrk, 1 thread,
# 32 connections, scripts/bench/wrk-post.lua.  Each profile window outlasts its wrk run, and
# the next run waits until the profile has been written (its symbolization is not measured).
#
# Two numbers per ratio:
#   throughput  the median, over BENCH_ROUNDS rounds, of one back-to-back pair of
#               BENCH_SECONDS-long runs (the order of the pair alternates): on a shared, noisy
#               machine a median of adjacent pairs holds up where a sum over minutes does not
#   efficiency  requests served per CPU-second the server used (utime+stime from /proc),
#               all rounds summed: the same ratio for a CPU-bound server, and much less
#               sensitive to other processes stealing the CPU during a run
# The goals are judged on the throughput ratio.
#
# With two CPUs or more the servers run on CPU 0 and wrk on CPU 1 (taskset; BENCH_PIN=0 turns
# this off), so that the server and the client do not trade places on one core.
#
#   scripts/bench/profiling.sh [BUILD_DIR]     BENCH_SECONDS (2), BENCH_ROUNDS (9), BENCH_PIN (1),
#                                              BENCH_CPU_ENGINE (auto)
set -euo pipefail
B=${1:-build}
DUR=${BENCH_SECONDS:-2}
ROUNDS=${BENCH_ROUNDS:-9}
. "$(dirname "$0")/lib.sh"

for tool in wrk curl bc perl; do
  command -v "$tool" >/dev/null || { echo "profiling bench: $tool is missing (scripts/install-deps.sh)" >&2; exit 1; }
done

cat > "$tmp/workers.lua" <<'LUA'
return { workers = 1, queue = 100000, pay = { ms_per_priority = 0, fixed_ms = 0 },
         price = { work_us = 0 }, reserve = { hold_us = 0 }, record = { alloc_bytes = 0 } }
LUA
start_server() { # NAME MUTEX_FRACTION BLOCK_RATE_NS [ENGINE] -> sets port_NAME, pid_NAME
  local name=$1 port
  port=$(free_port)
  cat > "$tmp/$name.yaml" <<YAML
listen: 127.0.0.1:$port
pool: { script: $tmp/workers.lua, results_kept: 1000 }
profiling: { schedule: "", output_dir: $tmp/profiles, mutex_fraction: $2, block_rate_ns: $3, max_seconds: 600,
             cpu_engine: ${4:-${BENCH_CPU_ENGINE:-auto}} }
scenarios: []
YAML
  "${pin_server[@]}" "$B/orderd" -c "$tmp/$name.yaml" 2>"$tmp/$name.log" &
  pids+=($!)
  eval "pid_$name=$!"
  disown # no "Killed" notice from the shell when cleanup ends it
  wait_http "http://127.0.0.1:$port/health"
  eval "port_$name=$port"
}
start_server on 1 1   # the defaults
start_server off 0 0  # block and mutex profiling off
start_server ref 1 1  # perf record's (see above)
start_server noev 1 1 itimer # no perf event

# run SERVER -> "requests/s requests cpu_ticks"; every run its own order ids
run() {
  local port pid out t0 t1
  eval "port=\$port_$1 pid=\$pid_$1"
  t0=$(cpu_ticks "$pid")
  out=$("${pin_client[@]}" wrk -t1 -c32 -d"${DUR}s" -s "$here/wrk-post.lua" "http://127.0.0.1:$port/orders" -- "r$(date +%s%N)")
  t1=$(cpu_ticks "$pid")
  if echo "$out" | grep -q 'Non-2xx'; then
    echo "profiling bench: non-2xx answers from the $1 server:" >&2
    echo "$out" >&2
    curl -s "http://127.0.0.1:$port/metrics" | grep 'orders_rejected\|method="POST",route="/orders"' >&2
    exit 1
  fi
  echo "$out" | awk -v ticks=$((t1 - t0)) '/^Requests\/sec/ {rps = $2} / requests in / {n = $1} END {print rps, n, ticks}'
}

# run on the "on" server while a capture of KIND runs there (FLAG: its /profile busy flag)
run_during() { # KIND FLAG
  local base="http://127.0.0.1:$port_on" r c
  curl -s -o /dev/null -w '%{http_code}' "$base/profile/$1?seconds=$((DUR + 1))" >"$tmp/code" &
  c=$!
  for _ in $(seq 100); do # until the capture is running
    curl -s "$base/profile" | grep -q "\"$2\":true" && break
    sleep 0.02
  done
  r=$(run on)
  wait "$c"
  [ "$(cat "$tmp/code")" = 200 ] || { echo "profiling bench: /profile/$1 answered $(cat "$tmp/code")" >&2; exit 1; }
  echo "$r"
}
base_on() { run on; }
base_off() { run off; }
base_ref() { run ref; }
base_noev() { run noev; }
with_cpu() { run_during cpu cpu_busy; }
with_trace() { run_during trace trace_running; }
with_perf() { # Linux perf on the same server, at the engine's rate
  local r p
  perf record -q -e cpu-clock -F "$cpu_hz" -g -p "$pid_ref" -o "$tmp/perf.data" -- sleep $((DUR + 1)) >/dev/null 2>&1 &
  p=$!
  sleep 0.3 # perf attaches to every thread
  r=$(run ref)
  wait "$p" || true
  echo "$r"
}
cpu_hz=$(curl -s "http://127.0.0.1:$port_on/profile" | sed -n 's/.*"cpu_hz":\([0-9]*\).*/\1/p')
cpu_hz=${cpu_hz:-100}
have_perf=0
if command -v perf >/dev/null && perf record -q -e cpu-clock -o "$tmp/probe.data" -- true >/dev/null 2>&1; then have_perf=1; fi

# one pair, back to back in alternating order: appends "side1 side2" results to FILE
pair() { # ROUND FILE CMD1 CMD2
  local a b
  if [ $(($1 % 2)) -eq 1 ]; then a=$($3); b=$($4); else b=$($4); a=$($3); fi
  echo "$a $b" >>"$2"
  echo "$a $b" | awk '{printf "%.3f", $1 / $4}'
}

echo "profiling: $ROUNDS rounds of ${DUR}s runs, wrk -t1 -c32, POST /orders, one worker with free stages (the HTTP path), cpu_engine ${BENCH_CPU_ENGINE:-auto}${pin_server:+, server on CPU 0, wrk on CPU 1}"
: >"$tmp/cpu"; : >"$tmp/lock"; : >"$tmp/trace"; : >"$tmp/armed"; : >"$tmp/perf"
for i in $(seq "$ROUNDS"); do
  c=$(pair "$i" "$tmp/cpu" with_cpu base_on)
  l=$(pair "$i" "$tmp/lock" base_on base_off)
  t=$(pair "$i" "$tmp/trace" with_trace base_on)
  ar=$(pair "$i" "$tmp/armed" base_on base_noev)
  pf=-
  [ "$have_perf" = 1 ] && pf=$(pair "$i" "$tmp/perf" with_perf base_ref)
  echo "  round $i: throughput ratios  cpu $c  lockprof $l  trace $t  armed $ar  perf-record $pf"
done

# FILE LABEL GOAL: lines "rps1 n1 ticks1 rps2 n2 ticks2"
report() {
  perl -e '
    my ($label, $goal, $rounds) = @ARGV;
    my (@r, $n1, $t1, $n2, $t2);
    while (<STDIN>) {
      my @f = split;
      push @r, $f[0] / $f[3];
      $n1 += $f[1]; $t1 += $f[2]; $n2 += $f[4]; $t2 += $f[5];
    }
    @r = sort { $a <=> $b } @r;
    my $m = @r % 2 ? $r[$#r / 2] : ($r[@r / 2 - 1] + $r[@r / 2]) / 2;
    my $eff = ($t1 && $t2 && $n2) ? ($n1 / $t1) / ($n2 / $t2) : 0;
    my $verdict = $goal eq "-" ? "(no goal)" : sprintf("(goal >= %s) %s", $goal, $m >= $goal ? "ok" : "MISSED");
    printf "profiling: %s = %.3f %s   [median of %d pairs, range %.3f..%.3f; efficiency %.3f]\n",
      $label, $m, $verdict, scalar @r, $r[0], $r[-1], $eff;
  ' "$2" "$3" "$ROUNDS" <"$1"
}
report "$tmp/cpu" "throughput with a CPU profile running ÷ without             " 0.97
report "$tmp/lock" "throughput with block+mutex profiling (defaults) ÷ both off" 0.95
report "$tmp/trace" "throughput with a trace running ÷ without                   " 0.90
armed_engine=$(curl -s "http://127.0.0.1:$port_on/profile" | sed -n 's/.*"cpu_engine":"\([a-z_]*\)".*/\1/p')
if [ "$armed_engine" = perf_event ]; then
  report "$tmp/armed" "idle: perf_event engine armed ÷ itimer (no perf event)    " 0.97
else
  echo "profiling: idle cost of the armed event not measured: the engine here is ${armed_engine:-unknown}"
fi
if [ "$have_perf" = 1 ]; then
  report "$tmp/perf" "reference: with perf record -p at cpu_hz running ÷ without" "-"
else
  echo "profiling: reference perf record -p skipped (perf missing or perf_event_open refused)"
fi
