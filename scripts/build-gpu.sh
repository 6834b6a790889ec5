#!/usr/bin/env bash
# Builds deferbench with its CUDA paths on a machine that has PyTorch with CUDA (its LibTorch) and
# CUDA's compiler but no package registry, from our other dependencies shipped as Debian packages.
#
#   here  (a machine with apt):  scripts/build-gpu.sh fetch [DIR]
#       downloads the .deb files (../shared/tools/gpu-deps) and a copy of gpu-deps into DIR
#       (default gpu-deps/, git-ignored); send DIR along with the working tree
#   there (the GPU machine):     scripts/build-gpu.sh build [DIR] [BUILD_DIR] [-- CMAKE_ARGS...]
#       unpacks DIR, configures against torch.utils.cmake_prefix_path with DEFERBENCH_CUDA=on
#       (a LibTorch without CUDA is then an error), builds into BUILD_DIR (default build/gpu) and
#       prints the environment to run the binaries with (also written to BUILD_DIR/env.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
cmd=${1:-}
dir=${2:-gpu-deps}
case $cmd in
  fetch)
    tool=../shared/tools/gpu-deps
    [[ -x $tool ]] || { echo "build-gpu: $tool not found (it comes with ../shared)" >&2; exit 2; }
    "$tool" fetch "$dir"
    cp "$tool" "$dir/gpu-deps"
    echo "build-gpu: send $dir with the working tree, then run: scripts/build-gpu.sh build $dir" ;;
  build)
    build=${3:-build/gpu}
    shift $(($# < 3 ? $# : 3))
    [[ ${1:-} == -- ]] && shift
    [[ -x $dir/gpu-deps ]] || { echo "build-gpu: $dir/gpu-deps missing: run 'scripts/build-gpu.sh fetch $dir' on a machine with apt first" >&2; exit 2; }
    python3 -c 'import torch; assert torch.version.cuda, "PyTorch without CUDA"' ||
      { echo "build-gpu: python3 has no PyTorch with CUDA" >&2; exit 2; }
    # nvcc for the tree kernel, where it is installed but not on PATH.
    if [[ -z ${CUDACXX:-} ]] && ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then
      export CUDACXX=/usr/local/cuda/bin/nvcc
    fi
    env_lines=$("$dir/gpu-deps" unpack "$dir")
    eval "$env_lines"
    mkdir -p "$build"
    printf '%s\n' "$env_lines" >"$build/env.sh"
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DDEFERBENCH_CUDA=on "$@"
    cmake --build "$build" -j"$(nproc)"
    echo "build-gpu: built in $build; before running: source $build/env.sh" ;;
  *)
    sed -n '2,11p' "$0"; exit 2 ;;
esac
