#!/usr/bin/env bash
# Runs the Google Benchmark suite (deferbench_bench) and writes, under results/bench/<date>/,
# its JSON (bench_<time>.json) and a Markdown summary beside it (bench_<time>.md).
#
#   scripts/bench.sh                          the default suite
#   scripts/bench.sh --tiny                   tiny data, one iteration each (seconds)
#   scripts/bench.sh --scale                  also the 1M-row memory benchmarks, one process each
#   scripts/bench.sh --python                 also benchmarks/compare_python_routing.py
#   scripts/bench.sh -- --benchmark_filter='^route/cpu/logreg/' --fit-scales 1,10
#                                             anything after -- goes to deferbench_bench
#
# Environment: BUILD_DIR (default build/release; configured and built when needed), THREADS
# (default: every core), OUT_DIR (default results/bench/<YYYY-MM-DD>), PYTHON (default
# /usr/bin/python3: Debian's, which sees python3-sklearn), OMP_WAIT_POLICY (default passive:
# idle OpenMP workers sleep instead of spinning, which on a shared machine would measure the load).
set -euo pipefail
cd "$(dirname "$0")/.."

tiny=0 scale=0 python_compare=0
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --tiny) tiny=1 ;;
    --scale) scale=1 ;;
    --python) python_compare=1 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    --) shift; extra+=("$@"); break ;;
    *) extra+=("$1") ;;
  esac
  shift
done

BUILD_DIR=${BUILD_DIR:-build/release}
THREADS=${THREADS:-$(nproc)}
PYTHON=${PYTHON:-/usr/bin/python3}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
stamp=$(date +%H-%M-%S)
OUT_DIR=${OUT_DIR:-results/bench/$(date +%F)}
mkdir -p "$OUT_DIR"

if [[ ! -f "$BUILD_DIR/CMakeCache.txt" ]]; then
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "$BUILD_DIR" -j "$(nproc)" --target deferbench_bench route_bench
bench="$BUILD_DIR/deferbench_bench"

common=(--threads "$THREADS")
[[ $tiny -eq 1 ]] && common+=(--tiny)
json="$OUT_DIR/bench_$stamp.json"
jsons=("$json")
echo "bench: deferbench_bench ${common[*]} ${extra[*]} → $json"
"$bench" "${common[@]}" "${extra[@]}" --benchmark_out="$json" --benchmark_out_format=json

if [[ $scale -eq 1 ]]; then
  # One process per benchmark: a fresh process's resident memory holds nothing an earlier
  # benchmark left behind.
  own=()  # deferbench_bench's own flags among the extra arguments (not --benchmark_*)
  for a in "${extra[@]}"; do [[ $a == --benchmark_* ]] || own+=("$a"); done
  scale_dir="$OUT_DIR/scale_$stamp"
  mkdir -p "$scale_dir"
  mapfile -t names < <("$bench" "${common[@]}" "${own[@]}" --scale --benchmark_list_tests \
                         --benchmark_filter='^scale/' 2>/dev/null)
  i=0
  for name in "${names[@]}"; do
    i=$((i + 1))
    regex="^$(printf '%s' "$name" | sed 's/[][().*+?^$|\\{}]/\\&/g')\$"
    echo "bench: [$i/${#names[@]}] $name"
    "$bench" "${common[@]}" "${own[@]}" --scale --benchmark_filter="$regex" \
      --benchmark_out="$scale_dir/$i.json" --benchmark_out_format=json
    jsons+=("$scale_dir/$i.json")
  done
fi

summary_args=()
if [[ $python_compare -eq 1 ]]; then
  py_md="$OUT_DIR/python_routing_$stamp.md"
  py_args=(--route-bench "$BUILD_DIR/route_bench" --threads "$THREADS" --output "$py_md")
  [[ $tiny -eq 1 ]] && py_args+=(--tiny)
  "$PYTHON" benchmarks/compare_python_routing.py "${py_args[@]}"
  summary_args+=(--python-compare "$py_md")
fi

if [[ -x "$PYTHON" ]]; then
  md="$OUT_DIR/bench_$stamp.md"
  "$PYTHON" benchmarks/bench_summary.py "${jsons[@]}" -o "$md" "${summary_args[@]}" \
    --command "scripts/bench.sh $(printf '%q ' "${common[@]}" "${extra[@]}")$(
      [[ $scale -eq 1 ]] && echo ' --scale')$([[ $python_compare -eq 1 ]] && echo ' --python')"
  echo "bench: summary $md"
else
  echo "bench: $PYTHON not found: no Markdown summary (the JSON is $json)"
fi
