#!/usr/bin/env bash
# Smoke test of the benchmark harnesses (registered by benchmarks/CMakeLists.txt as bench_smoke):
# every deferbench_bench benchmark, the --scale ones and every fit scale included, runs for one
# iteration on tiny data; the JSON must hold every registered benchmark without an error; the
# Markdown summary must be written; route_bench must route a tiny synthetic folder, and
# compare_python_routing.py compare it with the Python policies. Numbers are never checked.
#
#   tests/benchmarks/bench_smoke.sh BUILD/deferbench_bench BUILD/route_bench [PYTHON3]
set -euo pipefail
bench=$1
route_bench=$2
python=${3:-}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
threads=${SMOKE_THREADS:-2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

args=(--tiny --threads "$threads" --scale --fit-scales 1,10,100 --scale-file "$tmp/scale.npy"
      --model 'extra=name: logreg, max_iter: 5')
"$bench" "${args[@]}" --benchmark_list_tests > "$tmp/names.txt"
registered=$(wc -l < "$tmp/names.txt")
echo "bench_smoke: $registered benchmarks registered"
[ "$registered" -gt 0 ]

"$bench" "${args[@]}" --benchmark_out="$tmp/bench.json" --benchmark_out_format=json \
  --benchmark_format=console > "$tmp/console.txt" 2>&1 || { cat "$tmp/console.txt"; exit 1; }

if [ -x "$python" ]; then
  # Every registered benchmark ran once (plus the complexity aggregates) and none reported an error.
  "$python" - "$tmp/bench.json" "$tmp/names.txt" <<'PY'
import json, sys
runs = json.load(open(sys.argv[1]))["benchmarks"]
names = [l.strip() for l in open(sys.argv[2]) if l.strip()]
ran = {r["run_name"] for r in runs if r.get("run_type") == "iteration"}
missing = [n for n in names if n not in ran]
errors = [f'{r["name"]}: {r.get("error_message")}' for r in runs if r.get("error_occurred")]
if missing or errors:
    sys.exit(f"bench_smoke: missing {missing[:5]} errors {errors[:5]}")
print(f"bench_smoke: {len(ran)} benchmarks ran, no errors")
PY
  here=$(cd "$(dirname "$0")/../.." && pwd)
  "$python" "$here/benchmarks/bench_summary.py" "$tmp/bench.json" -o "$tmp/bench.md"
  grep -q '^| ' "$tmp/bench.md"
else
  echo "bench_smoke: no python3: JSON checks and summary skipped"
  grep -q '"benchmarks"' "$tmp/bench.json"
  ! grep -q '"error_occurred": true' "$tmp/bench.json"
fi

"$route_bench" --write-synthetic "$tmp/folder" --rows 600 --dim 8 --classes 5
"$route_bench" "$tmp/folder" --model 'name: logreg, max_iter: 20' --model 'name: rf, n_trees: 4' \
  --batch 1,64 --min-seconds 0 --threads "$threads" --json > "$tmp/route.jsonl"
cat "$tmp/route.jsonl"
[ "$(grep -c rows_per_s "$tmp/route.jsonl")" -eq 4 ]

# The Python comparison on the same tiny folder, when Debian's scikit-learn is there.
if [ -x "$python" ] && "$python" -c 'import sklearn' 2>/dev/null; then
  here=$(cd "$(dirname "$0")/../.." && pwd)
  "$python" "$here/benchmarks/compare_python_routing.py" "$tmp/folder" --tiny \
    --route-bench "$route_bench" --batches 1,64 --min-seconds 0 --threads "$threads" \
    --output "$tmp/python.md" 2> "$tmp/python.log" || { cat "$tmp/python.log"; exit 1; }
  grep -q '^| logreg | sklearn | 64 |' "$tmp/python.md"
else
  echo "bench_smoke: no python3-sklearn: compare_python_routing.py skipped"
fi
echo "bench_smoke: ok"
