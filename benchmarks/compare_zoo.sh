#!/usr/bin/env bash
# The zoo against scikit-learn (and XGBoost's Python package) on banking77 and the synthetic
# traces, in one run: installs what is missing (Debian packages), builds zoo_compare and
# deferbench if needed, featurizes both data sets once into a cache folder, runs
# benchmarks/compare_sklearn.py on each and writes the Markdown tables to stdout and to
# results/bench/zoo_compare_<date>.md.
#
#   benchmarks/compare_zoo.sh                       # everything, 2 threads
#   THREADS=4 benchmarks/compare_zoo.sh --only logreg,rf
#   GBT_ROWS=2000 benchmarks/compare_zoo.sh         # subsample scikit-learn's GBT (see README)
#
# Environment: BUILD_DIR (build/release), CACHE_DIR (${XDG_CACHE_HOME:-~/.cache}/deferbench/
# zoo_compare), THREADS (2), GBT_ROWS (0: all rows), DATASETS ("banking77 synthetic"),
# PYTHON (/usr/bin/python3: Debian's, which sees python3-sklearn). Other arguments go to
# compare_sklearn.py.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build/release}"
CACHE_DIR="${CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/deferbench/zoo_compare}"
THREADS="${THREADS:-2}"
GBT_ROWS="${GBT_ROWS:-0}"
DATASETS="${DATASETS:-banking77 synthetic}"
PYTHON="${PYTHON:-/usr/bin/python3}"
OUT="$ROOT/results/bench/zoo_compare_$(date +%Y-%m-%d).md"

say() { echo "compare_zoo: $*" >&2; }

# 1. Debian packages (sudo when not root); python3-xgboost only where the archive has it.
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
missing=()
for pkg in python3-numpy python3-sklearn python3-xgboost; do
  dpkg -s "$pkg" >/dev/null 2>&1 && continue
  if [ "$pkg" = python3-xgboost ] && ! apt-cache policy "$pkg" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    say "python3-xgboost is not available here; the XGBoost rows will say so"
    continue
  fi
  missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# 2. Build what is missing.
if [ ! -x "$BUILD_DIR/zoo_compare" ] || [ ! -x "$BUILD_DIR/deferbench" ]; then
  say "building zoo_compare and deferbench in $BUILD_DIR"
  [ -f "$BUILD_DIR/CMakeCache.txt" ] || cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD_DIR" -j"$(nproc)" --target zoo_compare deferbench
fi

# 3. Features, once per data set (a folder that exists is reused; delete it to refeaturize).
mkdir -p "$CACHE_DIR"
featurize() {  # name, overrides...
  local name="$1"; shift
  local dir="$CACHE_DIR/$name"
  if [ ! -f "$dir/features.npy" ]; then
    say "featurizing $name into $dir"
    rm -rf "$dir"
    "$BUILD_DIR/deferbench" featurize -q "$@" -o "$dir" >&2
  fi
}

for ds in $DATASETS; do
  case "$ds" in
    banking77) featurize banking77 experiment=banking77_llm dataset=banking77 ;;
    synthetic) featurize synthetic dataset.synthetic.rows=20000 ;;
    *) say "unknown data set '$ds' (banking77, synthetic)"; exit 2 ;;
  esac
done

# 4. One table per data set.
mkdir -p "$(dirname "$OUT")"
{
  echo "# Zoo vs scikit-learn, $(date '+%Y-%m-%d %H:%M')"
  echo
  echo "Command: \`THREADS=$THREADS GBT_ROWS=$GBT_ROWS benchmarks/compare_zoo.sh $*\` at $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'); $(nproc) cores."
  echo
} >>"$OUT"
gbt_args=()
[ "$GBT_ROWS" -gt 0 ] && gbt_args=(--gbt-rows "$GBT_ROWS")
for ds in $DATASETS; do
  say "comparing on $ds"
  "$PYTHON" "$ROOT/benchmarks/compare_sklearn.py" "$CACHE_DIR/$ds" \
    --zoo-compare "$BUILD_DIR/zoo_compare" --threads "$THREADS" --title "$ds" \
    --output "$OUT" "${gbt_args[@]}" "$@"
  echo
done
say "wrote $OUT"
