#!/usr/bin/env python3
"""Writes one small ONNX model per GPU-style kernel family into OUT_DIR, with awkward shapes
(tails of every tile, odd channel counts, strides and pads that leave partial blocks), for
`gpuinfer verify MODEL --device N` — the device against the reference backend, node by node,
on seeded random inputs — where the test suite cannot run (Benchmarks/gpu.sh on a GPU machine
without a Swift toolchain). The same shapes as the GPUSimulatorTests/ConvGemmTests cases.

usage: gpu_ops.py OUT_DIR
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

RNG = np.random.default_rng(14)


def weight(name, shape):
    return numpy_helper.from_array((RNG.standard_normal(shape) * 0.3).astype(np.float32), name)


def model(name, nodes, inputs, output_shape, inits, out_dir):
    """Writes the model; the output's shape comes from ONNX shape inference."""
    def build(shape):
        graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)], inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="gpu_ops.py")
        m.ir_version = 8
        return m
    if output_shape is None:
        inferred = onnx.shape_inference.infer_shapes(build(None), strict_mode=True)
        dims = [v for v in list(inferred.graph.value_info) + list(inferred.graph.output) if v.name == "y"]
        output_shape = [d.dim_value for d in dims[-1].type.tensor_type.shape.dim]
    m = build(output_shape)
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, os.path.join(out_dir, name + ".onnx"))


def conv(name, x, w, out_dir, relu6=False, **attrs):
    inits = [weight("w", w), weight("b", [w[0]])]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c" if relu6 else "y"], **attrs)]
    if relu6:
        inits += [numpy_helper.from_array(np.float32(0), "lo"), numpy_helper.from_array(np.float32(6), "hi")]
        nodes.append(helper.make_node("Clip", ["c", "lo", "hi"], ["y"]))
    model(name, nodes, [("x", x)], None, inits, out_dir)


def main() -> int:
    out = sys.argv[1] if len(sys.argv) > 1 else "gpu_ops"
    os.makedirs(out, exist_ok=True)
    conv("conv3x3_pad", [1, 7, 13, 11], [37, 7, 3, 3], out, pads=[1, 1, 1, 1])
    conv("conv_strided_dilated", [3, 5, 9, 10], [11, 5, 3, 2], out, strides=[2, 1], pads=[0, 1, 2, 0], dilations=[1, 2])
    conv("conv_grouped", [2, 8, 7, 9], [8, 2, 3, 3], out, group=4, pads=[1, 1, 1, 1])
    conv("conv_pointwise", [1, 33, 6, 7], [70, 33, 1, 1], out)
    conv("conv7x7_s2_relu6", [1, 3, 17, 15], [16, 3, 7, 7], out, relu6=True, strides=[2, 2], pads=[3, 3, 3, 3])
    conv("depthwise3x3", [2, 24, 37, 21], [24, 1, 3, 3], out, group=24, pads=[1, 1, 1, 1])
    conv("depthwise3x3_s2_relu6", [1, 32, 33, 34], [32, 1, 3, 3], out, relu6=True, group=32, strides=[2, 2], pads=[0, 0, 1, 1])
    conv("depthwise5x5_s2", [1, 16, 19, 23], [16, 1, 5, 5], out, group=16, strides=[2, 2], pads=[2, 1, 2, 2])
    conv("depthwise3x3_s21", [1, 12, 10, 40], [12, 1, 3, 3], out, group=12, strides=[2, 1], pads=[1, 1, 1, 1])
    for ta, tb in [(0, 0), (1, 0), (0, 1), (1, 1)]:
        m, n, k = 19, 70, 45
        model(f"gemm_t{ta}{tb}", [helper.make_node("Gemm", ["a", "b", "c"], ["y"], transA=ta, transB=tb, alpha=0.5, beta=2.0)],
              [("a", [k, m] if ta else [m, k])], None, [weight("b", [n, k] if tb else [k, n]), weight("c", [n])], out)
    model("matmul_batched", [helper.make_node("MatMul", ["a", "b"], ["y"])], [("a", [2, 3, 5, 7]), ("b", [3, 7, 4])], None, [], out)
    model("fc_batch1", [helper.make_node("Gemm", ["a", "w", "c"], ["y"], transB=1)], [("a", [1, 1000])], None,
          [weight("w", [513, 1000]), weight("c", [513])], out)
    model("maxpool_3x3_s2", [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])],
          [("x", [2, 5, 17, 13])], None, [], out)
    model("avgpool_2x2", [helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2])], [("x", [2, 2, 6, 5])], None, [], out)
    model("global_avgpool", [helper.make_node("GlobalAveragePool", ["x"], ["y"])], [("x", [2, 37, 7, 9])], None, [], out)
    model("add_broadcast", [helper.make_node("Add", ["x", "z"], ["y"])], [("x", [2, 3, 4, 5]), ("z", [3, 1, 5])], None, [], out)
    model("mul_se_scale", [helper.make_node("Mul", ["x", "z"], ["y"])], [("x", [2, 40, 9, 11]), ("z", [2, 40, 1, 1])], None, [], out)
    model("hardswish", [helper.make_node("HardSwish", ["x"], ["y"])], [("x", [3, 1001])], None, [], out)
    model("transpose_nhwc", [helper.make_node("Transpose", ["x"], ["y"], perm=[0, 2, 3, 1])], [("x", [2, 3, 35, 37])], None, [], out)
    model("concat", [helper.make_node("Concat", ["x", "z"], ["y"], axis=1)], [("x", [2, 3, 4]), ("z", [2, 5, 4])], None, [], out)
    model("softmax", [helper.make_node("Softmax", ["x"], ["y"], axis=1)], [("x", [3, 1013])], None, [], out)
    print(f"{len(os.listdir(out))} models in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
