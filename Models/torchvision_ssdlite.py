#!/usr/bin/env python3
"""Exports torchvision's SSDlite (`ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None)`,
eval mode, seeded random weights) to ONNX with torch's TorchScript-based exporter (opset 17,
dynamo=False), runs onnxruntime on a deterministic input and writes, under --out:

  ssdlite320_mobilenet_v3_large.onnx   input "images" float32 [1,3,S,S] in [0,1] (S = --size; the
                                       model resizes to 320 itself and scales boxes back), outputs
                                       "boxes" [N,4] (x1,y1,x2,y2 in input pixels), "scores" [N],
                                       "labels" [N] int64, N known only at run time
  ssdlite320_input.npy                 the input: a smooth seeded random image (8x8 noise, bilinear
                                       upsampled), float32 [1,3,S,S]
  ssdlite320_{boxes,scores,labels}.npy onnxruntime's outputs (CPU, graph optimizations off)
  ssdlite320_torch_{boxes,scores,labels}.npy  the eager PyTorch outputs, for comparison

The whole post-processing is in the graph as traced: softmax, box decoding and clipping, then a
per-class loop (unrolled by tracing: 90 foreground classes) of score > thresh -> boolean indexing
(NonZero) -> topk(min(count, 300)) (TopK with a computed K), a Concat of the 90 results, one
NonMaxSuppression (batched_nms' coordinate trick: boxes offset per label) and a slice to
detections_per_img.

Random weights: with torchvision's initialization (weights=None, weights_backbone=None) and fresh
batch-norm statistics the activations vanish through the backbone (~1e-14 at its output), so every
softmax score is exactly 1/91: the default score_thresh 0.001 keeps every anchor of every class
(the output is always the 300-detection cap) and any higher one keeps nothing. So after seeding
(torch.manual_seed(--seed)) the batch norms are calibrated: one train-mode forward of backbone and
head over 4 seeded random images (momentum None, so running mean/var = those images' statistics),
then eval. Activations are then O(1) and the scores spread (with seed 0 and the default input, up to
0.73). --score-thresh (default 0.2) keeps the upper tail: 106 detections over 49 of the 90 classes
with seed 0, the other classes empty (NonZero of nothing, TopK with K = 0); at 0.1 it would be the
300 cap, at 0.3 30 detections. detections_per_img stays 300 and topk_candidates 300
(--topk-candidates), so N is decided by the data (the script fails unless 20 <= N <
detections_per_img).

torchvision's C++ ops: a PyPI torchvision wheel is built against CUDA torch; with CPU-only torch
its `_C` library does not load and `torchvision::nms` is missing. Then this script defines
`torchvision::nms` itself (and declares `torchvision::qnms`; a PyTorch implementation: descending score order, ties by index,
suppress IoU > threshold) before importing torchvision; the exported graph does not depend on it
(torchvision's ONNX symbolic turns the op into NonMaxSuppression), only the eager comparison does.

--info [MODEL] (no torch needed): prints the op types with counts, the data-dependent nodes
(NonZero, NonMaxSuppression, Unique, Compress, TopK whose K is computed), the longest chain of
data-dependent nodes from an input to an output, control-flow/sequence ops, what onnx shape
inference says about the shapes, and the op types that gpuinfer does not register (the `opTypes`
lists in Sources/GPUInfer/Ops; "-" when the sources are not there).

--postprocess OUT.onnx (no torch needed, only the exported model): writes the post-processing
alone, from the heads' outputs on (extract_postprocess); Tests/data/torchvision/ssdlite320_postprocess.onnx
was written so.

Usage: torchvision_ssdlite.py --out DIR [--size 320] [--seed 0] [--score-thresh 0.2]
                              [--detections-per-img 300] [--topk-candidates 300]
       torchvision_ssdlite.py --info [MODEL.onnx] [--out DIR]
       torchvision_ssdlite.py --postprocess OUT.onnx [--out DIR]
Needs torch and torchvision (CPU builds are enough), onnx, onnxruntime, numpy.
"""
from __future__ import annotations

import argparse
import collections
import glob
import os
import re
import sys
import time

import numpy as np
import onnx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL_NAME = "ssdlite320_mobilenet_v3_large.onnx"
DATA_DEPENDENT = {"NonZero", "NonMaxSuppression", "Unique", "Compress"}
CONTROL_FLOW = {"Loop", "If", "Scan", "SequenceConstruct", "SequenceAt", "SequenceEmpty", "SequenceInsert",
                "SequenceErase", "SequenceLength", "SplitToSequence", "ConcatFromSequence", "SequenceMap"}


