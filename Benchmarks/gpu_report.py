#!/usr/bin/env python3
"""The table of a Benchmarks/gpu.sh run: kernel checks, the NetVLAD command, and per model and batch
gpuinfer's images/s, GFLOP/s, load + first inference and kernel launches (next to onnxruntime's
CUDA provider where compare.py ran).

usage: gpu_report.py gpu-results.jsonl [--compare compare-cuda.json]
"""
import argparse
import json
import os


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--compare")
    a = ap.parse_args()
    rows = [json.loads(line) for line in open(a.results) if line.strip()]
    ort = {}
    if a.compare and os.path.exists(a.compare):
        for r in json.load(open(a.compare))["rows"]:
            ort[(r["model"], r["batch"])] = r["onnxruntime_images_per_s"]
    checks = [r for r in rows if "verify" in r]
    failed = [r for r in checks if r.get("exit", 0) != 0]
    skipped = [r for r in checks if "status" in r]
    print(f"## gpuinfer on the GPU\n\nkernel and model checks against the reference backend: "
          f"{len(checks) - len(failed) - len(skipped)} passed, {len(failed)} failed, {len(skipped)} skipped")
    for r in failed:
        print(f"- FAILED {r['verify']}: {r.get('result', '')}")
    for r in rows:
        if "netvlad_command" in r:
            print(f"- `gpuinfer --device N netvlad grace_hopper.jpg` {r['netvlad_command']}: {r['seconds']:.2f} s")
    device = next((r["result"]["device"] for r in rows if "bench" in r and "result" in r), "?")
    print(f"\ndevice: {device}\n")
    print("| model | batch | gpuinfer img/s | GFLOP/s | load + first (s) | kernels/inference | programs built (s) | onnxruntime CUDA img/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        if "bench" not in r:
            continue
        if "result" not in r:
            print(f"| {r['bench']} | {r['batch']} | {r.get('status', '?')} | | | | | |")
            continue
        x = r["result"]
        p = x.get("programs", {})
        o = ort.get((r["bench"], r["batch"]))
        print(f"| {r['bench']} | {r['batch']} | {x['images_per_s']:.1f} | {x.get('gflops_per_s', 0):.0f} | "
              f"{x['load_s'] + x['first_inference_s']:.2f} | {x.get('kernel_launches', '')} | "
              f"{p.get('compiled', '')} ({p.get('compile_s', 0):.1f}) | {'' if o is None else f'{o:.1f}'} |")
    print("\nZoo weights are skeletons (RandomUniform in each tensor's range: speed, not answers), except "
          "mobilenetv2_gap and the PaddleOCR models (real). fp16: not implemented.")


if __name__ == "__main__":
    main()
