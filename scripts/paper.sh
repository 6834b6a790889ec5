#!/usr/bin/env bash
# Reproduces results/paper/: the banking77_llm and banking77_gold sweeps (4 targets × 10 seeds ×
# the global / l2d / rsb families × TRACER's full zoo), their tables and plots.
#
#   scripts/paper.sh [EXTRA OVERRIDES...]      # e.g. jobs=1, data_dir=/path/to/data
#
# The committed results/paper/ was made with the exact test, before the randomized one became
# the default: `scripts/paper.sh calibration.test=exact` reproduces it.
#
# The sweep itself goes to results/paper_sweep/<stamp>/ (git-ignored: every run's folder); the
# tables, plots, summary, the sweep's config and the command line are copied to results/paper/.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${DEFERBENCH:-./build/release/deferbench}
[[ -x "$BIN" ]] || { echo "paper.sh: $BIN not found: run 'make build' (or set DEFERBENCH=...)" >&2; exit 2; }

ARGS=(run -m name=paper_sweep experiment=banking77_llm,banking77_gold pipeline=zoo
      'calibration.target=[0.8,0.85,0.9,0.95]' 'seed=range(0,10)' "$@")
start=$(date +%s)
status=0
OMP_WAIT_POLICY=passive "$BIN" "${ARGS[@]}" || status=$?
seconds=$(( $(date +%s) - start ))
sweep=results/paper_sweep/$(readlink results/paper_sweep/latest)

out=results/paper
rm -rf "$out.tmp" && mkdir -p "$out.tmp"
cp -r "$sweep/tables" "$sweep/plots" "$sweep/summary.csv" "$sweep/sweep.yaml" "$sweep/config.yaml" "$out.tmp/"
{
  echo "# results/paper"
  echo
  echo "Made by \`scripts/paper.sh\` on $(date -u +%Y-%m-%d) at commit $(git rev-parse --short HEAD 2>/dev/null || echo '?') ($(nproc) cores, $(uname -m)): the command"
  echo
  echo '```sh'
  printf '%q ' "$BIN" "${ARGS[@]}"; echo
  echo '```'
  echo
  echo "Wall time: $((seconds / 60)) min $((seconds % 60)) s; exit status $status (the number of failed runs)."
  echo "Tables: \`tables/\` (Markdown, LaTeX, CSV); plots: \`plots/\` (PNG, SVG, with their data and"
  echo "gnuplot scripts); one row per run and target: \`summary.csv\`."
  echo
  echo "## Table 1"
  echo
  cat "$out.tmp/tables/table1_selection.md"
} > "$out.tmp/README.md"
rm -rf "$out" && mv "$out.tmp" "$out"
echo "paper.sh: $out written ($((seconds / 60)) min $((seconds % 60)) s)"
exit "$status"
