#!/usr/bin/env python3
"""gpuinfer vs onnxruntime on the same exported models, interleaved in one run.

For every (model, batch) whose ONNX file exists (netvlad 1 and 8, mpncov_resnet50 1,
ssdlite_mobilenet_v2 1, gldv2_res152 1 by default), each round runs, one after the other:
  gpuinfer:    `gpuinfer bench MODEL --device D --batch B --json --save-inputs DIR` (a fresh process)
  onnxruntime: this script in worker mode, a fresh process: CPU execution provider with
               intra_op_num_threads = the OpenCL device's compute units (inter_op 1, sequential),
               full graph optimizations, fed the very tensors gpuinfer wrote with --save-inputs.
Both report the median latency over --iterations timed runs after one warm-up, images/s = batch /
median, load time, first inference, and the process's peak RSS (VmHWM). Rounds alternate the two
runtimes so that a machine getting busier or cooler affects both; the table gives the median
images/s over rounds and the ratio gpuinfer/onnxruntime (> 1: gpuinfer is faster).

Usage (after scripts/setup.sh and scripts/demo.sh, which export netvlad):
  .venv/bin/python Benchmarks/compare.py [--device 0] [--rounds 3] [--iterations 5]
      [--models netvlad:1,netvlad:8,...] [--models-dir Models/generated] [--json results.json]
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
DEFAULT_MODELS = "netvlad:1,netvlad:8,mpncov_resnet50:1,ssdlite_mobilenet_v2:1,gldv2_res152:1"


def peak_rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def ort_worker(args):
    """One onnxruntime measurement in this (fresh) process; prints one JSON object."""
    import numpy as np
    import onnxruntime as ort

    inputs = {name: np.load(path) for name, path in json.loads(args.feeds).items()}
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    t0 = time.perf_counter()
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if args.ort_provider == "cuda" else ["CPUExecutionProvider"]
    session = ort.InferenceSession(args.ort_worker, options, providers=providers)
    if args.ort_provider == "cuda" and "CUDAExecutionProvider" not in session.get_providers():
        raise SystemExit("onnxruntime has no working CUDA execution provider here")
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    session.run(None, inputs)
    first = time.perf_counter() - t0
    session.run(None, inputs)  # warm-up, as gpuinfer bench --warmup 1
    latencies = []
    for _ in range(args.iterations):
        t0 = time.perf_counter()
        session.run(None, inputs)
        latencies.append(time.perf_counter() - t0)
    latencies.sort()
    median = latencies[len(latencies) // 2]
    print(json.dumps({"images_per_s": args.batch / median, "latency_ms": {"median": median * 1e3, "min": latencies[0] * 1e3},
                      "load_s": load, "first_inference_s": first, "peak_rss_mb": peak_rss_mb(),
                      "threads": args.threads, "version": ort.__version__}))


def run_json(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr.strip()}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="0", help="gpuinfer OpenCL device index (default 0)")
    ap.add_argument("--models", default=DEFAULT_MODELS, help="comma-separated MODEL:BATCH list")
    ap.add_argument("--models-dir", default=os.path.join(ROOT, "Models", "generated"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--threads", type=int, help="onnxruntime threads (default: the device's compute units)")
    ap.add_argument("--gpuinfer", default=os.path.join(ROOT, ".build", "release", "gpuinfer"))
    ap.add_argument("--no-build", action="store_true", help="do not run swift build -c release first")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--ort-provider", choices=["cpu", "cuda"], default="cpu",
                    help="onnxruntime execution provider (cuda: onnxruntime-gpu's CUDA provider, for GPU devices)")
    # worker mode (internal)
    ap.add_argument("--ort-worker", help=argparse.SUPPRESS)
    ap.add_argument("--feeds", help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.ort_worker:
        return ort_worker(args)

    if not args.no_build:
        subprocess.run(["swift", "build", "-c", "release", "--product", "gpuinfer"], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
    devices = run_json([args.gpuinfer, "devices", "--json"])
    device = next((d for d in devices if str(d["index"]) == args.device), None)
    if device is None:
        sys.exit(f"error: no OpenCL device {args.device}; gpuinfer devices lists {[d['index'] for d in devices]}")
    threads = args.threads or device["compute_units"]

    cases = []
    for item in args.models.split(","):
        name, _, batch = item.partition(":")
        path = os.path.join(args.models_dir, name + ".onnx")
        if os.path.exists(path):
            cases.append((name, int(batch or 1), path))
        else:
            print(f"skipping {name}: {path} does not exist (export it with the script in Models/)", file=sys.stderr)
    if not cases:
        sys.exit("error: none of the models exist")

    print(f"device {args.device}: {device['name']} ({device['platform']}), {device['compute_units']} compute units; "
          f"onnxruntime {args.ort_provider.upper()} provider ({threads} threads); {args.rounds} rounds x {args.iterations} iterations", file=sys.stderr)
    results = {(n, b): {"gpuinfer": [], "onnxruntime": []} for n, b, _ in cases}
    with tempfile.TemporaryDirectory(prefix="gpuinfer-compare-") as tmp:
        for r in range(args.rounds):
            for name, batch, path in cases:
                feeds_dir = os.path.join(tmp, f"{name}-{batch}")
                g = run_json([args.gpuinfer, "bench", name, "--device", args.device, "--batch", str(batch),
                              "--iterations", str(args.iterations), "--warmup", "1", "--models-dir", args.models_dir,
                              "--json", "--save-inputs", feeds_dir])
                o = run_json([sys.executable, os.path.abspath(__file__), "--ort-worker", path, "--batch", str(batch),
                              "--threads", str(threads), "--iterations", str(args.iterations), "--ort-provider", args.ort_provider,
                              "--feeds", json.dumps(g["saved_inputs"])])
                results[(name, batch)]["gpuinfer"].append(g)
                results[(name, batch)]["onnxruntime"].append(o)
                print(f"round {r + 1}: {name} batch {batch}: gpuinfer {g['images_per_s']:.2f} img/s, "
                      f"onnxruntime {o['images_per_s']:.2f} img/s", file=sys.stderr)

    rows = []
    for name, batch, path in cases:
        g, o = results[(name, batch)]["gpuinfer"], results[(name, batch)]["onnxruntime"]
        gi = statistics.median(x["images_per_s"] for x in g)
        oi = statistics.median(x["images_per_s"] for x in o)
        rows.append({"model": name, "batch": batch, "onnx_mb": os.path.getsize(path) / 2**20,
                     "gpuinfer_images_per_s": gi, "onnxruntime_images_per_s": oi, "ratio": gi / oi,
                     "gpuinfer_gflops_per_s": statistics.median(x.get("gflops_per_s", 0) for x in g),
                     "gpuinfer_peak_rss_mb": max(x["peak_rss_mb"] for x in g),
                     "onnxruntime_peak_rss_mb": max(x["peak_rss_mb"] for x in o),
                     "gpuinfer_load_plus_first_s": statistics.median(x["load_s"] + x["first_inference_s"] for x in g),
                     "onnxruntime_load_plus_first_s": statistics.median(x["load_s"] + x["first_inference_s"] for x in o)})
    header = ("| model | batch | gpuinfer img/s | onnxruntime img/s | ratio | gpuinfer GFLOP/s | "
              "peak RSS gpuinfer / ORT (MB) | ONNX MB | load+first gpuinfer / ORT (s) |")
    print(header)
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for x in rows:
        print(f"| {x['model']} | {x['batch']} | {x['gpuinfer_images_per_s']:.2f} | {x['onnxruntime_images_per_s']:.2f} | "
              f"{x['ratio']:.2f} | {x['gpuinfer_gflops_per_s']:.1f} | {x['gpuinfer_peak_rss_mb']:.0f} / "
              f"{x['onnxruntime_peak_rss_mb']:.0f} | {x['onnx_mb']:.0f} | {x['gpuinfer_load_plus_first_s']:.2f} / "
              f"{x['onnxruntime_load_plus_first_s']:.2f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": device, "onnxruntime_threads": threads, "rounds": args.rounds,
                       "iterations": args.iterations, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
