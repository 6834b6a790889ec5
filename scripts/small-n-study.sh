#!/usr/bin/env bash
# The small-trace-set study of issue 19: certified coverage against oracle coverage when a data
# set has 500 to 4,000 traces. Runs one sweep per data set (subsamples of 500, 1000, 2000, 4000
# rows × targets 0.85, 0.9, 0.95 × SEEDS split seeds, guaranteed calibration, the experiment's
# default pipeline plus any extra overrides), then writes the table with small_n_table.py.
#
#   scripts/small-n-study.sh OUT_DIR [SEEDS] [--external-test N] [-- EXTRA OVERRIDES...]
#
# --external-test N: the test split is up to N rows from outside each subsample
# (dataset.subsample_test; the synthetic data sets are generated with 4,000 + N rows), so the
# whole subsample is the trace set and the measurement is not limited by its 15% test share.
#
# OUT_DIR/<dataset>/ holds each sweep (results_dir), OUT_DIR/table.md and table.csv the table.
# A method is compared by running the script twice with different overrides (e.g. the split or
# the calibration options) into two folders. Needs ../shared/data beside the clone.
set -euo pipefail
cd "$(dirname "$0")/.."

usage="usage: scripts/small-n-study.sh OUT_DIR [SEEDS] [--external-test N] [-- OVERRIDES...]"
fail() { echo "small-n-study: $1; $usage" >&2; exit 2; }
[[ $# -gt 0 && $1 != -* ]] || fail "expected OUT_DIR first"
out=$1
shift
seeds=10
external=0
if [[ $# -gt 0 && $1 != -* ]]; then
  seeds=$1
  shift
fi
while [[ $# -gt 0 && $1 != "--" ]]; do
  case $1 in
    --external-test)
      [[ $# -ge 2 ]] || fail "--external-test needs a row count"
      external=$2
      shift 2
      ;;
    *) fail "unknown argument '$1'" ;;
  esac
done
[[ $# -gt 0 && $1 == "--" ]] && shift
[[ $seeds =~ ^[1-9][0-9]*$ ]] || fail "SEEDS: expected a positive integer, got '$seeds'"
[[ $external =~ ^[0-9]+$ ]] || fail "--external-test: expected a row count, got '$external'"
extra=("$@")
syn_rows=()
if [[ $external -gt 0 ]]; then
  extra=(dataset.subsample_test="$external" "${extra[@]}")
  # The synthetic data sets are generated with 4,000 + N rows (6,000 otherwise): their numbers
  # compare between studies made with the same N only.
  syn_rows=(dataset.synthetic.rows=$((4000 + external)))
fi
bin=./build/release/deferbench
[[ -x $bin ]] || { echo "small-n-study: build first (make build): $bin missing" >&2; exit 2; }
mkdir -p "$out"
out=$(cd "$out" && pwd)

run() {  # run NAME OVERRIDES...
  local name=$1
  shift
  echo "small-n-study: $name" >&2
  # Failed runs (a calibration split too small to certify) are rows of the table, not errors.
  "$bin" run -m name="$name" results_dir="$out" "$@" dataset.subsample=500,1000,2000,4000 \
    'calibration.target=[0.85,0.9,0.95]' "seed=range(0,$seeds)" -q "${extra[@]}" || true
}

run banking77_llm experiment=banking77_llm
run banking77_gold experiment=banking77_gold
run clinc150 experiment=clinc150
run synthetic_2 experiment=synthetic dataset.synthetic.classes=2 \
  dataset.synthetic.confusable_pairs=1 "${syn_rows[@]}"
run synthetic_10 experiment=synthetic "${syn_rows[@]}"

python3 scripts/small_n_table.py "$out" > "$out/table.md"
echo "small-n-study: $out/table.md" >&2
