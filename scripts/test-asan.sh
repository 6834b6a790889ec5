#!/usr/bin/env bash
# The sanitizer run of CI: builds the asan preset (ASan + UBSan, Debug) and runs the test suites
# listed in tests/asan_suites.txt in one process per shard (a process per test would spend most
# of the time starting the instrumented binary). Any sanitizer report fails it.
#   scripts/test-asan.sh [SHARDS]     (default: the number of cores)
set -euo pipefail
cd "$(dirname "$0")/.."
shards=${1:-$(nproc 2>/dev/null || echo 2)}
cmake --preset asan > /dev/null
cmake --build --preset asan -j "$shards" --target deferbench deferbench_tests
filter=$(grep -v '^#' tests/asan_suites.txt | sed '/^$/d; s/$/.*/' | paste -sd: -)
export ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:halt_on_error=1
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export OMP_WAIT_POLICY=passive
logs=build/asan/test-logs
mkdir -p "$logs"
pids=()
for ((i = 0; i < shards; i++)); do
  GTEST_TOTAL_SHARDS=$shards GTEST_SHARD_INDEX=$i build/asan/tests/deferbench_tests \
    --gtest_filter="$filter" --gtest_brief=1 > "$logs/shard$i.log" 2>&1 &
  pids+=($!)
done
status=0
for ((i = 0; i < shards; i++)); do
  if wait "${pids[$i]}"; then
    echo "asan shard $i: $(grep -E "^\[  PASSED  \]" "$logs/shard$i.log" | tail -n 1)"
  else
    status=1
    echo "asan shard $i FAILED (its log: $logs/shard$i.log):"
    grep -E '^\[  FAILED|ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error' "$logs/shard$i.log" | head -20
    tail -n 40 "$logs/shard$i.log"
  fi
done
exit $status
