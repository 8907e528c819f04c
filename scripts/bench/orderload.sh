#!/bin/bash
# orderload benchmark: ratios measured in one run against build/hello_h2o (bare libh2o), with
# the server on CPU 0 and the client on CPU 1 (lib.sh).
#
#   scripts/bench/orderload.sh [BUILD_DIR]      (default build; BENCH_SECONDS=5, BENCH_CONNECTIONS=32,
#                                                BENCH_THREADS=1, BENCH_ROUNDS=3,
#                                                BENCH_PRECISION_CONNECTIONS="1 8 32 64",
#                                                BENCH_PRECISION_SECONDS=4, BENCH_SPIN=orderload's default,
#                                                BENCH_PIPELINE=8, BENCH_PIPELINE_CONNECTIONS="1")
#
#  1. closed-model throughput of orderload ÷ wrk's, same server, same connections, same
#     client threads (goal >= 1.3); BENCH_ROUNDS alternating rounds, medians
#  2. CPU time per request of each (orderload's from getrusage, wrk's from bash's `time`)
#  3. precision at 100, 1000 and 10000 requests/s, with orderload's spin window (adapted to
#     its wake-ups, at most --spin; the mean window it used is shown) and without
#     (--spin 0): send delay p50/p99 against the timer floor, how late a bare clock-reading
#     spin reaches the same instants (build/echo_rtt -t), and latency and service time against
#     the echo floor, the loopback round trip of a trivial echo (build/echo_rtt), both measured
#     in the same round at the same rate; the connection wait p99; the share (latency p50 - service p50) / latency p50 (goal <= 0.1); rate
#     accuracy, sent / scheduled over the window (goal within 1 %); CPU per request and the
#     share of it spent spinning; how many rounds the self-check passed; how long the worker
#     waited for its CPU (what else ran on it: the goals hold on a quiet machine).  Medians
#     of BENCH_ROUNDS rounds.  At BENCH_PIPELINE_CONNECTIONS a third row pipelines (the
#     scenario's pipeline = BENCH_PIPELINE, with the spin window): without it an arrival that
#     finds the connection still busy (the server slower than the gap, or stalled) waits for
#     it, and that wait is its connection wait.  A last line counts the rows that meet the
#     send-delay goal, that are at a timer floor over it, and that miss it.
#
# Only 127.0.0.1; every run is bounded in time.  It starts one hello_h2o and one echo_rtt and
# stops only those.
set -euo pipefail

B=${1:-build}
SECS=${BENCH_SECONDS:-5}
CONNS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-1}
ROUNDS=${BENCH_ROUNDS:-3}
PCONNS=${BENCH_PRECISION_CONNECTIONS:-1 8 32 64}
PSECS=${BENCH_PRECISION_SECONDS:-4}
PIPE=${BENCH_PIPELINE:-8}
PIPE_AT=" ${BENCH_PIPELINE_CONNECTIONS:-1} "
command -v wrk >/dev/null || { echo "orderload.sh: wrk is not installed (apt-get install wrk)" >&2; exit 2; }
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_built orderload.sh "$B/orderload" "$B/hello_h2o" "$B/echo_rtt"

