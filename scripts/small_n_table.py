#!/usr/bin/env python3
"""The table of scripts/small-n-study.sh: per data set, subsample size n and target, over split
seeds: certified test coverage (mean; runs that certified anything), oracle test coverage (mean),
median efficiency (certified / oracle, over runs with oracle > 0), the certifiable coverage (mean:
the largest test coverage a calibration split of the run's size could certify if its rows agreed
as the test rows do — the oracle limited by the data's size), guarantee violations (test
agreement < target, over runs that handled something), and runs that failed (a calibration split
too small to certify: coverage 0).

    scripts/small_n_table.py STUDY_DIR   (reads STUDY_DIR/<name>/latest/summary.csv)
Markdown on stdout, the same rows as CSV in STUDY_DIR/table.csv.
"""
import csv
import statistics
import sys
from collections import defaultdict
from pathlib import Path


def main() -> int:
    study = Path(sys.argv[1])
    groups = defaultdict(list)
    for summary in sorted(study.glob("*/latest/summary.csv")):
        name = summary.parent.parent.name
        with summary.open(newline="") as f:
            for row in csv.DictReader(f):
                n = row.get("dataset.subsample", "")
                if row["status"] == "ok":
                    groups[(name, int(n), float(row["target"]))].append(row)
                elif row["status"] == "failed":
                    for target in (0.85, 0.9, 0.95):  # a failed run certified nothing
                        groups[(name, int(n), target)].append(row)
    header = ["dataset", "n", "target", "runs", "certified", "nonzero", "oracle",
              "median_efficiency", "certifiable", "violations", "failed"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    rows = []
    for (name, n, target), members in sorted(groups.items()):
        ok = [r for r in members if r["status"] == "ok"]
        failed = len(members) - len(ok)
        cov = [float(r["test_coverage"]) for r in ok] + [0.0] * failed
        oracle = [float(r["test_oracle_coverage"]) for r in ok if r["test_oracle_coverage"]]
        eff = [float(r["efficiency"]) for r in ok if r["efficiency"]]
        # The calibration-size-limited oracle (summaries before it existed lack the column).
        certifiable = [float(r["test_certifiable_coverage"]) for r in ok
                       if r.get("test_certifiable_coverage")]
        handled = [r for r in ok if r["guarantee_met"] in ("0", "1")]
        viol = sum(r["guarantee_met"] == "0" for r in handled)
        values = [name, n, target, len(members), f"{statistics.mean(cov):.3f}",
                  sum(c > 0 for c in cov), f"{statistics.mean(oracle):.3f}" if oracle else "–",
                  f"{statistics.median(eff):.3f}" if eff else "–",
                  f"{statistics.mean(certifiable):.3f}" if certifiable else "–",
                  f"{viol}/{len(handled)}",
                  failed]
        rows.append(values)
        lines.append("| " + " | ".join(str(v) for v in values) + " |")
    with (study / "table.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
