#!/usr/bin/env python3
"""The online cascade's table and plots over time (issue 17), from a seed sweep of a stream run:

    deferbench run experiment=banking77_stream_waves "seed=range(0,10)" -m results_dir=DIR
    scripts/stream_report.py DIR/banking77_stream_waves/latest OUT

reads every run's metrics.json and stream.csv under the sweep folder and writes into OUT:
  table.md      per variant, mean ± 95% CI over seeds (t): teacher calls, share saved against
                all-teacher, calls saved against the fit-once policy and against periodic
                from-scratch refits (paired by seed), coverage, true agreement on handled traffic,
                windows below the target (their share among windows with handled traffic, and
                whether it stays within δ), refits (warm / cold seconds), monitor alarms; and for
                a teacher change, the monitor's delay and the recovery.
  table.csv     the same numbers, one line per (variant, measure).
  series.csv    per variant and window: mean over seeds of coverage, true agreement, cumulative
                calls saved against all-teacher and against fit_once.
  coverage.svg, agreement.svg, calls_saved.svg   the plots over time (gnuplot; the .gp and .dat
                files beside them redraw them).
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

ORDER = ["online", "online_no_memory", "periodic", "periodic_no_monitor", "fit_once"]


def measures(m, variant):
    v = m["variants"][variant]
    refits = v["refits"]
    warm = [r["seconds"] for r in refits if r["warm"]]
    cold = [r["seconds"] for r in refits[1:] if not r["warm"]]
    out = {
        "teacher calls": v["teacher_calls"],
        "saved vs all-teacher (share)": v["calls_saved_share"],
        "coverage": v["coverage"],
        "agreement on handled": v["agreement_handled"],
        "windows below target (share)": v["share_windows_below_target"],
        "refits": len(refits),
        "warm refit seconds": statistics.fmean(warm) if warm else float("nan"),
        "cold refit seconds": statistics.fmean(cold) if cold else float("nan"),
        "alarms": len(v["alarms"]),
    }
    for other in ("fit_once", "periodic"):
        if other in m["variants"] and other != variant:
            out[f"calls saved vs {other}"] = (m["variants"][other]["teacher_calls"]
                                             - v["teacher_calls"])
    change = v.get("teacher_change")
    if change is not None:
        out["change caught"] = 1.0 if change["caught"] else 0.0
        if change["caught"]:
            out["delay (queries)"] = change["delay_queries"]
            out["delay (audited queries)"] = change["delay_audited"]
            if "recovered_window_first" in change:
                out["recovered after (queries)"] = (change["recovered_window_first"]
                                                    - change["change_at"])
    return out


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    sweep, out = Path(sys.argv[1]), Path(sys.argv[2])
    runs = load_runs(sweep, "stream.csv", "stream")
    if not runs:
        print(f"{sweep}: no run with metrics.json and stream.csv under it", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    first = runs[0][0]
    variants = [v for v in ORDER if v in first["variants"]]
    variants += [v for v in first["variants"] if v not in variants]
    target, delta = first["target"], first["delta"]
    scenario = first["scenario"]["kind"]
    dataset = first["dataset"]

    table = defaultdict(dict)  # measure -> variant -> (mean, ci, n)
    names = []
    for variant in variants:
        per_seed = [measures(m, variant) for m, _ in runs if variant in m["variants"]]
        for key in per_seed[0]:
            if key not in names:
                names.append(key)
            table[key][variant] = mean_ci([p.get(key) for p in per_seed])

    lines = [f"# Online cascade: {md(dataset)}, scenario {md(scenario)} "
             f"({len(runs)} seeds, target {target}, δ {delta})", "",
             "Mean ± 95% CI over seeds (t). Windows: stream.csv rows with handled traffic; the "
             "true agreement is measured on every handled query from the full trace.", "",
             "| measure | " + " | ".join(md(v) for v in variants) + " |",
             "|---|" + "---|" * len(variants)]
    for key in names:
        digits = 0 if key in ("teacher calls", "refits", "alarms") or key.startswith(
            ("calls saved", "delay", "recovered")) else 3
        cells = [fmt(*table[key][v][:2], digits=digits) if v in table[key] else "–"
                 for v in variants]
        lines.append(f"| {md(key)} | " + " | ".join(cells) + " |")
    lines.append("")
    for variant in variants:
        below = [m["variants"][variant]["share_windows_below_target"] for m, _ in runs]
        within = sum(1 for b in below if b <= delta)
        lines.append(f"- {md(variant)}: windows below the target ≤ δ on {within} of {len(runs)} "
                     f"seeds (worst {max(below):.3f}).")
    (out / "table.md").write_text("\n".join(lines) + "\n")
    with (out / "table.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["variant", "measure", "mean", "ci95", "seeds"])
        for key in names:
            for v in variants:
                if v in table[key]:
                    w.writerow([v, key, *table[key][v]])

    # Series over time: mean over seeds per window.
    series = {}
    for variant in variants:
        acc = defaultdict(lambda: defaultdict(list))
        for m, rows in runs:
            once = {r["window"]: int(r["cum_teacher_calls"]) for r in rows
                    if r["variant"] == "fit_once"}
            for r in rows:
                if r["variant"] != variant:
                    continue
                k = int(r["window"])
                a = acc[k]
                a["query"].append(int(r["first_query"]) + int(r["queries"]))
                a["coverage"].append(num(r["coverage"]))
                a["agreement"].append(num(r["true_agreement"]))
                a["saved_all"].append(int(r["cum_calls_saved"]))
                if r["window"] in once:
                    a["saved_once"].append(once[r["window"]] - int(r["cum_teacher_calls"]))
        series[variant] = [(k, {f: statistics.fmean([x for x in vals if not math.isnan(x)])
                                if any(not math.isnan(x) for x in vals) else float("nan")
                                for f, vals in acc[k].items()}) for k in sorted(acc)]
    with (out / "series.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["variant", "window", "query", "coverage", "true_agreement",
                    "cum_calls_saved_vs_all_teacher", "cum_calls_saved_vs_fit_once"])
        for variant, pts in series.items():
            for k, p in pts:
                w.writerow([variant, k, p["query"], p["coverage"], p["agreement"],
                            p["saved_all"], p.get("saved_once", float("nan"))])

    data = out / "series.dat"
    with data.open("w") as f:
        for variant in variants:
            for _, p in series[variant]:
                f.write(f"{p['query']} {p['coverage']} {p['agreement']} {p['saved_all']} "
                        f"{p.get('saved_once', float('nan'))}\n")
            f.write("\n\n")

    def plot(name, column, ylabel, extra=""):
        plots = ", ".join(f"{gp(str(data))} index {i} using 1:{column} with lines title "
                          f"{gp(v.replace('_', ' '))}" for i, v in enumerate(variants))
        script = (f"set terminal svg size 720,420 noenhanced\n"
                  f"set output {gp(str(out / (name + '.svg')))}\n"
                  f"set title {gp(f'{dataset}, {scenario}: {ylabel} ({len(runs)} seeds)')}\n"
                  f"set xlabel 'queries'\nset ylabel {gp(ylabel)}\nset key outside right\n"
                  f"set grid\nset datafile missing 'nan'\n{extra}plot {plots}\n")
        (out / f"{name}.gp").write_text(script)
        subprocess.run(["gnuplot", str(out / f"{name}.gp")], check=True)

    plot("coverage", 2, "coverage per window")
    plot("agreement", 3, "true agreement on handled",
         f"set arrow from graph 0, first {target} to graph 1, first {target} nohead "
         f"dashtype 2\n")
    plot("calls_saved", 4, "cumulative teacher calls saved vs all-teacher")
    if "fit_once" in variants:
        plot("calls_saved_vs_fit_once", 5, "cumulative calls saved vs fit-once")
    print((out / "table.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
