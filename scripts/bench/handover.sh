#!/usr/bin/env bash
# Hand-over benchmark: p99 time-to-202 while a SIGUSR2 hand-over runs ÷ p99 of a steady run of
# the same load (orderload's open model, 200 orders/s), both measured in one run; goal <= 1.5.
#
#   scripts/bench/handover.sh [BUILD_DIR]     (default build; BENCH_SECONDS=8, BENCH_ROUNDS=3,
#                                              BENCH_RATE=200, BENCH_HANDOVER_AT=3)
#
# Each round runs the load twice against a fresh orderd (on CPU 0; orderload on CPU 1): once
# steady, once with SIGUSR2 at BENCH_HANDOVER_AT seconds.  The figure compared is, in each run,
# the highest per-second p99 (orderload's timeline) over the seconds from the signal until the
# old process exited, one second more: the same seconds of both runs.  Rounds alternate; the
# ratio printed is the median of the rounds' ratios.  Failed requests in either run fail the
# bench.  It stops only the orderd processes it started (the new one by the pid the old one logs).
set -euo pipefail

B=${1:-build}
SECS=${BENCH_SECONDS:-8}
ROUNDS=${BENCH_ROUNDS:-3}
RATE=${BENCH_RATE:-200}
AT=${BENCH_HANDOVER_AT:-3}
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_built handover.sh "$B/orderd" "$B/orderload"

cat >"$tmp/w.lua" <<'EOF'
return { workers = 2, queue = 5000, reserve = { hold_us = 0 }, price = { work_us = 0 },
         pay = { ms_per_priority = 0, fixed_ms = 1 }, record = { alloc_bytes = 256 } }
EOF
cat >"$tmp/load.lua" <<EOF
return {
  scenarios = { ho = { executor = "constant-arrival-rate", rate = $RATE, duration = "${SECS}s" } },
  request = function(ctx)
    return "POST", "/orders", { ["Content-Type"] = "application/json" },
      string.format('{"id":"b-%s-%d","customer":"Ada","items":["SKU-1"],"amount":10,"address":"x","priority":%d}',
                    ctx.run, ctx.seq, 1 + ctx.seq % 3)
  end,
}
EOF

# the highest per-second p99 (us) over timeline seconds [from, to], the run's whole p99, and
# its failures (errors + dropped + answers other than 202)
figures() {
    perl -MJSON::PP -e 'local $/; open my $f, "<", $ARGV[0] or die; my $j = decode_json(<$f>);
        my ($s) = values %{ $j->{scenarios} }; my ($from, $to) = @ARGV[1, 2]; my $max = 0;
        for my $p (@{ $s->{timeline} }) { $max = $p->{p99_us} if $p->{t_s} > $from && $p->{t_s} <= $to + 1 && $p->{p99_us} > $max }
        my $e = 0; $e += $_ for values %{ $s->{errors} }; my $c = $s->{status_codes}; my $other = 0;
        $other += $c->{$_} for grep { $_ ne "202" } keys %$c;
        printf "%d %d %d\n", $max, $s->{latency_us}{p99}, $e + $s->{counts}{dropped} + $other' "$@"
}

# one run: a fresh orderd and the load; with $1 = 1, SIGUSR2 at AT s.  Sets `took`: the seconds
# the old process took from the signal to its exit (0 for a steady run).
run() {
    local handover=$1 json=$2 port d
    port=$(free_port)
    d=$(mktemp -d "$tmp/run.XXXX")
    printf 'listen: 127.0.0.1:%s\nscenarios: []\npool:\n  script: %s/w.lua\nprofiling:\n  schedule: ""\n  output_dir: %s/profiles\n' \
        "$port" "$tmp" "$d" >"$d/orderd.yaml"
    "${pin_server[@]}" "$B/orderd" -c "$d/orderd.yaml" >"$d/log" 2>&1 &
    local opid=$!
    pids+=("$opid")
    wait_http "http://127.0.0.1:$port/health"
    "${pin_client[@]}" "$B/orderload" -u "http://127.0.0.1:$port" --json "$json" --quiet --no-announce -t 1 \
        "$tmp/load.lua" >"$d/load.out" 2>&1 &
    local lpid=$!
    sleep "$AT"
    took=0
    if [ "$handover" = 1 ]; then
        local t0 t1
        t0=$(date +%s.%N)
        kill -USR2 "$opid"
        wait "$opid" || { echo "handover.sh: the old orderd exited $?:" >&2; cat "$d/log" >&2; exit 1; }
        t1=$(date +%s.%N)
        took=$(echo "$t0 $t1" | awk '{printf "%.2f", $2 - $1}')
        local npid
        npid=$(sed -n 's/.*SIGUSR2: hand-over: pid \([0-9]*\) serves.*/\1/p' "$d/log")
        [ -n "$npid" ] || { echo "handover.sh: no new process:" >&2; cat "$d/log" >&2; exit 1; }
        pids+=("$npid")
        opid=$npid
    fi
    wait "$lpid" || { echo "handover.sh: orderload failed:" >&2; cat "$d/load.out" >&2; exit 1; }
    kill "$opid" 2>/dev/null || true # its drain is short: nothing is queued
    if [ "$handover" = 1 ]; then
        for _ in $(seq 200); do kill -0 "$opid" 2>/dev/null || break; sleep 0.05; done
    else
        wait "$opid" || true
    fi
}

: >"$tmp/ratios"
for round in $(seq "$ROUNDS"); do
    run 1 "$tmp/ho.json"
    ho_took=$took
    run 0 "$tmp/steady.json"
    took=$ho_took
    to=$(echo "$AT $took" | awk '{printf "%d", $1 + $2 + 0.999}')
    read -r ho_win ho_all ho_fail <<<"$(figures "$tmp/ho.json" "$AT" "$to")"
    read -r st_win st_all st_fail <<<"$(figures "$tmp/steady.json" "$AT" "$to")"
    [ "$ho_fail" = 0 ] && [ "$st_fail" = 0 ] || {
        echo "handover.sh: failed requests: $ho_fail during the hand-over run, $st_fail in the steady run" >&2
        exit 1
    }
    ratio=$(echo "$ho_win $st_win" | awk '{printf "%.2f", $1 / ($2 > 0 ? $2 : 1)}')
    echo "  round $round: hand-over took ${took}s; p99 over seconds $AT..$((to + 1)): hand-over ${ho_win}us," \
         "steady ${st_win}us (ratio $ratio); whole runs: ${ho_all}us vs ${st_all}us; no failed request"
    echo "$ratio" >>"$tmp/ratios"
done
ratio=$(median <"$tmp/ratios")
echo "handover: p99 time-to-202 during a hand-over / steady p99 at $RATE/s = $ratio (goal <= 1.5)"
