#!/usr/bin/env python3
"""Measures the calibration guarantee over split seeds and prints a Markdown table.

For every dataset × calibration mode × seed, runs `deferbench run` once with all targets (the
fits are shared by the targets), reads the deployed policy's test metrics per target, and
reports: seeds whose test agreement is ≥ target, mean test coverage, mean test agreement.

  scripts/guarantee_table.py --seeds 20 --targets 0.8,0.85,0.9,0.95 \
      --datasets banking77_llm,banking77 --modes guaranteed,empirical

Needs a built deferbench (make build) and ../shared/data. Only the standard library is used.
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_one(binary, dataset, mode, seed, targets, results, extra):
    overrides = [
        "experiment=banking77_llm",
        f"dataset={dataset}",
        f"calibration={mode}",
        "calibration.target=[" + ",".join(str(t) for t in targets) + "]",
        f"seed={seed}",
        f"results_dir={results}",
        f"name={dataset}-{mode}-{seed}",
    ] + extra
    subprocess.run([binary, "run", "-q"] + overrides, check=True)
    with open(os.path.join(results, f"{dataset}-{mode}-{seed}", "latest", "metrics.json")) as f:
        return json.load(f)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--targets", default="0.8,0.85,0.9,0.95")
    ap.add_argument("--datasets", default="banking77_llm,banking77")
    ap.add_argument("--modes", default="guaranteed,empirical")
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "release", "deferbench"))
    ap.add_argument("--out", default="", help="also write the table here")
    ap.add_argument("extra", nargs="*", help="more overrides for every run")
    a = ap.parse_args()
    targets = [float(t) for t in a.targets.split(",")]
    if not os.path.exists(a.binary):
        sys.exit(f"guarantee_table: {a.binary} not found: build first (make build)")

    rows = {}  # (dataset, mode, target) -> list of (coverage, agreement or None)
    with tempfile.TemporaryDirectory(prefix="deferbench-guarantee-") as results:
        for dataset in a.datasets.split(","):
            for mode in a.modes.split(","):
                for seed in range(a.seeds):
                    m = run_one(a.binary, dataset, mode, seed, targets, results, a.extra)
                    for t in m["targets"]:
                        test = t["test"]
                        rows.setdefault((dataset, mode, t["target"]), []).append(
                            (test["coverage"], test["teacher_agreement"]))
                    print(f"{dataset} {mode} seed {seed}: done", file=sys.stderr, flush=True)

    lines = [
        f"Guarantee over {a.seeds} split seeds (test split only; extra overrides: {a.extra or 'none'}). "
        "`agreement ≥ target`: seeds whose deployed policy met the target on test (a seed that "
        "deploys nothing sends all traffic to the teacher and counts as meeting it).",
        "",
        "| dataset | target | mode | agreement ≥ target | deployed | mean coverage | mean agreement |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (dataset, mode, target), vals in sorted(rows.items()):
        ok = sum(1 for c, ag in vals if ag is None or ag >= target - 1e-12)
        deployed = [(c, ag) for c, ag in vals if ag is not None]
        cov = statistics.mean(c for c, _ in vals)
        agr = statistics.mean(ag for _, ag in deployed) if deployed else float("nan")
        lines.append(f"| {dataset} | {target:.2f} | {mode} | {ok}/{len(vals)} | "
                     f"{len(deployed)}/{len(vals)} | {cov:.3f} | {agr:.3f} |")
    table = "\n".join(lines) + "\n"
    print(table)
    if a.out:
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        with open(a.out + ".tmp", "w") as f:
            f.write(f"<!-- {datetime.date.today()}: {' '.join(sys.argv)} -->\n" + table)
        os.replace(a.out + ".tmp", a.out)


if __name__ == "__main__":
    main()
