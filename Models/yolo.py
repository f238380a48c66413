#!/usr/bin/env python3
"""Exports a YOLOv8n detector (Ultralytics' `yolov8.yaml` at scale n: depth 0.33, width 0.25, max
channels 1024) as ONNX, with seeded random weights, laid out as Ultralytics' own ONNX export
(`yolo export format=onnx opset=17`) writes it, with the batch dimension dynamic (its dynamic=True
would free H and W too; here they are fixed, the anchors being constants): for CPU speed benchmarks
against onnxruntime. There are no real weights here: the detections mean nothing.

Graph (opset 17), input `images` float32 [N,3,S,S] (N dynamic; S = --size, default 640, a multiple
of 32; RGB, x/255), output `output0` float32 [N,84,A] with A = (S/8)^2 + (S/16)^2 + (S/32)^2 (8400
at 640): rows 0-3 the box centre x, y and width, height in input pixels, rows 4-83 the 80 class
probabilities (sigmoid, no objectness, no NMS), exactly Ultralytics' `output0`.
Every "Conv" is Conv2d k x k, stride s, pad k//2, with its BatchNorm folded into weight and bias
(as Ultralytics fuses before exporting), then SiLU written as Mul(x, Sigmoid(x)) (torch.onnx's form).
  backbone  0 Conv 3->16 k3 s2       1 Conv 16->32 k3 s2      2 C2f 32 n1 shortcut
            3 Conv 32->64 k3 s2      4 C2f 64 n2 shortcut     (P3, stride 8)
            5 Conv 64->128 k3 s2     6 C2f 128 n2 shortcut    (P4, stride 16)
            7 Conv 128->256 k3 s2    8 C2f 256 n1 shortcut    9 SPPF 256 k5 (P5, stride 32)
  head      10 Resize nearest x2, 11 Concat [10, 6], 12 C2f 384->128 n1
            13 Resize x2, 14 Concat [13, 4], 15 C2f 192->64              -> P3 out (80x80 at 640)
            16 Conv 64->64 k3 s2, 17 Concat [16, 12], 18 C2f 192->128    -> P4 out (40x40)
            19 Conv 128->128 k3 s2, 20 Concat [19, 9], 21 C2f 384->256   -> P5 out (20x20)
  C2f(c1, c2, n, shortcut): cv1 Conv 1x1 c1->c2 -> Split into halves of c = c2/2 -> n Bottlenecks,
    each on the last chunk: Conv k3 c->c, Conv k3 c->c, + its input when shortcut -> Concat of
    the (2+n) chunks -> cv2 Conv 1x1 (2+n)c->c2.
  SPPF(c1, c2, 5): cv1 Conv 1x1 c1->c1/2 -> MaxPool 5x5/1 pad 2 three times in a chain -> Concat
    of the four -> cv2 Conv 1x1 2c1->c2.
  Resize: nearest, scales [1,1,2,2], coordinate_transformation_mode asymmetric, nearest_mode
    floor (torch's nn.Upsample(scale_factor=2)).
  22 Detect (80 classes, reg_max 16), per level i with ch channels:
       box cv2.i: Conv k3 ch->64, Conv k3 64->64, Conv2d 1x1 64->64 (bias, no BN, no SiLU)
       cls cv3.i: Conv k3 ch->80, Conv k3 80->80, Conv2d 1x1 80->80
       Concat([box, cls], axis 1) -> Reshape [N,144,-1]; Concat over the levels (axis 2) -> [N,144,A]
       -> Split [64, 80] on axis 1
     DFL: Reshape [N,4,16,A] -> Transpose [0,2,1,3] -> Softmax(axis 1, the 16 bins) -> Conv 1x1
       with the fixed weight arange(16) [1,16,1,1], no bias -> Reshape [N,4,A]: distances l,t,r,b
     dist2bbox: Split [2,2] -> lt, rb; x1y1 = anchors - lt, x2y2 = anchors + rb; centre =
       (x1y1 + x2y2)/2, wh = x2y2 - x1y1; Concat -> Mul strides
       (anchors [1,2,A] = grid cell centres (j+0.5, i+0.5), row-major per level; strides [1,A] =
       8, 16, 32: constants for this S)
     Concat([boxes, Sigmoid(cls)], axis 1) -> output0 [N,84,A]
Initializer names are the fused model's state_dict names (`model.0.conv.weight`, `.bias`,
`model.2.m.0.cv1.conv.weight`, `model.22.cv2.0.2.weight`, `model.22.dfl.conv.weight`, ...); node
names follow their outputs.

Weights: seeded random (`--seed`, default 0): He-normal (fan-in) convolutions, drawn in build
order from one generator, CALIBRATED on Models/samples/grace_hopper.jpg stretched to 320x320,
whatever --size (so every size gets the same weights), by a float32 NumPy forward of the network
(LSUV-like, after Mishkin & Matas 2016): each conv's weight is scaled by g_c / (RMS of the whole
layer's output on the photo), i.e. one gain per layer times a per-channel g_c. Conv blocks: g_c =
gamma ~ U(0.5, 1.5), bias = beta ~ N(0, 0.2) (a folded BatchNorm). The Detect 1x1 outputs: g = 2
for the 64 DFL logits and 0.75 for the 80 class logits, biases setting their channel means on the
photo to N(0, 0.5) and N(-6, 0.5). (Per-channel BatchNorm statistics of one smooth photo instead
amplified a noise image 20x by the neck and saturated every class score.) Activations then stay
within about 2x of the calibration scale for photos and uniform noise at 160 to 640 (block output
std 0.2-1.4); at 640 the photo gives class scores with median 0.0026, 2741 (anchor, class) pairs
above 0.25 on 1185 anchors and max 0.99; uniform noise median 0.0026, max 0.025 (nothing above
0.25, as a trained detector on noise); boxes are 14-800 px wide. A warning goes to stderr and
`gpuinfer.weights` says `random-seed-N`. Deterministic: same bytes every run.

Metadata: gpuinfer.model=yolov8n, input_width = input_height = S, resize=bilinear (gpuinfer
stretches; Ultralytics letterboxes to S x S with grey 114 padding), channel_order=RGB,
scale=1/255, mean=0,0,0, std=1,1,1, labels=coco80, weights; and Ultralytics' own keys task=detect,
stride=32, imgsz=[S, S], names={0: 'person', ...} so tools that read an Ultralytics export find them.

Usage: yolo.py [--out Models/generated/yolov8n.onnx] [--size 640] [--seed 0]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from graph_builder import GraphBuilder, np_conv  # noqa: E402

OPSET = 17
NAME = "yolov8n"
CLASSES = 80
REG_MAX = 16
STRIDES = (8, 16, 32)
PHOTO = os.path.join(HERE, "samples", "grace_hopper.jpg")
CALIBRATION_SIZE = 320
#: Calibration targets of the random weights (see the module docstring).
BN_GAMMA = (0.5, 1.5)
BN_BETA_STD = 0.2
BOX_LOGIT_STD, BOX_LOGIT_MEAN_STD = 2.0, 0.5
CLS_LOGIT_STD, CLS_LOGIT_MEAN, CLS_LOGIT_MEAN_STD = 0.75, -6.0, 0.5
COCO80 = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase",
    "scissors", "teddy bear", "hair drier", "toothbrush")


def calibration_input(size: int = CALIBRATION_SIZE) -> np.ndarray:
    """[1,3,size,size]: the sample photo, RGB, bilinear resize (PIL, aspect not kept), /255."""
    from PIL import Image
    img = Image.open(PHOTO).convert("RGB").resize((size, size), Image.BILINEAR)
    x = np.asarray(img, np.float32) / np.float32(255)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None], np.float32)


def sigmoid(v: np.ndarray) -> np.ndarray:
    return (1 / (1 + np.exp(-v))).astype(np.float32)


def anchors_and_strides(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Ultralytics' make_anchors (offset 0.5) for an S x S input: anchors [1,2,A] (x, y in grid
    cells, row-major per level), strides [1,A]."""
    points, strides = [], []
    for s in STRIDES:
        n = size // s
        sy, sx = np.meshgrid(np.arange(n, dtype=np.float32) + 0.5, np.arange(n, dtype=np.float32) + 0.5, indexing="ij")
        points.append(np.stack([sx.ravel(), sy.ravel()]))
        strides.append(np.full(n * n, s, np.float32))
    return np.concatenate(points, axis=1)[None].astype(np.float32), np.concatenate(strides)[None].astype(np.float32)


