#!/usr/bin/env python3
"""Writes a MobileNetV2 classifier (torchvision's `mobilenet_v2` layout) as ONNX, with seeded
random weights: the depthwise-heavy mobile network that `Benchmarks/gpu_traffic.py` measures on
the Oclgrind GPU simulator, and a plain third-party-shaped graph for benchmarks.

Graph (opset 13, input "input" float32 [N, 3, H, W], N, H and W dynamic; batch norms folded into
the convolutions' biases as exporters emit them; ReLU6 as Clip(0, 6)):
  Conv 3x3/2 3->32 + Clip
  17 inverted residual blocks (expansion t, channels c, repeats n, first stride s):
    (1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,4,2) (6,96,3,1) (6,160,3,2) (6,320,1,1)
    each: [1x1 expand + Clip] -> depthwise 3x3/s pad 1 + Clip -> 1x1 project, + input when s = 1
    and the channels match
  Conv 1x1 320->1280 + Clip -> GlobalAveragePool -> Flatten -> Gemm 1280->1000   "logits"
--width scales every channel count (rounded to a multiple of 8, as torchvision does).

Usage: mobilenet_v2.py [--out Models/generated/mobilenet_v2.onnx] [--width 1.0] [--seed 0]
Deterministic: the same bytes on every run.
"""
from __future__ import annotations

import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

BLOCKS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def divisible(v: float, d: int = 8) -> int:
    """torchvision's _make_divisible: the nearest multiple of d, never below 90 % of v."""
    n = max(d, int(v + d / 2) // d * d)
    return n + d if n < 0.9 * v else n


class Builder:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
        return name

    def name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def conv(self, x: str, cin: int, cout: int, k: int = 1, stride: int = 1, group: int = 1, relu6: bool = True) -> str:
        n = self.name("conv")
        w = self.rng.normal(0, np.sqrt(2.0 / (cin // group * k * k)), (cout, cin // group, k, k))
        b = self.rng.normal(0, 0.05, cout)
        p = k // 2
        self.nodes.append(helper.make_node("Conv", [x, self.const(n + ".weight", w), self.const(n + ".bias", b)], [n], name=n,
                                           kernel_shape=[k, k], strides=[stride, stride], pads=[p, p, p, p], group=group))
        if not relu6:
            return n
        y = n + "_relu6"
        self.nodes.append(helper.make_node("Clip", [n, "zero", "six"], [y], name=y))
        return y


def build(width: float, seed: int) -> onnx.ModelProto:
    b = Builder(seed)
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
    fc_w = b.const("fc.weight", b.rng.normal(0, np.sqrt(1.0 / last), (1000, last)))
    fc_b = b.const("fc.bias", b.rng.normal(0, 0.01, 1000))
    b.nodes.append(helper.make_node("Gemm", ["features", fc_w, fc_b], ["logits"], name="fc", transB=1))
    graph = helper.make_graph(b.nodes, "mobilenet_v2", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, "H", "W"])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 1000])], b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="gpuinfer Models/mobilenet_v2.py")
    model.ir_version = 7
    onnx.checker.check_model(model)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--out", default=os.path.join(root, "generated", "mobilenet_v2.onnx"))
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    onnx.save(build(args.width, args.seed), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
