#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (cmake --preset fuzz: clang, ASan + UBSan) and runs
# each for SECONDS (default 60), FUZZ_JOBS at a time (default 2) under `nice -n 10`:
#
#   scripts/fuzz.sh [SECONDS]                    every target
#   FUZZ_TARGETS="jsonl npy" scripts/fuzz.sh 600 some of them
#
# Each target starts from its seeds (tests/fuzz/corpus/<target>, only read) and grows its own
# corpus in build/fuzz/corpus/<target>; a crash, hang, leak or sanitizer report leaves the input
# in build/fuzz/artifacts/<target>/ and the log in build/fuzz/logs/<target>.log. The summary
# gives, per target, the executions and the run time from libFuzzer's final stats. Exit status:
# the number of targets that found something.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
jobs=${FUZZ_JOBS:-2}
read -ra targets <<< "${FUZZ_TARGETS:-jsonl csv npy overrides model policy}"

cmake --preset fuzz > /dev/null
cmake --build build/fuzz -j2 --target "${targets[@]/#/fuzz_}"

out=build/fuzz
mkdir -p "$out/logs"
run_target() {
  local t=$1
  mkdir -p "$out/corpus/$t" "$out/artifacts/$t"
  local rc=0
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
    nice -n 10 "$out/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$out/artifacts/$t/" \
      "$out/corpus/$t" "tests/fuzz/corpus/$t" > "$out/logs/$t.log" 2>&1 || rc=$?
  echo "$rc" > "$out/logs/$t.rc"
}

running=0
for t in "${targets[@]}"; do
  run_target "$t" &
  running=$((running + 1))
  if (( running >= jobs )); then
    wait -n || true
    running=$((running - 1))
  fi
done
wait || true

found=0
printf '%-10s %6s %14s %10s %8s\n' target status executions exec/s seconds
for t in "${targets[@]}"; do
  log="$out/logs/$t.log"
  rc=$(cat "$out/logs/$t.rc")
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
  status=ok
  if [[ $rc != 0 ]]; then
    status=FOUND
    found=$((found + 1))
  fi
  printf '%-10s %6s %14s %10s %8s\n' "$t" "$status" "${execs:-?}" "${rate:-?}" "${secs:-?}"
done
(( found == 0 )) || echo "see $out/logs/ and $out/artifacts/"
exit "$found"
