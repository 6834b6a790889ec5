"""Shared by the sweep report scripts (experts_report.py, stream_report.py): the runs of a sweep
folder, mean ± 95% CI over seeds, and escaping of config text for Markdown and gnuplot."""
import csv
import json
import math
import statistics

# Two-sided 95% Student t quantiles by degrees of freedom (1..30), then the normal's.
T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
       2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
       2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def mean_ci(xs):
    """(mean, half-width of the 95% t interval, n) of the numbers in xs (None and NaN skipped)."""
    xs = [x for x in xs if x is not None and not math.isnan(x)]
    if not xs:
        return float("nan"), float("nan"), 0
    if len(xs) == 1:
        return float(xs[0]), float("nan"), 1
    t = T95[len(xs) - 2] if len(xs) - 1 <= len(T95) else 1.96
    return statistics.fmean(xs), t * statistics.stdev(xs) / math.sqrt(len(xs)), len(xs)


def md(text):
    """Markdown table cell: escape the characters that end or format a cell."""
    out = str(text)
    for ch in "\\|*_`[]<>#":
        out = out.replace(ch, "\\" + ch)
    return out.replace("\n", " ")


def gp(text):
    """A gnuplot single-quoted string (a quote doubled) without enhanced-text markup."""
    return "'" + str(text).replace("'", "''") + "'"


def fmt(m, ci, digits=3):
    if math.isnan(m):
        return "–"
    if math.isnan(ci):
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} ± {ci:.{digits}f}"


def num(s):
    return float(s) if s not in ("", None) else float("nan")


def load_runs(sweep, csv_name, kind):
    """Every run under the sweep folder whose metrics.json has this kind and which has csv_name:
    (metrics, csv rows as dicts), in path order."""
    runs = []
    for metrics in sorted(sweep.glob("**/metrics.json")):
        csv_path = metrics.parent / csv_name
        if not csv_path.exists():
            continue
        m = json.loads(metrics.read_text())
        if m.get("kind") != kind:
            continue
        with csv_path.open(newline="") as f:
            rows = list(csv.DictReader(f))
        runs.append((m, rows))
    return runs
