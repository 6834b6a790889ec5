#!/usr/bin/env python3
"""Markdown summary of deferbench_bench's Google Benchmark JSON (one or more files).

    python3 benchmarks/bench_summary.py results/bench/<date>/bench_<time>.json [more.json ...] \
        [-o summary.md] [--python-compare compare.md] [--command "how it was run"]

Tables: memory bandwidth; routing throughput per dimension (rows/s per batch size, batch-1
latency, GB/s and fraction of the measured read bandwidth at the largest batch); routing from
text; fit time; calibration time with its O(n log n) fit; the 1M-row scale runs; and the
issue's bars with the measured value and ok / MISS. Standard library only.
"""
import argparse
import json
import re
import sys

SUFFIX = re.compile(r"/(iterations:\d+|real_time|manual_time|min_time:[^/]+|repeats:\d+)")


def clean(name):
    return SUFFIX.sub("", name)


def load(paths):
    runs, bigo, context = {}, {}, {}
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        context = context or data.get("context", {})
        for b in data.get("benchmarks", []):
            name = clean(b.get("run_name", b["name"]))
            if b.get("error_occurred"):
                runs[name] = {"error": b.get("error_message", "error")}
                continue
            if b.get("run_type") == "aggregate":
                agg = b.get("aggregate_name")
                if agg in ("BigO", "RMS"):
                    bigo.setdefault(name, {})[agg] = b
                elif agg == "median":
                    runs[name] = b  # with repetitions, the median stands for the runs
                continue
            if name not in runs or "aggregate_name" not in runs[name]:
                runs.setdefault(name, b)
    return runs, bigo, context


UNIT = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def seconds(b):
    return b["real_time"] * UNIT[b.get("time_unit", "ns")]


def fmt_rate(v):
    if v is None:
        return "–"
    for div, suf in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= div:
            return f"{v / div:.3g}{suf}"
    return f"{v:.3g}"


def fmt_time(s):
    if s is None:
        return "–"
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


def cell(runs, name, f):
    b = runs.get(name)
    if b is None:
        return "–"
    if "error" in b:
        return "error"
    return f(b)


def field(pattern, name, key):
    m = re.search(pattern, name)
    return m.group(key) if m else None


