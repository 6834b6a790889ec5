#!/usr/bin/env python3
"""Side-by-side: every zoo model in deferbench and its scikit-learn counterpart, in one run.

Reads a folder written by `deferbench featurize ... -o DIR` (DIR/features.npy, DIR/labels.csv),
fits each scikit-learn model on split=train (MLPs: train + val, holding val out for early
stopping), runs benchmarks' `zoo_compare` for the matching deferbench spec (train on train,
early-stop on val where the model supports it), measures accuracy against the teacher on
split=test, fit seconds and prediction rows/s on both sides, and prints a Markdown table with
the bars of the zoo issue checked.

    python3 benchmarks/compare_sklearn.py /tmp/b77 --zoo-compare build/release/zoo_compare

Threads are pinned (OMP/BLAS variables, n_jobs, zoo_compare --threads) to --threads, default 2.
scikit-learn's GradientBoostingClassifier is slow on many classes (one regression tree per class
and round, single-threaded; 77 classes × 7k rows × 256 features takes many minutes): use
--gbt-rows N to fit it on N training rows and extrapolate its fit time linearly, or --skip gbt.
"""
import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import time

# The rows of the table: key, deferbench spec, scikit-learn side (built in sklearn_model), the
# fit-speed bar (deferbench must be this many times faster; None: reported only), and which
# deferbench row's result to reuse (None: fit its own spec).
ROWS = [
    ("logreg", "name: logreg, C: 1", 2.0, None),
    ("logreg_c10", "name: logreg, C: 10", 2.0, None),
    ("mlp_1h", "name: mlp_1h", 2.0, None),
    ("mlp_2h", "name: mlp_2h", 2.0, None),
    ("dt", "name: dt", None, None),
    ("rf", "name: rf", 3.0, None),
    ("et", "name: et", 3.0, None),
    ("gbt", "name: gbt", 10.0, None),
    ("gbt_vs_xgb", None, 1.0, "gbt"),  # deferbench gbt vs XGBoost hist at equal rounds/depth
    ("xgb", "name: xgb, n_rounds: 100, max_depth: 6, eta: 0.3, max_bin: 256", None, None),
]

SKLEARN_NAMES = {
    "logreg": "StandardScaler + LogisticRegression(C=1)",
    "logreg_c10": "StandardScaler + LogisticRegression(C=10)",
    "mlp_1h": "MLPClassifier((256,), early_stopping)",
    "mlp_2h": "MLPClassifier((256, 96), early_stopping)",
    "dt": "DecisionTreeClassifier(max_depth=16)",
    "rf": "RandomForestClassifier(200)",
    "et": "ExtraTreesClassifier(200)",
    "gbt": "GradientBoostingClassifier(100, depth 3, lr 0.1)",
    "gbt_vs_xgb": "XGBClassifier(hist, 100, depth 3, eta 0.1)",
    "xgb": "XGBClassifier(hist, 100, depth 6, eta 0.3)",
}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("dir", help="folder written by `deferbench featurize -o DIR`")
    p.add_argument("--zoo-compare", default="build/release/zoo_compare",
                   help="the zoo_compare executable (default: %(default)s)")
    p.add_argument("--threads", type=int, default=2, help="threads for both sides (default 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", default="", help="comma-separated row keys to run (default: all)")
    p.add_argument("--skip", action="append", default=[],
                   help="row key to leave out (repeatable), e.g. --skip gbt")
    p.add_argument("--gbt-rows", type=int, default=0,
                   help="fit scikit-learn's GradientBoostingClassifier on this many training "
                        "rows and extrapolate its fit time linearly (0: all rows)")
    p.add_argument("--min-predict-seconds", type=float, default=0.25,
                   help="repeat prediction on the test rows for at least this long")
    p.add_argument("--output", help="also write the Markdown report to this file")
    p.add_argument("--title", default="", help="a heading for the report")
    return p.parse_args()


ARGS = parse_args()
# Pin every thread pool before numpy / scikit-learn load their BLAS and OpenMP runtimes.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)
# Idle OpenMP threads sleep instead of spinning (both sides): on a shared, busy machine spinning
# workers inflate every parallel region 10-100x. Set OMP_WAIT_POLICY=active to measure spinning.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

try:
    import numpy as np
    import sklearn
    from sklearn.ensemble import (ExtraTreesClassifier, GradientBoostingClassifier,
                                  RandomForestClassifier)
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import LabelEncoder, StandardScaler
    from sklearn.tree import DecisionTreeClassifier
except ImportError as e:
    sys.exit(f"compare_sklearn: {e}; install Debian's python3-sklearn "
             "(benchmarks/compare_zoo.sh does)")
try:
    import xgboost
except ImportError:
    xgboost = None


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def summary(r):
    if "error" in r:
        return f"error: {r['error']}"
    return (f"accuracy {r['accuracy']:.4f}, fit {r['fit_seconds']:.3f} s, "
            f"{r['predict_rows_per_s']:,.0f} rows/s")


