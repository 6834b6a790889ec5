#!/usr/bin/env python3
"""The PyTorch (Python) side of gpu_bench: the same l2d policy written with PyTorch's Python API.

For logreg, mlp_1h and mlp_2h: the surrogate (Linear layers of the zoo's shapes, ReLU between,
softmax), the four probability summaries deferbench's acceptor reads (top-1, top-2, their margin,
entropy / ln K), the acceptor (a logistic regression on them), the threshold, and the decisions
(label or -1, the score) copied back to the host: what deferbench's DevicePolicy does, in the
idiomatic PyTorch way (torch.inference_mode, tensors resident on the device). The weights are
random: routing cost does not depend on their values. Timing as gpu_bench's: the rows resident on
the device, one warm-up call, the best of --reps calls, each ending with the host copy of the
decisions (which synchronizes). Prints one JSON line per measurement (kind "torch_route").

    python3 benchmarks/torch_policy_bench.py [--device cuda] [--dims 256,1024]
        [--batches 4096,65536,1048576,4194304] [--precisions fp32,bf16] [--out FILE.jsonl]
"""
import argparse
import json
import math
import sys
import time

import torch

SHAPES = {"logreg": [], "mlp_1h": [256], "mlp_2h": [256, 96]}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dims", default="256,1024")
    p.add_argument("--batches", default="4096,65536,1048576,4194304")
    p.add_argument("--precisions", default="fp32,bf16")
    p.add_argument("--models", default=",".join(SHAPES))
    p.add_argument("--classes", type=int, default=77)
    p.add_argument("--pool-rows", type=int, default=1 << 20)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: PyTorch's default)")
    p.add_argument("--tiny", action="store_true", help="tiny sizes (the smoke test)")
    p.add_argument("--out", help="also append the JSON lines to this file")
    a = p.parse_args()
    if a.tiny:
        a.dims, a.batches, a.classes, a.pool_rows, a.reps = "16", "64,512", 5, 256, 1
    return a


class Policy(torch.nn.Module):
    def __init__(self, dim, hidden, classes, dtype):
        super().__init__()
        sizes = [dim] + hidden + [classes]
        self.layers = torch.nn.ModuleList(
            torch.nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.acceptor = torch.nn.Linear(4, 2)
        self.dtype = dtype
        self.inv_log_k = 1.0 / math.log(classes)
        self.threshold = 0.5

    def forward(self, x):
        h = x.to(self.dtype)
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i + 1 < len(self.layers):
                h = torch.relu(h)
        p = torch.softmax(h.float(), dim=1)
        top = p.topk(2, dim=1).values
        entropy = -(p * p.clamp_min(1e-38).log()).sum(1) * self.inv_log_k
        features = torch.stack([top[:, 0], top[:, 1], top[:, 0] - top[:, 1], entropy], 1)
        score = torch.softmax(self.acceptor(features.to(self.dtype)).float(), dim=1)[:, 1]
        label = torch.where(score >= self.threshold, p.argmax(1), torch.full_like(p[:, 0], -1,
                                                                                  dtype=torch.long))
        return torch.stack([label.to(torch.int32), score.view(torch.int32)], 1).cpu()


def best_seconds(reps, f):
    f()
    best = float("inf")
    for _ in range(max(1, reps)):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    a = parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    dims = [int(v) for v in a.dims.split(",")]
    batches = [int(v) for v in a.batches.split(",")]
    out = open(a.out, "a") if a.out else None
    gen = torch.Generator().manual_seed(0)
    for dim in dims:
        pool = torch.randn(min(a.pool_rows, max(batches)), dim, generator=gen).to(device)
        for model in a.models.split(","):
            for precision in a.precisions.split(","):
                dtype = torch.bfloat16 if precision == "bf16" else torch.float32
                torch.manual_seed(0)
                policy = Policy(dim, SHAPES[model], a.classes, dtype).to(device=device, dtype=dtype)
                policy.eval()
                for batch in batches:
                    reps = (batch + pool.shape[0] - 1) // pool.shape[0]
                    x = pool.repeat(reps, 1)[:batch].contiguous()
                    with torch.inference_mode():
                        t = best_seconds(a.reps, lambda: policy(x))
                    line = json.dumps({"kind": "torch_route", "model": model, "dim": dim,
                                       "precision": precision, "batch": batch,
                                       "device": a.device, "rows_per_s": batch / t,
                                       "torch": torch.__version__})
                    print(line, flush=True)
                    if out:
                        out.write(line + "\n")
                        out.flush()
                    del x
    return 0


if __name__ == "__main__":
    sys.exit(main())
