#!/usr/bin/env bash
# soak.sh — `make soak`: SOAK_SECONDS (default 600) of mixed load (lua/scenarios/soak.lua
# through build/orderload) against a fresh orderd running the shipped pool
# (lua/workers.lua), with a scheduled capture of six profile kinds every 30 s.  Reports the
# RSS after warm-up and at the end, every error (orderload's by kind and status >= 400,
# error lines in the server's log), and lost orders (the server's summary: accepted vs
# processed; and every 202 orderload saw must have been accepted).
#
# Goals (exit 0 when all hold, 1 otherwise): RSS growth < 5 % from the end of the warm-up to
# the end; zero errors; zero lost; a capture every 30 s.  The warm-up (SOAK_WARMUP seconds,
# default a fifth of the run, at most 120) covers the first burst of soak.lua (at 60 s): by
# then the results store (1000 orders here) is full and the allocator, h2o's buffers and the
# symbolizer's file mappings have reached their working set.  rss.tsv records VmRSS with
# its anonymous and file-backed parts every 5 s.
#
# Environment: SOAK_SECONDS, SOAK_WARMUP, SOAK_OUT (default build/soak-YYYYmmdd-HHMMSS),
# ORDERD_BUILD (default build).  Everything it starts it stops; it binds 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${SOAK_SECONDS:-600}
warm=${SOAK_WARMUP:-$(( secs / 5 < 120 ? secs / 5 : 120 ))}
B=${ORDERD_BUILD:-build}
out=${SOAK_OUT:-build/soak-$(date +%Y%m%d-%H%M%S)}
for bin in "$B/orderd" "$B/orderload"; do
  [ -x "$bin" ] || { echo "soak: $bin is not built (make all)" >&2; exit 2; }
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
port=$(perl -MIO::Socket::INET -e 'my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1", LocalPort => 0) or die; print $s->sockport')

cat >"$out/schedule.lua" <<'LUA'
-- soak: every 30 s, six kinds over one 5 s window
return {
  { every = "30s", capture = { "cpu", "goroutines", "mutex", "block", "memory", "gc" }, seconds = 5, label = "soak" },
}
LUA
cat >"$out/orderd.yaml" <<YAML
listen: 127.0.0.1:$port
http: { threads: 2 }
pool:
  script: lua/workers.lua
  results_kept: 1000
profiling:
  schedule: $out/schedule.lua
  output_dir: $out/profiles
  keep: { files: 400, bytes: 256MiB }
scenarios: []
YAML