def read_folder(path):
    x = np.load(os.path.join(path, "features.npy"))
    split, teacher = [], []
    with open(os.path.join(path, "labels.csv"), newline="") as f:
        for row in csv.DictReader(f):
            split.append(row["split"])
            teacher.append(int(row["teacher_id"]))
    split, teacher = np.array(split), np.array(teacher)
    if len(teacher) != x.shape[0]:
        sys.exit(f"compare_sklearn: {path}: labels.csv has {len(teacher)} rows, "
                 f"features.npy {x.shape[0]}")
    parts = {s: (x[split == s], teacher[split == s]) for s in ("train", "val", "test")}
    return parts, x.shape[1], int(teacher.max()) + 1


class EncodedXGB:
    """XGBClassifier wants labels 0..k-1: encode the classes present in train."""

    def __init__(self, **kw):
        self.model = xgboost.XGBClassifier(**kw)
        self.enc = LabelEncoder()

    def fit(self, x, y):
        self.model.fit(x, self.enc.fit_transform(y))
        return self

    def predict(self, x):
        return self.enc.inverse_transform(self.model.predict(x))


def sklearn_model(key, threads, seed, n_train, n_val):
    """The scikit-learn (or XGBoost) estimator for a row, and whether it takes train + val."""
    mlp = dict(early_stopping=True, validation_fraction=n_val / (n_train + n_val),
               random_state=seed)
    if key == "logreg":
        return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=100)), False
    if key == "logreg_c10":
        return make_pipeline(StandardScaler(), LogisticRegression(C=10.0, max_iter=100)), False
    if key == "mlp_1h":
        return MLPClassifier(hidden_layer_sizes=(256,), **mlp), n_val > 0
    if key == "mlp_2h":
        return MLPClassifier(hidden_layer_sizes=(256, 96), **mlp), n_val > 0
    if key == "dt":
        return DecisionTreeClassifier(max_depth=16, random_state=seed), False
    if key == "rf":
        return RandomForestClassifier(n_estimators=200, n_jobs=threads, random_state=seed), False
    if key == "et":
        return ExtraTreesClassifier(n_estimators=200, n_jobs=threads, random_state=seed), False
    if key == "gbt":
        return GradientBoostingClassifier(n_estimators=100, max_depth=3, learning_rate=0.1,
                                          random_state=seed), False
    if key in ("gbt_vs_xgb", "xgb"):
        if xgboost is None:
            raise RuntimeError("python3-xgboost is not installed")
        depth, eta = (3, 0.1) if key == "gbt_vs_xgb" else (6, 0.3)
        return EncodedXGB(n_estimators=100, max_depth=depth, learning_rate=eta,
                          tree_method="hist", max_bin=256, n_jobs=threads,
                          random_state=seed), False
    raise KeyError(key)


def time_predict(predict, x, min_seconds):
    t = time.perf_counter()
    pred = predict(x)
    reps = 1
    while time.perf_counter() - t < min_seconds:
        predict(x)
        reps += 1
    return pred, len(x) * reps / (time.perf_counter() - t)


def run_sklearn(key, parts, n_classes):
    (xtr, ytr), (xva, yva), (xte, yte) = parts["train"], parts["val"], parts["test"]
    model, with_val = sklearn_model(key, ARGS.threads, ARGS.seed, len(ytr), len(yva))
    note = ""
    scale = 1.0
    if with_val:
        xtr, ytr = np.concatenate([xtr, xva]), np.concatenate([ytr, yva])
    if key == "gbt" and 0 < ARGS.gbt_rows < len(ytr):
        rng = np.random.default_rng(ARGS.seed)
        idx = np.sort(rng.choice(len(ytr), ARGS.gbt_rows, replace=False))
        scale = len(ytr) / ARGS.gbt_rows
        xtr, ytr = xtr[idx], ytr[idx]
        note = f"fit on {ARGS.gbt_rows} train rows, time × {scale:.2f}"
    t = time.perf_counter()
    model.fit(xtr, ytr)
    fit = (time.perf_counter() - t) * scale
    pred, rows_per_s = time_predict(model.predict, xte, ARGS.min_predict_seconds)
    return {"accuracy": float(np.mean(pred == yte)), "fit_seconds": fit,
            "predict_rows_per_s": rows_per_s, "note": note}


