#!/usr/bin/env bash
# `make bench`: every benchmark, each printing ratios measured in one run (never bare
# absolute times: these machines are shared and noisy).
set -uo pipefail
B=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
status=0
for bench in ingest orderload profiling rules fidelity reload handover; do
  script="$here/$bench.sh"
  [ -x "$script" ] || continue
  echo "== $bench"
  "$script" "$B" || { echo "bench $bench failed" >&2; status=1; }
done
exit $status