# ---- export (torch) ------------------------------------------------------------------------------

def ensure_nms_op() -> bool:
    """Defines torchvision::nms in Python when torchvision's C++ library cannot load. Returns
    whether it did. Must run before torchvision is imported."""
    import importlib.util

    import torch

    spec = importlib.util.find_spec("torchvision")
    lib = glob.glob(os.path.join(os.path.dirname(spec.origin), "_C*.so")) if spec else []
    try:
        if lib:
            torch.ops.load_library(lib[0])
            return False
    except OSError:
        pass
    torch.library.define("torchvision::nms", "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    # torchvision registers fake (meta) kernels for both at import; qnms is only declared.
    torch.library.define("torchvision::qnms", "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")

    @torch.library.impl("torchvision::nms", "CPU")
    def nms_cpu(dets, scores, iou_threshold):
        order = torch.sort(scores, descending=True, stable=True).indices
        x1, y1, x2, y2 = dets.unbind(1)
        areas = (x2 - x1) * (y2 - y1)
        suppressed = torch.zeros(len(scores), dtype=torch.bool)
        keep = []
        for i in order.tolist():
            if suppressed[i]:
                continue
            keep.append(i)
            w = (torch.minimum(x2[i], x2) - torch.maximum(x1[i], x1)).clamp(min=0)
            h = (torch.minimum(y2[i], y2) - torch.maximum(y1[i], y1)).clamp(min=0)
            inter = w * h
            suppressed |= inter / (areas[i] + areas - inter) > iou_threshold
        return torch.tensor(keep, dtype=torch.int64)

    return True


def _has_ops() -> bool:
    """Replaces torchvision.extension._has_ops once nms is defined (a plain top-level function:
    TorchScript compiles it when torchvision scripts its helpers)."""
    return True


def calibrate_batchnorm(model, seed: int) -> None:
    """Sets every BatchNorm's running statistics from 4 seeded random images (see the docstring)."""
    import torch

    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    images = [torch.from_numpy(make_input(seed + 1000 + i, 320))[0] for i in range(4)]
    model.backbone.train()
    model.head.train()
    with torch.no_grad():
        batch, _ = model.transform(images)
        model.head(list(model.backbone(batch.tensors).values()))
    model.eval()


def make_input(seed: int, size: int) -> np.ndarray:
    import torch

    g = torch.Generator().manual_seed(seed + 1)
    low = torch.rand((1, 3, 8, 8), generator=g)
    return torch.nn.functional.interpolate(low, size=(size, size), mode="bilinear", align_corners=False).numpy()


def export(out: str, size: int, seed: int, score_thresh: float, detections: int, topk: int) -> None:
    t0 = time.time()
    import torch

    patched = ensure_nms_op()
    import torchvision
    if patched:
        import torchvision.extension
        torchvision.extension._has_ops = _has_ops
    from torchvision.models.detection import ssdlite320_mobilenet_v3_large
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}"
          f"{' (torchvision::nms defined in Python: the C++ ops did not load)' if patched else ''}; "
          f"imports {time.time() - t0:.1f} s")

    torch.manual_seed(seed)
    model = ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None)
    model.eval()
    calibrate_batchnorm(model, seed)
    model.score_thresh = score_thresh
    model.detections_per_img = detections
    model.topk_candidates = topk

    class Wrapper(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, images):
            d = self.m([images[0]])[0]
            return d["boxes"], d["scores"], d["labels"]

    wrapper = Wrapper(model).eval()
    x = torch.from_numpy(make_input(seed, size))
    with torch.no_grad():
        expected = [t.numpy() for t in wrapper(x)]
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, MODEL_NAME)
    t1 = time.time()
    kwargs = {"dynamo": False} if "dynamo" in torch.onnx.export.__code__.co_varnames else {}
    with torch.no_grad():
        torch.onnx.export(wrapper, (x,), path, opset_version=17, input_names=["images"],
                          output_names=["boxes", "scores", "labels"], do_constant_folding=True, **kwargs)
    export_s = time.time() - t1
    model_proto = onnx.load(path)
    onnx.checker.check_model(model_proto)
    print(f"exported {path}: {os.path.getsize(path) / 1e6:.2f} MB in {export_s:.1f} s, "
          f"{len(model_proto.graph.node)} nodes")

    sys.path.insert(0, os.path.join(ROOT, "Models"))
    from reference_outputs import run_onnxruntime, save_npy
    t2 = time.time()
    got = run_onnxruntime(path, {"images": x.numpy()})
    print(f"onnxruntime: {time.time() - t2:.1f} s (session + run)")
    save_npy(os.path.join(out, "ssdlite320_input.npy"), x.numpy())
    for name, e in zip(("boxes", "scores", "labels"), expected):
        save_npy(os.path.join(out, f"ssdlite320_{name}.npy"), got[name])
        save_npy(os.path.join(out, f"ssdlite320_torch_{name}.npy"), e)
        print(f"  {name}: onnxruntime {list(got[name].shape)} {got[name].dtype}, torch {list(e.shape)}")
    n = len(got["scores"])
    if got["boxes"].shape == expected[0].shape:
        print(f"  onnxruntime vs torch: max |boxes diff| {np.abs(got['boxes'] - expected[0]).max(initial=0):.3g}, "
              f"max |scores diff| {np.abs(got['scores'] - expected[1]).max(initial=0):.3g}, "
              f"labels equal {np.array_equal(got['labels'], expected[2])}")
    else:
        print("  onnxruntime and torch disagree on the number of detections")
    if n:
        print(f"  {n} detections, {len(np.unique(got['labels']))} classes, scores {got['scores'].min():.4f}.."
              f"{got['scores'].max():.4f}")
    if not 20 <= n < detections:
        sys.exit(f"{n} detections: choose another --score-thresh so that 20 <= N < {detections}")


