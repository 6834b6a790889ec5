#!/usr/bin/env python3
"""Routing throughput: deferbench against the equivalent Python policy, on the same feature file.

For every zoo model, the Python policy is the scikit-learn model (XGBoost's for xgb; for the MLPs
also a PyTorch MLP of the same shape) + a scikit-learn LogisticRegression acceptor on the same
four probability summaries deferbench uses (top-1, top-2, their margin, entropy / log K) + a
threshold; deferbench's is the same policy through route_bench (surrogate on split=train,
acceptor on split=val, threshold on split=cal). Both sides route the split=test rows at each
batch size, batches built before timing, one untimed call, then calls for at least
--min-seconds. The table gives rows/s on each side and the ratio deferbench / Python, with the
issue's bar (≥ 20× at batch 4096).

    python3 benchmarks/compare_python_routing.py [DIR] --route-bench build/release/route_bench

DIR is a `deferbench featurize -o DIR` folder (features.npy, labels.csv). Without DIR, a
synthetic folder (--rows × --dim, --classes; deferbench's generator through
`route_bench --write-synthetic`) is written under ~/.cache/deferbench/route_compare/ and reused.
Threads are pinned on both sides to --threads (OMP/BLAS variables, n_jobs, torch, route_bench).
Only routing is compared; fits are whatever makes an equivalent model (scikit-learn's
GradientBoostingClassifier is fitted on --gbt-rows rows: its prediction cost, 100 rounds × one
depth-3 tree per class, does not depend on the rows it was fitted on).
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("dir", nargs="?", help="feature folder (default: a cached synthetic one)")
    p.add_argument("--route-bench", default="build/release/route_bench")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batches", default="1,64,4096")
    p.add_argument("--only", default="", help="comma-separated model keys (default: all)")
    p.add_argument("--min-seconds", type=float, default=0.5)
    p.add_argument("--rows", type=int, default=20000)
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--classes", type=int, default=77)
    p.add_argument("--gbt-rows", type=int, default=200)
    p.add_argument("--torch-epochs", type=int, default=5,
                   help="epochs of the PyTorch MLPs (routing speed does not depend on them)")
    p.add_argument("--no-torch", action="store_true", help="leave out the PyTorch MLPs")
    p.add_argument("--tiny", action="store_true",
                   help="a tiny synthetic set and small models (the smoke test)")
    p.add_argument("--output", help="also write the Markdown table to this file")
    return p.parse_args()


ARGS = parse_args()
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

try:
    import numpy as np
    from sklearn.ensemble import (ExtraTreesClassifier, GradientBoostingClassifier,
                                  RandomForestClassifier)
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier
except ImportError as e:
    sys.exit(f"compare_python_routing: {e}; install Debian's python3-sklearn")
try:
    import xgboost
except ImportError:
    xgboost = None
torch = None
if not ARGS.no_torch:
    try:
        import torch
        torch.set_num_threads(ARGS.threads)
    except ImportError:
        print("compare_python_routing: no python3-torch: PyTorch rows left out", file=sys.stderr)

TINY = ARGS.tiny
# key, deferbench spec, Python sides
MODELS = [
    ("logreg", "name: logreg", ["sklearn"]),
    ("logreg_c10", "name: logreg, C: 10", ["sklearn"]),
    ("mlp_1h", "name: mlp_1h", ["sklearn", "torch"]),
    ("mlp_2h", "name: mlp_2h", ["sklearn", "torch"]),
    ("dt", "name: dt", ["sklearn"]),
    ("rf", "name: rf", ["sklearn"]),
    ("et", "name: et", ["sklearn"]),
    ("gbt", "name: gbt", ["sklearn"]),
    ("xgb", "name: xgb", ["xgboost"]),
]
TINY_SPECS = {"logreg": "name: logreg, max_iter: 20", "logreg_c10": "name: logreg, C: 10, max_iter: 20",
              "mlp_1h": "name: mlp_1h, max_epochs: 2", "mlp_2h": "name: mlp_2h, max_epochs: 2",
              "dt": "name: dt, max_depth: 6", "rf": "name: rf, n_trees: 4",
              "et": "name: et, n_trees: 4", "gbt": "name: gbt, n_rounds: 3",
              "xgb": "name: xgb, n_rounds: 3"}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def read_folder(path):
    x = np.load(os.path.join(path, "features.npy")).astype(np.float32, copy=False)
    split, teacher = [], []
    with open(os.path.join(path, "labels.csv"), newline="") as f:
        for row in csv.DictReader(f):
            split.append(row["split"])
            teacher.append(int(row["teacher_id"]))
    split, teacher = np.array(split), np.array(teacher)
    parts = {s: (np.ascontiguousarray(x[split == s]), teacher[split == s])
             for s in ("train", "val", "cal", "test")}
    if len(parts["cal"][1]) == 0:
        parts["cal"] = parts["val"]
    return parts


def sklearn_model(key, n_train):
    t = ARGS.threads
    small = TINY
    if key == "logreg":
        return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=100))
    if key == "logreg_c10":
        return make_pipeline(StandardScaler(), LogisticRegression(C=10.0, max_iter=100))
    # The MLPs take the features as they are, as deferbench's (standardize: false by default).
    if key == "mlp_1h":
        return MLPClassifier((256,), early_stopping=True, max_iter=2 if small else 200,
                             random_state=0)
    if key == "mlp_2h":
        return MLPClassifier((256, 96), early_stopping=True, max_iter=2 if small else 200,
                             random_state=0)
    if key == "dt":
        return DecisionTreeClassifier(max_depth=6 if small else 16, random_state=0)
    if key == "rf":
        return RandomForestClassifier(4 if small else 200, n_jobs=t, random_state=0)
    if key == "et":
        return ExtraTreesClassifier(4 if small else 200, n_jobs=t, random_state=0)
    if key == "gbt":
        return GradientBoostingClassifier(n_estimators=3 if small else 100, max_depth=3,
                                          learning_rate=0.1, random_state=0)
    raise KeyError(key)


class XgbModel:
    """XGBClassifier wants labels 0..k-1: encode the classes present in train."""

    def __init__(self):
        self.model = xgboost.XGBClassifier(n_estimators=3 if TINY else 100, max_depth=6,
                                           learning_rate=0.3, tree_method="hist", max_bin=256,
                                           n_jobs=ARGS.threads, random_state=0)

    def fit(self, x, y):
        self.classes_ = np.unique(y)
        self.model.fit(x, np.searchsorted(self.classes_, y))
        return self

    def predict_proba(self, x):
        return self.model.predict_proba(x)


class Mlp:
    """The MLP in PyTorch: Linear/ReLU layers, softmax; Adam, batches of 200 (no standardization,
    as deferbench's MLPs by default)."""

    def __init__(self, hidden):
        self.hidden = hidden

    def fit(self, x, y):
        self.classes_ = np.unique(y)
        yy = torch.from_numpy(np.searchsorted(self.classes_, y))
        layers, width = [], x.shape[1]
        for h in self.hidden:
            layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
            width = h
        layers.append(torch.nn.Linear(width, len(self.classes_)))
        self.net = torch.nn.Sequential(*layers)
        opt = torch.optim.Adam(self.net.parameters(), lr=1e-3, weight_decay=1e-4)
        xt = torch.from_numpy(x)
        g = torch.Generator().manual_seed(0)
        for _ in range(1 if TINY else ARGS.torch_epochs):
            perm = torch.randperm(len(yy), generator=g)
            for i in range(0, len(yy), 200):
                idx = perm[i:i + 200]
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(self.net(xt[idx]), yy[idx])
                loss.backward()
                opt.step()
        self.net.eval()
        return self

    def predict_proba(self, x):
        with torch.inference_mode():
            z = self.net(torch.from_numpy(x))
            return torch.softmax(z, dim=1).numpy()


def acceptor_features(p):
    part = np.partition(p, p.shape[1] - 2, axis=1)[:, -2:] if p.shape[1] > 1 else np.hstack(
        [np.zeros((len(p), 1), p.dtype), p])
    top1, top2 = part[:, 1], part[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=1)
    ent = ent / np.log(p.shape[1]) if p.shape[1] > 1 else np.zeros(len(p))
    return np.column_stack([top1, top2, top1 - top2, ent])


class PythonPolicy:
    """Surrogate + logistic acceptor + threshold, as deferbench's one-stage l2d policy."""

    def __init__(self, model, parts, target=0.8):
        xtr, ytr = parts["train"]
        self.model = model.fit(xtr, ytr)
        self.classes = getattr(model, "classes_", None)
        if self.classes is None:
            self.classes = model.steps[-1][1].classes_
        xv, yv = parts["val"]
        pv = self.model.predict_proba(xv)
        agree = (self.classes[pv.argmax(1)] == yv).astype(int)
        if agree.min() == agree.max():  # a constant acceptor, as deferbench's
            self.constant = float(agree[0])
            self.acceptor = None
        else:
            self.constant = None
            self.acceptor = LogisticRegression().fit(acceptor_features(pv), agree)
        # Threshold: the loosest cal threshold whose empirical agreement reaches the target.
        xc, yc = parts["cal"]
        s = self.score(self.model.predict_proba(xc))
        ok = self.classes[self.model.predict_proba(xc).argmax(1)] == yc
        order = np.argsort(-s, kind="stable")
        mean = np.cumsum(ok[order]) / np.arange(1, len(order) + 1)
        good = np.nonzero(mean >= target)[0]
        self.tau = s[order[good[-1]]] if len(good) else np.inf

    def score(self, p):
        if self.acceptor is None:
            return np.full(len(p), self.constant)
        return self.acceptor.predict_proba(acceptor_features(p))[:, 1]

    def route(self, x):
        p = self.model.predict_proba(x)
        s = self.score(p)
        return np.where(s >= self.tau, self.classes[p.argmax(1)], -1)


def batches_of(x, b):
    n = max(1, len(x) // b)
    idx = np.arange(n * b) % len(x)
    return [np.ascontiguousarray(x[idx[k * b:(k + 1) * b]]) for k in range(n)]


def time_route(route, x, b):
    parts = batches_of(x, b)
    route(parts[0])  # warm-up
    calls, handled = 0, 0
    t0 = time.perf_counter()
    while True:
        out = route(parts[calls % len(parts)])
        handled += int(np.sum(out >= 0))
        calls += 1
        s = time.perf_counter() - t0
        if s >= ARGS.min_seconds:
            break
    return calls * b / s, handled / (calls * b)


def run_deferbench(directory, spec, batches):
    cmd = [ARGS.route_bench, directory, "--model", spec, "--batch", ",".join(map(str, batches)),
           "--threads", str(ARGS.threads), "--min-seconds", str(ARGS.min_seconds), "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"route_bench failed: {r.stderr.strip()}")
    out = {}
    for line in r.stdout.splitlines():
        j = json.loads(line)
        if "error" in j:
            raise RuntimeError(j["error"])
        out[j["batch"]] = j
    return out


def fmt(v):
    return "–" if v is None else f"{v:,.0f}"


def main():
    batches = [int(b) for b in ARGS.batches.split(",")]
    directory = ARGS.dir
    if not directory:
        rows, dim, classes = (600, 8, 5) if TINY else (ARGS.rows, ARGS.dim, ARGS.classes)
        directory = os.path.expanduser(
            f"~/.cache/deferbench/route_compare/synthetic_{rows}x{dim}x{classes}")
        if not os.path.exists(os.path.join(directory, "labels.csv")):
            log(f"writing {directory}")
            subprocess.run([ARGS.route_bench, "--write-synthetic", directory, "--rows", str(rows),
                            "--dim", str(dim), "--classes", str(classes)], check=True)
    parts = read_folder(directory)
    only = set(filter(None, ARGS.only.split(",")))
    rows = []
    for key, spec, sides in MODELS:
        if only and key not in only:
            continue
        if TINY:
            spec = TINY_SPECS[key]
        try:
            log(f"{key}: deferbench ({spec})")
            ours = run_deferbench(directory, spec, batches)
        except Exception as e:  # noqa: BLE001 - report and go on
            log(f"{key}: deferbench: {e}")
            ours = {}
        for side in sides:
            if side == "torch" and torch is None:
                continue
            if side == "xgboost" and xgboost is None:
                log(f"{key}: python3-xgboost is not installed: Python side left out")
                continue
            try:
                log(f"{key}: Python ({side})")
                if side == "torch":
                    model = Mlp((256,) if key == "mlp_1h" else (256, 96))
                elif side == "xgboost":
                    model = XgbModel()
                else:
                    model = sklearn_model(key, len(parts["train"][1]))
                fit_parts = dict(parts)
                if key == "gbt" and 0 < ARGS.gbt_rows < len(parts["train"][1]):
                    xtr, ytr = parts["train"]
                    fit_parts["train"] = (xtr[:ARGS.gbt_rows], ytr[:ARGS.gbt_rows])
                policy = PythonPolicy(model, fit_parts)
            except Exception as e:  # noqa: BLE001
                log(f"{key}: Python ({side}): {e}")
                continue
            for b in batches:
                py_rate, py_cov = time_route(policy.route, parts["test"][0], b)
                o = ours.get(b)
                ratio = o["rows_per_s"] / py_rate if o else None
                bar = "–"
                if b == 4096 and ratio is not None:
                    bar = "ok" if ratio >= 20 else "MISS"
                rows.append([key, side, b, py_rate, o["rows_per_s"] if o else None, ratio, bar,
                             py_cov, o["coverage"] if o else None])
                log(f"  batch {b}: Python {py_rate:,.0f} rows/s, deferbench "
                    f"{fmt(o['rows_per_s'] if o else None)} rows/s")
    n_test = len(parts["test"][1])
    lines = [f"Feature folder `{directory}`: {n_test} test rows × {parts['test'][0].shape[1]} "
             f"features; {ARGS.threads} threads on both sides; at least {ARGS.min_seconds} s "
             "per cell.", "",
             "| model | Python side | batch | Python rows/s | deferbench rows/s | ratio | bar (≥ 20× at 4096) "
             "| coverage Python | coverage deferbench |",
             "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |"]
    for key, side, b, py, ours, ratio, bar, pc, oc in rows:
        lines.append(f"| {key} | {side} | {b} | {fmt(py)} | {fmt(ours)} | "
                     f"{'–' if ratio is None else f'{ratio:.2f}×'} | {bar} | {pc:.3f} | "
                     f"{'–' if oc is None else f'{oc:.3f}'} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if ARGS.output:
        with open(ARGS.output, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
