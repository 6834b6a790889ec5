#!/usr/bin/env python3
"""Routing throughput of two builds side by side, in one run.

    scripts/bench-compare.py BASE_BUILD NEW_BUILD [--filter REGEX] [--rounds N]

Runs both builds' deferbench_bench (1 thread, Google Benchmark JSON), interleaved round by
round so that machine noise hits both sides alike, keeps each benchmark's best time, and prints
a Markdown table with the ratio NEW / BASE per benchmark and the geometric mean of the ratios
(below 1: the new build is faster). Example, a refactor against the commit before it:

    git worktree add /tmp/base <commit> && (cd /tmp/base && make build)
    scripts/bench-compare.py /tmp/base/build/release build/release
"""
import argparse
import json
import os
import statistics
import subprocess
import sys


def run(build, flt, min_time, env):
    out = subprocess.run(
        [os.path.join(build, "deferbench_bench"), "--threads", "1", "--benchmark_filter=" + flt,
         f"--benchmark_min_time={min_time}", "--benchmark_format=json"],
        env=env, capture_output=True, text=True, check=True).stdout
    return {b["name"]: b["real_time"] for b in json.loads(out)["benchmarks"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("base")
    ap.add_argument("new")
    ap.add_argument("--filter", default=r"^route/cpu/.*/d:256/b:(64|4096)/")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--min-time", type=float, default=0.2)
    a = ap.parse_args()
    env = dict(os.environ, OMP_WAIT_POLICY="passive")
    best = {"base": {}, "new": {}}
    for _ in range(a.rounds):
        for side in ("base", "new"):
            for name, t in run(getattr(a, side), a.filter, a.min_time, env).items():
                best[side][name] = min(best[side].get(name, float("inf")), t)
    names = [n for n in best["base"] if n in best["new"]]
    if not names:
        sys.exit("bench-compare: no benchmark matched by both builds")
    print(f"| benchmark | base | new | new / base |")
    print("| --- | ---: | ---: | ---: |")
    ratios = []
    for n in names:
        b, c = best["base"][n], best["new"][n]
        ratios.append(c / b)
        print(f"| {n} | {b:.4g} | {c:.4g} | {c / b:.3f} |")
    print(f"\nbase {a.base}, new {a.new}; best of {a.rounds} interleaved rounds, 1 thread, times "
          f"in the benchmarks' units; geometric mean ratio {statistics.geometric_mean(ratios):.3f}"
          f", range {min(ratios):.3f}–{max(ratios):.3f}")


if __name__ == "__main__":
    main()
