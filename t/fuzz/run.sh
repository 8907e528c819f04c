#!/usr/bin/env bash
# run.sh BUILD_DIR [TARGET...] — runs each libFuzzer target (default: every BUILD_DIR/<t>
# for t/fuzz/fuzz_<t>.c) for FUZZ_SECONDS (default 60) at nice FUZZ_NICE (default 19).
#
# Each target starts from its committed seeds (t/fuzz/corpus/TARGET/, read-only) and keeps
# what it finds in BUILD_DIR/corpus/TARGET/ (not committed), so runs add up.  A crash,
# leak or timeout is written to BUILD_DIR/artifacts/TARGET/ and makes the script exit 1
# after the other targets ran.  The seconds fuzzed per target are added up in
# BUILD_DIR/fuzzed-seconds (one "TARGET SECONDS" line each) for the record.
#
# A finding becomes a regression test: fix the bug, then copy the artifact into
# t/fuzz/corpus/TARGET/ (t/unit/fuzz_regress.c replays every corpus file in `make test`).
set -uo pipefail
cd "$(dirname "$0")/../.."
build=${1:?usage: t/fuzz/run.sh BUILD_DIR [TARGET...]}
shift
secs=${FUZZ_SECONDS:-60}
nice=${FUZZ_NICE:-19}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in t/fuzz/fuzz_*.c; do t=${f#t/fuzz/fuzz_}; targets+=("${t%.c}"); done
fi

declare -A max_len=([order]=8192 [config]=4096 [scenario]=4096 [route]=1024)
ledger="$build/fuzzed-seconds"
touch "$ledger"
failed=()
for t in "${targets[@]}"; do
  bin="$build/$t"
  if [ ! -x "$bin" ]; then echo "fuzz: $bin is not built (make SAN=fuzz fuzz-bin)" >&2; failed+=("$t"); continue; fi
  work="$build/corpus/$t" art="$build/artifacts/$t"
  mkdir -p "$work" "$art"
  dict=()
  [ -f "t/fuzz/$t.dict" ] && dict=("-dict=t/fuzz/$t.dict")
  echo "fuzz: $t for ${secs}s (corpus $work, seeds t/fuzz/corpus/$t)"
  start=$(date +%s)
  nice -n "$nice" "$bin" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 \
    -max_len="${max_len[$t]:-4096}" -artifact_prefix="$art/" -print_final_stats=1 \
    "${dict[@]}" "$work" "t/fuzz/corpus/$t" >"$build/$t.log" 2>&1
  rc=$?
  took=$(( $(date +%s) - start ))
  prev=$(awk -v t="$t" '$1 == t { s += $2 } END { print s + 0 }' "$ledger")
  echo "$t $took" >>"$ledger"
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$build/$t.log" | grep -o '[0-9]*$')
  cov=$(grep -o 'cov: [0-9]*' "$build/$t.log" | tail -1)
  echo "fuzz: $t: ${took}s, ${runs:-?} runs, ${cov:-cov: ?}, $(ls "$work" | wc -l) corpus files; $((prev + took))s fuzzed in total"
  if [ $rc -ne 0 ]; then
    echo "fuzz: $t FOUND A PROBLEM (exit $rc); see $build/$t.log and $art/:" >&2
    grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$build/$t.log" | head -n 10 >&2
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz: problems in: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: every target ran ${secs}s without a finding"
