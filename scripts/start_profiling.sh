#!/usr/bin/env bash
# start_profiling.sh — the one-command profiling demo.
#
# Installs what is missing, builds, starts build/orderd with the default config (or the one
# --config, --workers and --set make in the run directory: no tracked file is edited), runs the
# bundled scenarios (lua/scenarios/demo.lua: all.lua's normal, high and burst, plus the
# profile captures the report needs) through build/orderload, fetches the end-of-run profiles,
# stops the server it started (by its PID: SIGTERM, then waits for its drain summary) and
# writes a report: profiles/run-<timestamp>/index.html (with --base RUN_DIR, compared with
# that earlier run: scripts/report_compare.py).  Never asks a question; never
# signals a process it did not start.  Linux only.
#
# Exit: 0 when the run and the report are complete (a failed load threshold is a finding,
# reported, not a failure), 1 when something went wrong (said on stderr), 2 on a usage error.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: scripts/start_profiling.sh [--quick | --seconds N] [--out DIR] [--keep-running]
                                  [--config FILE] [--workers FILE] [--set KEY=VALUE]...
                                  [--base RUN_DIR] [--help]

Runs the profiling demo: installs missing Debian packages, builds, starts build/orderd with
config/orderd.yaml (on 127.0.0.1:8080, or on a free port if 8080 is taken), drives it with
lua/scenarios/all.lua's three scenarios through build/orderload while every kind of profile
is captured (cpu, memory, goroutines, block, mutex, trace, gc), stops the server and writes
an HTML report with flame graphs, top tables, load charts and the commands to dig further.

  --quick           the whole story in about a minute (the scenarios scaled to 45 s)
  --seconds N       the scenarios scaled to N seconds (20..70; --quick is 45, the full run 70)
  --out DIR         write the run there (default profiles/run-YYYYmmdd-HHMMSS)
  --keep-running    leave the server up afterwards (prints its PID and how to stop it)
  -h, --help        this text

Trying other settings (no tracked file is edited: the run directory gets config.yaml, and
workers.lua when a pool knob is set, and the server runs from those copies):
  --config FILE     start from this YAML instead of config/orderd.yaml
  --workers FILE    use this workers script instead of the one the YAML names (pool.script)
  --set KEY=VALUE   repeatable; a key of the YAML (listen, http.*, pool.*, profiling.*,
                    metrics.*, scenarios: e.g. profiling.cpu_hz=250) or of the table the
                    workers script returns (e.g. reserve.stripes=1, price.work_us=0,
                    workers=8, record.leak_bytes=65536).  Checked with orderd --check before
                    the server starts: an unknown key or a wrong-typed value exits 2, naming it.
  --base RUN_DIR    compare this run with an earlier one (a directory this script wrote): the
                    report adds, per profile kind, a differential flame graph
                    (profiles/KIND-diff.svg: red grew, blue shrank), go tool pprof -diff_base
                    tables, latency overlays, the settings that differ and a verdict per
                    planted problem; the summary prints the verdicts.
Each run records its effective settings in RUN_DIR/settings.json, so any run can be a base.
Paths are taken from the directory you run the script in.

  scripts/start_profiling.sh --quick --out /tmp/one
  scripts/start_profiling.sh --quick --set reserve.stripes=16 --base /tmp/one
EOF
}

quick=0
seconds=""
out=""
keep=0
base=""
config=""
workers=""
sets=()
# an option's value (exit 2 when there is none)
need() { [ "$2" -ge 2 ] || { echo "start_profiling.sh: $1 needs a value" >&2; usage >&2; exit 2; }; }
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) quick=1 ;;
    --seconds) need "$1" $#; seconds=$2; quick=1; shift ;;
    --seconds=*) seconds=${1#--seconds=}; quick=1 ;;
    --keep-running) keep=1 ;;
    --out) need "$1" $#; out=$2; shift ;;
    --out=*) out=${1#--out=} ;;
    --base) need "$1" $#; base=$2; shift ;;
    --base=*) base=${1#--base=} ;;
    --config) need "$1" $#; config=$2; shift ;;
    --config=*) config=${1#--config=} ;;
    --workers) need "$1" $#; workers=$2; shift ;;
    --workers=*) workers=${1#--workers=} ;;
    --set) need "$1" $#; sets+=("$2"); shift ;;
    --set=*) sets+=("${1#--set=}") ;;
    -h | --help) usage; exit 0 ;;
    *) echo "start_profiling.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