# ---- analysis (onnx only) ------------------------------------------------------------------------

def registered_ops(root: str = ROOT) -> set[str] | None:
    """The standard op types gpuinfer registers: `static let opTypes = [...]` in
    Sources/GPUInfer/Ops/**/*.swift, and the keys of the `table` a `table.keys` list refers to."""
    files = glob.glob(os.path.join(root, "Sources", "GPUInfer", "Ops", "**", "*.swift"), recursive=True)
    if not files:
        return None
    ops: set[str] = set()
    for path in files:
        text = open(path, encoding="utf-8").read()
        for m in re.finditer(r"static let opTypes\s*=\s*(.*?)\n\s*(?:static|init|func|let|var|//|\})", text, re.S):
            expr = m.group(1)
            ops |= set(re.findall(r'"(\w+)"', expr))
            if "table.keys" in expr:
                t = re.search(r"static let table\s*:\s*\[String:\s*\w+\]\s*=\s*\[(.*?)\n\s*\]", text, re.S)
                if t:
                    ops |= set(re.findall(r'^\s*"(\w+)"\s*:', t.group(1), re.M))
    return ops


def subgraphs(node: onnx.NodeProto) -> list[tuple[str, onnx.GraphProto]]:
    return [(a.name, a.g) for a in node.attribute if a.type == onnx.AttributeProto.GRAPH] + \
        [(a.name, g) for a in node.attribute if a.type == onnx.AttributeProto.GRAPHS for g in a.graphs]


def all_nodes(graph: onnx.GraphProto, nested: bool = False):
    """(node, whether it is inside a subgraph), depth first, subgraphs included."""
    for n in graph.node:
        yield n, nested
        for _, sub in subgraphs(n):
            yield from all_nodes(sub, True)


class DataDependence:
    """Marks the data-dependent nodes (DATA_DEPENDENT op types, and TopK whose K is not a
    constant) and the longest chain of them reaching each value, through If/Loop subgraphs (a
    subgraph sees the outer values it names; the node's outputs get the deepest branch output)."""

    def __init__(self, model: onnx.ModelProto):
        self.const: set[str] = set()
        self.depth: dict[str, int] = {}
        self.dd: list[tuple[onnx.NodeProto, int]] = []
        self.downstream = 0  # nodes with an input that a data-dependent node reaches
        self.walk(model.graph)

    def is_dd(self, n: onnx.NodeProto) -> bool:
        if n.op_type in DATA_DEPENDENT:
            return True
        return n.op_type == "TopK" and len(n.input) > 1 and n.input[1] not in self.const

    def walk(self, graph: onnx.GraphProto) -> None:
        self.const.update(i.name for i in graph.initializer)
        for n in graph.node:
            d = max((self.depth.get(i, 0) for i in n.input if i), default=0)
            inner = 0
            for _, sub in subgraphs(n):
                self.walk(sub)
                inner = max([inner] + [self.depth.get(o.name, 0) for o in sub.output])
            if n.op_type == "Constant" or (not subgraphs(n) and n.input and all(i in self.const or i == "" for i in n.input)):
                self.const.update(n.output)
            if d > 0 or inner > 0:
                self.downstream += 1
            d = max(d, inner)
            if self.is_dd(n):
                d += 1
                self.dd.append((n, d))
            for o in n.output:
                self.depth[o] = d


