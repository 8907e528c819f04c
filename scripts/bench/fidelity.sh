#!/usr/bin/env bash
# Profile fidelity: every figure of SPEC's Fidelity table as measured / truth, one table.
# The planted work, the truths and the tolerances are those of the fidelity tests
# (t/80..83-fidelity-*.t); both run the scenarios of t/lib/Fidelity.pm:
#
#   block    delay and count under od_stage_pay vs the planted waits              3 %
#   trace    spans per stage vs the orders; spans and flows vs processing_ms and
#            queue_ms of GET /orders/{id}                                           1 %, 95 % within 0.25 ms
#   mutex    delay and count under inventory_take vs the trace's lock waits,
#            at mutex_fraction 1 and 2                                              3 %, 10 %
#   memory   inuse/alloc space/objects under od_stage_record vs bytes planted,
#            at heap_sample_bytes 64 KiB and 512 KiB                                10 %
#   cpu      od_stage_price seconds vs perf's (schedstat's without perf), the total vs
#            the process's CPU (/proc), each function's self share vs perf record
#            (points), at cpu_hz 100, 250, 1000 with 2 and 4 busy workers, and    5 %, 5 %, 3 points
#            4 workers in 1 ms bursts at 100 Hz
#
# "TODO" marks a figure the tests expect to miss today (the itimer CPU engine is tick-bound).
#
#   scripts/bench/fidelity.sh [BUILD_DIR] [KIND...]     KIND: block mutex memory cpu (default all)
set -euo pipefail
B=${1:-build}
shift || true
. "$(dirname "$0")/lib.sh"
root=$(cd "$here/../.." && pwd)

for tool in go perl; do
  command -v "$tool" >/dev/null || { echo "fidelity bench: $tool is missing (scripts/install-deps.sh)" >&2; exit 1; }
done

cd "$root"
TMPDIR="$tmp" ORDERD_BUILD="$B" perl -I"$root/t/lib" -MFidelity -e 'exit Fidelity::bench(@ARGV)' "$tmp" "$@"