# the paths as given, from the caller's directory (the script then works from the project root)
abs() { case "$1" in /*) printf '%s' "$1" ;; *) printf '%s/%s' "$PWD" "$1" ;; esac; }
usage_error() { printf 'start_profiling.sh: %s\n' "$*" >&2; exit 2; }
[ -z "$out" ] || out=$(abs "$out")
if [ -n "$seconds" ]; then
    case "$seconds" in '' | *[!0-9]*) usage_error "--seconds $seconds: a whole number of seconds (20..70)" ;; esac
    [ "$seconds" -ge 20 ] && [ "$seconds" -le 70 ] || usage_error "--seconds $seconds: out of range (20..70)"
fi
if [ -n "$config" ]; then
    [ -f "$config" ] && [ -r "$config" ] || usage_error "--config $config: no such readable file"
    config=$(abs "$config")
fi
if [ -n "$workers" ]; then
    [ -f "$workers" ] && [ -r "$workers" ] || usage_error "--workers $workers: no such readable file"
    workers=$(abs "$workers")
fi
for kv in ${sets[@]+"${sets[@]}"}; do
    case "$kv" in
    ?*=*) ;;
    *) usage_error "--set $kv: expected KEY=VALUE (e.g. reserve.stripes=1, profiling.cpu_hz=250)" ;;
    esac
done
if [ -n "$base" ]; then
    [ -d "$base" ] || usage_error "--base $base: no such directory"
    [ -f "$base/run.json" ] && [ -d "$base/profiles" ] ||
        usage_error "--base $base: not a run directory (no run.json and profiles/ in it: give a directory scripts/start_profiling.sh wrote)"
    base=$(cd "$base" && pwd)
fi

cd "$(dirname "$0")/.."
ROOT=$PWD
T0=$(date +%s)
step=0
say() { step=$((step + 1)); printf '\n[%d] %s  (%ds)\n' "$step" "$*" "$(($(date +%s) - T0))"; }
info() { printf '    %s\n' "$*"; }
die() { printf 'start_profiling.sh: %s\n' "$*" >&2; exit 1; }
# a path as a user types it: relative to the project root when under it
shown() { case "$1" in "$ROOT"/*) printf '%s' "${1#"$ROOT"/}" ;; *) printf '%s' "$1" ;; esac; }

# ---- install and build ---------------------------------------------------------------------
say "installing what is missing (scripts/install-deps.sh)"
./scripts/install-deps.sh || die "scripts/install-deps.sh failed"
say "building (make -s all)"
make -s all >/dev/null || die "the build failed (run make to see why)"

# ---- the run directory -----------------------------------------------------------------------
if [ -z "$out" ]; then
    out="profiles/run-$(date +%Y%m%d-%H%M%S)"
    n=1
    while [ -e "$out" ]; do out="profiles/run-$(date +%Y%m%d-%H%M%S)-$n"; n=$((n + 1)); done
fi
made_out=0
[ -e "$out" ] || made_out=1
mkdir -p "$out" || die "cannot create $out"
RUN=$(cd "$out" && pwd)
if [ "$RUN" = "$base" ]; then
    [ "$made_out" = 0 ] || rmdir "$RUN"
    usage_error "--base $base is this run's own directory (--out): give an earlier run"
fi
mkdir -p "$RUN/profiles" "$RUN/scheduled"
[ -w "$RUN" ] || die "$RUN is not writable"

# ---- the settings: the config this run tries, checked before anything starts -------------------
# Debian's python3 when there is one (a python3 earlier in PATH may be a slow wrapper)
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
SRC_CONFIG=${config:-$ROOT/config/orderd.yaml}
say "checking the settings: $(shown "$SRC_CONFIG")${workers:+ with $(shown "$workers")}${sets[*]:+, ${#sets[@]} --set}"
prep=(--root "$ROOT" --run "$RUN" --orderd build/orderd --config "$SRC_CONFIG")
[ -z "$workers" ] || prep+=(--workers "$workers")
for kv in ${sets[@]+"${sets[@]}"}; do prep+=(--set "$kv"); done
set +e
"$PY" scripts/report_settings.py prepare "${prep[@]}"
prep_rc=$?
set -e
if [ "$prep_rc" != 0 ]; then
    # nothing started: the run directory this script made goes again
    if [ "$made_out" = 1 ]; then rm -rf "$RUN"; else rm -rf "$RUN/config.yaml" "$RUN/workers.lua" "$RUN/settings.json"; fi
    [ "$prep_rc" = 2 ] && exit 2
    die "preparing the settings failed"
fi
info "the tried config: $RUN/config.yaml; the effective settings: $RUN/settings.json"
[ -z "$base" ] || info "the base to compare with: $base"

# ---- helpers ---------------------------------------------------------------------------------
# GET URL into FILE; exit status 0 for a 2xx answer (perl's HTTP::Tiny: curl is not among the
# dependencies, and perl starts in a tenth of the time python does)
fetch() {
    perl -MHTTP::Tiny -e '
        my $r = HTTP::Tiny->new(timeout => 120)->get($ARGV[0]);
        if (!$r->{success}) { print STDERR "    GET $ARGV[0]: $r->{status} $r->{reason}\n"; exit 1 }
        open my $f, ">", $ARGV[1] or die "$ARGV[1]: $!\n";
        binmode $f;
        print $f $r->{content};
        close $f or die "$ARGV[1]: $!\n"' "$1" "$2"
}
# a top-level number from a JSON file: json_num FILE KEY
json_num() {
    perl -MJSON::PP -e 'local $/; open my $f, "<", $ARGV[0] or die; my $j = decode_json(<$f>);
        print $j->{$ARGV[1]} // 0' "$1" "$2"
}
port_free() {
    perl -MIO::Socket::INET -e 'exit(IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1",
        LocalPort => $ARGV[0], ReuseAddr => 1) ? 0 : 1)' "$1"
}
free_port() {
    perl -MIO::Socket::INET -e 'my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1",
        LocalPort => 0) or die "no free port: $!\n"; print $s->sockport, "\n"'
}

# ---- the server ------------------------------------------------------------------------------
CONFIG=$(shown "$SRC_CONFIG") # what the run is compared with: the config it started from
want=$(sed -n 's/^listen:[[:space:]]*\([^[:space:]#]*\).*/\1/p' "$RUN/config.yaml" | head -1)
want=${want:-127.0.0.1:8080}
want_port=${want##*:}
PID=""
STOPPED=0
cleanup() {
    local rc=$?
    if [ -n "$PID" ] && [ "$STOPPED" = 0 ] && [ "$keep" = 0 ] && kill -0 "$PID" 2>/dev/null; then
        echo "start_profiling.sh: stopping the orderd it started (PID $PID)" >&2
        kill -TERM "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# writes the run config: the tried one (config.yaml) with `listen` (and profiling.output_dir, so that the
# server's own scheduled captures land in the run directory) changed; nothing else
write_config() {
    sed -e "s|^listen:[[:space:]]*[^[:space:]#]*|listen: 127.0.0.1:$1|" \
        -e "s|^\([[:space:]]*output_dir:\)[[:space:]]*[^[:space:]#]*|\1 $RUN/scheduled|" \
        "$RUN/config.yaml" >"$RUN/orderd.yaml"
    grep -q "^listen: 127.0.0.1:$1" "$RUN/orderd.yaml" || printf 'listen: 127.0.0.1:%s\n' "$1" >>"$RUN/orderd.yaml"
}

say "starting build/orderd"
# the server runs from a private copy of the binary: the legacy profiles are symbolized against
# it later (google-pprof), and the tree may be rebuilt meanwhile
cp build/orderd "$RUN/orderd"
port_note=""
for attempt in 1 2 3; do
    if [ "$attempt" = 1 ] && port_free "$want_port"; then
        PORT=$want_port
    else
        PORT=$(free_port)
        if [ "$attempt" = 1 ]; then
            port_note="port $want_port is taken (another server?): using free port $PORT instead"
        else
            port_note="$port_note; then $PORT (the previous one was taken before orderd bound it)"
        fi
    fi
    [ -z "$port_note" ] || info "$port_note"
    write_config "$PORT"
    "$RUN/orderd" -c "$RUN/orderd.yaml" --check >"$RUN/check.txt" 2>&1 ||
        die "the run config does not pass --check: $(cat "$RUN/check.txt")"
    "$RUN/orderd" -c "$RUN/orderd.yaml" >"$RUN/orderd.log" 2>&1 &
    PID=$!
    URL="http://127.0.0.1:$PORT"
    up=0
    for _ in $(seq 1 150); do
        kill -0 "$PID" 2>/dev/null || break
        if fetch "$URL/health" "$RUN/health.json" 2>/dev/null; then up=1; break; fi
        sleep 0.2
    done
    [ "$up" = 1 ] && break
    if kill -0 "$PID" 2>/dev/null; then
        kill -TERM "$PID"
        wait "$PID" 2>/dev/null || true
        die "orderd (PID $PID) did not answer $URL/health within 30 s; its log: $RUN/orderd.log"
    fi
    wait "$PID" 2>/dev/null || true
    PID=""
    grep -qi 'address already in use\|cannot listen\|bind' "$RUN/orderd.log" ||
        die "orderd exited at startup: $(tail -5 "$RUN/orderd.log")"
done
[ -n "$PID" ] || die "could not start orderd on a free port: $(tail -3 "$RUN/orderd.log")"
info "orderd (a copy of build/orderd: $RUN/orderd) PID $PID listening on $URL"
info "its log: $RUN/orderd.log"
# the profiler's status (the CPU engine and its rate, when the server reports them)
fetch "$URL/profile" "$RUN/profile.json" || true
info "run config $RUN/orderd.yaml = $CONFIG with only these lines changed:"
diff "$CONFIG" "$RUN/orderd.yaml" | sed -n 's/^> /      /p' || true

# ---- the load and the captures ---------------------------------------------------------------
if [ "$quick" = 1 ]; then span=${seconds:-45}; else span=70; fi
say "running lua/scenarios/all.lua through build/orderload (normal, high, burst: ${span} s) while profiles are captured"
info "captures (lua/scenarios/demo.lua): high: cpu x3, trace, heap base; burst: goroutines, mutex, block;"
info "the server's own schedule (lua/schedule.lua) writes to $RUN/scheduled/"
load_args=(-u "$URL" --json "$RUN/load.json" --profile-dir "$RUN/profiles" --progress 5s)
[ "$quick" = 1 ] && load_args+=(-d "${span}s")
set +e
ORDERD_DEMO_SPAN=$span build/orderload "${load_args[@]}" demo >"$RUN/load.txt" 2> >(tee "$RUN/load.stderr" | sed -u 's/^/    /' >&2)
load_rc=$?
set -e
sleep 0.2 # let tee finish
case $load_rc in
0) info "orderload: every threshold met" ;;
99) info "orderload: a threshold failed (exit 99) — a finding, see the report" ;;
*) die "orderload failed (exit $load_rc): $(tail -5 "$RUN/load.stderr")" ;;
esac

