#!/usr/bin/env python3
"""Table 4 and the cost-accuracy plot of multi-expert deferral (issue 16), from a seed sweep of an
experts experiment:

    deferbench run experiment=banking77_experts "seed=range(0,10)" -m results_dir=DIR
    scripts/experts_report.py DIR/banking77_experts/latest OUT

reads every run's metrics.json and experts.csv under the sweep folder and writes into OUT:
  table4.md     methods at matched budgets: test accuracy, mean ± 95% CI over seeds (t), and the
                mean test price per 1,000 queries; the guarantee (deployed runs, mean accuracy,
                violations: test accuracy < target); RouteLLM's APGR / CPT when two choices remain;
                and the dominance check: at how many budgets each learned method is at least as
                accurate as every single choice and as the cascade, by the means and paired by
                seed (the 95% t interval of the per-seed difference: above, level or below).
  table4.csv    the same numbers, one line per (budget, method).
  curves.csv    every method's mean curve (test price, test accuracy per point, over seeds), the
                single choices and the oracle frontier (mean accuracy at each price of a grid).
  cost_accuracy.svg   the plot (gnuplot).
Names from configs are data: escaped for Markdown and gnuplot.
"""
import csv
import math
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from sweep_tables import fmt, gp, load_runs, md, mean_ci, num

