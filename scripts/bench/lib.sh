# Shared by the benchmark scripts (sourced, after `set -euo pipefail` and B/DUR/ROUNDS):
# a check that the binaries are built, a temp dir and the servers to kill at exit, free ports, waiting for a server, CPU pinning,
# a process's CPU time, a sleep that starts no process, and the median of a column of numbers.

here=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
tmp=$(mktemp -d)
pids=()
# SIGKILL: a graceful drain of a deliberately slow backlog would take hours
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

# need_built SCRIPT BIN...: exit 2 naming the first binary that is not built
need_built() { local me=$1 bin; shift; for bin; do [ -x "$bin" ] || { echo "$me: $bin is not built (make all)" >&2; exit 2; }; done; }
free_port() { perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(Listen=>1,LocalAddr=>"127.0.0.1:0")->sockport'; }
wait_http() { for _ in $(seq 200); do curl -s -o /dev/null "$1" && return 0; sleep 0.05; done; echo "no answer from $1" >&2; return 1; }

# servers on CPU 0, the client on CPU 1 (when there are two; BENCH_PIN=0 turns it off), so the
# two never trade places mid-run
pin_server=(); pin_client=()
if [ "${BENCH_PIN:-1}" = 1 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  pin_server=(taskset -c 0); pin_client=(taskset -c 1)
fi

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime, in clock ticks
# a process's CPU time in ns: the sum of its threads' run time (schedstat), finer than ticks
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f\n", s}'; }
# nap SECONDS: sleeps without starting a process (a timed read on a pipe nobody writes to).
# What a bench does while its load runs lands on the server's or the client's CPU, and on
# this VM a fork and exec costs a millisecond or more of CPU (a 4 KiB page fault is ~12 us).
exec {nap_fd}<> <(:)
nap() { read -r -t "$1" -u "$nap_fd" _ || true; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