say "waiting for the queue to empty, then capturing memory, gc and /stats"
for _ in $(seq 1 150); do
    fetch "$URL/stats" "$RUN/stats.json" || break
    [ "$(json_num "$RUN/stats.json" queue_length)" = 0 ] && [ "$(json_num "$RUN/stats.json" in_flight)" = 0 ] && break
    sleep 0.2
done
P=$RUN/profiles
fetch "$URL/profile/memory" "$P/memory.pb.gz" || true
fetch "$URL/profile/memory?format=svg" "$P/memory.svg" || true
fetch "$URL/profile/memory?format=legacy" "$P/memory.prof" || true
fetch "$URL/profile/memory?format=text" "$P/memory.txt" || true
fetch "$URL/profile/gc" "$P/gc.json" || true
fetch "$URL/profile/gc?format=text" "$P/gc.txt" || true
fetch "$URL/stats" "$RUN/stats.json" || true
fetch "$URL/metrics" "$RUN/metrics.txt" || true
fetch "$URL/profiles" "$RUN/scheduled.json" || true

# what an in-run capture missed (e.g. a CPU profile answered 409 because the schedule's was
# running) is fetched now, without load, so that every kind is present; the report says so
: >"$RUN/late-captures.txt"
late() { # FILE PATH
    [ -s "$P/$1" ] && return 0
    info "in-run capture $1 missing: fetching $2 now"
    fetch "$URL$2" "$P/$1" && echo "$1 $2" >>"$RUN/late-captures.txt" || true
}
late cpu.pb.gz "/profile/cpu?seconds=2"
late cpu.svg "/profile/cpu?seconds=2&format=svg"
late cpu.prof "/profile/cpu?seconds=2&format=legacy"
late trace.json "/profile/trace?seconds=2"
for k in goroutines mutex block; do
    late "$k.pb.gz" "/profile/$k"
    late "$k.svg" "/profile/$k?format=svg"
    late "$k.prof" "/profile/$k?format=legacy"