def analyze(path: str) -> None:
    model = onnx.load(path)
    g = model.graph
    top = collections.Counter(n.op_type for n in g.node)
    nested = collections.Counter(n.op_type for n, inside in all_nodes(g) if inside)
    counts = top + nested
    print(f"{path}: {os.path.getsize(path) / 1e6:.2f} MB, opset "
          f"{[(o.domain or 'ai.onnx', o.version) for o in model.opset_import]}, {len(g.node)} nodes "
          f"(+{sum(nested.values())} in subgraphs), {len(g.initializer)} initializers, "
          f"producer {model.producer_name} {model.producer_version}")
    print("op types: " + ", ".join(f"{k} {v}" for k, v in sorted(top.items(), key=lambda kv: (-kv[1], kv[0]))))
    if nested:
        print("op types inside subgraphs: " + ", ".join(f"{k} {v}" for k, v in sorted(nested.items(), key=lambda kv: (-kv[1], kv[0]))))
    have = registered_ops()
    if have is None:
        print("not registered by gpuinfer: - (no Sources/GPUInfer/Ops here)")
    else:
        missing = sorted(set(counts) - have)
        print("not registered by gpuinfer: " + (", ".join(f"{k} ({counts[k]})" for k in missing) or "none"))
    flow = sorted(set(counts) & CONTROL_FLOW)
    print("control flow / sequence ops: " + (", ".join(f"{k} {counts[k]}" for k in flow) or "none"))
    for n in g.node:
        for name, sub in subgraphs(n):
            ops = collections.Counter(x.op_type for x in sub.node)
            print(f"  {n.op_type} {n.name} {name}: {len(sub.node)} nodes: "
                  + ", ".join(f"{k} {v}" for k, v in sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))))

    dep = DataDependence(model)
    dd_counts = collections.Counter(n.op_type + (" (computed K)" if n.op_type == "TopK" else "") for n, _ in dep.dd)
    print("data-dependent nodes: " + (", ".join(f"{k} {v}" for k, v in sorted(dd_counts.items())) or "none")
          + f"; {dep.downstream} nodes (subgraphs included) have an input downstream of one")
    print("longest chain of data-dependent nodes, input to output: "
          f"{max((dep.depth.get(o.name, 0) for o in g.output), default=0)} "
          f"({', '.join(f'{o.name} {dep.depth.get(o.name, 0)}' for o in g.output)})")
    by_depth = collections.defaultdict(collections.Counter)
    for n, d in dep.dd:
        by_depth[d][n.op_type] += 1
    for d in sorted(by_depth):
        print(f"  chain position {d}: " + ", ".join(f"{k} {v}" for k, v in sorted(by_depth[d].items())))

    producer = {o: n for n, _ in all_nodes(g) for o in n.output}
    consumers = collections.defaultdict(list)
    for n, _ in all_nodes(g):
        for i in n.input:
            consumers[i].append(n)

    def trace_back(t: str, limit: int = 12) -> str:
        chain = []
        while t in producer and len(chain) < limit:
            p = producer[t]
            chain.append(p.op_type)
            nxt = [i for i in p.input if i and i not in dep.const]
            if not nxt:
                break
            t = nxt[0]
        return " <- ".join(chain) or "(graph input or constant)"

    for n, _ in dep.dd:
        if n.op_type == "TopK":
            print(f"  K of the first computed-K TopK ({n.name}) from: {trace_back(n.input[1])}")
            break
    first = next((n for n, _ in dep.dd if n.op_type == "NonZero"), None)
    if first is not None:
        seen, frontier, order = set(), [first], []
        while frontier and len(order) < 30:
            n = frontier.pop(0)
            for o in n.output:
                for c in consumers[o]:
                    if id(c) not in seen:
                        seen.add(id(c))
                        order.append(c.op_type)
                        frontier.append(c)
        print(f"  downstream of the first NonZero (breadth first): {' '.join(order)}")
    for n, _ in dep.dd:
        if n.op_type == "NonMaxSuppression":
            print(f"  NonMaxSuppression {n.name}: " + "; ".join(
                f"{what} {'constant' if i in dep.const else 'from ' + trace_back(i, 6)}"
                for what, i in zip(("boxes", "scores", "max_output_boxes_per_class", "iou_threshold",
                                    "score_threshold"), n.input)))
    for n in g.node:
        if n.op_type == "If":
            print(f"  If {n.name} condition from: {trace_back(n.input[0], 8)}")

    # onnx shape inference: how many value shapes are fully static.
    try:
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
        static = dynamic = unknown = 0
        for vi in list(inferred.graph.value_info) + list(inferred.graph.output):
            t = vi.type.tensor_type
            if not t.HasField("shape"):
                unknown += 1
            elif all(d.HasField("dim_value") for d in t.shape.dim):
                static += 1
            else:
                dynamic += 1
        print(f"onnx shape inference (data_prop): {static} values fully static, {dynamic} with unknown or symbolic "
              f"dims, {unknown} without a shape")
        for vi in inferred.graph.output:
            t = vi.type.tensor_type
            dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in t.shape.dim] \
                if t.HasField("shape") else "no shape"
            print(f"  output {vi.name}: {dims}")
    except Exception as e:  # noqa: BLE001
        print(f"onnx shape inference failed: {e}")


