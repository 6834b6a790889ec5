#!/usr/bin/env python3
"""Two small-n studies side by side (scripts/small-n-study.sh, scripts/small_n_table.py): per data
set, n and target, each method's certified coverage (mean over seeds), oracle coverage, median
efficiency and violations, and the change in certified coverage.

    scripts/small_n_compare.py OLD_TABLE_CSV NEW_TABLE_CSV [OLD_NAME NEW_NAME]
Markdown on stdout.
"""
import csv
import sys


def load(path):
    with open(path, newline="") as f:
        return {(r["dataset"], int(r["n"]), float(r["target"])): r for r in csv.DictReader(f)}


def main() -> int:
    old, new = load(sys.argv[1]), load(sys.argv[2])
    a, b = (sys.argv[3], sys.argv[4]) if len(sys.argv) > 4 else ("old", "new")
    header = ["dataset", "n", "target",
              f"{a} certified", f"{a} oracle", f"{a} efficiency", f"{a} violations",
              f"{b} certified", f"{b} oracle", f"{b} efficiency", f"{b} violations", "Δ certified"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for key in sorted(set(old) & set(new)):
        o, n = old[key], new[key]
        delta = float(n["certified"]) - float(o["certified"])
        print("| " + " | ".join([key[0], str(key[1]), f"{key[2]:g}",
                                 o["certified"], o["oracle"], o["median_efficiency"], o["violations"],
                                 n["certified"], n["oracle"], n["median_efficiency"], n["violations"],
                                 f"{delta:+.3f}"]) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