class Builder(GraphBuilder):
    """YOLOv8's modules. Each conv's random weights are drawn when the graph reaches it (build
    order, one generator), and with `x` (a NumPy input) the network also runs in float32, each
    conv's weight and bias being calibrated there (`conv_values`) before the next conv is drawn."""

    def __init__(self, seed: int, x: np.ndarray | None) -> None:
        super().__init__({}, None if x is None else {"images": x}, x is not None)
        self.rng = np.random.default_rng(seed)
        self.consts: dict[str, np.ndarray] = {}
        #: conv name -> (std, mean) per output channel and whether to centre each channel: its calibration target
        self.targets: dict[str, tuple[np.ndarray, np.ndarray, bool]] = {}

    def const(self, name: str, a: np.ndarray) -> str:
        self.consts[name] = a
        return name

    def ints(self, name: str, values: list[int]) -> str:
        return self.const(name, np.array(values, np.int64))

    def new_conv(self, name: str, cin: int, cout: int, k: int, std: np.ndarray, mean: np.ndarray, centre: bool = False) -> None:
        """A He-normal (fan-in) weight; `std`, `mean` and `centre` are its calibration target (see
        `conv_values`). Without a calibration input, std and mean act as the gamma and beta of a
        BatchNorm with identity statistics folded in."""
        w = self.rng.standard_normal((cout, cin, k, k), np.float32) * np.float32(np.sqrt(2.0 / (cin * k * k)))
        if self.values is None:
            w = w * std.astype(np.float32)[:, None, None, None]
        self.w[f"{name}.weight"] = w.astype(np.float32)
        self.w[f"{name}.bias"] = mean.astype(np.float32)
        self.targets[name] = (std.astype(np.float32), mean.astype(np.float32), centre)

    def conv_values(self, x: str, name: str, stride: int, pad: int, bias: bool) -> np.ndarray:
        """Calibration (LSUV-like: one gain per layer, not per channel, so inputs unlike the photo,
        noise say, keep about the same scale): the weight times std_c / RMS of the whole layer's
        output; bias = mean_c, or for a `centre`d conv (the Detect outputs) the bias that makes
        channel c's mean mean_c on the calibration input."""
        if not self.calibrate:
            return super().conv_values(x, name, stride, pad, bias)
        wt = self.w[f"{name}.weight"]
        y = np_conv(self.values[x], wt, None, stride, pad)
        std, mean, centre = self.targets[name]
        scale = std / np.float32(max(float(np.sqrt((y * y).mean())), 1e-6))
        bias = mean - y.mean(axis=(0, 2, 3)) * scale if centre else mean
        self.w[f"{name}.weight"] = (wt * scale[:, None, None, None]).astype(np.float32)
        self.w[f"{name}.bias"] = bias.astype(np.float32)
        return (y * scale[None, :, None, None] + self.w[f"{name}.bias"][None, :, None, None]).astype(np.float32)

    # -- ops with a NumPy forward ------------------------------------------------------------
    def silu(self, x: str, name: str) -> str:
        s = self.node("Sigmoid", [x], f"{name}.sigmoid")
        out = self.node("Mul", [x, s], name)
        if self.values is not None:
            self.values[s] = sigmoid(self.values[x])
            self.values[out] = self.values[x] * self.values[s]
        return out

    def concat(self, xs: list[str], name: str, axis: int = 1) -> str:
        out = self.node("Concat", xs, name, axis=axis)
        if self.values is not None and all(x in self.values for x in xs):
            self.values[out] = np.concatenate([self.values[x] for x in xs], axis=axis)
        return out

    def split(self, x: str, name: str, sizes: list[int], axis: int = 1) -> list[str]:
        outs = [f"{name}.{i}" for i in range(len(sizes))]
        self.nodes.append(helper.make_node("Split", [x, self.ints(f"{name}.sizes", sizes)], outs, name=name, axis=axis))
        if self.values is not None and x in self.values:
            for o, v in zip(outs, np.split(self.values[x], np.cumsum(sizes)[:-1], axis=axis)):
                self.values[o] = np.ascontiguousarray(v)
        return outs

    def upsample(self, x: str, name: str) -> str:
        scales = self.const("upsample.scales", np.array([1, 1, 2, 2], np.float32))
        out = self.node("Resize", [x, "", scales], name, mode="nearest", coordinate_transformation_mode="asymmetric",
                        nearest_mode="floor")
        if self.values is not None:
            self.values[out] = self.values[x].repeat(2, axis=2).repeat(2, axis=3)
        return out

    # -- Ultralytics modules ----------------------------------------------------------------------
    def conv_block(self, x: str, p: str, cin: int, cout: int, k: int, s: int = 1) -> str:
        """Conv (BN folded) + SiLU; initializers `p.conv.weight`, `p.conv.bias`."""
        std = self.rng.uniform(*BN_GAMMA, cout)
        mean = self.rng.standard_normal(cout) * BN_BETA_STD
        self.new_conv(f"{p}.conv", cin, cout, k, std, mean)
        return self.silu(self.conv(x, f"{p}.conv", s, k // 2, bias=True), p)

    def c2f(self, x: str, p: str, cin: int, cout: int, n: int, shortcut: bool) -> str:
        c = cout // 2
        chunks = self.split(self.conv_block(x, f"{p}.cv1", cin, 2 * c, 1), f"{p}.split", [c, c])
        for i in range(n):
            q = f"{p}.m.{i}"
            h = self.conv_block(self.conv_block(chunks[-1], f"{q}.cv1", c, c, 3), f"{q}.cv2", c, c, 3)
            chunks.append(self.add(chunks[-1], h, f"{q}.add") if shortcut else h)
        return self.conv_block(self.concat(chunks, f"{p}.cat"), f"{p}.cv2", (2 + n) * c, cout, 1)

    def sppf(self, x: str, p: str, cin: int, cout: int, k: int = 5) -> str:
        ys = [self.conv_block(x, f"{p}.cv1", cin, cin // 2, 1)]
        for i in range(3):
            ys.append(self.maxpool(ys[-1], f"{p}.m.{i}", k, 1, k // 2))
        return self.conv_block(self.concat(ys, f"{p}.cat"), f"{p}.cv2", 2 * cin, cout, 1)

    def backbone_and_neck(self) -> list[str]:
        """Layers 0-21 of yolov8.yaml at scale n; returns the P3, P4, P5 outputs (15, 18, 21)."""
        x = self.conv_block("images", "model.0", 3, 16, 3, 2)
        x = self.conv_block(x, "model.1", 16, 32, 3, 2)
        x = self.c2f(x, "model.2", 32, 32, 1, True)
        x = self.conv_block(x, "model.3", 32, 64, 3, 2)
        p3 = self.c2f(x, "model.4", 64, 64, 2, True)
        x = self.conv_block(p3, "model.5", 64, 128, 3, 2)
        p4 = self.c2f(x, "model.6", 128, 128, 2, True)
        x = self.conv_block(p4, "model.7", 128, 256, 3, 2)
        x = self.c2f(x, "model.8", 256, 256, 1, True)
        p5 = self.sppf(x, "model.9", 256, 256)
        x = self.concat([self.upsample(p5, "model.10"), p4], "model.11")
        h12 = self.c2f(x, "model.12", 384, 128, 1, False)
        x = self.concat([self.upsample(h12, "model.13"), p3], "model.14")
        out3 = self.c2f(x, "model.15", 192, 64, 1, False)
        x = self.concat([self.conv_block(out3, "model.16", 64, 64, 3, 2), h12], "model.17")
        out4 = self.c2f(x, "model.18", 192, 128, 1, False)
        x = self.concat([self.conv_block(out4, "model.19", 128, 128, 3, 2), p5], "model.20")
        out5 = self.c2f(x, "model.21", 384, 256, 1, False)
        return [out3, out4, out5]

    def detect(self, feats: list[str], channels: list[int], size: int, p: str = "model.22") -> str:
        """Detect (legacy v8 head: plain Convs in cv3), DFL and dist2bbox -> output0 [N,84,A]."""
        c2, c3 = max(16, channels[0] // 4, REG_MAX * 4), max(channels[0], min(CLASSES, 100))
        no = 4 * REG_MAX + CLASSES
        levels = []
        for i, (f, ch) in enumerate(zip(feats, channels)):
            branches = []
            for branch, hidden, cout, std, mean, mean_std in (
                    ("cv2", c2, 4 * REG_MAX, BOX_LOGIT_STD, 0.0, BOX_LOGIT_MEAN_STD),
                    ("cv3", c3, CLASSES, CLS_LOGIT_STD, CLS_LOGIT_MEAN, CLS_LOGIT_MEAN_STD)):
                q = f"{p}.{branch}.{i}"
                y = self.conv_block(self.conv_block(f, f"{q}.0", ch, hidden, 3), f"{q}.1", hidden, hidden, 3)
                means = mean + self.rng.standard_normal(cout) * mean_std
                self.new_conv(f"{q}.2", hidden, cout, 1, np.full(cout, std), means, centre=True)
                branches.append(self.conv(y, f"{q}.2", 1, 0, bias=True))
            cat = self.concat(branches, f"{p}.cat.{i}")
            levels.append(self.node("Reshape", [cat, self.ints(f"{p}.shape_flat", [0, no, -1])], f"{p}.flat.{i}"))
        box, cls = self.split(self.concat(levels, f"{p}.cat", axis=2), f"{p}.split", [4 * REG_MAX, CLASSES])
        # DFL
        d = self.node("Reshape", [box, self.ints(f"{p}.dfl.shape_bins", [0, 4, REG_MAX, -1])], f"{p}.dfl.bins")
        d = self.node("Transpose", [d], f"{p}.dfl.transpose", perm=[0, 2, 1, 3])
        d = self.node("Softmax", [d], f"{p}.dfl.softmax", axis=1)
        self.const(f"{p}.dfl.conv.weight", np.arange(REG_MAX, dtype=np.float32).reshape(1, REG_MAX, 1, 1))
        d = self.node("Conv", [d, f"{p}.dfl.conv.weight"], f"{p}.dfl.conv", kernel_shape=[1, 1])
        dist = self.node("Reshape", [d, self.ints(f"{p}.dfl.shape_out", [0, 4, -1])], f"{p}.dfl")
        # dist2bbox (xywh) * strides
        anchors, strides = anchors_and_strides(size)
        self.const(f"{p}.anchors", anchors)
        self.const(f"{p}.strides", strides)
        lt, rb = self.split(dist, f"{p}.dist", [2, 2])
        x1y1 = self.node("Sub", [f"{p}.anchors", lt], f"{p}.x1y1")
        x2y2 = self.node("Add", [f"{p}.anchors", rb], f"{p}.x2y2")
        two = self.const(f"{p}.two", np.array(2, np.float32))
        centre = self.node("Div", [self.node("Add", [x1y1, x2y2], f"{p}.corner_sum"), two], f"{p}.centre")
        wh = self.node("Sub", [x2y2, x1y1], f"{p}.wh")
        boxes = self.node("Mul", [self.concat([centre, wh], f"{p}.xywh"), f"{p}.strides"], f"{p}.boxes")
        scores = self.node("Sigmoid", [cls], f"{p}.scores")
        return self.concat([boxes, scores], "output0")


def build(size: int = 640, seed: int = 0) -> onnx.ModelProto:
    b = Builder(seed, calibration_input())
    channels = [64, 128, 256]
    feats = b.backbone_and_neck()
    b.detect(feats, channels, size)
    logits = np.concatenate([b.values[f"model.22.cv3.{i}.2"].reshape(1, CLASSES, -1) for i in range(3)], axis=2)
    print(f"calibrated on {os.path.basename(PHOTO)} at {CALIBRATION_SIZE}x{CALIBRATION_SIZE}: "
          f"{int((logits > np.log(1 / 3)).sum())} (anchor, class) scores above 0.25 there, max {float(sigmoid(logits.max())):.3f}",
          file=sys.stderr)
    anchors = sum((size // s) ** 2 for s in STRIDES)
    inits = [numpy_helper.from_array(np.ascontiguousarray(a, np.float32), k) for k, a in b.w.items()]
    inits += [numpy_helper.from_array(a, k) for k, a in b.consts.items()]
    graph = helper.make_graph(b.nodes, NAME, [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, size, size])],
                              [helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["N", 4 + CLASSES, anchors])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="gpuinfer Models/yolo.py")
    model.ir_version = 8
    helper.set_model_props(model, {
        "gpuinfer.model": NAME, "gpuinfer.input_width": str(size), "gpuinfer.input_height": str(size),
        "gpuinfer.resize": "bilinear", "gpuinfer.channel_order": "RGB", "gpuinfer.scale": repr(1 / 255),
        "gpuinfer.mean": "0,0,0", "gpuinfer.std": "1,1,1", "gpuinfer.labels": "coco80",
        "gpuinfer.weights": f"random-seed-{seed}",
        "gpuinfer.output": f"output0 [N,84,{anchors}]: box centre x, y, width, height in input pixels, then 80 class "
                           "probabilities (sigmoid); no NMS",
        "task": "detect", "stride": str(max(STRIDES)), "imgsz": f"[{size}, {size}]",
        "names": "{" + ", ".join(f"{i}: {n!r}" for i, n in enumerate(COCO80)) + "}",
    })
    onnx.checker.check_model(model)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(HERE, "generated", NAME + ".onnx"),
                        help="default Models/generated/yolov8n.onnx")
    parser.add_argument("--size", type=int, default=640, help="input height = width, a multiple of 32 (default 640)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    args = parser.parse_args()
    if args.size < 32 or args.size % 32:
        parser.error(f"--size {args.size} is not a positive multiple of 32")
    start = time.time()
    print(f"warning: yolo.py: writing seeded random weights (seed {args.seed}, calibrated on the sample photo); "
          "the detections are not meaningful (speed benchmarks only)", file=sys.stderr)
    model = build(args.size, args.seed)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    onnx.save(model, args.out)
    print(f"wrote {args.out} ({os.path.getsize(args.out) / 1e6:.1f} MB, {NAME} {args.size}x{args.size}, "
          f"weights random-seed-{args.seed}) in {time.time() - start:.1f} s")


if __name__ == "__main__":
    main()
