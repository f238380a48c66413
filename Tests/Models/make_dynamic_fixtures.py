#!/usr/bin/env python3
"""Writes small ONNX pattern graphs whose intermediate shapes depend on the data (the post-processing
found in detection exports from tf2onnx and torchvision), with onnxruntime as the oracle, under --out
(default Tests/data/generated/dynamic/):

  <case>.onnx                 opset 17 (IR 8), built with onnx.helper; float inputs of fixed shape
  <case>_in_<input>.npy       the seeded input
  <case>_out_<output>.npy     onnxruntime's output (CPUExecutionProvider, no graph optimization)
  cases.json                  [{"name", "model", "inputs": {name: file}, "outputs": {name: file},
                              "notes"}, ...] with file names relative to --out

Cases (B boxes, C classes; N, n, k are known only at run time):
  nms_gather                  boxes [1,1917,4], scores [1,7,1917] -> NonMaxSuppression (20 per class,
                              IoU 0.45, score 0.3) -> class = Gather col 1, box = Slice col 2 + Squeeze
                              -> det_boxes [N,4] (Gather of Squeeze(boxes)), det_scores [N] (GatherND
                              of scores by the selected triples), det_classes [N] int64
  nms_gather_concat           the same, Concat [boxes, score, float(class)] -> [N,6], Reshape to
                              [1,N,6] by a Shape -> Gather -> Concat computed shape: detections
  nonzero_gathernd_reduce     x [3,37,11] -> NonZero(x > 0.5) -> Transpose -> GatherND -> values [n],
                              ReduceSum / ReduceMax (keepdims 0) -> sum, max []; count [] int64 from
                              Shape(NonZero) -> Gather(1)
  topk_computed_k             scores [1,1000] -> k = min(dim1 / 3, 250) (int64 Div, Min) -> TopK
  topk_k_from_nms             k = rows of NonMaxSuppression's selected_indices -> TopK of vec [1000]
  range_from_count            n = count of x > 0.7 (x [5,23]) -> Range(0, n, 1) -> Cast float -> * 2
  constantofshape_from_count  ConstantOfShape([n,2], 1.5) and Expand of a [1,4] constant to [n,4]
  compress_mask               Compress(x [50,6], x[:,0] > 0, axis 0)
  unique_sorted               Unique(sorted=1) of int64 [200] with repeats (a float input Cast to
                              int64): Y, indices, inverse_indices, counts
  unique_axis0                Unique(axis=0, sorted=1) of int64 [40,3] rows with repeats (Cast as above)
  where_nonzero_topk          torchvision SSD per-class step: scores [3000] -> NonZero(score > 0.05)
                              -> Squeeze -> Gather -> k = min(count, 400) -> TopK -> Gather box
                              indices -> Gather boxes [3000,4]
  empty_selection             nms_gather with score threshold 2.0: every output has 0 rows
  empty_selection_concat      nms_gather_concat with score threshold 2.0: detections [1,0,6]; its
                              Reshape has allowzero=1 (with the default 0, the 0 in [1,0,6] copies the
                              input's dimension 1, 6, and onnxruntime fails on [0,6] -> [1,6,6])

Data: boxes are valid [y1,x1,y2,x2] (centers in [0,1], sides in [0.05,0.4]) so that many overlap and
NMS suppresses some; scores are quantized (multiples of 1/64 or 1/32) so that there are ties.
Each model is checked with onnx.checker (full_check) before onnxruntime runs it; a few outputs are
also checked against NumPy here. Deterministic (seeded) and idempotent: re-running rewrites the same
bytes, and files in --out that no case lists are removed.

Usage: make_dynamic_fixtures.py [--out DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "Models"))
from reference_outputs import run_onnxruntime  # noqa: E402

OPSET = 17
F, I64, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL


class Graph:
    """A tiny builder: nodes, initializers and fixed-shape float inputs."""

    def __init__(self, name: str):
        self.name = name
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self.count = 0

    def input(self, name: str, shape: list[int], elem: int = F) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, elem, shape))
        return name

    def const(self, value, dtype, name: str | None = None) -> str:
        self.count += 1
        name = name or f"c{self.count}"
        self.inits.append(numpy_helper.from_array(np.array(value, dtype), name))
        return name

    def op(self, op_type: str, inputs: list[str], outputs: int | list[str] = 1, **attrs) -> str | list[str]:
        if isinstance(outputs, int):
            names = []
            for _ in range(outputs):
                self.count += 1
                names.append(f"{op_type.lower()}_{self.count}")
        else:
            names = outputs
        self.nodes.append(helper.make_node(op_type, inputs, names, name=f"{op_type}_{len(self.nodes)}", **attrs))
        return names[0] if len(names) == 1 else names

    def output(self, name: str, elem: int, shape: list[int | str]) -> None:
        """A graph output; data-dependent dimensions are named (dim_param)."""
        self.outputs.append(helper.make_tensor_value_info(name, elem, shape))

    def model(self) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="make_dynamic_fixtures")
        model.ir_version = 8
        return model


# ---- data ----------------------------------------------------------------------------------------

def random_boxes(rng: np.random.Generator, b: int) -> np.ndarray:
    """[b,4] valid [y1,x1,y2,x2]: centers in [0,1], sides in [0.05,0.4], so that many overlap."""
    c = rng.uniform(0, 1, (b, 2))
    s = rng.uniform(0.05, 0.4, (b, 2))
    lo = c - s / 2
    return np.concatenate([lo, lo + s], axis=1).astype(np.float32)


def quantized(x: np.ndarray, steps: int = 64) -> np.ndarray:
    """Rounds to multiples of 1/steps (exact in float32), which makes ties."""
    return (np.round(np.clip(x, 0, 1) * steps) / steps).astype(np.float32)


def detection_data(seed: int, b: int = 1917, c: int = 7) -> dict[str, np.ndarray]:
    """boxes [1,b,4], scores [1,c,b] = quantized(u^3 * scale[class]), u uniform: the first classes
    have hundreds of candidates above 0.3 (20 kept), the next to last a dozen, all tied at 20/64
    (fewer than 20 kept), the last none (scores at most 0.29)."""
    rng = np.random.default_rng(seed)
    boxes = random_boxes(rng, b)[None]
    scale = np.linspace(0.95, 0.45, c - 2).tolist() + [0.31, 0.29]
    scores = quantized(rng.uniform(0, 1, (c, b)) ** 3 * np.array(scale)[:, None])[None]
    return {"boxes": boxes, "scores": scores}


# ---- graphs --------------------------------------------------------------------------------------

def nms_selected(g: Graph, boxes: str, scores: str, max_out: int, iou: float, score: float) -> str:
    return g.op("NonMaxSuppression", [boxes, scores, g.const([max_out], np.int64, "max_output_boxes_per_class"),
                                      g.const([iou], np.float32, "iou_threshold"),
                                      g.const([score], np.float32, "score_threshold")], ["selected_indices"])


def nms_gather_graph(name: str, score_threshold: float, concat: bool, allowzero: int = 0) -> onnx.ModelProto:
    g = Graph(name)
    boxes = g.input("boxes", [1, 1917, 4])
    scores = g.input("scores", [1, 7, 1917])
    sel = nms_selected(g, boxes, scores, 20, 0.45, score_threshold)
    classes = g.op("Gather", [sel, g.const(1, np.int64)], ["det_classes"] if not concat else 1, axis=1)
    col2 = g.op("Slice", [sel, g.const([2], np.int64), g.const([3], np.int64), g.const([1], np.int64)])
    box_idx = g.op("Squeeze", [col2, g.const([1], np.int64)])
    boxes2d = g.op("Squeeze", [boxes, g.const([0], np.int64)])
    det_boxes = g.op("Gather", [boxes2d, box_idx], ["det_boxes"] if not concat else 1, axis=0)
    det_scores = g.op("GatherND", [scores, sel], ["det_scores"] if not concat else 1)
    if not concat:
        g.output("det_boxes", F, ["N", 4])
        g.output("det_scores", F, ["N"])
        g.output("det_classes", I64, ["N"])
        return g.model()
    axis1 = g.const([1], np.int64)
    s = g.op("Unsqueeze", [det_scores, axis1])
    c = g.op("Unsqueeze", [g.op("Cast", [classes], to=F), axis1])
    rows = g.op("Concat", [det_boxes, s, c], axis=1)
    n = g.op("Gather", [g.op("Shape", [sel]), g.const([0], np.int64)], axis=0)
    shape = g.op("Concat", [g.const([1], np.int64), n, g.const([6], np.int64)], axis=0)
    # With allowzero 0 (the default, what exporters write) a 0 in the shape copies the input's
    # dimension: [1,0,6] on a [0,6] tensor asks for [1,6,6] and fails; the empty case needs 1.
    g.op("Reshape", [rows, shape], ["detections"], allowzero=allowzero)
    g.output("detections", F, [1, "N", 6])
    return g.model()


def nonzero_gathernd_reduce_graph() -> onnx.ModelProto:
    g = Graph("nonzero_gathernd_reduce")
    x = g.input("x", [3, 37, 11])
    nz = g.op("NonZero", [g.op("Greater", [x, g.const(0.5, np.float32)])])
    idx = g.op("Transpose", [nz], perm=[1, 0])
    values = g.op("GatherND", [x, idx], ["values"])
    g.op("ReduceSum", [values], ["sum"], keepdims=0)
    g.op("ReduceMax", [values], ["max"], keepdims=0)
    g.op("Gather", [g.op("Shape", [nz]), g.const(1, np.int64)], ["count"], axis=0)
    for name, elem, shape in (("values", F, ["n"]), ("sum", F, []), ("max", F, []), ("count", I64, [])):
        g.output(name, elem, shape)
    return g.model()


def topk_computed_k_graph() -> onnx.ModelProto:
    g = Graph("topk_computed_k")
    scores = g.input("scores", [1, 1000])
    dim = g.op("Gather", [g.op("Shape", [scores]), g.const(1, np.int64)], axis=0)
    k = g.op("Min", [g.op("Div", [dim, g.const(3, np.int64)]), g.const(250, np.int64)])
    k1 = g.op("Unsqueeze", [k, g.const([0], np.int64)])
    g.op("TopK", [scores, k1], ["values", "indices"], axis=-1, largest=1, sorted=1)
    g.output("values", F, [1, "k"])
    g.output("indices", I64, [1, "k"])
    return g.model()


def topk_k_from_nms_graph() -> onnx.ModelProto:
    g = Graph("topk_k_from_nms")
    boxes = g.input("boxes", [1, 500, 4])
    scores = g.input("scores", [1, 3, 500])
    vec = g.input("vec", [1000])
    sel = nms_selected(g, boxes, scores, 15, 0.5, 0.25)
    g.op("Identity", [sel], ["nms_selected"])
    k = g.op("Gather", [g.op("Shape", [sel]), g.const([0], np.int64)], axis=0)
    g.op("TopK", [vec, k], ["values", "indices"], axis=0, largest=1, sorted=1)
    g.output("nms_selected", I64, ["k", 3])
    g.output("values", F, ["k"])
    g.output("indices", I64, ["k"])
    return g.model()


def count_of(g: Graph, x: str, threshold: float) -> str:
    """Scalar int64: how many elements of x exceed threshold (Shape(NonZero) -> Gather 1)."""
    nz = g.op("NonZero", [g.op("Greater", [x, g.const(threshold, np.float32)])])
    return g.op("Gather", [g.op("Shape", [nz]), g.const(1, np.int64)], axis=0)


def range_from_count_graph() -> onnx.ModelProto:
    g = Graph("range_from_count")
    x = g.input("x", [5, 23])
    n = count_of(g, x, 0.7)
    r = g.op("Range", [g.const(0, np.int64), n, g.const(1, np.int64)])
    g.op("Mul", [g.op("Cast", [r], to=F), g.const(2.0, np.float32)], ["y"])
    g.output("y", F, ["n"])
    return g.model()


def constantofshape_from_count_graph() -> onnx.ModelProto:
    g = Graph("constantofshape_from_count")
    x = g.input("x", [5, 23])
    n1 = g.op("Unsqueeze", [count_of(g, x, 0.7), g.const([0], np.int64)])
    shape = g.op("Concat", [n1, g.const([2], np.int64)], axis=0)
    g.op("ConstantOfShape", [shape], ["filled"], value=numpy_helper.from_array(np.array([1.5], np.float32)))
    row = g.const([[1.0, -2.0, 3.5, 0.25]], np.float32)
    g.op("Expand", [row, g.op("Concat", [n1, g.const([4], np.int64)], axis=0)], ["expanded"])
    g.output("filled", F, ["n", 2])
    g.output("expanded", F, ["n", 4])
    return g.model()


def compress_mask_graph() -> onnx.ModelProto:
    g = Graph("compress_mask")
    x = g.input("x", [50, 6])
    col0 = g.op("Gather", [x, g.const(0, np.int64)], axis=1)
    g.op("Compress", [x, g.op("Greater", [col0, g.const(0.0, np.float32)])], ["y"], axis=0)
    g.output("y", F, ["m", 6])
    return g.model()


def unique_graph(name: str, shape: list[int], axis: int | None) -> onnx.ModelProto:
    g = Graph(name)
    x = g.input("x", shape)
    xi = g.op("Cast", [x], to=I64)
    attrs = {"sorted": 1} if axis is None else {"sorted": 1, "axis": axis}
    g.op("Unique", [xi], ["Y", "indices", "inverse_indices", "counts"], **attrs)
    for out, dims in (("Y", ["u"] if axis is None else ["u", shape[1]]), ("indices", ["u"]),
                      ("inverse_indices", [shape[0]]), ("counts", ["u"])):
        g.output(out, I64, dims)
    return g.model()


def where_nonzero_topk_graph() -> onnx.ModelProto:
    g = Graph("where_nonzero_topk")
    scores = g.input("scores", [3000])
    boxes = g.input("boxes", [3000, 4])
    nz = g.op("NonZero", [g.op("Greater", [scores, g.const(0.05, np.float32)])])
    keep = g.op("Squeeze", [nz, g.const([0], np.int64)])
    kept_scores = g.op("Gather", [scores, keep], axis=0)
    count = g.op("Gather", [g.op("Shape", [kept_scores]), g.const(0, np.int64)], axis=0)
    k = g.op("Unsqueeze", [g.op("Min", [count, g.const(400, np.int64)]), g.const([0], np.int64)])
    _, top = g.op("TopK", [kept_scores, k], ["top_scores", "top_local"], axis=0, largest=1, sorted=1)
    box_idx = g.op("Gather", [keep, top], ["box_indices"], axis=0)
    g.op("Gather", [boxes, box_idx], ["top_boxes"], axis=0)
    g.output("top_scores", F, ["k"])
    g.output("box_indices", I64, ["k"])
    g.output("top_boxes", F, ["k", 4])
    return g.model()


# ---- cases ---------------------------------------------------------------------------------------

def if_graph(name: str) -> onnx.ModelProto:
    """If whose condition the device computes: cond = ReduceSum(x) > 0. The then branch uses an
    outer value (x) and its own initializer, Relu(x) * 2; the else branch holds a nested If on a
    count of a NonZero (a data-dependent shape, known only after a cut): count > 5 ? Neg(x) :
    x - 1 (a Constant node). Both the branch outputs and an outer value after the If are outputs."""
    g = Graph(name)
    x = g.input("x", [4, 9])
    cond = g.op("Greater", [g.op("ReduceSum", [x], keepdims=0), g.const(0.0, np.float32)])
    then_nodes = [helper.make_node("Relu", ["x"], ["t_relu"]), helper.make_node("Mul", ["t_relu", "t_two"], ["t_out"])]
    then_graph = helper.make_graph(then_nodes, "then", [], [helper.make_tensor_value_info("t_out", F, [4, 9])],
                                   [numpy_helper.from_array(np.array(2.0, np.float32), "t_two")])
    inner_then = helper.make_graph([helper.make_node("Neg", ["x"], ["it_out"])], "inner_then", [],
                                   [helper.make_tensor_value_info("it_out", F, [4, 9])])
    inner_else = helper.make_graph([helper.make_node("Constant", [], ["ie_one"], value=numpy_helper.from_array(np.array(1.0, np.float32))),
                                    helper.make_node("Sub", ["x", "ie_one"], ["ie_out"])], "inner_else", [],
                                   [helper.make_tensor_value_info("ie_out", F, [4, 9])])
    else_nodes = [
        helper.make_node("Greater", ["x", "e_half"], ["e_mask"]),
        helper.make_node("NonZero", ["e_mask"], ["e_nz"]),
        helper.make_node("Shape", ["e_nz"], ["e_shape"]),
        helper.make_node("Gather", ["e_shape", "e_one"], ["e_count"], axis=0),
        helper.make_node("Greater", ["e_count", "e_five"], ["e_cond"]),
        helper.make_node("If", ["e_cond"], ["e_out"], then_branch=inner_then, else_branch=inner_else),
    ]
    else_graph = helper.make_graph(else_nodes, "else", [], [helper.make_tensor_value_info("e_out", F, [4, 9])],
                                   [numpy_helper.from_array(np.array(-0.5, np.float32), "e_half"),
                                    numpy_helper.from_array(np.array(1, np.int64), "e_one"),
                                    numpy_helper.from_array(np.array(5, np.int64), "e_five")])
    y = g.op("If", [cond], ["y"], then_branch=then_graph, else_branch=else_graph)
    g.op("Add", [y, x], ["z"])
    g.output("y", F, [4, 9])
    g.output("z", F, [4, 9])
    return g.model()


def save_npy(path: str, array: np.ndarray) -> None:
    """Writes a C-order .npy keeping 0-d arrays 0-d (np.ascontiguousarray would make them [1])."""
    np.save(path, np.require(array, requirements="C"), allow_pickle=False)


def cases() -> list[tuple[str, onnx.ModelProto, dict[str, np.ndarray], str]]:
    out = []
    det = detection_data(1)
    out.append(("nms_gather", nms_gather_graph("nms_gather", 0.3, concat=False), det,
                "NonMaxSuppression(20 per class, IoU 0.45, score 0.3) on 1917 boxes x 7 classes; class = "
                "Gather col 1, box = Slice col 2 + Squeeze; boxes by Gather, scores by GatherND; N rows"))
    out.append(("nms_gather_concat", nms_gather_graph("nms_gather_concat", 0.3, concat=True), det,
                "nms_gather, then Concat [boxes, score, float(class)] -> [N,6], Reshape to [1,N,6] with a "
                "Shape -> Gather -> Concat shape (Reshape allowzero=0, the default)"))
    rng = np.random.default_rng(2)
    out.append(("nonzero_gathernd_reduce", nonzero_gathernd_reduce_graph(),
                {"x": quantized(rng.uniform(0, 1, (3, 37, 11)), 32)},
                "NonZero(x > 0.5) -> Transpose -> GatherND -> ReduceSum/ReduceMax (keepdims 0); count = "
                "Shape(NonZero)[1]; values in row-major order of the true positions"))
    rng = np.random.default_rng(3)
    out.append(("topk_computed_k", topk_computed_k_graph(), {"scores": quantized(rng.uniform(0, 1, (1, 1000)), 64)},
                "k = min(1000 / 3, 250) = 250 computed from Shape with int64 Div and Min; ties (1/64 steps) "
                "rank the lower index first"))
    rng = np.random.default_rng(4)
    out.append(("topk_k_from_nms", topk_k_from_nms_graph(),
                {"boxes": random_boxes(rng, 500)[None],
                 "scores": quantized(rng.uniform(0, 1, (1, 3, 500)) ** 2 * np.array([1.0, 0.8, 0.27])[:, None], 64),
                 "vec": quantized(rng.uniform(0, 1, 1000), 64)},
                "k = rows of NonMaxSuppression(15 per class, IoU 0.5, score 0.25) on 500 boxes x 3 classes; "
                "TopK(vec [1000], k); class 2's scores are at most 0.27, so it keeps fewer than 15"))
    rng = np.random.default_rng(5)
    x = quantized(rng.uniform(0, 1, (5, 23)), 32)
    out.append(("range_from_count", range_from_count_graph(), {"x": x},
                "n = count(x > 0.7) via NonZero; Range(0, n, 1) -> Cast float -> Mul 2"))
    out.append(("constantofshape_from_count", constantofshape_from_count_graph(), {"x": x},
                "n as in range_from_count (same input); ConstantOfShape([n,2], 1.5); Expand [1,4] -> [n,4]"))
    rng = np.random.default_rng(6)
    out.append(("compress_mask", compress_mask_graph(), {"x": rng.standard_normal((50, 6)).astype(np.float32)},
                "Compress(x, x[:,0] > 0, axis 0); x[:,0] by Gather(axis 1, scalar 0)"))
    rng = np.random.default_rng(7)
    out.append(("unique_sorted", unique_graph("unique_sorted", [200], None),
                {"x": rng.integers(-10, 30, 200).astype(np.float32)},
                "float input of integers in [-10,30) Cast to int64, Unique(sorted=1): all four outputs"))
    rows = rng.integers(0, 3, (12, 3))
    rows[5] = rows[2]  # a duplicate among the templates too
    x = rows[rng.integers(0, 12, 40)].astype(np.float32)
    out.append(("unique_axis0", unique_graph("unique_axis0", [40, 3], 0), {"x": x},
                "40 rows drawn from 12 templates (values 0..2), Cast to int64, Unique(axis=0, sorted=1)"))
    rng = np.random.default_rng(8)
    out.append(("where_nonzero_topk", where_nonzero_topk_graph(),
                {"scores": quantized(rng.uniform(0, 1, 3000) ** 4, 64), "boxes": random_boxes(rng, 3000)},
                "torchvision per-class step: NonZero(score > 0.05) -> Squeeze -> Gather -> k = min(count, 400) -> "
                "TopK -> Gather(keep, top) = box_indices -> Gather boxes"))
    out.append(("empty_selection", nms_gather_graph("empty_selection", 2.0, concat=False), det,
                "nms_gather with score threshold 2.0: no detections, every output has 0 rows"))
    out.append(("empty_selection_concat", nms_gather_graph("empty_selection_concat", 2.0, concat=True, allowzero=1), det,
                "nms_gather_concat with score threshold 2.0 and Reshape allowzero=1: detections [1,0,6] (with "
                "the default allowzero=0 the shape [1,0,6] means [1,6,6] and onnxruntime fails)"))
    rng = np.random.default_rng(10)
    base = quantized(rng.uniform(0, 1, (4, 9)), 32)
    out.append(("if_then", if_graph("if_then"), {"x": base},
                "If(ReduceSum(x) > 0): the then branch, Relu(x) * 2 with the branch's own initializer"))
    out.append(("if_else_nested", if_graph("if_else_nested"), {"x": (-base - 0.3).astype(np.float32)},
                "x < 0 everywhere: the else branch; its nested If on count(x > -0.5) > 5 (a NonZero count)"))
    out.append(("if_else_nested_other", if_graph("if_else_nested_other"), {"x": np.full((4, 9), -0.75, np.float32)},
                "x = -0.75 everywhere: else branch, count(x > -0.5) = 0, the nested If's else branch (x - 1)"))
    # torchvision's SSDlite post-processing as torch.onnx.export writes it (committed graph, see
    # Models/torchvision_ssdlite.py --postprocess). Logits: N(0,1) with one class raised by 3.5 to
    # 6 at 150 random anchors, so softmax scores pass the graph's 0.2 threshold there (with 91
    # classes a raised logit of ~3 gives ~0.2); regression codes N(0, 0.5).
    rng = np.random.default_rng(9)
    logits = rng.standard_normal((1, 3234, 91)).astype(np.float32)
    hot = rng.choice(3234, 150, replace=False)
    logits[0, hot, rng.integers(1, 91, 150)] += rng.uniform(3.5, 6, 150).astype(np.float32)
    post = onnx.load(os.path.join(ROOT, "Tests", "data", "torchvision", "ssdlite320_postprocess.onnx"))
    out.append(("torchvision_ssdlite_postprocess", post,
                {"bbox_regression": (rng.standard_normal((1, 3234, 4)) * 0.5).astype(np.float32), "cls_logits": logits},
                "torchvision ssdlite320_mobilenet_v3_large's exported post-processing (90 unrolled NonZero -> "
                "GatherND -> TopK(min(count, 300)), If around batched NMS, slice to 300, rescale)"))
    return out


def check(name: str, feeds: dict[str, np.ndarray], y: dict[str, np.ndarray]) -> None:
    """NumPy cross-checks of what the graphs are meant to compute."""
    if name in ("nms_gather", "empty_selection"):
        n = len(y["det_classes"])
        assert y["det_boxes"].shape == (n, 4) and y["det_scores"].shape == (n,)
        if name == "empty_selection":
            assert n == 0
        else:
            per_class = np.bincount(y["det_classes"], minlength=7)
            assert np.all(per_class[:5] == 20) and 0 < per_class[5] < 20 and per_class[6] == 0, per_class
            assert np.all(y["det_scores"] > 0.3)
    elif name == "nonzero_gathernd_reduce":
        v = feeds["x"][feeds["x"] > 0.5]
        assert np.array_equal(y["values"], v) and y["count"] == v.size and y["max"] == v.max()
        assert abs(y["sum"] - v.sum()) < 1e-3
    elif name == "topk_computed_k":
        order = np.lexsort((np.arange(1000), -feeds["scores"][0]))[:250]
        assert np.array_equal(y["indices"][0], order)
    elif name == "topk_k_from_nms":
        k = len(y["nms_selected"])
        assert 30 < k < 45 and np.array_equal(y["indices"], np.lexsort((np.arange(1000), -feeds["vec"]))[:k]), k
    elif name == "range_from_count":
        assert np.array_equal(y["y"], 2 * np.arange((feeds["x"] > 0.7).sum(), dtype=np.float32))
    elif name == "compress_mask":
        assert np.array_equal(y["y"], feeds["x"][feeds["x"][:, 0] > 0])
    elif name == "unique_sorted":
        u, i, inv, c = np.unique(feeds["x"].astype(np.int64), return_index=True, return_inverse=True, return_counts=True)
        assert all(np.array_equal(a, b) for a, b in zip((u, i, inv, c), (y["Y"], y["indices"], y["inverse_indices"],
                                                                      y["counts"])))
    elif name == "unique_axis0":
        u, c = np.unique(feeds["x"].astype(np.int64), axis=0, return_counts=True)
        assert np.array_equal(u, y["Y"]) and np.array_equal(c, y["counts"]) and len(u) < 40
    elif name == "where_nonzero_topk":
        s = feeds["scores"]
        keep = np.nonzero(s > 0.05)[0]
        assert len(keep) > 400
        top = keep[np.lexsort((np.arange(len(keep)), -s[keep]))[:400]]
        assert np.array_equal(y["box_indices"], top) and np.array_equal(y["top_boxes"], feeds["boxes"][top])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(ROOT, "Tests", "data", "generated", "dynamic"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    listing, written = [], {"cases.json"}
    for name, model, feeds, notes in cases():
        model_file = f"{name}.onnx"
        path = os.path.join(args.out, model_file)
        onnx.checker.check_model(model, full_check=True)
        onnx.save(model, path)
        y = run_onnxruntime(path, feeds)
        check(name, feeds, y)
        entry = {"name": name, "model": model_file, "inputs": {}, "outputs": {}, "notes": notes}
        for key, value in feeds.items():
            entry["inputs"][key] = f"{name}_in_{key}.npy"
            save_npy(os.path.join(args.out, entry["inputs"][key]), value)
        for key, value in y.items():
            entry["outputs"][key] = f"{name}_out_{key}.npy"
            save_npy(os.path.join(args.out, entry["outputs"][key]), value)
        written |= {model_file, *entry["inputs"].values(), *entry["outputs"].values()}
        listing.append(entry)
        shapes = ", ".join(f"{k} {list(v.shape)} {v.dtype}" for k, v in y.items())
        print(f"{name}: {shapes}")
    with open(os.path.join(args.out, "cases.json"), "w") as f:
        json.dump(listing, f, indent=2)
        f.write("\n")
    for stale in sorted(set(os.listdir(args.out)) - written):
        if stale.endswith((".onnx", ".npy", ".json")):
            os.remove(os.path.join(args.out, stale))
    print(f"{len(listing)} cases in {args.out}")


if __name__ == "__main__":
    main()
