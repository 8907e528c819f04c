#!/bin/bash
# orderload benchmark: ratios measured in one run against build/hello_h2o (bare libh2o).
#
#   scripts/bench/orderload.sh [BUILD_DIR]        (default build; BENCH_SECONDS=5, BENCH_CONNECTIONS=32,
#                                                  BENCH_THREADS=1, BENCH_ROUNDS=3)
#
#  1. closed-model throughput of orderload ÷ wrk's, same server, same connections, same
#     client threads (goal >= 0.90); BENCH_ROUNDS alternating rounds (default 3), medians
#  2. CPU time per request of each (orderload's from getrusage, wrk's from bash's `time`)
#  3. rate accuracy at 100, 1000 and 10000 requests/s: requests sent ÷ scheduled over the
#     window (goal within 1 %), with the p99 send delay and the late count
#
# Only 127.0.0.1; every run is bounded in time.  It starts one hello_h2o and stops only that.
set -euo pipefail

B=${1:-build}
SECS=${BENCH_SECONDS:-5}
CONNS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-1}
for bin in "$B/orderload" "$B/hello_h2o"; do
    [ -x "$bin" ] || { echo "orderload.sh: $bin is not built (make all)" >&2; exit 2; }
done
command -v wrk >/dev/null || { echo "orderload.sh: wrk is not installed (apt-get install wrk)" >&2; exit 2; }

tmp=$(mktemp -d)
server=
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

port=$(perl -MIO::Socket::INET -e 'my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1", LocalPort => 0) or die; print $s->sockport')
"$B/hello_h2o" -p "$port" -t 1 >/dev/null &
server=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
done
url="http://127.0.0.1:$port/"

# a JSON field by path, e.g. json FILE scenarios.max.rate.achieved
json() {
    perl -MJSON::PP -e 'local $/; open my $f, "<", $ARGV[0] or die; my $j = decode_json(<$f>);
        for my $k (split /\./, $ARGV[1]) { $j = $j->{$k} } print defined $j ? $j : "null"' "$1" "$2"
}

cat >"$tmp/closed.lua" <<EOF
return { scenarios = { max = { executor = "constant-concurrency", connections = $CONNS, duration = "${SECS}s" } } }
EOF

# warm the server up
wrk -t "$THREADS" -c "$CONNS" -d 1s "$url" >/dev/null

# 1 + 2: closed-model throughput and CPU per request.  The machine may be shared: wrk and
# orderload alternate for ROUNDS rounds and each one's median round counts.
ROUNDS=${BENCH_ROUNDS:-3}
TIMEFORMAT='%U %S'
: >"$tmp/wrk.rounds"
: >"$tmp/ol.rounds"
for round in $(seq "$ROUNDS"); do
    { time wrk -t "$THREADS" -c "$CONNS" -d "${SECS}s" "$url" >"$tmp/wrk.txt"; } 2>"$tmp/wrk.time"
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$tmp/wrk.txt")
    n=$(awk '/requests in/ { print $1 }' "$tmp/wrk.txt")
    awk -v r="$rps" -v n="$n" '{ printf "%s %.3f\n", r, ($1 + $2) * 1e6 / n }' "$tmp/wrk.time" >>"$tmp/wrk.rounds"

    "$B/orderload" -t "$THREADS" -u "$url" --no-announce --progress 0 --json "$tmp/closed.json" "$tmp/closed.lua" >"$tmp/closed.txt"
    rps=$(json "$tmp/closed.json" scenarios.max.rate.achieved)
    us=$(awk '/us per request/ { print $(NF-3) }' "$tmp/closed.txt")
    echo "$rps $us" >>"$tmp/ol.rounds"
done
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
wrk_rps=$(cut -d' ' -f1 "$tmp/wrk.rounds" | median)
wrk_us=$(cut -d' ' -f2 "$tmp/wrk.rounds" | median)
ol_rps=$(cut -d' ' -f1 "$tmp/ol.rounds" | median)
ol_us=$(cut -d' ' -f2 "$tmp/ol.rounds" | median)

echo "orderload benchmark against bare h2o (hello_h2o, 1 server thread), $THREADS client thread(s), $CONNS connections, ${SECS}s runs"
awk -v w="$wrk_rps" -v o="$ol_rps" -v r="$ROUNDS" 'BEGIN { printf "  closed-model throughput  orderload/wrk = %.3f   (medians of %d alternating rounds: orderload %.0f req/s, wrk %.0f req/s; goal >= 0.90)\n", o / w, r, o, w }'
echo "    rounds (req/s): wrk $(cut -d' ' -f1 "$tmp/wrk.rounds" | tr '\n' ' ')| orderload $(cut -d' ' -f1 "$tmp/ol.rounds" | tr '\n' ' ')"
awk -v wu="$wrk_us" -v ou="$ol_us" 'BEGIN { printf "  CPU per request          orderload %.2f us, wrk %.2f us   (orderload/wrk = %.2f)\n", ou, wu, ou / wu }'

# 3: rate accuracy
for rate in 100 1000 10000; do
    cat >"$tmp/rate.lua" <<EOF
return { scenarios = { r = { executor = "constant-arrival-rate", rate = $rate, duration = "${SECS}s" } } }
EOF
    "$B/orderload" -t "$THREADS" -u "$url" --no-announce --progress 0 --json "$tmp/rate.json" "$tmp/rate.lua" >"$tmp/rate.txt" 2>"$tmp/rate.err" || true
    sent=$(json "$tmp/rate.json" scenarios.r.counts.sent)
    completed=$(json "$tmp/rate.json" scenarios.r.counts.completed)
    late=$(json "$tmp/rate.json" scenarios.r.counts.late)
    dropped=$(json "$tmp/rate.json" scenarios.r.counts.dropped)
    sd99=$(json "$tmp/rate.json" scenarios.r.send_delay_us.p99)
    lat99=$(json "$tmp/rate.json" scenarios.r.latency_us.p99)
    us=$(awk '/us per request/ { print $(NF-3) }' "$tmp/rate.txt")
    awk -v r="$rate" -v s="$SECS" -v sent="$sent" -v c="$completed" -v late="$late" -v d="$dropped" \
        -v sd="$sd99" -v l="$lat99" -v us="$us" 'BEGIN {
        printf "  rate %5d/s  achieved/target = %.4f  completed/target = %.4f  late %d  dropped %d  p99 send delay %dus  p99 latency %dus  CPU %.1f us/request\n",
            r, sent / (r * s), c / (r * s), late, d, sd, l, us }'
done
