#!/usr/bin/env bash
# Smoke test of scripts/bench-gpu.sh's parts on a CPU (registered as gpu_bench_smoke): gpu_bench
# routes every zoo policy whole through LibTorch's CPU on tiny data, torch_policy_bench.py runs
# the PyTorch side (when this python3 has torch), and gpu_summary.py writes the table. Every
# model must report its fit, decisions and a route line per batch; numbers are never checked.
#
#   tests/benchmarks/gpu_bench_smoke.sh BUILD/gpu_bench PYTHON3
set -euo pipefail
gpu_bench=$1
python=$2
here=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
"$gpu_bench" --tiny --device cpu --threads 2 --out "$tmp/run.jsonl" > /dev/null
grep -q '"kind":"bandwidth"' "$tmp/run.jsonl"
for model in logreg mlp_1h mlp_2h dt rf et gbt; do
  n=$(grep '"kind":"route"' "$tmp/run.jsonl" | grep -c "\"model\":\"$model\"" || true)
  [ "$n" -ge 2 ] || { echo "gpu_bench_smoke: $model has $n route lines"; exit 1; }
done
grep '"kind":"decisions"' "$tmp/run.jsonl" | grep -q '"precision":"bf16"'
[ -x "$python" ] || { echo "gpu_bench_smoke: no python3: the PyTorch side and summary skipped"; exit 0; }
if "$python" -c 'import torch' 2>/dev/null; then
  "$python" "$here/benchmarks/torch_policy_bench.py" --tiny --device cpu --threads 2 \
    --out "$tmp/run.jsonl" > /dev/null
  grep -q '"kind": "torch_route"' "$tmp/run.jsonl"
else
  echo "gpu_bench_smoke: $python has no torch: the PyTorch side skipped"
fi
"$python" "$here/benchmarks/gpu_summary.py" "$tmp/run.jsonl" --gpu none -o "$tmp/run.md" > /dev/null
grep -q '^| rf | 16 | fp32 | 512 |' "$tmp/run.md"
echo "gpu_bench_smoke: ok"
