#!/usr/bin/env python3
"""Plan time against graph size: does building (and tearing down) a plan stay linear in the nodes?

Writes chains of N alternating Relu/Neg nodes on a [1, 16] tensor (dispatch.py's chains) and runs
`gpuinfer bench CHAIN --iterations 1 --warmup 0 --json` on the OpenCL device and on the reference
backend (`--device cpu`), a fresh process each, rounds interleaved. Per chain it reports, medians
over rounds: load (parse + passes), first inference (specialisation, plan, program builds and one
run), the whole process's wall time (load, plan, run and teardown: releasing the plan's kernel
objects, which PoCL searches a list for), and the device ÷ reference ratios. A time that grows
faster than the node count shows up as a ratio that grows with N.

Usage: .venv/bin/python Benchmarks/plan_time.py [--device 0] [--lengths 10000,50000,100000] [--rounds 3]
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
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dispatch import write_chain  # noqa: E402  (the same Relu/Neg chains)


def run(binary, path, device):
    start = time.perf_counter()
    p = subprocess.run([binary, "bench", path, "--device", device, "--iterations", "1", "--warmup", "0", "--json"],
                       capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    if p.returncode != 0:
        raise RuntimeError(f"gpuinfer bench {path} --device {device} failed ({p.returncode}): {p.stderr.strip()}")
    d = json.loads(p.stdout.strip().splitlines()[-1])
    return {"load_s": d["load_s"], "first_s": d["first_inference_s"], "wall_s": wall}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="0")
    ap.add_argument("--lengths", default="10000,50000,100000")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--gpuinfer", default=os.path.join(ROOT, ".build", "release", "gpuinfer"))
    ap.add_argument("--json")
    args = ap.parse_args()
    lengths = [int(x) for x in args.lengths.split(",")]
    results = {d: {n: [] for n in lengths} for d in (args.device, "cpu")}
    with tempfile.TemporaryDirectory(prefix="gpuinfer-plan-time-") as tmp:
        for n in lengths:
            write_chain(os.path.join(tmp, f"chain{n}.onnx"), n)
        for _ in range(args.rounds):
            for n in lengths:
                for d in results:
                    results[d][n].append(run(args.gpuinfer, os.path.join(tmp, f"chain{n}.onnx"), d))
    med = {d: {n: {k: statistics.median(r[k] for r in results[d][n]) for k in ("load_s", "first_s", "wall_s")} for n in lengths} for d in results}
    dev = args.device
    print(f"| nodes | device {dev}: load / first inference / process (s) | reference: load / first / process (s) | first ÷ reference | process ÷ reference |")
    print("|---:|---|---|---:|---:|")
    for n in lengths:
        a, b = med[dev][n], med["cpu"][n]
        print(f"| {n} | {a['load_s']:.2f} / {a['first_s']:.2f} / {a['wall_s']:.2f} | {b['load_s']:.2f} / {b['first_s']:.2f} / {b['wall_s']:.2f}"
              f" | {a['first_s'] / b['first_s']:.1f} | {a['wall_s'] / b['wall_s']:.1f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({d: {str(n): v for n, v in m.items()} for d, m in med.items()}, f, indent=1)


if __name__ == "__main__":
    main()
