#!/usr/bin/env python3
"""gpuinfer vs onnxruntime (and OpenVINO) on the same ONNX models, interleaved in one run.

Models are zoo names looked up in --models-dir (netvlad 1 and 8, mpncov_resnet50 1,
ssdlite_mobilenet_v2 1, gldv2_res152 1 by default) or paths to any .onnx files, each with an
optional :BATCH (`netvlad:8`, `path/to/x.onnx`, `path/to/x.onnx:8`), given with --models
(comma-separated) or as positional arguments; a missing file is skipped with a message. For every
(model, batch), each round runs, one after the other:
  gpuinfer:    `gpuinfer bench MODEL --device D --batch B --json --save-inputs DIR` (a fresh process;
               MODEL is the zoo name with --models-dir, or the file's path)
  onnxruntime: this script in worker mode, a fresh process: CPU execution provider with
               intra_op_num_threads = --ort-threads, by default the OpenCL device's compute units
               (inter_op 1, sequential), full graph optimizations, fed the very tensors gpuinfer wrote
               with --save-inputs.
  OpenVINO:    with --openvino, two more workers, each a fresh process: the CPU plugin with
               INFERENCE_PRECISION_HINT=f32, then the CPU plugin's default precision (bf16 on CPUs
               with AVX-512 BF16 or AMX); both with INFERENCE_NUM_THREADS = the same thread count,
               PERFORMANCE_HINT=LATENCY, dynamic input dimensions fixed to the saved inputs' shapes,
               fed the same tensors.
All report the median latency over --iterations timed runs after one warm-up, images/s = batch /
median, load time, first inference, and the process's peak RSS (VmHWM). Rounds alternate the
runtimes so that a machine getting busier or cooler affects all of them; the table gives the median
images/s over rounds and the ratios gpuinfer/onnxruntime and gpuinfer/OpenVINO (> 1: gpuinfer is
faster). A short Markdown preamble before the table names the CPU (/proc/cpuinfo), the OpenCL
device and platform, gpuinfer's git revision, the runtimes' versions, --label, --gpuinfer-env and
the date; --json writes the same under "system".

Usage (after scripts/setup.sh and scripts/demo.sh, which export netvlad):
  .venv/bin/python Benchmarks/compare.py [--device 0] [--rounds 3] [--iterations 5]
      [--models netvlad:1,netvlad:8,path/to/x.onnx:4,...] [--models-dir Models/generated]
      [--ort-threads N] [--openvino] [--gpuinfer-env K=V ...] [--label TEXT] [--json results.json]
      [FILE.onnx[:BATCH] ...]
Examples:
  compare.py Models/generated/mobilenetv2_gap.onnx:8 other.onnx    # only these two files
  compare.py --ort-threads 1                                        # onnxruntime on one thread
  compare.py --openvino --models resnet18_gem:1                     # adds OV f32 / OV default columns
  compare.py --gpuinfer-env GPUINFER_CONV_WINOGRAD=0 --label direct # A/B of a kernel option
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODELS = "netvlad:1,netvlad:8,mpncov_resnet50:1,ssdlite_mobilenet_v2:1,gldv2_res152:1"
OV_PRECISIONS = ["f32", "default"]  # the OpenVINO columns, in this order


def peak_rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def time_runs(run, batch, iterations):
    """First inference, one warm-up (as gpuinfer bench --warmup 1), then the timed runs."""
    t0 = time.perf_counter()
    run()
    first = time.perf_counter() - t0
    run()
    latencies = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        run()
        latencies.append(time.perf_counter() - t0)
    latencies.sort()
    median = latencies[len(latencies) // 2]
    return {"images_per_s": batch / median, "latency_ms": {"median": median * 1e3, "min": latencies[0] * 1e3},
            "first_inference_s": first}


def ort_options(threads):
    """The onnxruntime session options of every measurement: `threads` intra-op threads, one
    sequential inter-op thread, full graph optimizations."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


