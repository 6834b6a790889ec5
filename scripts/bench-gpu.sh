#!/usr/bin/env bash
# Issue 7's numbers in one run: gpu_bench (whole policies on the device against its copy
# bandwidth and the CPU path, bf16's effect on decisions, fit times) and the same policies
# through PyTorch's Python API (benchmarks/torch_policy_bench.py), then the Markdown table with
# the bars checked (benchmarks/gpu_summary.py), under results/bench/gpu_<YYYY-MM-DD>/.
#
#   scripts/bench-gpu.sh [BUILD_DIR] [-- GPU_BENCH_ARGS...]     (default BUILD_DIR build/gpu)
#   scripts/bench-gpu.sh build/release -- --tiny --device cpu   the dry run on a CPU machine
#
# On the GPU machine, build first with scripts/build-gpu.sh build (it writes BUILD_DIR/env.sh,
# sourced here). Environment: OUT_DIR (default results/bench/gpu_<date>), PYTHON (default
# python3: the one with PyTorch), THREADS (the CPU path's threads, default every core).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/gpu}
[[ $# -gt 0 ]] && shift
[[ ${1:-} == -- ]] && shift
args=("$@")
PYTHON=${PYTHON:-python3}
THREADS=${THREADS:-$(nproc)}
OUT_DIR=${OUT_DIR:-results/bench/gpu_$(date +%F)}
mkdir -p "$OUT_DIR"
[[ -f $build/env.sh ]] && source "$build/env.sh"
cmake --build "$build" -j"$(nproc)" --target gpu_bench >/dev/null
stamp=$(date +%H-%M-%S)
jsonl="$OUT_DIR/gpu_$stamp.jsonl"
gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1 || true)
gpu=${gpu:-"no GPU ($(uname -m), $(nproc) cores)"}

# The device and sizes gpu_bench uses, for the PyTorch side.
device=cuda tiny=0
py_args=(--out "$jsonl" --threads "$THREADS")
for ((i = 0; i < ${#args[@]}; ++i)); do
  case ${args[i]} in
    --device) device=${args[i + 1]} ;;
    --tiny) tiny=1 ;;
    --dims|--batches|--reps|--pool-rows) py_args+=("${args[i]}" "${args[i + 1]}") ;;
  esac
done
py_args+=(--device "$device")
[[ $tiny -eq 1 ]] && py_args+=(--tiny)

echo "bench-gpu: gpu_bench ${args[*]} → $jsonl ($gpu)"
"$build/gpu_bench" --threads "$THREADS" --out "$jsonl" "${args[@]}" >/dev/null
echo "bench-gpu: torch_policy_bench.py ${py_args[*]}"
"$PYTHON" benchmarks/torch_policy_bench.py "${py_args[@]}" >/dev/null
md="$OUT_DIR/gpu_$stamp.md"
"$PYTHON" benchmarks/gpu_summary.py "$jsonl" --gpu "$gpu" \
  --command "scripts/bench-gpu.sh $build -- ${args[*]}" -o "$md"
echo "bench-gpu: wrote $md"
