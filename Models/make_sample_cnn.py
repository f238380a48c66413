#!/usr/bin/env python3
"""Writes the sample CNN used by gpuinfer's model tests and the README demo, with onnxruntime outputs.

Model (opset 13, input "input" float32 [N,3,32,32] with a dynamic batch dim N; seeded weights):
  Conv 3->12 3x3 + BatchNormalization + Relu        [N,12,32,32]
  MaxPool 2x2/2                                      [N,12,16,16]
  residual block: Conv+BN+Relu, Conv+BN, Add, Relu   [N,12,16,16]
  depthwise Conv 3x3/2 (group 12) + Clip(0, 6)       [N,12,8,8]
  pointwise Conv 12->20 1x1 + BN + Relu              [N,20,8,8]
  AveragePool 3x3/2 pad 1 (count_include_pad=0)      [N,20,4,4]
  GlobalAveragePool + Flatten                        [N,20]
  Gemm 20->10 (transB)                               "logits" [N,10]
  Softmax                                            "probs"  [N,10]

Files under --out (default Tests/data/generated/): sample_cnn.onnx and, for batch B in {1, 3},
sample_cnn_b{B}_input.npy, sample_cnn_b{B}_probs.npy, sample_cnn_b{B}_logits.npy (onnxruntime).
Deterministic: the same bytes on every run.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_outputs import run_onnxruntime, save_npy  # noqa: E402

OPSET = 13


class Builder:
    """Accumulates nodes and seeded initializers."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def conv(self, x: str, name: str, cin: int, cout: int, k: int, stride: int = 1, group: int = 1, bias: bool = True) -> str:
        fan_in = cin // group * k * k
        w = self.rng.normal(0, np.sqrt(2.0 / fan_in), (cout, cin // group, k, k))
        inputs = [x, self.const(f"{name}.weight", w)]
        if bias:
            inputs.append(self.const(f"{name}.bias", self.rng.normal(0, 0.05, cout)))
        p = k // 2
        return self.node("Conv", inputs, name, kernel_shape=[k, k], strides=[stride, stride],
                         pads=[p, p, p, p], group=group)

    def bn(self, x: str, name: str, c: int) -> str:
        params = [
            self.const(f"{name}.scale", self.rng.uniform(0.5, 1.5, c)),
            self.const(f"{name}.bias", self.rng.normal(0, 0.1, c)),
            self.const(f"{name}.mean", self.rng.normal(0, 0.1, c)),
            self.const(f"{name}.var", self.rng.uniform(0.5, 1.5, c)),
        ]
        return self.node("BatchNormalization", [x, *params], name, epsilon=1e-5)


def build_model() -> onnx.ModelProto:
    b = Builder(seed=2024)
    x = b.node("Relu", [b.bn(b.conv("input", "conv1", 3, 12, 3), "bn1", 12)], "relu1")
    x = b.node("MaxPool", [x], "pool1", kernel_shape=[2, 2], strides=[2, 2])
    y = b.node("Relu", [b.bn(b.conv(x, "res.conv1", 12, 12, 3, bias=False), "res.bn1", 12)], "res.relu1")
    y = b.bn(b.conv(y, "res.conv2", 12, 12, 3, bias=False), "res.bn2", 12)
    x = b.node("Relu", [b.node("Add", [y, x], "res.add")], "res.relu2")
    x = b.conv(x, "dw.conv", 12, 12, 3, stride=2, group=12)
    x = b.node("Clip", [x, b.const("dw.min", np.float32(0)), b.const("dw.max", np.float32(6))], "dw.relu6")
    x = b.node("Relu", [b.bn(b.conv(x, "pw.conv", 12, 20, 1), "pw.bn", 20)], "pw.relu")
    x = b.node("AveragePool", [x], "pool2", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=0)
    x = b.node("Flatten", [b.node("GlobalAveragePool", [x], "gap")], "flatten", axis=1)
    w = b.const("fc.weight", b.rng.normal(0, np.sqrt(2.0 / 20), (10, 20)) * 2)
    logits = b.node("Gemm", [x, w, b.const("fc.bias", b.rng.normal(0, 0.1, 10))], "logits", transB=1)
    b.node("Softmax", [logits], "probs", axis=-1)
    graph = helper.make_graph(
        b.nodes, "sample_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 32, 32])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 10]),
         helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        initializer=b.inits,
    )
    model = helper.make_model(graph, producer_name="gpuinfer make_sample_cnn.py",
                              opset_imports=[helper.make_operatorsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(here, "..", "Tests", "data", "generated"))
    args = parser.parse_args()
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "sample_cnn.onnx")
    with open(path, "wb") as f:
        f.write(build_model().SerializeToString(deterministic=True))
    rng = np.random.default_rng(7)
    for batch in (1, 3):
        x = rng.normal(0, 1, (batch, 3, 32, 32)).astype(np.float32)
        outs = run_onnxruntime(path, {"input": x})
        save_npy(os.path.join(out, f"sample_cnn_b{batch}_input.npy"), x)
        for name in ("probs", "logits"):
            save_npy(os.path.join(out, f"sample_cnn_b{batch}_{name}.npy"), outs[name])
        top = outs["probs"].max(axis=1)
        print(f"batch {batch}: logits range [{outs['logits'].min():.3f}, {outs['logits'].max():.3f}], top prob {np.round(top, 3)}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