def load_feeds(feeds):
    """The inputs `gpuinfer bench --save-inputs` wrote: a JSON object of name → .npy path."""
    import numpy as np

    return {name: np.load(path) for name, path in json.loads(feeds).items()}


def ort_worker(args):
    """One onnxruntime measurement in this (fresh) process; prints one JSON object."""
    import onnxruntime as ort

    inputs = load_feeds(args.feeds)
    options = ort_options(args.threads)
    t0 = time.perf_counter()
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if args.ort_provider == "cuda" else ["CPUExecutionProvider"]
    session = ort.InferenceSession(args.ort_worker, options, providers=providers)
    if args.ort_provider == "cuda" and "CUDAExecutionProvider" not in session.get_providers():
        raise SystemExit("onnxruntime has no working CUDA execution provider here")
    load = time.perf_counter() - t0
    result = time_runs(lambda: session.run(None, inputs), args.batch, args.iterations)
    print(json.dumps({**result, "load_s": load, "peak_rss_mb": peak_rss_mb(),
                      "threads": args.threads, "version": ort.__version__}))


def ov_worker(args):
    """One OpenVINO CPU measurement in this (fresh) process; prints one JSON object."""
    import openvino as ov

    inputs = load_feeds(args.feeds)
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": str(args.threads)}
    if args.ov_precision != "default":
        config["INFERENCE_PRECISION_HINT"] = args.ov_precision
    t0 = time.perf_counter()
    core = ov.Core()
    path = args.ov_worker
    import onnx
    proto = onnx.load(path, load_external_data=False)
    if proto.functions:
        # OpenVINO's ONNX frontend has no rule for model-local functions (gpuinfer's fused ops such as
        # ai.gpuinfer.NetVLAD); onnxruntime inlines them, so OpenVINO gets the same graph inlined.
        from onnx import inliner
        proto = onnx.load(path)
        handle = tempfile.NamedTemporaryFile(suffix=".onnx", delete=False)
        handle.close()
        onnx.save(inliner.inline_local_functions(proto), handle.name)
        path = handle.name
    model = core.read_model(path)
    if path != args.ov_worker:
        os.unlink(path)
    if any(port.get_partial_shape().is_dynamic for port in model.inputs):
        model.reshape({name: list(x.shape) for name, x in inputs.items()})
    compiled = core.compile_model(model, "CPU", config)
    load = time.perf_counter() - t0
    request = compiled.create_infer_request()
    for name, x in inputs.items():
        request.set_tensor(name, ov.Tensor(x))
    result = time_runs(request.infer, args.batch, args.iterations)
    print(json.dumps({**result, "load_s": load, "peak_rss_mb": peak_rss_mb(), "threads": args.threads,
                      "precision": compiled.get_property("INFERENCE_PRECISION_HINT").to_string(),
                      "version": ov.__version__}))


def run_json(cmd, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr.strip()}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def parse_case(item, models_dir):
    """MODEL[:BATCH] -> (label, batch, ONNX path, gpuinfer bench target, zoo?). MODEL is a zoo name, or a
    path when it ends in .onnx or has a '/'; a ':' is the batch separator only before an integer."""
    head, sep, tail = item.rpartition(":")
    name, batch = (head, int(tail)) if sep and tail.isdigit() else (item, 1)
    if name.lower().endswith(".onnx") or "/" in name:
        path = os.path.abspath(os.path.expanduser(name))
        return os.path.splitext(os.path.basename(path))[0], batch, path, path, False
    return name, batch, os.path.join(models_dir, name + ".onnx"), name, True


def cpu_info():
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key, value = key.strip(), value.strip()
                if not key and info:  # the first processor's block is enough
                    break
                if key in ("model name", "cpu family", "model", "flags") and key not in info:
                    info[key] = value
    except OSError:
        pass
    flags = set(info.get("flags", "").split())
    return {"model_name": info.get("model name", "?"), "family": info.get("cpu family", "?"),
            "model": info.get("model", "?"), "avx512f": "avx512f" in flags, "avx2": "avx2" in flags,
            "online_cpus": os.sysconf("SC_NPROCESSORS_ONLN")}