def run_deferbench(spec):
    cmd = [ARGS.zoo_compare, ARGS.dir, "--model", spec, "--threads", str(ARGS.threads),
           "--seed", str(ARGS.seed), "--json",
           "--min-predict-seconds", str(ARGS.min_predict_seconds)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
    if proc.returncode != 0 or not lines:
        err = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        return {"error": err}
    return json.loads(lines[-1])


def fmt_num(v, digits):
    return "—" if v is None else f"{v:,.{digits}f}"


def short_error(e):
    e = str(e)
    if "unknown model" in e:
        return "not registered"
    return e if len(e) <= 60 else e[:57] + "..."


def main():
    if not os.access(ARGS.zoo_compare, os.X_OK):
        sys.exit(f"compare_sklearn: {ARGS.zoo_compare} not found; build it with "
                 "`cmake --build build/release --target zoo_compare`")
    parts, dim, n_classes = read_folder(ARGS.dir)
    only = set(filter(None, ARGS.only.split(",")))
    rows = [r for r in ROWS if (not only or r[0] in only) and r[0] not in ARGS.skip]
    db_results, table = {}, []
    for key, spec, bar, reuse in rows:
        if reuse:
            if reuse not in db_results:
                reuse_spec = next(r[1] for r in ROWS if r[0] == reuse)
                log(f"[deferbench] {reuse_spec}")
                db_results[reuse] = run_deferbench(reuse_spec)
                log(f"             {summary(db_results[reuse])}")
            db = db_results[reuse]
        else:
            log(f"[deferbench] {spec}")
            db = db_results[key] = run_deferbench(spec)
            log(f"             {summary(db)}")
        log(f"[sklearn]    {SKLEARN_NAMES[key]}")
        try:
            sk = run_sklearn(key, parts, n_classes)
        except Exception as e:  # noqa: BLE001 — report it in the table, go on
            sk = {"error": str(e)}
        log(f"             {summary(sk)}")
        table.append((key, bar, sk, db))

    n = {s: len(parts[s][1]) for s in parts}
    out = []
    if ARGS.title:
        out += [f"## {ARGS.title}", ""]
    out += [f"Features `{ARGS.dir}`: train {n['train']}, val {n['val']}, test {n['test']} rows "
            f"× {dim} features, {n_classes} classes. Accuracy against the teacher on the test "
            f"split; {ARGS.threads} threads on both sides (OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}); {platform.processor() or platform.machine()}"
            f", Python {platform.python_version()}, scikit-learn {sklearn.__version__}"
            + (f", XGBoost {xgboost.__version__}" if xgboost else ", no python3-xgboost") + ".",
            "",
            "| model | scikit-learn side | sklearn acc | deferbench acc | Δ (pts) | sklearn fit s "
            "| deferbench fit s | speedup | sklearn pred rows/s | deferbench pred rows/s | bars |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    notes = []
    for key, bar, sk, db in table:
        sk_ok, db_ok = "error" not in sk, "error" not in db
        cells = [key, SKLEARN_NAMES[key]]
        cells.append(fmt_num(sk.get("accuracy"), 4) if sk_ok else short_error(sk["error"]))
        cells.append(fmt_num(db.get("accuracy"), 4) if db_ok else short_error(db["error"]))
        bars = []
        if sk_ok and db_ok:
            delta = 100 * (db["accuracy"] - sk["accuracy"])
            speedup = sk["fit_seconds"] / max(db["fit_seconds"], 1e-9)
            cells += [f"{delta:+.1f}", fmt_num(sk["fit_seconds"], 3),
                      fmt_num(db["fit_seconds"], 3), f"{speedup:.2f}×"]
            bars.append(("acc ok" if delta >= -1.5 else "ACC MISS"))
            if bar is not None:
                bars.append(f"fit ≥{bar:g}× " + ("ok" if speedup >= bar else "MISS"))
            bars.append("pred ok" if db["predict_rows_per_s"] >= sk["predict_rows_per_s"]
                        else "PRED MISS")
        else:
            cells += ["—", fmt_num(sk.get("fit_seconds"), 3), fmt_num(db.get("fit_seconds"), 3),
                      "—"]
        cells += [fmt_num(sk.get("predict_rows_per_s"), 0), fmt_num(db.get("predict_rows_per_s"), 0),
                  ", ".join(bars)]
        if sk.get("note"):
            cells[0] += f" [{len(notes) + 1}]"
            notes.append(f"[{len(notes) + 1}] {key}: scikit-learn {sk['note']}.")
        for side, r in (("scikit-learn", sk), ("deferbench", db)):
            if "error" in r and "unknown model" not in r["error"]:
                notes.append(f"- {key}, {side}: {r['error']}")
        out.append("| " + " | ".join(cells) + " |")
    specs = [f"{k}: `{s}`" for k, s, _, reuse in rows if s]
    out += ["", "deferbench specs: " + "; ".join(specs) + "."]
    out += ["", "Bars: accuracy no more than 1.5 points below scikit-learn; fit speed as in the "
            "bars column (rf/et ≥ 3×, gbt ≥ 10× GradientBoostingClassifier and ≥ 1× XGBoost hist, "
            "logreg/MLP ≥ 2×); prediction rows/s ≥ scikit-learn's."]
    if notes:
        out += [""] + notes
    report = "\n".join(out) + "\n"
    print(report, end="")
    if ARGS.output:
        os.makedirs(os.path.dirname(os.path.abspath(ARGS.output)), exist_ok=True)
        with open(ARGS.output, "a") as f:
            f.write(report + "\n")


if __name__ == "__main__":
    main()