# the spin window orderload uses by default (its --help says), unless BENCH_SPIN names one
SPIN=${BENCH_SPIN:-$("$B/orderload" --help | sed -n 's/.*default \([0-9.]*[mu]*s\).*0 = sleep.*/\1/p')}
spin_us=$(perl -e '$_ = shift; /^([\d.]+)(us|ms|s)$/ or die "orderload.sh: cannot read the spin window $_\n";
    print $1 * {us => 1, ms => 1e3, s => 1e6}->{$2}' "$SPIN")

port=$(free_port)
"${pin_server[@]}" "$B/hello_h2o" -p "$port" -t 1 >/dev/null &
pids+=($!)
eport=$(free_port)
"${pin_server[@]}" "$B/echo_rtt" -l "$eport" >/dev/null &
pids+=($!)
url="http://127.0.0.1:$port/"
wait_http "$url"

# fields of an orderload --json document, space-separated: the scenario `r`'s send delay,
# latency and service p50 and p99, sent, late, dropped, the self-check's ok (1/0),
# the CPU and spinning seconds, the seconds the workers waited for a CPU, the mean spin window (us),
# the connection wait p99 (us), the stops of a spinning thread (20 us or more)
figures() {
    perl -MJSON::PP -e 'local $/; open my $f, "<", $ARGV[0] or die; my $j = decode_json(<$f>);
        my ($s) = values %{ $j->{scenarios} }; my $v = $j->{self_check};
        print join(" ", (map { my $h = $s->{$_}; ($h->{p50}, $h->{p99}) } qw(send_delay_us latency_us service_time_us)),
            $s->{counts}{sent}, $s->{counts}{late}, $s->{counts}{dropped},
            $v->{ok} ? 1 : 0, $v->{cpu_s}, $v->{spin_s}, $v->{runq_s}, $v->{spin_window_us} // 0,
            $s->{conn_wait_us}{p99} // 0, $v->{stalls} // 0), "\n"' "$1"
}

cat >"$tmp/closed.lua" <<EOF
return { scenarios = { max = { executor = "constant-concurrency", connections = $CONNS, duration = "${SECS}s" } } }
EOF

# warm the server up
"${pin_client[@]}" wrk -t "$THREADS" -c "$CONNS" -d 1s "$url" >/dev/null

# 1 + 2: closed-model throughput and CPU per request.  The machine may be shared: wrk and
# orderload alternate for ROUNDS rounds and each one's median round counts.
TIMEFORMAT='%U %S'
: >"$tmp/wrk.rounds"
: >"$tmp/ol.rounds"
for round in $(seq "$ROUNDS"); do
    { time "${pin_client[@]}" wrk -t "$THREADS" -c "$CONNS" -d "${SECS}s" "$url" >"$tmp/wrk.txt"; } 2>"$tmp/wrk.time"
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$tmp/wrk.txt")
    n=$(awk '/requests in/ { print $1 }' "$tmp/wrk.txt")
    awk -v r="$rps" -v n="$n" '{ printf "%s %.3f\n", r, ($1 + $2) * 1e6 / n }' "$tmp/wrk.time" >>"$tmp/wrk.rounds"

    "${pin_client[@]}" "$B/orderload" -t "$THREADS" -u "$url" --no-announce --progress 0 --json "$tmp/closed.json" \
        "$tmp/closed.lua" >"$tmp/closed.txt"
    rps=$(perl -MJSON::PP -e 'local $/; open my $f, "<", $ARGV[0] or die; print decode_json(<$f>)->{scenarios}{max}{rate}{achieved}' "$tmp/closed.json")
    us=$(sed -n 's/.* \([0-9.]*\) us per request.*/\1/p' "$tmp/closed.txt")
    echo "$rps $us" >>"$tmp/ol.rounds"
done
wrk_rps=$(cut -d' ' -f1 "$tmp/wrk.rounds" | median)
wrk_us=$(cut -d' ' -f2 "$tmp/wrk.rounds" | median)
ol_rps=$(cut -d' ' -f1 "$tmp/ol.rounds" | median)
ol_us=$(cut -d' ' -f2 "$tmp/ol.rounds" | median)

echo "orderload benchmark against bare h2o (hello_h2o, 1 server thread${pin_server:+ on CPU 0}), $THREADS client thread(s)${pin_client:+ on CPU 1}"
awk -v w="$wrk_rps" -v o="$ol_rps" -v r="$ROUNDS" -v c="$CONNS" -v s="$SECS" 'BEGIN { printf "  closed-model throughput  orderload/wrk = %.3f   (medians of %d alternating %ss rounds, %d connections: orderload %.0f req/s, wrk %.0f req/s; goal >= 1.3)\n", o / w, r, s, c, o, w }'
echo "    rounds (req/s): wrk $(cut -d' ' -f1 "$tmp/wrk.rounds" | tr '\n' ' ')| orderload $(cut -d' ' -f1 "$tmp/ol.rounds" | tr '\n' ' ')"
awk -v wu="$wrk_us" -v ou="$ol_us" 'BEGIN { printf "  CPU per request          orderload %.2f us, wrk %.2f us   (orderload/wrk = %.2f)\n", ou, wu, ou / wu }'

# 3: precision against the echo floor, with the spin window and without
echo "  precision: send delay p50/p99 (us) against the timer floor, latency and service time against the echo floor, both measured in the same round"
echo "  (medians of $ROUNDS rounds of ${PSECS}s; goals: send delay <= 10/30 us, (lat-svc)/lat p50 <= 0.1, achieved/target within 1 %)"
printf '  %5s %5s %4s %6s %7s %13s %13s %6s %15s %15s %15s %9s %10s %8s %10s %6s %5s %6s %8s\n' rate conns pipe spin window "send delay" "timer floor" \
    "wait" latency service "floor (echo)" "lat/floor" "(lat-svc)" "ach/tgt" "CPU/req" "spin" check "waited" "stops/s"
: >"$tmp/goals"
half=$(awk -v s="$PSECS" 'BEGIN { print s / 2 }') # each floor's measurement, seconds
for conns in $PCONNS; do
    modes="on off"
    case "$PIPE_AT" in *" $conns "*) modes="on off pipe" ;; esac
    for rate in 100 1000 10000; do
        for p in 1 "$PIPE"; do
            cat >"$tmp/rate$p.lua" <<EOF
return { scenarios = { r = { executor = "constant-arrival-rate", rate = $rate, duration = "${PSECS}s", connections = $conns, pipeline = $p } } }
EOF
        done
        : >"$tmp/floor.rounds"
        : >"$tmp/timer.rounds"
        for mode in $modes; do : >"$tmp/$mode.rounds"; done
        for round in $(seq "$ROUNDS"); do
            # the floor at this rate, then orderload with its spin window and without
            "${pin_client[@]}" "$B/echo_rtt" -c "$eport" -r "$rate" -d "$half" \
                -s "$spin_us" | awk '{ print $3, $5 }' >>"$tmp/floor.rounds"
            # the timer floor: how late a bare clock-reading spin reaches the same instants
            "${pin_client[@]}" "$B/echo_rtt" -t -r "$rate" -d "$half" \
                -s "$spin_us" | awk '{ print $3, $5, $9 }' >>"$tmp/timer.rounds"
            for mode in $modes; do
                spin=$SPIN
                [ "$mode" = off ] && spin=0
                p=1
                [ "$mode" = pipe ] && p=$PIPE
                "${pin_client[@]}" "$B/orderload" -t "$THREADS" -u "$url" --no-announce --progress 0 --spin "$spin" \
                    --json "$tmp/rate.json" "$tmp/rate$p.lua" >/dev/null 2>"$tmp/rate.err" || true
                echo "$(figures "$tmp/rate.json") $(tail -1 "$tmp/floor.rounds")" >>"$tmp/$mode.rounds"
            done
        done
        f50=$(cut -d' ' -f1 "$tmp/floor.rounds" | median)
        f99=$(cut -d' ' -f2 "$tmp/floor.rounds" | median)
        t50=$(cut -d' ' -f1 "$tmp/timer.rounds" | median)
        t99=$(cut -d' ' -f2 "$tmp/timer.rounds" | median)
        tstalls=$(cut -d' ' -f3 "$tmp/timer.rounds" | median)
        for mode in $modes; do
            spin=$SPIN
            [ "$mode" = off ] && spin=0
            p=1
            [ "$mode" = pipe ] && p=$PIPE
            # per round: the shares and rates, then the median of each column
            awk -v rate="$rate" -v s="$PSECS" '{ # sd50 sd99 l50 l99 s50 s99 sent late dropped ok cpu spin runq window cw99 stalls f50 f99
                printf "%s %s %s %s %s %s %.6f %.6f %.6f %.2f %.4f %d %s %.4f %.0f %s %.0f\n", $1, $2, $3, $4, $5, $6,
                    ($3 > 0 ? ($3 - $5) / $3 : 0), ($17 > 0 ? $3 / $17 : 0), $7 / (rate * s),
                    ($7 > 0 ? $11 * 1e6 / $7 : 0), ($11 > 0 ? ($12 < $11 ? $12 / $11 : 1) : 0), $10, $9, $13 / s, $14,
                    $15, ($12 > 0 ? $16 / $12 : 0) }' "$tmp/$mode.rounds" >"$tmp/$mode.cols"
            col() { cut -d' ' -f"$1" "$tmp/$mode.cols" | median; }
            passed=$(awk '{ n += $12 } END { print n + 0 }' "$tmp/$mode.cols")
            printf '  %5d %5d %4d %6s %5sus %5s / %-5s %5s / %-5s %6s %7s / %-5s %7s / %-5s %7s / %-5s %9.2f %10.3f %8.4f %8.1fus %5.0f%% %d/%d %5.1f%% %8s\n' \
                "$rate" "$conns" "$p" "$spin" "$(col 15)" "$(col 1)" "$(col 2)" "$t50" "$t99" "$(col 16)" "$(col 3)" "$(col 4)" "$(col 5)" "$(col 6)" "$f50" "$f99" \
                "$(col 8)" "$(col 7)" "$(col 9)" "$(col 10)" "$(awk -v v="$(col 11)" 'BEGIN { print v * 100 }')" "$passed" "$ROUNDS" \
                "$(awk -v v="$(col 14)" 'BEGIN { print v * 100 }')" "$([ "$spin" = 0 ] && echo - || col 17)"
            [ "$spin" = 0 ] || echo "$(col 1) $(col 2) $t99" >>"$tmp/goals"
        done
    done