def table(header, rows):
    out = ["| " + " | ".join(header) + " |",
           "| " + " | ".join("---" if i == 0 else "---:" for i in range(len(header))) + " |"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out


def ordered(values, key=int):
    return sorted(set(values), key=key)


def routing_section(runs, prefix, title, with_dim):
    names = [n for n in runs if n.startswith(prefix + "/")]
    if not names:
        return []
    out = []
    pat = (r"^" + prefix + r"/(?P<dev>[^/]+)/(?P<model>[^/]+)/d:(?P<d>\d+)/b:(?P<b>\d+)$"
           if with_dim else r"^" + prefix + r"/(?P<dev>[^/]+)/(?P<model>[^/]+)/b:(?P<b>\d+)$")
    parsed = [(n, re.match(pat, n)) for n in names]
    parsed = [(n, m) for n, m in parsed if m]
    devs = ordered([m["dev"] for _, m in parsed], key=str)
    models = list(dict.fromkeys(m["model"] for _, m in parsed))
    batches = ordered([m["b"] for _, m in parsed])
    dims = ordered([m["d"] for _, m in parsed]) if with_dim else [None]
    for dev in devs:
        for d in dims:
            base = f"{prefix}/{dev}/{{model}}/" + (f"d:{d}/" if d else "") + "b:{b}"
            out.append(f"### {title}, {dev}" + (f", {d}-d float32 features" if d else ""))
            out.append("")
            big = batches[-1]
            header = ["model", "b=1 latency"] + [f"rows/s b={b}" for b in batches] + [
                f"GB/s b={big}", f"of read bw b={big}", "coverage", "peak RSS MB"]
            rows = []
            for model in models:
                if not any(base.format(model=model, b=b) in runs for b in batches):
                    continue
                r = [model, cell(runs, base.format(model=model, b=1), lambda x: fmt_time(seconds(x)))]
                r += [cell(runs, base.format(model=model, b=b), lambda x: fmt_rate(x.get("rows_per_s")))
                      for b in batches]
                nb = base.format(model=model, b=big)
                r.append(cell(runs, nb, lambda x: f"{x.get('bytes_per_s', 0) / 1e9:.3g}"))
                r.append(cell(runs, nb, lambda x: f"{100 * x.get('bw_fraction', 0):.1f}%"))
                r.append(cell(runs, nb, lambda x: f"{x.get('coverage', 0):.3f}"))
                r.append(cell(runs, nb, lambda x: f"{x.get('peak_rss_mb', 0):.0f}"))
                rows.append(r)
            out += table(header, rows) + [""]
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("json", nargs="+")
    p.add_argument("-o", "--output")
    p.add_argument("--command", default="", help="the command that produced the JSON")
    p.add_argument("--python-compare", help="a compare_python_routing.py Markdown file to append")
    args = p.parse_args()
    runs, bigo, ctx = load(args.json)

    out = [f"# deferbench benchmarks, {ctx.get('date', '')}", ""]
    if args.command:
        out += [f"Command: `{args.command}`", ""]
    out += [f"Host {ctx.get('host_name', '?')}: {ctx.get('num_cpus', '?')} CPUs at "
            f"{ctx.get('mhz_per_cpu', '?')} MHz, load average "
            f"{', '.join(f'{x:.2f}' for x in ctx.get('load_avg', []))}; deferbench threads "
            f"{ctx.get('deferbench_threads', '?')}; CUDA {'yes' if ctx.get('deferbench_cuda') == '1' else 'no'}"
            + ("; TINY mode (smoke-test data: the numbers mean nothing)"
               if ctx.get("deferbench_tiny") == "1" else "") + ".", ""]

    bw = [(n, b) for n, b in runs.items() if n.startswith("bandwidth/") and "error" not in b]
    read_bw = None
    if bw:
        out += ["## Memory bandwidth", ""]
        rows = []
        for n, b in bw:
            rows.append([n, f"{b['bytes_per_s'] / 1e9:.2f}"])
            if n.startswith("bandwidth/read"):
                read_bw = b["bytes_per_s"]
        out += table(["probe", "GB/s"], rows) + [""]

    sec = routing_section(runs, "route", "Routing (features → decisions)", True)
    if sec:
        out += ["## Routing throughput", "",
                "End to end from a feature matrix to decisions (surrogate, acceptor, threshold); "
                "GB/s counts the float32 features read; 'of read bw' divides it by the read "
                "probe run in the same process.", ""] + sec
    parts = [(n, re.match(r"^route_parts/(?P<dev>[^/]+)/(?P<model>[^/]+)/d:(?P<d>\d+)/b:(?P<b>\d+)/"
                          r"(?P<part>surrogate|acceptor)$", n)) for n in runs]
    parts = [(n, m) for n, m in parts if m]
    if parts:
        out += ["### Where the time goes", "",
                "Time per batch of the whole route, of the surrogate's predict_proba alone and of "
                "the acceptor alone (features + score); the rest is argmax, thresholds and "
                "bookkeeping.", ""]
        rows = []
        for dev, model, d, b in dict.fromkeys((m["dev"], m["model"], m["d"], m["b"])
                                              for _, m in parts):
            whole = runs.get(f"route/{dev}/{model}/d:{d}/b:{b}")
            sur = runs.get(f"route_parts/{dev}/{model}/d:{d}/b:{b}/surrogate")
            acc = runs.get(f"route_parts/{dev}/{model}/d:{d}/b:{b}/acceptor")
            if not whole or not sur or not acc or any("error" in x for x in (whole, sur, acc)):
                continue
            t, ts, ta = seconds(whole), seconds(sur), seconds(acc)
            rows.append([f"{model} ({dev}, {d}-d)", b, fmt_time(t),
                         f"{fmt_time(ts)} ({100 * ts / t:.0f}%)",
                         f"{fmt_time(ta)} ({100 * ta / t:.0f}%)",
                         fmt_time(max(0.0, t - ts - ta))])
        out += table(["model", "batch", "route", "surrogate", "acceptor", "rest"], rows) + [""]
    sec = routing_section(runs, "route_text", "Routing from text (featurizer included)", False)
    if sec:
        out += ["## Routing from banking77 text", "",
                "GB/s here counts UTF-8 text bytes.", ""] + sec

    fits = [(n, re.match(r"^fit/(?P<model>[^/]+)/rows:(?P<rows>\d+)/d:(?P<d>\d+)$", n))
            for n in runs if n.startswith("fit/")]
    fits = [(n, m) for n, m in fits if m]
    if fits:
        out += ["## Fit time", "", "Synthetic Gaussian clusters, 77 classes (tiny: 5); val = rows/4 for early stopping.", ""]
        models = list(dict.fromkeys(m["model"] for _, m in fits))
        sizes = ordered([m["rows"] for _, m in fits])
        d = fits[0][1]["d"]
        rows = []
        for model in models:
            r = [model]
            for s in sizes:
                r.append(cell(runs, f"fit/{model}/rows:{s}/d:{d}",
                              lambda x: f"{fmt_time(x.get('fit_s', seconds(x)))} "
                                        f"(+{x.get('fit_extra_mb', 0):.0f} MB)"))
            rows.append(r)
        out += table(["model"] + [f"{int(s):,} rows × {d}" for s in sizes], rows)
        out += ["", "(+MB: peak resident memory above the process before the fit)", ""]

    rej = {}  # "fit" / "objective" → (surrogate run, comp_sum run, shape)
    for n in runs:
        m = re.match(r"^fit_rejector/surrogate/(?P<shape>rows:\d+/d:\d+/choices:\d+)"
                     r"(?P<obj>/objective)?$", n)
        if not m:
            continue
        other = runs.get(n.replace("/surrogate/", "/comp_sum/", 1))
        if other and "error" not in other and "error" not in runs[n]:
            rej["objective" if m["obj"] else "fit"] = (runs[n], other, m["shape"])
    if rej:
        out += ["## The two-stage rejector against the surrogate", "",
                "LogReg::fit_cost_weighted on comp-sum weights (J + 1 choices) against LogReg::fit "
                "on the same rows with as many classes; 'objective' is one L-BFGS evaluation "
                "(value + gradient) at fixed parameters.", ""]
        rows = []
        for what in ("fit", "objective"):
            if what in rej:
                sur, cs, shape = rej[what]
                ts = sur.get("fit_s", seconds(sur)) if what == "fit" else seconds(sur)
                tc = cs.get("fit_s", seconds(cs)) if what == "fit" else seconds(cs)
                rows.append([what, shape.replace("/", ", "), fmt_time(ts), fmt_time(tc),
                             f"{tc / ts:.2f}×"])
        out += table(["", "shape", "surrogate", "rejector (comp-sum)", "ratio"], rows) + [""]

    ws = {}  # (model, shape) → (cold run, warm run): warm refits (issue 17)
    for n in runs:
        m = re.match(r"^warm_start/(?P<model>[^/]+)/cold/"
                     r"(?P<shape>old:\d+/new:\d+/d:\d+/classes:\d+)$", n)
        other = runs.get(n.replace("/cold/", "/warm/", 1)) if m else None
        if m and other and "error" not in other and "error" not in runs[n]:
            ws[(m["model"], m["shape"])] = (runs[n], other)
    if ws:
        out += ["## Warm refits", "",
                "A refit on old + new rows: a fresh model (cold) against one started from the "
                "model fitted on the old rows (warm_start_from); steps: L-BFGS iterations or "
                "epochs, trees grown (forests), boosting rounds run (gbt) (bar: warm ≤ 1/3 of "
                "cold).", ""]
        rows = []
        for (model, shape), (cold, warm) in ws.items():
            tc, tw = cold.get("fit_s", seconds(cold)), warm.get("fit_s", seconds(warm))
            rows.append([model, shape.replace("/", ", "), fmt_time(tc), fmt_time(tw),
                         f"{cold.get('steps', 0):.0f} / {warm.get('steps', 0):.0f}",
                         f"{tw / tc:.2f}×"])
        out += table(["model", "shape", "cold", "warm", "steps", "warm / cold"], rows) + [""]

    # Multi-expert routing against the l2d policy with the same surrogate (same rows, batch).
    mx = {}  # (shape) → {"l2d": run, "bayes_plugin": run, "two_stage": run}
    for n in runs:
        m = re.match(r"^route_experts/cpu/(?P<shape>[^/]+/d:\d+/b:\d+)/(?P<m>[a-z_0-9]+)$", n)
        if m and "error" not in runs[n]:
            mx.setdefault(m["shape"], {})[m["m"]] = runs[n]
    if mx:
        out += ["## Multi-expert routing against l2d", "",
                "route_experts through a 3-expert + surrogate policy against route() through the "
                "l2d policy with the same surrogate, on the same rows (bar: ≥ 0.5× l2d's rows/s).",
                ""]
        rows = []
        for shape, ms in mx.items():
            base = ms.get("l2d", {}).get("rows_per_s")
            for method in ("l2d", "bayes_plugin", "two_stage"):
                if method in ms:
                    r = ms[method].get("rows_per_s")
                    share = ms[method].get("surrogate_share", ms[method].get("coverage", 0))
                    rows.append([shape.replace("/", ", "), method, fmt_rate(r),
                                 f"{100 * share:.0f}%",
                                 f"{r / base:.2f}×" if base and r else ""])
        out += table(["shape", "policy", "rows/s", "surrogate rows", "vs l2d"], rows) + [""]

    cal = [(n, re.match(r"^calibrate/(?P<mode>[^/]+)/(?P<n>\d+)$", n))
           for n in runs if n.startswith("calibrate/")]
    cal = [(n, m) for n, m in cal if m]
    if cal:
        out += ["## Calibration time", ""]
        modes = list(dict.fromkeys(m["mode"] for _, m in cal))
        sizes = ordered([m["n"] for _, m in cal])
        rows = []
        for mode in modes:
            r = [mode] + [cell(runs, f"calibrate/{mode}/{s}", lambda x: fmt_time(seconds(x)))
                          for s in sizes]
            fit = bigo.get(f"calibrate/{mode}", {})
            if "BigO" in fit:
                unit = UNIT[fit["BigO"].get("time_unit", "ns")]
                r.append(f"{fit['BigO']['real_coefficient'] * unit * 1e9:.2f} ns · "
                         f"{fit['BigO']['big_o']}")
                r.append(f"{100 * fit.get('RMS', {}).get('rms', 0):.0f}%")
            else:
                r += ["–", "–"]
            rows.append(r)
        out += table(["mode"] + [f"n={int(s):,}" for s in sizes] + ["fit", "RMS error"], rows)
        out += [""]

    sr = [(n, re.match(r"^scale/route/(?P<model>[^/]+)/b:(?P<b>\d+)/batches:(?P<k>\d+)$", n))
          for n in runs if n.startswith("scale/route/")]
    sr = [(n, m) for n, m in sr if m]
    if sr:
        out += ["## Scale: streaming the generated set in batches", "",
                "Memory added by loading the policy and routing k batches (MB; peak RSS minus "
                "RSS before). It must not grow with k; the bar: < 2 × (one batch + model).", ""]
        models = list(dict.fromkeys(m["model"] for _, m in sr))
        ks = ordered([m["k"] for _, m in sr])
        b = sr[0][1]["b"]
        rows = []
        for model in models:
            names = [f"scale/route/{model}/b:{b}/batches:{k}" for k in ks]
            got = [runs.get(n) for n in names]
            ok = [g for g in got if g and "error" not in g]
            r = [model] + [cell(runs, n, lambda x: f"{x.get('routing_mb', 0):.1f}") for n in names]
            if ok:
                r += [f"{ok[-1].get('batch_mb', 0):.1f}", f"{ok[-1].get('model_mb', 0):.1f}",
                      f"{max(g.get('mem_ratio', 0) for g in ok):.2f}",
                      fmt_rate(ok[-1].get("rows_per_s"))]
            else:
                r += ["–"] * 4
            rows.append(r)
        out += table(["model"] + [f"k={k}" for k in ks] +
                     ["batch MB", "model MB", "max ratio", f"rows/s (k={ks[-1]})"], rows) + [""]
    sf = [(n, b) for n, b in runs.items() if n.startswith("scale/fit/")]
    if sf:
        out += ["Fitting on the whole set in memory (capped: logreg 10 L-BFGS iterations, MLPs one "
                "epoch; memory does not grow with iterations):", ""]
        rows = []
        for n, b in sf:
            if "error" in b:
                rows.append([n, "error", "", "", ""])
                continue
            rows.append([n, fmt_time(b.get("fit_s")), f"{b.get('data_mb', 0):.0f}",
                         f"{b.get('fit_extra_mb', 0):.0f}", f"{b.get('extra_ratio', 0):.2f}"])
        out += table(["benchmark", "fit", "data MB", "fit extra MB", "extra / data"], rows) + [""]

    # The bars of the issue.
    bars = []

    def bar(what, value, ok):
        bars.append([what, value, "–" if ok is None else ("ok" if ok else "MISS")])

    for model in ("logreg", "logreg_c10", "mlp_1h", "mlp_2h"):
        b = runs.get(f"route/cpu/{model}/d:256/b:65536")
        if b and "error" not in b:
            frac = b.get("bw_fraction", 0)
            bar(f"{model} routing, b=65536, 256-d: share of read bandwidth"
                + (" (≥ 50%)" if model == "logreg" else " (reported)"),
                f"{100 * frac:.1f}% ({b.get('bytes_per_s', 0) / 1e9:.2f} GB/s, "
                f"{fmt_rate(b.get('rows_per_s'))} rows/s)",
                frac >= 0.5 if model == "logreg" else None)
    b = runs.get("route/cpu/logreg/d:256/b:1")
    if b and "error" not in b:
        bar("logreg routing latency, batch 1, 256-d (< 20 µs)", fmt_time(seconds(b)),
            seconds(b) < 20e-6)
    for mode in ("guaranteed", "guaranteed_per_class", "empirical"):
        b = runs.get(f"calibrate/{mode}/1000000")
        if b and "error" not in b:
            bar(f"calibration of 10^6 rows, {mode} (< 1 s)", fmt_time(seconds(b)),
                seconds(b) < 1.0)
    for shape, ms in mx.items():
        base = ms.get("l2d", {}).get("rows_per_s")
        for method in ("bayes_plugin", "two_stage"):
            if base and method in ms and ms[method].get("rows_per_s"):
                ratio = ms[method]["rows_per_s"] / base
                bar(f"{method} routing / l2d routing, {shape.replace('/', ', ')} (≥ 0.5×)",
                    f"{ratio:.2f}×", ratio >= 0.5)
    if "fit" in rej:
        sur, cs, shape = rej["fit"]
        ratio = cs.get("fit_s", seconds(cs)) / sur.get("fit_s", seconds(sur))
        bar(f"rejector fit (comp-sum) / surrogate fit, {shape.replace('/', ', ')} (≤ 2×)",
            f"{ratio:.2f}×", ratio <= 2.0)
    for (model, shape), (cold, warm) in ws.items():
        ratio = warm.get("fit_s", seconds(warm)) / cold.get("fit_s", seconds(cold))
        bar(f"{model} warm refit / cold fit, {shape.replace('/', ', ')} (≤ 1/3)",
            f"{ratio:.2f}×", ratio <= 1 / 3)
    for n, m in sr:
        g = runs[n]
        if "error" not in g and n.endswith(f"batches:{max(int(x[1]['k']) for x in sr)}"):
            bar(f"{m['model']}: memory routing the whole set (< 2 × (batch + model))",
                f"{g.get('routing_mb', 0):.0f} MB = {g.get('mem_ratio', 0):.2f} × "
                f"({g.get('batch_mb', 0):.0f} + {g.get('model_mb', 0):.1f}) MB",
                g.get("mem_ratio", 99) < 2.0)
    if bars:
        out += ["## Bars", ""] + table(["bar", "measured", ""], bars) + [""]

    if args.python_compare:
        with open(args.python_compare) as f:
            out += ["## Routing against the Python policy", "", f.read().strip(), ""]

    errors = [n for n, b in runs.items() if "error" in b]
    if errors:
        out += ["Benchmarks that reported an error: " + ", ".join(errors), ""]
    text = "\n".join(out) + "\n"
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
