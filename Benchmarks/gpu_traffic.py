#!/usr/bin/env python3
"""Global+constant memory read per multiply-add, per kernel, on the Oclgrind GPU simulator.

Runs one inference of MODEL on Oclgrind (Debian `oclgrind`, registered as the only OpenCL ICD in a
temporary folder) with OCLGRIND_INST_COUNTS=1, parses the per-launch instruction histograms
(`N - load global (B bytes)`, `N - load constant (B bytes)`, `N - call llvm.fmuladd.f32()`; vector
forms `llvm.fmuladd.vKf32` count K lanes each) and prints, per kernel name, the launches, bytes
loaded, multiply-adds and bytes per multiply-add, then the whole model. A GPU needs few bytes per
multiply-add (an H200 streams ~4.8 TB/s against ~60 TFLOP/s fp32: ~0.16 B per multiply-add).

Two counts of multiply-adds: the executed ones (fmuladd lanes, per kernel; tiles that overhang the
matrix multiply zeros too) and the model's (`Operator.flops` / 2 from `gpuinfer bench --json`, the
multiply-adds a convolution or GEMM needs). The headline, bytes per model multiply-add, does not
flatter a kernel that computes padding.

Oclgrind simulates about 10^7 multiply-adds a minute: keep models and inputs small.

Usage:
  .venv/bin/python Benchmarks/gpu_traffic.py MODEL.onnx [--input NAME=FILE.npy ...] [--kernel-style gpu]
      [--size HxW] [--batch N] [--expected ORT_OUTPUT.npy] [--gpuinfer .build/release/gpuinfer] [--json out.json]
With --input it runs one inference (`gpuinfer run`) on the simulator; without, `gpuinfer bench
--warmup 0 --iterations 1` feeds seeded random inputs of the static input shapes or --size /
--batch: two inferences (first + timed), counted as such. The model's multiply-adds come from a
`gpuinfer bench --json` run on the default OpenCL device.
"""
import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = "/usr/lib/oclgrind/liboclgrind-rt-icd.so"
KERNEL = re.compile(r"Instructions executed for kernel '([^']+)'")
LOAD = re.compile(r"^\s*(\d+) - load (global|constant) \((\d+) bytes\)")
FMA = re.compile(r"^\s*(\d+) - call llvm\.fmuladd\.(?:v(\d+))?f32\(\)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--input", action="append", default=[], help="NAME=FILE.npy (repeatable)")
    ap.add_argument("--kernel-style", default="gpu", choices=["auto", "gpu", "cpu"])
    ap.add_argument("--size", help="HxW for bench's random input (no --input)")
    ap.add_argument("--batch", default="1")
    ap.add_argument("--gpuinfer", default=os.path.join(ROOT, ".build", "release", "gpuinfer"))
    ap.add_argument("--json", help="also write the per-kernel table here")
    ap.add_argument("--expected", help="with --input: onnxruntime's output (.npy) to compare the simulator's first output with")
    args = ap.parse_args()
    if not os.path.exists(LIB):
        sys.exit(f"error: {LIB} not found: apt-get install oclgrind")
    if not os.path.exists(args.gpuinfer):
        sys.exit(f"error: {args.gpuinfer} not found: swift build -c release --product gpuinfer")
    with tempfile.TemporaryDirectory(prefix="gpuinfer-traffic-") as tmp:
        with open(os.path.join(tmp, "oclgrind.icd"), "w") as f:
            f.write(LIB + "\n")
        env = dict(os.environ, OCL_ICD_VENDORS=tmp, OCLGRIND_INST_COUNTS="1")
        # The model's multiply-adds from a bench run on the default OpenCL device (not the simulator).
        bench_cmd = [args.gpuinfer, "bench", args.model, "--warmup", "0", "--iterations", "1", "--json", "--profile",
                     "--kernel-style", args.kernel_style]
        for spec in args.input:
            bench_cmd += ["--input", spec]
        if not args.input:
            bench_cmd += ["--batch", args.batch] + (["--size", args.size] if args.size else [])
        b = subprocess.run(bench_cmd, capture_output=True, text=True)
        bench = next((json.loads(line) for line in b.stdout.splitlines() if line.startswith("{")), None)
        if b.returncode != 0 or bench is None:
            sys.exit(f"error: {' '.join(bench_cmd)} exited {b.returncode}:\n{b.stderr[-2000:]}")
        if args.input:
            # One inference of the given inputs.
            cmd = [args.gpuinfer, "run", args.model, "--device", "0", "--kernel-style", args.kernel_style,
                   "--output-dir", os.path.join(tmp, "out")]
            for spec in args.input:
                cmd += ["--input", spec]
            inferences = 1
        else:
            # Seeded random inputs: bench's first and one timed inference.
            cmd = bench_cmd[:3] + ["--device", "0"] + bench_cmd[3:]
            inferences = 2
        p = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"error: {' '.join(cmd)} exited {p.returncode}:\n{p.stderr[-2000:]}")
        agreement = None
        if args.expected and args.input:
            import numpy as np
            outs = sorted(os.listdir(os.path.join(tmp, "out")))
            got = np.load(os.path.join(tmp, "out", outs[0])).astype(np.float64).ravel()
            want = np.load(args.expected).astype(np.float64).ravel()
            if got.shape != want.shape:
                sys.exit(f"error: output {outs[0]} has {got.size} values, {args.expected} {want.size}")
            cosine = float(got @ want / (np.linalg.norm(got) * np.linalg.norm(want)))
            agreement = (outs[0], cosine, float(np.abs(got - want).max()))
    model_fma = bench["gflop_per_image"] * 1e9 / 2 * bench["batch"] * inferences
    # Per kernel, the model's multiply-adds of the nodes it ran (a node's first kernel gets them).
    kernel_model_fma = collections.defaultdict(float)
    for node in bench.get("nodes", []):
        if node.get("kernels"):
            kernel_model_fma[node["kernels"][0]] += node["gflops_per_s"] * node["ms"] * 1e6 / 2 * inferences
    stats = collections.defaultdict(lambda: {"launches": 0, "bytes": 0, "fma": 0})
    current = None
    for line in (p.stdout + "\n" + p.stderr).splitlines():
        m = KERNEL.search(line)
        if m:
            current = m.group(1)
            stats[current]["launches"] += 1
            continue
        if current is None:
            continue
        m = LOAD.match(line)
        if m:
            stats[current]["bytes"] += int(m.group(3))
            continue
        m = FMA.match(line)
        if m:
            stats[current]["fma"] += int(m.group(1)) * int(m.group(2) or 1)
    if not stats:
        sys.exit("error: no instruction histograms in the output (is Oclgrind the device?)")
    total_b = sum(s["bytes"] for s in stats.values())
    total_f = sum(s["fma"] for s in stats.values())
    print("| kernel | launches | global+constant MB read | executed multiply-adds (M) | model multiply-adds (M) | bytes / model multiply-add |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, s in sorted(stats.items(), key=lambda kv: -kv[1]["bytes"]):
        mf = kernel_model_fma.get(name, 0.0)
        s["model_fma"] = mf
        ratio = f"{s['bytes'] / mf:.3f}" if mf >= 1 else "-"
        print(f"| {name} | {s['launches']} | {s['bytes'] / 1e6:.2f} | {s['fma'] / 1e6:.2f} | {mf / 1e6:.2f} | {ratio} |")
    print(f"| **all** | {sum(s['launches'] for s in stats.values())} | {total_b / 1e6:.2f} | {total_f / 1e6:.2f} | "
          f"{model_fma / 1e6:.2f} | **{total_b / model_fma:.3f}** |")
    print(f"\n{inferences} inferences, batch {bench['batch']}: {total_b / 1e6:.2f} MB read, {model_fma / 1e6:.2f} M multiply-adds of the model "
          f"({total_f / model_fma:.2f}× executed): **{total_b / model_fma:.3f} bytes per model multiply-add**")
    if agreement:
        print(f"output {agreement[0]} vs {args.expected}: cosine {agreement[1]:.7f}, max |difference| {agreement[2]:.3g}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": args.model, "kernel_style": args.kernel_style, "kernels": stats, "inferences": inferences,
                       "bytes": total_b, "multiply_adds": total_f, "model_multiply_adds": model_fma,
                       "bytes_per_model_multiply_add": total_b / model_fma}, f, indent=1)


if __name__ == "__main__":
    main()