done
awk '{ n++; if ($1 <= 10 && $2 <= 30) ok++; else if ($1 <= 10 && $2 <= $3 + 5) floor++; else miss++ }
    END { printf "  send delay goal (p50 <= 10 us, p99 <= 30 us): met in %d of %d rows with the spin window; of the rest, %d within 5 us of the timer floor p99 (the machine), %d missed\n", ok, n, floor, miss }' "$tmp/goals"
echo "  (pipe: the scenario's pipeline, requests one connection may have in flight (1: an arrival waits for a busy connection);"
echo "   send delay: from when a connection could take the request to its send, orderload's own lateness; wait: the conn wait p99, intended"
echo "   start -> a connection free (latency = wait + send delay + service); timer floor: how late a bare clock-reading spin reached the"
echo "   same instants (echo_rtt -t), the best any sender can do on this CPU in that round; stops/s: how often, per second of spinning,"
echo "   orderload's thread was stopped 20 us or more (the machine: interrupts, other tasks, a VM's host);"
echo "   spin: --spin, the widest window; window: the mean window the worker adapted to its wake-ups;"
echo "   lat/floor: latency p50 / echo p50; (lat-svc): (latency p50 - service p50) / latency p50; spin: the share of orderload's CPU spent spinning;"
echo "   check: rounds the self-check passed; waited: the share of the run orderload's worker waited for its CPU, other work on it)"