done
late goroutines.txt "/profile/goroutines?format=text"

# ---- stop the server -------------------------------------------------------------------------
if [ "$keep" = 0 ]; then
    say "stopping orderd (PID $PID): SIGTERM, then its drain summary"
    kill -TERM "$PID"
    for _ in $(seq 1 300); do kill -0 "$PID" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$PID" 2>/dev/null; then
        info "orderd did not exit within 60 s of SIGTERM; sending SIGKILL to PID $PID"
        kill -KILL "$PID" 2>/dev/null || true
    fi
    set +e
    wait "$PID"
    orderd_rc=$?
    set -e
    STOPPED=1
    info "orderd exited with status $orderd_rc"
    grep -E 'draining|summary:' "$RUN/orderd.log" | tail -3 | sed 's/^/    | /'
    server_state="stopped (exit $orderd_rc)"
else
    server_state="running"
fi

# ---- the report ------------------------------------------------------------------------------
say "writing the report"
cat >"$RUN/run.json" <<EOF
{"started_at":"$(date -u -d @"$T0" +%Y-%m-%dT%H:%M:%SZ)","quick":$([ "$quick" = 1 ] && echo true || echo false),
 "span_s":$span,"url":"$URL","port":$PORT,"port_note":"$port_note","config":"$CONFIG",
 "pid":$PID,"server":"$server_state","orderload_rc":$load_rc,"root":"$ROOT",
 "commit":"$(git rev-parse --short HEAD 2>/dev/null || echo unknown)",
 "version":"$("$RUN/orderd" --version 2>/dev/null | head -1)","seconds":$(($(date +%s) - T0)),
 "base":"$base"}
EOF
"$PY" scripts/report.py "$RUN" || die "the report generator failed"
# profiles/latest: the newest run of the default location, so that commands need no run name
if [ "$(dirname "$RUN")" = "$ROOT/profiles" ]; then
    ln -sfn "$(basename "$RUN")" "$ROOT/profiles/latest"
fi

if [ "$keep" = 1 ]; then
    printf '\norderd is still running: PID %s on %s\n' "$PID" "$URL"
    printf 'stop it with:  kill -TERM %s   (it drains the queue, prints a summary to %s and exits)\n' \
        "$PID" "$RUN/orderd.log"
fi
printf '\ndone in %ds.  Open the report:  xdg-open %s/index.html\n' "$(($(date +%s) - T0))" "$RUN"
