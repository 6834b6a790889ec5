#!/usr/bin/env python3
"""Markdown tables of a scripts/bench-gpu.sh run: gpu_bench's and torch_policy_bench.py's JSON
lines, with the issue's bars checked.

    python3 benchmarks/gpu_summary.py RUN.jsonl --gpu "NVIDIA H200" --command "..." [-o OUT.md]

Bars (issue 7): logreg at batch >= 1M rows, 1024-d fp32: >= 50% of the device copy's read
bandwidth; the MLPs: >= 2x PyTorch's rows/s (same batch, dimension and precision); the 200-tree
forests (rf, et) at batch >= 1M: >= 20x the CPU path's rows/s.
"""
import argparse
import json
import sys


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("jsonl")
    p.add_argument("--gpu", default="(unknown)")
    p.add_argument("--command", default="")
    p.add_argument("-o", "--output")
    return p.parse_args()


def rate(v):
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if v >= scale:
            return f"{v / scale:.3g}{unit}"
    return f"{v:.3g}"


def main():
    a = parse_args()
    rows = [json.loads(l) for l in open(a.jsonl) if l.strip().startswith("{")]
    bw = next((r for r in rows if r["kind"] == "bandwidth"), None)
    torch_rate = {(r["model"], r["dim"], r["precision"], r["batch"]): r["rows_per_s"]
                  for r in rows if r["kind"] == "torch_route"}
    out = [f"# deferbench on {a.gpu}", ""]
    if a.command:
        out += [f"Command: `{a.command}`", ""]
    if bw:
        out += [f"Device copy bandwidth (read share, LibTorch device-to-device copy): "
                f"{bw['copy_read_bytes_per_s'] / 1e9:.0f} GB/s on {bw['device']}; CPU path: "
                f"{bw['threads']} threads.", ""]
    out += ["## Routing throughput (whole policy on the device)", "",
            "resident: rows already on the device, decisions copied back; from host: the rows' "
            "copy over included; bw: resident rows/s x bytes per row / copy read bandwidth; "
            "PyTorch: the same policy through PyTorch's Python API; CPU: route() on the CPU.", "",
            "| model | d | precision | batch | resident rows/s | bw | from host rows/s | "
            "PyTorch rows/s | vs PyTorch | CPU rows/s | vs CPU | coverage |",
            "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    bars = []
    for r in (r for r in rows if r["kind"] == "route"):
        key = (r["model"], r["dim"], r["precision"], r["batch"])
        pt = torch_rate.get(key)
        vs_pt = r["resident_rows_per_s"] / pt if pt else None
        out.append(
            f"| {r['model']} | {r['dim']} | {r['precision']} | {r['batch']:,} | "
            f"{rate(r['resident_rows_per_s'])} | {100 * r['bw_fraction']:.1f}% | "
            f"{rate(r['from_host_rows_per_s'])} | {rate(pt) if pt else '-'} | "
            f"{f'{vs_pt:.2f}x' if vs_pt else '-'} | {rate(r['cpu_rows_per_s'])} | "
            f"{r['speedup_vs_cpu']:.1f}x | {r['coverage']:.2f} |")
        big = r["batch"] >= 1 << 20
        if r["model"] == "logreg" and big and r["dim"] == 1024 and r["precision"] == "fp32":
            bars.append((f"logreg b={r['batch']:,} 1024-d fp32: {100 * r['bw_fraction']:.1f}% "
                         f"of the copy read bandwidth (bar 50%)", r["bw_fraction"] >= 0.5))
        if r["model"].startswith("mlp") and vs_pt is not None and r["batch"] >= 4096:
            bars.append((f"{r['model']} b={r['batch']:,} {r['dim']}-d {r['precision']}: "
                         f"{vs_pt:.2f}x PyTorch (bar 2x)", vs_pt >= 2.0))
        if r["model"] in ("rf", "et") and big:
            bars.append((f"{r['model']} b={r['batch']:,} {r['dim']}-d: "
                         f"{r['speedup_vs_cpu']:.1f}x the CPU path (bar 20x)",
                         r["speedup_vs_cpu"] >= 20.0))
    out += ["", "## Bars", ""]
    out += [f"- {'ok' if ok else 'MISSED'}: {text}" for text, ok in bars] or ["- (none measured)"]
    out += ["", "## The bf16 option: decisions on held-out rows", "",
            "| model | d | precision | coverage | teacher agreement | same decision as fp32 |",
            "| --- | ---: | --- | ---: | ---: | ---: |"]
    for r in (r for r in rows if r["kind"] == "decisions"):
        same = r.get("same_decision_as_fp32")
        out.append(f"| {r['model']} | {r['dim']} | {r['precision']} | {r['coverage']:.4f} | "
                   f"{r['teacher_agreement']:.4f} | {f'{same:.4f}' if same is not None else '-'} |")
    out += ["", "## Policy fit time (surrogate + acceptor + calibration)", "",
            "| model | d | precision | device | fit s | CPU fit s |",
            "| --- | ---: | --- | --- | ---: | ---: |"]
    for r in (r for r in rows if r["kind"] == "fit"):
        cpu = r.get("cpu_fit_s")
        out.append(f"| {r['model']} | {r['dim']} | {r['precision']} | {r['device']} | "
                   f"{r['fit_s']:.3f} | {f'{cpu:.3f}' if cpu is not None else '-'} |")
    text = "\n".join(out) + "\n"
    if a.output:
        with open(a.output, "w") as f:
            f.write(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
