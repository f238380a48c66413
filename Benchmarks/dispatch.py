#!/usr/bin/env python3
"""What one node costs besides its arithmetic: the dispatch of a kernel on the device's queue.

Writes chains of N alternating Relu/Neg nodes on a [1, 16] tensor (no arithmetic to speak of, one
kernel each, no fusion), times each with `gpuinfer bench --json` (median latency over
--iterations after one warm-up, a fresh process per chain length, rounds interleaved) and fits
latency = fixed + N x per-node by least squares over the medians. The per-node figure is what a
model pays per kernel launch on top of the kernel's own work (PoCL: the enqueue, its command
scheduling and the work-group launch); the fixed part is the input upload, output read and
host-side run bookkeeping. onnxruntime runs the same chains for comparison (its per-node cost).

Usage: .venv/bin/python Benchmarks/dispatch.py [--device 0] [--lengths 1,100,400,1000]
           [--rounds 3] [--iterations 50] [--no-ort] [--json out.json]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_chain(path, n):
    import onnx
    from onnx import TensorProto, helper

    nodes, prev = [], "x"
    for i in range(n):
        nodes.append(helper.make_node("Relu" if i % 2 == 0 else "Neg", [prev], [f"t{i}"]))
        prev = f"t{i}"
    graph = helper.make_graph(nodes, f"chain{n}", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
                              [helper.make_tensor_value_info(prev, TensorProto.FLOAT, None)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def gpuinfer_ms(binary, path, device, iterations):
    p = subprocess.run([binary, "bench", path, "--device", device, "--iterations", str(iterations), "--json"],
                       capture_output=True, text=True, cwd=ROOT)
    if p.returncode != 0:
        raise RuntimeError(f"gpuinfer bench {path} failed ({p.returncode}): {p.stderr.strip()}")
    return json.loads(p.stdout.strip().splitlines()[-1])["latency_ms"]["median"]


def ort_ms(path, iterations, threads):
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    feed = {"x": np.ones((1, 16), np.float32)}
    session.run(None, feed)
    times = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def fit(points):
    """Least-squares line through (n, ms): (fixed ms, per-node µs)."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    slope = sum((x - mx) * (y - my) for x, y in points) / max(sum((x - mx) ** 2 for x in xs), 1e-12)
    return my - slope * mx, slope * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="0")
    ap.add_argument("--lengths", default="1,100,400,1000")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads")
    ap.add_argument("--no-ort", action="store_true")
    ap.add_argument("--gpuinfer", default=os.path.join(ROOT, ".build", "release", "gpuinfer"))
    ap.add_argument("--json")
    args = ap.parse_args()
    lengths = [int(x) for x in args.lengths.split(",")]
    if len(lengths) < 2:
        sys.exit("error: --lengths needs at least two chain lengths")
    results = {"gpuinfer": {n: [] for n in lengths}, "onnxruntime": {n: [] for n in lengths}}
    with tempfile.TemporaryDirectory(prefix="gpuinfer-dispatch-") as tmp:
        for n in lengths:
            write_chain(os.path.join(tmp, f"chain{n}.onnx"), n)
        for _ in range(args.rounds):
            for n in lengths:
                path = os.path.join(tmp, f"chain{n}.onnx")
                results["gpuinfer"][n].append(gpuinfer_ms(args.gpuinfer, path, args.device, args.iterations))
                if not args.no_ort:
                    results["onnxruntime"][n].append(ort_ms(path, args.iterations, args.threads))
    print("| runtime | " + " | ".join(f"{n} nodes (ms)" for n in lengths) + " | fixed (ms) | per node (µs) |")
    print("|---|" + "---:|" * (len(lengths) + 2))
    summary = {}
    for runtime, table in results.items():
        if not table[lengths[0]]:
            continue
        medians = [(n, statistics.median(table[n])) for n in lengths]
        fixed, per_node = fit(medians)
        summary[runtime] = {"medians_ms": dict(medians), "fixed_ms": fixed, "per_node_us": per_node}
        print(f"| {runtime} | " + " | ".join(f"{m:.3f}" for _, m in medians) + f" | {fixed:.3f} | {per_node:.2f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
