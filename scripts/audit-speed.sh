#!/usr/bin/env bash
# The audit's speed target (issue 15): `deferbench audit` of a 100,000-row input, nearest-neighbour
# boundary pairs included, in under 30 s on 2 cores.
#
#   scripts/audit-speed.sh [ROWS] [DIM] [CLASSES]      (defaults: 100000 256 10)
#
# The synthetic problem with ROWS rows, DIM features and CLASSES classes is the traffic, written
# as JSONL traces with their features in a .npy beside them; the policy is trained on a
# stratified subsample of 6,000 of those rows (the generator's classes depend on its seed, so the
# policy must come from the same draw; 6% of the traffic was seen in training, which changes
# nothing about the audit's cost). Few classes and wide features are the boundary pairs'
# worst case (each class's deferred rows search all its answered rows). TARGET (default 0.9)
# sets the policy's target: 0.75 answers about half the traffic, the pairs' largest search.
#
# With ../shared/data beside the clone, a text case follows: the banking77_llm policy audits
# 100,000 rows of its traces (the 4,081 texts repeated with a counter appended, so every row is
# featurized by the TF-IDF + LSA featurizer). Prints each audit's wall time.
set -euo pipefail
rows=${1:-100000}
dim=${2:-256}
classes=${3:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${DEFERBENCH:-$root/build/release/deferbench}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
synthetic="dataset.synthetic.dim=$dim dataset.synthetic.classes=$classes dataset.synthetic.rows=$rows"
# shellcheck disable=SC2086
"$bin" run -q $synthetic dataset.subsample=6000 results_dir=results save_policy=policy \
  calibration.mode=empirical "calibration.target=${TARGET:-0.9}"
# shellcheck disable=SC2086
"$bin" featurize -q $synthetic -o traffic > /dev/null
python3 - traffic/labels.csv > traffic.jsonl <<'PY'
import csv, json, sys
with open(sys.argv[1], newline="") as f:
    for r in csv.DictReader(f):
        line = {"id": r["id"], "input": "", "teacher": r["teacher"]}
        if r["gold"]:
            line["ground_truth"] = r["gold"]
        print(json.dumps(line))
PY
mv traffic/features.npy traffic.npy
start=$(date +%s.%N)
"$bin" audit --policy policy --input traffic.jsonl -o audit --time row_order -q
end=$(date +%s.%N)
python3 -c "import json; a = json.load(open('audit/audit.json'))[0]; print(f\"audit of {a['rows']} rows ({a['routing']['handled']['k']} answered, {len(a['examples']['boundary_pairs'])} boundary pairs): {$end - $start:.1f} s on $(nproc) cores\")"
shared=${SHARED_DATA:-$root/../shared/data}
if [ -f "$shared/banking77/llm_traces_dev.csv" ]; then
  "$bin" run -q experiment=banking77_llm "data_dir=$shared" results_dir=results-text \
    save_policy=policy-text
  python3 - "$shared/banking77" "$rows" > traffic.csv <<'PY'
import csv, sys
rows = []
for name in ("llm_traces_dev.csv", "llm_traces_test.csv"):
    with open(f"{sys.argv[1]}/{name}", newline="") as f:
        rows += [r for r in csv.DictReader(f)]
out = csv.writer(sys.stdout)
out.writerow(["text", "teacher", "gold"])
for i in range(int(sys.argv[2])):
    r = rows[i % len(rows)]
    out.writerow([r["text"] + (f" #{i // len(rows)}" if i >= len(rows) else ""), r["gpt-label"], r["label"]])
PY
  start=$(date +%s.%N)
  "$bin" audit --policy policy-text --input traffic.csv --gold-column gold -o audit-text -q
  end=$(date +%s.%N)
  python3 -c "import json; a = json.load(open('audit-text/audit.json'))[0]; print(f\"text: audit of {a['rows']} banking77 rows ({a['routing']['handled']['k']} answered): {$end - $start:.1f} s on $(nproc) cores\")"
fi
