#!/usr/bin/env bash
# The guarantee's violation rate on small trace sets (issue 19): the synthetic problem with 10 and
# with 2 classes, 700 training + 150 val + 150 calibration rows (cross-fitting: the val rows
# calibrate too) and a test split of 19,000 rows that measures each deployed policy's agreement
# almost exactly; targets 0.85, 0.9, 0.95 over SEEDS split seeds (default 200), δ = 0.1, the
# default method. A violation is a deployed policy whose test agreement is below the target; the
# guarantee bounds their share of all runs by δ (plus binomial slack over the seeds).
#
#   scripts/small-n-violations.sh OUT_DIR [SEEDS] [-- EXTRA OVERRIDES...]
# Writes OUT_DIR/violations.md. Needs only the binary (make build).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/small-n-violations.sh OUT_DIR [SEEDS] [-- OVERRIDES...]}
shift
seeds=200
if [[ $# -gt 0 && $1 != "--" ]]; then
  seeds=$1
  shift
fi
[[ $# -gt 0 && $1 == "--" ]] && shift
bin=./build/release/deferbench
[[ -x $bin ]] || { echo "small-n-violations: build first (make build): $bin missing" >&2; exit 2; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
for classes in 10 2; do
  pairs=3
  [[ $classes == 2 ]] && pairs=1
  echo "small-n-violations: synthetic_$classes" >&2
  "$bin" run -m name="synthetic_$classes" results_dir="$out" experiment=synthetic \
    dataset.synthetic.rows=20000 dataset.synthetic.classes=$classes \
    dataset.synthetic.confusable_pairs=$pairs split.train=0.035 split.val=0.0075 \
    split.cal=0.0075 split.test=0.95 'calibration.target=[0.85,0.9,0.95]' \
    "seed=range(0,$seeds)" -q "$@"
done
python3 - "$out" > "$out/violations.md" <<'PY'
import json, math, sys
from pathlib import Path
out = Path(sys.argv[1])
print("| dataset | target | runs | deployed | violations | rate | bound δ + 3σ | mean coverage | mean oracle |")
print("|---|---|---|---|---|---|---|---|---|")
for name in ("synthetic_10", "synthetic_2"):
    by_target = {}
    for f in sorted((out / name / "latest" / "runs").glob("*/metrics.json")):
        m = json.loads(f.read_text())
        for t in m["targets"]:
            by_target.setdefault(t["target"], []).append(t["test"])
    for target, runs in sorted(by_target.items()):
        n = len(runs)
        deployed = [r for r in runs if r["handled"] > 0]
        bad = [r for r in deployed if r["teacher_agreement"] < target]
        bound = 0.1 + 3 * math.sqrt(0.1 * 0.9 / n)
        cov = sum(r["coverage"] for r in runs) / n
        oracle = sum(r["oracle_coverage"] or 0 for r in runs) / n
        print(f"| {name} | {target:g} | {n} | {len(deployed)} | {len(bad)} | {len(bad)/n:.3f} | "
              f"{bound:.3f} | {cov:.3f} | {oracle:.3f} |")
PY
echo "small-n-violations: $out/violations.md" >&2