LEARNED = ["bayes_plugin", "two_stage"]
ORDER = ["single", "random", "cascade", "bayes_plugin", "two_stage", "oracle"]


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    sweep, out = Path(sys.argv[1]), Path(sys.argv[2])
    runs = load_runs(sweep, "experts.csv", "experts")
    if not runs:
        print(f"{sweep}: no experts runs (metrics.json with kind experts beside experts.csv)",
              file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    m0 = runs[0][0]
    dataset = m0["dataset"]
    choices = [c["name"] for c in m0["experts"]["choices"]]
    seeds = sorted({m["seed"] for m, _ in runs})

    # Budgets: per method, test accuracy and price over seeds.
    budget_rows = []
    by_budget = defaultdict(lambda: defaultdict(list))
    paired = defaultdict(lambda: defaultdict(dict))  # budget → method → run index → accuracy
    for i, (m, _) in enumerate(runs):
        for b in m["budgets"]:
            for method, r in b["methods"].items():
                by_budget[b["budget_per_1k"]][method].append(r)
                if isinstance(r, dict) and r.get("test_accuracy") is not None:
                    paired[b["budget_per_1k"]][method][i] = r["test_accuracy"]
    lines = [f"# Multi-expert deferral on {md(dataset)}: {len(runs)} runs (seeds "
             f"{seeds[0]}–{seeds[-1]})", "",
             "Choices and prices per 1,000 queries: " +
             ", ".join(f"{md(c['name'])} ({c['price_per_1k']:.4g}, test accuracy "
                       f"{statistics.fmean(next(x for x in mm['experts']['choices'] if x['name'] == c['name'])['test_accuracy'] for mm, _ in runs):.3f})"
                       for c in m0["experts"]["choices"]) + ".", "",
             "## Table 4: test accuracy at matched budgets (mean ± 95% CI over seeds; the point "
             "of each method chosen on val within the budget; price: mean test price per 1k)", ""]
    methods = [x for x in ORDER if any(x in d for d in by_budget.values())]
    lines.append("| budget / 1k | " + " | ".join(md(x) for x in methods) + " |")
    lines.append("|---|" + "---|" * len(methods))
    dominance = defaultdict(lambda: [0, 0])
    # (learned, rival) → [above, level, below, mean differences]: paired by seed.
    versus = defaultdict(lambda: [0, 0, 0, []])
    for budget in sorted(by_budget):
        cells = []
        means = {}
        for method in methods:
            rs = by_budget[budget].get(method, [])
            acc = [r["test_accuracy"] if isinstance(r, dict) and r.get("test_accuracy") is not None
                   else float("nan") for r in rs]
            price = [r.get("test_price_per_1k", float("nan")) if isinstance(r, dict) else
                     float("nan") for r in rs]
            ma, ca, n = mean_ci(acc)
            mp, _, _ = mean_ci(price)
            means[method] = ma
            cell = fmt(ma, ca)
            if not math.isnan(mp):
                cell += f" ({mp:.3g})"
            if n < len(rs):
                cell += f" [{n}/{len(rs)}]"
            cells.append(cell)
            budget_rows.append([dataset, budget, method, n, ma, ca, mp])
        lines.append(f"| {budget:g} | " + " | ".join(cells) + " |")
        for method in LEARNED:
            if method not in means or math.isnan(means[method]):
                continue
            rivals = [means.get(x, float("nan")) for x in ("single", "cascade")]
            rivals = [x for x in rivals if not math.isnan(x)]
            dominance[method][1] += 1
            if all(means[method] >= x - 1e-12 for x in rivals):
                dominance[method][0] += 1
            for rival in ("single", "cascade"):
                mine, theirs = paired[budget].get(method, {}), paired[budget].get(rival, {})
                diffs = [mine[i] - theirs[i] for i in sorted(mine) if i in theirs]
                d, half, n = mean_ci(diffs)
                if n < 2 or math.isnan(half):
                    continue
                v = versus[(method, rival)]
                v[0 if d - half > 0 else 2 if d + half < 0 else 1] += 1
                v[3].append(f"{budget:g}: {d:+.3f} ± {half:.3f}")
    lines += ["", "A cell [k/n]: k of the n runs had a point within the budget on val.", ""]
    for method, (ok, total) in dominance.items():
        lines.append(f"- {md(method)} is at least as accurate as the best affordable single choice "
                     f"and the cascade at {ok} of {total} budgets.")
    lines += ["", "Paired by seed (the learned method's test accuracy minus the rival's on the same "
              "run, mean ± 95% t interval; level: the interval contains 0):", ""]
    for (method, rival), (above, level, below, diffs) in versus.items():
        name = "the best affordable single choice" if rival == "single" else md(rival)
        lines.append(f"- {md(method)} against {name}: above at {above}, level at {level}, below "
                     f"at {below} budgets ({'; '.join(diffs)}).")

    # The guarantee.
    by_target = defaultdict(lambda: defaultdict(list))
    for m, _ in runs:
        for g in m.get("guarantee", []):
            for method, r in g["methods"].items():
                by_target[(g["target"], g["delta"])][method].append(r)
    if by_target:
        lines += ["", "## The guarantee: accuracy ≥ target with probability ≥ 1 − δ (fixed-sequence "
                  "testing on cal along each curve)", "",
                  "| target | δ | method | deployed | test accuracy | price / 1k | violations |",
                  "|---|---|---|---|---|---|---|"]
        for (target, delta), d in sorted(by_target.items()):
            for method in [x for x in ORDER if x in d]:
                rs = d[method]
                dep = [r for r in rs if r["deployed"]]
                ma, ca, _ = mean_ci([r["test_accuracy"] for r in dep])
                mp, _, _ = mean_ci([r["test_price_per_1k"] for r in dep])
                viol = sum(1 for r in dep if r["violated"])
                lines.append(f"| {target:g} | {delta:g} | {md(method)} | {len(dep)}/{len(rs)} | "
                             f"{fmt(ma, ca)} | {mp:.3g} | {viol}/{len(dep)} |")

    # RouteLLM's metrics.
    rl = [m["routellm"] for m, _ in runs if "routellm" in m and "methods" in m["routellm"]]
    if rl:
        lines += ["", f"## RouteLLM metrics (weak {md(rl[0]['weak'])}, strong "
                  f"{md(rl[0]['strong'])}; strong-call share on test)", "",
                  "| method | APGR | CPT(50%) | CPT(80%) |", "|---|---|---|---|"]
        for method in [x for x in ORDER if x in rl[0]["methods"]]:
            vals = {k: mean_ci([r["methods"][method][k] if r["methods"][method][k] is not None
                                else float("nan") for r in rl]) for k in ("apgr", "cpt50", "cpt80")}
            lines.append(f"| {md(method)} | " +
                         " | ".join(fmt(vals[k][0], vals[k][1]) for k in ("apgr", "cpt50", "cpt80"))
                         + " |")
    (out / "table4.md").write_text("\n".join(lines) + "\n")
    with (out / "table4.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["dataset", "budget_per_1k", "method", "runs_within_budget", "test_accuracy",
                    "ci95", "test_price_per_1k"])
        w.writerows(budget_rows)

    # Mean curves over seeds (the λ / τ / price grids are the same in every run).
    curves = defaultdict(lambda: defaultdict(list))
    oracle = []
    for _, rows in runs:
        frontier = []
        for r in rows:
            if r["method"] == "oracle":
                frontier.append((num(r["test_price_per_1k"]), num(r["test_accuracy"])))
            else:
                curves[r["method"]][int(r["point"])].append(
                    (num(r["test_price_per_1k"]), num(r["test_accuracy"])))
        oracle.append(sorted(frontier))
    top = max(p for f in oracle for p, _ in f) if oracle else 1.0
    grid = [top * i / 40 for i in range(41)]
    oracle_mean = []
    for price in grid:
        accs = []
        for f in oracle:
            best = [a for p, a in f if p <= price + 1e-12]
            if best:
                accs.append(max(best))
        if accs:
            oracle_mean.append((price, statistics.fmean(accs)))
    with (out / "curves.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["method", "point", "test_price_per_1k", "test_accuracy"])
        for method, pts in sorted(curves.items()):
            for k, v in sorted(pts.items()):
                w.writerow([method, k, statistics.fmean(p for p, _ in v),
                            statistics.fmean(a for _, a in v)])
        for k, (p, a) in enumerate(oracle_mean):
            w.writerow(["oracle", k, p, a])

    # The plot: one data block per method.
    data = out / "curves.dat"
    blocks, titles, styles = [], [], []
    singles = sorted(k for k in curves if k.startswith("single:"))
    for method in ["random", "cascade", "bayes_plugin", "two_stage"]:
        if method in curves:
            pts = sorted((statistics.fmean(p for p, _ in v), statistics.fmean(a for _, a in v))
                         for v in curves[method].values())
            blocks.append(pts)
            titles.append(method.replace("_", " "))
            styles.append("linespoints")
    blocks.append(oracle_mean)
    titles.append("oracle (hindsight)")
    styles.append("lines dashtype 2")
    for s in singles:
        v = curves[s][min(curves[s])]
        blocks.append([(statistics.fmean(p for p, _ in v), statistics.fmean(a for _, a in v))])
        titles.append(s.split(":", 1)[1])
        styles.append("points pointsize 1.6 pointtype 7")
    with data.open("w") as f:
        for b in blocks:
            for p, a in b:
                f.write(f"{p} {a}\n")
            f.write("\n\n")
    plots = ", ".join(f"{gp(str(data))} index {i} with {styles[i]} title {gp(titles[i])}"
                      for i in range(len(blocks)))
    script = (f"set terminal svg size 720,480 noenhanced\nset output {gp(str(out / 'cost_accuracy.svg'))}\n"
              f"set title {gp(f'{dataset}: cost and accuracy ({len(runs)} seeds, test)')}\n"
              "set xlabel 'price per 1,000 queries'\nset ylabel 'accuracy'\n"
              "set key bottom right\nset grid\n"
              f"plot {plots}\n")
    (out / "cost_accuracy.gp").write_text(script)
    subprocess.run(["gnuplot", str(out / "cost_accuracy.gp")], check=True)
    print((out / "table4.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