POSTPROCESS_INPUTS = ["/m/head/regression_head/Concat_12_output_0", "/m/head/classification_head/Concat_12_output_0"]
POSTPROCESS_NAMES = ["bbox_regression", "cls_logits"]


def extract_postprocess(model_path: str, out_path: str) -> None:
    """Writes the exported model's post-processing alone: from the heads' concatenated outputs
    (renamed bbox_regression [1,3234,4], cls_logits [1,3234,91]) to boxes/scores/labels. The model
    first goes through onnxruntime's basic graph optimizations (constant folding of the anchors and
    of every shape computation on the fixed 320x320 input, common subexpressions; standard ops
    only), then onnx.utils.extract_model cuts it. The graph keeps everything torchvision's export
    does after the heads: softmax, box decoding and clipping, the 90 unrolled per-class NonZero ->
    GatherND -> TopK(min(count, 300)) blocks, the If around batched NMS, the slice to 300 and the
    rescale. About 300 KB: committed as Tests/data/torchvision/ssdlite320_postprocess.onnx, so
    tests of these graphs run without torch."""
    import tempfile

    import onnx
    import onnx.utils
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        basic = os.path.join(tmp, "basic.onnx")
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        so.optimized_model_filepath = basic
        ort.InferenceSession(model_path, so, providers=["CPUExecutionProvider"])
        cut = os.path.join(tmp, "cut.onnx")
        onnx.utils.extract_model(basic, cut, POSTPROCESS_INPUTS, ["boxes", "scores", "labels"])
        m = onnx.load(cut)
    renames = dict(zip(POSTPROCESS_INPUTS, POSTPROCESS_NAMES))

    def rename(graph: "onnx.GraphProto") -> None:
        for n in graph.node:
            n.input[:] = [renames.get(i, i) for i in n.input]
            for a in n.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    rename(a.g)
    rename(m.graph)
    for vi in m.graph.input:
        vi.name = renames.get(vi.name, vi.name)
    # onnxruntime lists its own domains in opset_import; the graph uses the default one only.
    keep = [o for o in m.opset_import if o.domain in ("", "ai.onnx")]
    del m.opset_import[:]
    m.opset_import.extend(keep)
    m.producer_name = "torchvision_ssdlite.py --postprocess"
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, out_path)
    print(f"{out_path}: {len(m.graph.node)} nodes, {os.path.getsize(out_path)} bytes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(ROOT, "Models", "generated", "torchvision_ssdlite"))
    parser.add_argument("--size", type=int, default=320, help="input height and width (the model resizes to 320)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--score-thresh", type=float, default=0.2,
                        help="model.score_thresh (torchvision's default 0.001 keeps everything with random weights)")
    parser.add_argument("--detections-per-img", type=int, default=300)
    parser.add_argument("--topk-candidates", type=int, default=300, help="per-class TopK limit (torchvision's 300)")
    parser.add_argument("--info", nargs="?", const="", metavar="MODEL",
                        help=f"analyze MODEL (default --out/{MODEL_NAME}) instead of exporting")
    parser.add_argument("--postprocess", metavar="OUT.onnx",
                        help="write the post-processing graph of --out's model (see extract_postprocess) instead of exporting")
    args = parser.parse_args()
    if args.postprocess:
        extract_postprocess(os.path.join(args.out, MODEL_NAME), args.postprocess)
        return
    if args.info is not None:
        analyze(args.info or os.path.join(args.out, MODEL_NAME))
        return
    export(args.out, args.size, args.seed, args.score_thresh, args.detections_per_img, args.topk_candidates)
    analyze(os.path.join(args.out, MODEL_NAME))


if __name__ == "__main__":
    main()
