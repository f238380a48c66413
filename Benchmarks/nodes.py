#!/usr/bin/env python3
"""Per-node time of gpuinfer against onnxruntime's, at one or more thread counts: where a model's
gap to onnxruntime comes from (which layers, and whether it is the kernels or their threading).

For each thread count T and each round (rounds interleave the runtimes, a fresh process each):
  gpuinfer:    `gpuinfer bench MODEL --device D --batch B --profile --json --save-inputs DIR` with
               POCL_MAX_PTHREAD_COUNT=T (PoCL's worker threads; other OpenCL drivers ignore it):
               the device time of every node from one run's OpenCL profiling events.
  onnxruntime: this script in worker mode: CPU provider, intra_op_num_threads = T, full graph
               optimizations, its profiler on, fed the very tensors gpuinfer saved; the median
               kernel time of every node over --iterations runs after one warm-up.
The medians over rounds are compared node by node. onnxruntime renames the nodes it rewrites
(`conv_62` becomes `conv_62_relu6_nchwc` after fusing the Clip and moving to its NCHWc layout), so
an onnxruntime node belongs to the gpuinfer node whose name is the longest prefix of its own, or,
where it is named after a node gpuinfer fused away (SSDLite's Conv+Clip as `clip_4_nchwc`), to the
gpuinfer node that node's first input leads back to; its layout conversions (ReorderInput,
ReorderOutput) and any other unmatched nodes are totalled apart.

Output (Markdown): the CPU and device, per thread count the totals of both runtimes (kernel time
summed over nodes; not the latency, which adds launch gaps) and each runtime's scaling from the
first thread count; gpuinfer's totals per kernel; and the --top nodes where gpuinfer loses most
time, with both times and gpuinfer's GFLOP/s and kernel. Per-node times under a profiler are
slightly inflated on both sides; compare them with each other, not with `compare.py` latencies.

Usage: .venv/bin/python Benchmarks/nodes.py MODEL[:BATCH] [--device 0] [--threads 1,2] [--rounds 3]
           [--iterations 20] [--top 15] [--models-dir Models/generated] [--json out.json]
"""
import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import ROOT, cpu_info, git_revision, load_feeds, ort_options, parse_case, run_json  # noqa: E402


def ort_worker(args):
    """onnxruntime's per-node kernel times (ms, median over the timed runs) in this fresh process."""
    import onnxruntime as ort

    inputs = load_feeds(args.feeds)
    options = ort_options(args.threads)
    options.enable_profiling = True
    with tempfile.TemporaryDirectory(prefix="gpuinfer-nodes-") as tmp:
        options.profile_file_prefix = os.path.join(tmp, "ort")
        session = ort.InferenceSession(args.ort_worker, options, providers=["CPUExecutionProvider"])
        session.run(None, inputs)
        for _ in range(args.iterations):
            session.run(None, inputs)
        with open(session.end_profiling()) as f:
            events = json.load(f)
    times = collections.defaultdict(list)
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            times[e["name"][: -len("_kernel_time")]].append(e["dur"] / 1000.0)
    # The first run is the warm-up.
    print(json.dumps({"version": ort.__version__,
                      "nodes": {n: statistics.median(v[1:] if len(v) > 1 else v) for n, v in times.items()}}))


def longest_prefix(name, names):
    """The longest of `names` that is `name` or prefixes it followed by '_'."""
    best = None
    for n in names:
        if (name == n or name.startswith(n + "_")) and (best is None or len(n) > len(best)):
            best = n
    return best


def onnx_producers(path):
    """ONNX node name -> the name of the node producing its first input (None for graph inputs)."""
    import onnx

    graph = onnx.load(path, load_external_data=False).graph
    by_output = {o: n.name for n in graph.node for o in n.output}
    return {n.name: by_output.get(n.input[0]) if n.input else None for n in graph.node if n.name}