def git_revision():
    def git(*a):
        return subprocess.run(["git", *a], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    try:
        rev = git("rev-parse", "--short", "HEAD")
        return (rev + ("+dirty" if git("status", "--porcelain") else "")) if rev else "?"
    except OSError:
        return "?"


def preamble(system, args):
    c, d = system["cpu"], system["opencl_device"]
    yes = lambda b: "yes" if b else "no"
    lines = [f"**{args.label}**" if args.label else None,
             f"- CPU: {c['model_name']} (family {c['family']}, model {c['model']}), avx512f {yes(c['avx512f'])}, "
             f"avx2 {yes(c['avx2'])}, {c['online_cpus']} online CPUs",
             f"- OpenCL device {args.device}: {d['name']} ({d['platform']}), {d['compute_units']} compute units",
             f"- gpuinfer {system['gpuinfer_revision']}" + (" (`--no-build`: the binary may be older)" if args.no_build else "")
             + (f", CPU profile {system['gpuinfer_cpu_profile']}" if system.get("gpuinfer_cpu_profile") else "")
             + "".join(f", `{kv}`" for kv in args.gpuinfer_env),
             f"- onnxruntime {system['onnxruntime_version']}, {args.ort_provider.upper()} provider, "
             f"{system['threads']} intra-op threads",
             f"- OpenVINO {system['openvino_version'].split('-')[0]} CPU, {system['threads']} threads, LATENCY hint; "
             f"default precision here: {system['openvino_default_precision']}" if args.openvino else None,
             f"- {args.rounds} rounds x {args.iterations} iterations, {system['date']}"]
    return "\n".join(x for x in lines if x is not None)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="*", metavar="FILE.onnx[:BATCH]", help="ONNX files to compare (with --models, both)")
    ap.add_argument("--device", default="0", help="gpuinfer OpenCL device index (default 0)")
    ap.add_argument("--models", help=f"comma-separated MODEL[:BATCH] list; MODEL a zoo name or an .onnx path "
                                     f"(default, without positional files: {DEFAULT_MODELS})")
    ap.add_argument("--models-dir", default=os.path.join(ROOT, "Models", "generated"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--ort-threads", "--threads", dest="threads", type=int,
                    help="onnxruntime intra-op threads, and OpenVINO's (default: the device's compute units)")
    ap.add_argument("--openvino", action="store_true",
                    help="add OpenVINO CPU columns, f32 and default precision (needs the openvino package)")
    ap.add_argument("--gpuinfer-env", action="append", default=[], metavar="K=V",
                    help="environment variable for the gpuinfer bench processes only (repeatable)")
    ap.add_argument("--label", help="free text for the preamble, e.g. what this run's gpuinfer-env tests")
    ap.add_argument("--gpuinfer", default=os.path.join(ROOT, ".build", "release", "gpuinfer"))
    ap.add_argument("--no-build", action="store_true", help="do not run swift build -c release first")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--ort-provider", choices=["cpu", "cuda"], default="cpu",
                    help="onnxruntime execution provider (cuda: onnxruntime-gpu's CUDA provider, for GPU devices)")
    # worker mode (internal)
    ap.add_argument("--ort-worker", help=argparse.SUPPRESS)
    ap.add_argument("--ov-worker", help=argparse.SUPPRESS)
    ap.add_argument("--ov-precision", default="default", help=argparse.SUPPRESS)
    ap.add_argument("--feeds", help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_intermixed_args()
    if args.ort_worker:
        return ort_worker(args)
    if args.ov_worker:
        return ov_worker(args)

    for kv in args.gpuinfer_env:
        if "=" not in kv or not kv.partition("=")[0]:
            ap.error(f"--gpuinfer-env takes K=V, not {kv!r}")
    gpuinfer_env = dict(os.environ, **dict(kv.split("=", 1) for kv in args.gpuinfer_env))
    openvino_version = None
    if args.openvino:
        try:
            import openvino
            openvino_version = openvino.__version__
        except ImportError as e:
            print(f"error: --openvino needs the openvino Python package ({e}); install it with "
                  f"`{sys.executable} -m pip install openvino`", file=sys.stderr)
            sys.exit(2)

    if not args.no_build:
        subprocess.run(["swift", "build", "-c", "release", "--product", "gpuinfer"], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
    devices = run_json([args.gpuinfer, "devices", "--json"])
    device = next((d for d in devices if str(d["index"]) == args.device), None)
    if device is None:
        sys.exit(f"error: no OpenCL device {args.device}; gpuinfer devices lists {[d['index'] for d in devices]}")
    threads = args.threads or device["compute_units"]

    items = [x for x in args.models.split(",") if x] if args.models else []
    if not items and not args.files:
        items = DEFAULT_MODELS.split(",")
    cases = []
    for item in items + args.files:
        label, batch, path, target, zoo = parse_case(item, args.models_dir)
        if os.path.exists(path):
            cases.append((label, batch, path, target, zoo))
        elif zoo:
            print(f"skipping {label}: {path} does not exist (export it with the script in Models/)", file=sys.stderr)
        else:
            print(f"skipping {item}: {path} does not exist", file=sys.stderr)
    if not cases:
        sys.exit("error: none of the models exist")

    runtimes = ["gpuinfer", "onnxruntime"] + (["openvino_" + p for p in OV_PRECISIONS] if args.openvino else [])
    print(f"device {args.device}: {device['name']} ({device['platform']}), {device['compute_units']} compute units; "
          f"onnxruntime {args.ort_provider.upper()} provider ({threads} threads)"
          f"{f'; OpenVINO CPU f32 and default ({threads} threads)' if args.openvino else ''}; "
          f"{args.rounds} rounds x {args.iterations} iterations", file=sys.stderr)
    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    results = [{rt: [] for rt in runtimes} for _ in cases]
    worker = [sys.executable, os.path.abspath(__file__)]
    with tempfile.TemporaryDirectory(prefix="gpuinfer-compare-") as tmp:
        for r in range(args.rounds):
            for i, (label, batch, path, target, zoo) in enumerate(cases):
                feeds_dir = os.path.join(tmp, f"{i}-{label}-{batch}")
                g = run_json([args.gpuinfer, "bench", target, "--device", args.device, "--batch", str(batch),
                              "--iterations", str(args.iterations), "--warmup", "1",
                              *(["--models-dir", args.models_dir] if zoo else []),
                              "--json", "--save-inputs", feeds_dir], env=gpuinfer_env)
                common = ["--batch", str(batch), "--ort-threads", str(threads), "--iterations", str(args.iterations),
                          "--feeds", json.dumps(g["saved_inputs"])]
                run = {"gpuinfer": g,
                       "onnxruntime": run_json(worker + ["--ort-worker", path, "--ort-provider", args.ort_provider] + common)}
                if args.openvino:
                    for p in OV_PRECISIONS:
                        try:
                            run["openvino_" + p] = run_json(worker + ["--ov-worker", path, "--ov-precision", p] + common)
                        except RuntimeError as e:
                            # A model OpenVINO cannot convert or run: its columns say n/a, the others go on.
                            print(f"OpenVINO {p} failed on {label}: {str(e).splitlines()[-1]}", file=sys.stderr)
                for rt in runtimes:
                    if rt in run:
                        results[i][rt].append(run[rt])
                print(f"round {r + 1}: {label} batch {batch}: "
                      + ", ".join(f"{rt} {run[rt]['images_per_s']:.2f} img/s" for rt in runtimes if rt in run), file=sys.stderr)

    rows = []
    for (label, batch, path, target, zoo), res in zip(cases, results):
        g, o = res["gpuinfer"], res["onnxruntime"]
        gi = statistics.median(x["images_per_s"] for x in g)
        oi = statistics.median(x["images_per_s"] for x in o)
        row = {"model": label, "batch": batch, "path": path, "zoo": zoo, "onnx_mb": os.path.getsize(path) / 2**20,
               "gpuinfer_images_per_s": gi, "onnxruntime_images_per_s": oi, "ratio": gi / oi,
               "gpuinfer_gflops_per_s": statistics.median(x.get("gflops_per_s", 0) for x in g),
               "gpuinfer_peak_rss_mb": max(x["peak_rss_mb"] for x in g),
               "onnxruntime_peak_rss_mb": max(x["peak_rss_mb"] for x in o),
               "gpuinfer_load_plus_first_s": statistics.median(x["load_s"] + x["first_inference_s"] for x in g),
               "onnxruntime_load_plus_first_s": statistics.median(x["load_s"] + x["first_inference_s"] for x in o)}
        for p in OV_PRECISIONS if args.openvino else []:
            v = res["openvino_" + p]
            if not v:
                row.update({f"openvino_{p}_images_per_s": None, f"ratio_openvino_{p}": None})
                continue
            vi = statistics.median(x["images_per_s"] for x in v)
            row.update({f"openvino_{p}_images_per_s": vi, f"ratio_openvino_{p}": gi / vi,
                        f"openvino_{p}_precision": v[0]["precision"],
                        f"openvino_{p}_peak_rss_mb": max(x["peak_rss_mb"] for x in v),
                        f"openvino_{p}_load_plus_first_s": statistics.median(x["load_s"] + x["first_inference_s"] for x in v)})
        rows.append(row)

    system = {"cpu": cpu_info(), "opencl_device": device, "gpuinfer_revision": git_revision(),
              "gpuinfer_cpu_profile": results[0]["gpuinfer"][0].get("cpu_profile") if results and results[0]["gpuinfer"] else None,
              "gpuinfer_binary": args.gpuinfer, "gpuinfer_env": args.gpuinfer_env, "label": args.label,
              "onnxruntime_version": results[0]["onnxruntime"][0]["version"],
              "openvino_version": openvino_version,
              "openvino_default_precision": next((r["openvino_default"][0]["precision"] for r in results if r.get("openvino_default")), None)
              if args.openvino else None,
              "threads": threads, "date": date}
    print(preamble(system, args))
    print()
    ov_header = "OV f32 img/s | OV default img/s | gpuinfer/OV f32 | gpuinfer/OV default | " if args.openvino else ""
    print(f"| model | batch | gpuinfer img/s | onnxruntime img/s | ratio | {ov_header}gpuinfer GFLOP/s | "
          "peak RSS gpuinfer / ORT (MB) | ONNX MB | load+first gpuinfer / ORT (s) |")
    print("|---|---:|---:|---:|---:|" + ("---:|" * 4 if args.openvino else "") + "---:|---:|---:|---:|")
    for x in rows:
        def num(v):
            return "n/a" if v is None else f"{v:.2f}"
        ov = (f"{num(x['openvino_f32_images_per_s'])} | {num(x['openvino_default_images_per_s'])} | "
              f"{num(x['ratio_openvino_f32'])} | {num(x['ratio_openvino_default'])} | ") if args.openvino else ""
        print(f"| {x['model']} | {x['batch']} | {x['gpuinfer_images_per_s']:.2f} | {x['onnxruntime_images_per_s']:.2f} | "
              f"{x['ratio']:.2f} | {ov}{x['gpuinfer_gflops_per_s']:.1f} | {x['gpuinfer_peak_rss_mb']:.0f} / "
              f"{x['onnxruntime_peak_rss_mb']:.0f} | {x['onnx_mb']:.0f} | {x['gpuinfer_load_plus_first_s']:.2f} / "
              f"{x['onnxruntime_load_plus_first_s']:.2f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": device, "onnxruntime_threads": threads, "rounds": args.rounds,
                       "iterations": args.iterations, "system": system, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
