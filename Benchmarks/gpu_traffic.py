#!/usr/bin/env python3
"""Global+constant memory read per multiply-add, per kernel, on the Oclgrind GPU simulator.

Runs one inference of MODEL on Oclgrind (Debian `oclgrind`, registered as the only OpenCL ICD in a
temporary folder) with OCLGRIND_INST_COUNTS=1, parses the per-launch instruction histograms
(`N - load global (B bytes)`, `N - load constant (B bytes)`, `N - call llvm.fmuladd.f32()`; vector
forms `llvm.fmuladd.vKf32` count K lanes each) and prints, per kernel name, the launches, bytes
loaded, multiply-adds and bytes per multiply-add, then the whole model. A GPU needs few bytes per
multiply-add (an H200 streams ~4.8 TB/s against ~60 TFLOP/s fp32: ~0.16 B per multiply-add).

Oclgrind simulates about 10^7 multiply-adds a minute: keep models and inputs small.

Usage:
  .venv/bin/python Benchmarks/gpu_traffic.py MODEL.onnx [--input NAME=FILE.npy ...] [--kernel-style gpu]
      [--gpuinfer .build/release/gpuinfer] [--json out.json]
Without --input, `gpuinfer bench --warmup 0 --iterations 1` feeds seeded random inputs (static
input shapes, or --size HxW / --batch N); that is two inferences (first + timed), which leaves
bytes per multiply-add unchanged.
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
    args = ap.parse_args()
    if not os.path.exists(LIB):
        sys.exit(f"error: {LIB} not found: apt-get install oclgrind")
    if not os.path.exists(args.gpuinfer):
        sys.exit(f"error: {args.gpuinfer} not found: swift build -c release --product gpuinfer")
    with tempfile.TemporaryDirectory(prefix="gpuinfer-traffic-") as tmp:
        with open(os.path.join(tmp, "oclgrind.icd"), "w") as f:
            f.write(LIB + "\n")
        env = dict(os.environ, OCL_ICD_VENDORS=tmp, OCLGRIND_INST_COUNTS="1")
        if args.input:
            cmd = [args.gpuinfer, "run", args.model, "--device", "0", "--kernel-style", args.kernel_style,
                   "--output-dir", os.path.join(tmp, "out")]
            for spec in args.input:
                cmd += ["--input", spec]
        else:
            cmd = [args.gpuinfer, "bench", args.model, "--device", "0", "--kernel-style", args.kernel_style,
                   "--warmup", "0", "--iterations", "1", "--batch", args.batch] + (["--size", args.size] if args.size else [])
        p = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"error: {' '.join(cmd)} exited {p.returncode}:\n{p.stderr[-2000:]}")
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
    print(f"| kernel | launches | global+constant MB read | multiply-adds (M) | bytes / multiply-add |")
    print("|---|---:|---:|---:|---:|")
    for name, s in sorted(stats.items(), key=lambda kv: -kv[1]["bytes"]):
        ratio = f"{s['bytes'] / s['fma']:.2f}" if s["fma"] else "-"
        print(f"| {name} | {s['launches']} | {s['bytes'] / 1e6:.2f} | {s['fma'] / 1e6:.2f} | {ratio} |")
    print(f"| **all** | {sum(s['launches'] for s in stats.values())} | {total_b / 1e6:.2f} | {total_f / 1e6:.2f} | "
          f"{total_b / total_f if total_f else float('nan'):.2f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": args.model, "kernel_style": args.kernel_style, "kernels": stats,
                       "bytes": total_b, "multiply_adds": total_f}, f, indent=1)


if __name__ == "__main__":
    main()