opid=
lpid=
cleanup() {
  [ -n "$lpid" ] && kill "$lpid" 2>/dev/null && wait "$lpid" 2>/dev/null
  [ -n "$opid" ] && kill -KILL "$opid" 2>/dev/null && wait "$opid" 2>/dev/null
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$B/orderd" -c "$out/orderd.yaml" >"$out/orderd.log" 2>&1 &
opid=$!
health() { perl -MHTTP::Tiny -e 'exit(HTTP::Tiny->new(timeout => 2)->get($ARGV[0])->{status} == 200 ? 0 : 1)' "http://127.0.0.1:$port/health"; }
for _ in $(seq 1 100); do health && break; sleep 0.1; done
health || { echo "soak: orderd did not come up:" >&2; cat "$out/orderd.log" >&2; exit 1; }
# orderd re-executes itself once (gperftools settings): read the RSS of the process that serves
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$opid/status" 2>/dev/null || echo 0; }
# VmRSS, RssAnon, RssFile (kB), tab-separated
rss_parts() { awk '/^(VmRSS|RssAnon|RssFile):/ { v[$1] = $2 } END { printf "%d\t%d\t%d", v["VmRSS:"], v["RssAnon:"], v["RssFile:"] }' "/proc/$opid/status" 2>/dev/null; }

echo "soak: ${secs}s of lua/scenarios/soak.lua against orderd on 127.0.0.1:$port (pid $opid); output in $out"
echo "soak: RSS at launch $(rss_kb) kB; warm-up ${warm}s"
"$B/orderload" -u "http://127.0.0.1:$port" -d "${secs}s" --quiet --json "$out/load.json" \
  lua/scenarios/soak.lua >"$out/load.out" 2>"$out/load.err" &
lpid=$!

start=$(date +%s)
rss_start=
echo -e "t_s\trss_kb\tanon_kb\tfile_kb" >"$out/rss.tsv"
while kill -0 "$lpid" 2>/dev/null; do
  now=$(( $(date +%s) - start ))
  r=$(rss_kb)
  echo -e "$now\t$(rss_parts)" >>"$out/rss.tsv"
  if [ -z "$rss_start" ] && [ "$now" -ge "$warm" ]; then
    rss_start=$r
    echo "soak: RSS after warm-up (${now}s) $rss_start kB"
  fi
  sleep 5
done
set +e
wait "$lpid"
load_rc=$?
set -e
lpid=
rss_end=$(rss_kb)
elapsed=$(( $(date +%s) - start ))
: "${rss_start:=$rss_end}"
echo -e "$elapsed\t$(rss_parts)" >>"$out/rss.tsv"
captures=$(find "$out/profiles" -type f ! -name manifest.jsonl 2>/dev/null | wc -l)
firings=$(find "$out/profiles" -type f -name '*-cpu-soak.*' 2>/dev/null | wc -l)
stats=$(perl -MHTTP::Tiny -e 'print HTTP::Tiny->new(timeout => 5)->get($ARGV[0])->{content}' "http://127.0.0.1:$port/stats")

kill -TERM "$opid"
set +e
wait "$opid"
orderd_rc=$?
set -e
opid=

# the figures, from the server's summary, orderload's JSON and the logs
perl -MJSON::PP -e '
  my ($out, $secs, $elapsed, $warm, $rss0, $rss1, $load_rc, $orderd_rc, $captures, $firings, $stats) = @ARGV;
  local $/;
  open my $lf, "<", "$out/orderd.log" or die; my $log = <$lf>;
  my $j = eval { open my $f, "<", "$out/load.json" or die; decode_json(<$f>) } // {};
  my $t = $j->{total} // {};
  my ($acc, $proc, $ok, $err, $rej) = $log =~ /summary: accepted=(\d+) processed=(\d+) success=(\d+) errors=(\d+) rejected=(\d+)/;
  $acc //= -1; $proc //= -2;
  my %codes = %{ $t->{status_codes} // {} };
  my $seen202 = $codes{202} // 0;
  my $bad_status = 0; $bad_status += $codes{$_} for grep { $_ >= 400 || $_ < 100 } keys %codes;
  my %errs = %{ $t->{errors} // {} };
  my $load_errors = 0; $load_errors += $errs{$_} for keys %errs;
  my $dropped = $t->{counts}{dropped} // 0;
  my @log_errors = grep { /: error:|fatal|MISMATCH/ } split /\n/, $log;
  my $errors = $load_errors + $dropped + scalar(@log_errors) + ($load_rc ? 1 : 0) + ($orderd_rc ? 1 : 0);
  my $lost = ($acc - $proc) + ($seen202 > $acc ? $seen202 - $acc : 0);
  my $growth = $rss0 ? 100 * ($rss1 - $rss0) / $rss0 : 0;
  my $st = eval { decode_json($stats) } // {};
  # the RSS series: the sample nearest half-time, and the peak
  my ($half, $peak) = (0, 0);
  if (open my $rf, "<", "$out/rss.tsv") {
      my @rows = map { [split /\t/] } grep { /^\d/ } split /\n/, <$rf>;
      for (@rows) { $peak = $_->[1] if $_->[1] > $peak; $half = $_->[1] if !$half && $_->[0] >= $elapsed / 2 }
  }
  my @lines = (
    sprintf("duration        %d s asked, %d s run (warm-up %d s)", $secs, $elapsed, $warm),
    sprintf("requests        %d sent, %d completed, %.1f/s achieved; status %s",
            $t->{counts}{sent} // 0, $t->{counts}{completed} // 0, $t->{rate}{achieved} // 0,
            join(", ", map { "$_: $codes{$_}" } sort keys %codes)),
    sprintf("latency         p50 %.1f ms, p99 %.1f ms, max %.1f ms",
            ($t->{latency_us}{p50} // 0) / 1e3, ($t->{latency_us}{p99} // 0) / 1e3, ($t->{latency_us}{max} // 0) / 1e3),
    sprintf("orders          accepted %d, processed %d (success %d, failed by the pipeline %d), rejected %d; orderload saw %d x 202",
            $acc, $proc, $ok // 0, $err // 0, $rej // 0, $seen202),
    sprintf("captures        %d files from %d scheduled firings in %s/profiles", $captures, $firings, $out),
    sprintf("RSS             %.1f MiB after warm-up, %.1f MiB at the end: %+.2f %% (second half alone: %+.2f %%; peak %.1f MiB)",
            $rss0 / 1024, $rss1 / 1024, $growth, $half ? 100 * ($rss1 - $half) / $half : 0, $peak / 1024),
    sprintf("errors          %d (orderload: %s; dropped %d; status >= 400: %d; server log error lines: %d; exit codes orderload %d, orderd %d)",
            $errors, join(", ", map { "$_ $errs{$_}" } sort keys %errs) || "none", $dropped, $bad_status,
            scalar(@log_errors), $load_rc, $orderd_rc),
    sprintf("lost            %d", $lost),
  );
  push @lines, "  log: $_" for @log_errors[0 .. ($#log_errors < 4 ? $#log_errors : 4)];
  my @goals = ([$growth < 5, "RSS growth < 5 %"], [$errors == 0, "zero errors"], [$lost == 0, "zero lost"],
               [$firings >= int($elapsed / 30) - 1, "a capture every 30 s"]);
  push @lines, map { ($_->[0] ? "ok      " : "FAILED  ") . $_->[1] } @goals;
  my $text = join("\n", @lines) . "\n";
  print $text;
  open my $sf, ">", "$out/summary.txt" or die; print $sf $text;
  exit((grep { !$_->[0] } @goals) ? 1 : 0);
' "$out" "$secs" "$elapsed" "$warm" "$rss_start" "$rss_end" "$load_rc" "$orderd_rc" "$captures" "$firings" "$stats"