def owner(ort_name, ours, producers):
    """The gpuinfer node an onnxruntime node belongs to: the gpuinfer node whose name is the longest
    prefix of its own, else the ONNX node whose name is, followed back through first inputs to a
    gpuinfer node (a fused activation: onnxruntime may name Conv+Clip after the Clip)."""
    best = longest_prefix(ort_name, ours)
    if best is not None:
        return best
    node = longest_prefix(ort_name, producers)
    for _ in range(3):
        node = producers.get(node) if node is not None else None
        if node in ours:
            return node
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", nargs="?")
    ap.add_argument("--device", default="0")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--models-dir", default=os.path.join(ROOT, "Models", "generated"))
    ap.add_argument("--gpuinfer", default=os.path.join(ROOT, ".build", "release", "gpuinfer"))
    ap.add_argument("--json")
    ap.add_argument("--ort-worker", help=argparse.SUPPRESS)
    ap.add_argument("--feeds", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.ort_worker:
        args.threads = int(args.threads)
        return ort_worker(args)
    if not args.model:
        ap.error("a model (zoo name or .onnx path, optionally :BATCH) is required")
    try:
        threads = [int(t) for t in args.threads.split(",")]
        if not threads or min(threads) < 1:
            raise ValueError
    except ValueError:
        ap.error(f"--threads must be positive integers, got {args.threads!r}")
    label, batch, path, target, zoo = parse_case(args.model, args.models_dir)
    if not os.path.exists(path):
        raise SystemExit(f"{path} not found")
    if not os.access(args.gpuinfer, os.X_OK):
        raise SystemExit(f"{args.gpuinfer} not found: build it with `swift build -c release --product gpuinfer`")

    ours = {t: collections.defaultdict(list) for t in threads}
    theirs = {t: collections.defaultdict(list) for t in threads}
    kernel, gflops, device, version = {}, {}, "?", "?"
    worker = [sys.executable, os.path.abspath(__file__)]
    with tempfile.TemporaryDirectory(prefix="gpuinfer-nodes-") as tmp:
        for r in range(args.rounds):
            for t in (threads if r % 2 == 0 else threads[::-1]):
                env = dict(os.environ, POCL_MAX_PTHREAD_COUNT=str(t))
                feeds = os.path.join(tmp, f"feeds-{r}-{t}")
                g = run_json([args.gpuinfer, "bench", target, "--device", args.device, "--batch", str(batch),
                              "--iterations", "3", "--profile", "--json", "--save-inputs", feeds,
                              *(["--models-dir", args.models_dir] if zoo else [])], env=env)
                device = g["device"]
                for n in g["nodes"]:
                    ours[t][n["node"]].append(n["ms"])
                    kernel[n["node"]] = ",".join(n["kernels"])
                    gflops.setdefault((t, n["node"]), []).append(n.get("gflops_per_s"))
                o = run_json(worker + ["--ort-worker", path, "--threads", str(t), "--iterations", str(args.iterations),
                                       "--feeds", json.dumps(g["saved_inputs"])])
                version = o["version"]
                for n, ms in o["nodes"].items():
                    theirs[t][n].append(ms)

    report = {"model": label, "batch": batch, "device": device, "cpu": cpu_info(), "gpuinfer_revision": git_revision(),
              "onnxruntime_version": version, "rounds": args.rounds, "threads": {}}
    c = report["cpu"]
    print(f"**{label}, batch {batch}: per-node time, gpuinfer vs onnxruntime**\n")
    print(f"- CPU: {c['model_name']} (family {c['family']}, model {c['model']}), {c['online_cpus']} online CPUs")
    print(f"- gpuinfer {report['gpuinfer_revision']} on {device}; onnxruntime {version}, CPU provider")
    print(f"- medians of {args.rounds} rounds (onnxruntime: of {args.iterations} profiled runs each)\n")
    producers = onnx_producers(path)
    totals = {}
    for t in threads:
        mine = {n: statistics.median(v) for n, v in ours[t].items()}
        other = collections.defaultdict(float)
        unmatched = 0.0
        for n, v in theirs[t].items():
            m, ms = owner(n, mine, producers), statistics.median(v)
            if m is None:
                unmatched += ms
            else:
                other[m] += ms
        totals[t] = (sum(mine.values()), sum(other.values()) + unmatched)
        per_kernel = collections.defaultdict(float)
        for n, ms in mine.items():
            per_kernel[kernel[n]] += ms
        rows = sorted(((mine[n] - other.get(n, 0.0), n) for n in mine), reverse=True)[: args.top]
        report["threads"][str(t)] = {"gpuinfer_ms": totals[t][0], "onnxruntime_ms": totals[t][1],
                                     "onnxruntime_unmatched_ms": unmatched, "kernels": dict(per_kernel),
                                     "nodes": {n: {"gpuinfer_ms": mine[n], "onnxruntime_ms": other.get(n)} for n in mine}}
        print(f"### {t} thread{'s' if t > 1 else ''}\n")
        print(f"Sum over nodes: gpuinfer {totals[t][0]:.3f} ms, onnxruntime {totals[t][1]:.3f} ms "
              f"(of which {unmatched:.3f} ms in nodes without a gpuinfer counterpart); "
              f"onnxruntime ÷ gpuinfer time {totals[t][1] / totals[t][0]:.2f}.")
        if t != threads[0]:
            t0 = threads[0]
            print(f"Scaling from {t0} to {t} threads: gpuinfer {totals[t0][0] / totals[t][0]:.2f}×, "
                  f"onnxruntime {totals[t0][1] / totals[t][1]:.2f}×.")
        print("\n| gpuinfer kernel | ms |\n|---|---:|")
        for k, ms in sorted(per_kernel.items(), key=lambda kv: -kv[1]):
            print(f"| {k} | {ms:.3f} |")
        print(f"\n| node | gpuinfer ms | onnxruntime ms | difference | gpuinfer GFLOP/s | kernel |\n|---|---:|---:|---:|---:|---|")
        for diff, n in rows:
            gf = [x for x in gflops.get((t, n), []) if x is not None]
            rate = f"{statistics.median(gf):.0f}" if gf else "-"
            print(f"| {n} | {mine[n]:.3f} | {other.get(n, float('nan')):.3f} | {diff:+.3f} | {rate} | {kernel[n]} |")
        print()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
