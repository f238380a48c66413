#!/usr/bin/env python3
"""Writes the models that test the ONNX loader against onnxruntime:

  external/external_data.onnx (+ weights.bin)  Gemm whose weight and bias live in an external data
                                               file (the bias at a non-zero offset)
  function_swish.onnx                          a model-local ONNX function (domain "gpuinfer.test",
                                               Swish(x) = x * Sigmoid(beta * x) with an attribute
                                               reference) called twice with different attributes
  opset11_mixed.onnx                           opset-11 forms: Clip with min/max inputs, Squeeze with
                                               an axes attribute, Softmax with 2-D coercion
each with <name>_input.npy and <name>_expected.npy from onnxruntime.

Usage: make_loader_models.py [--out Tests/data/generated/loader]
"""
import argparse
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def save(model, path, x, out_dir, name):
    onnx.save(model, path)
    onnx.checker.check_model(path)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    y = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    np.save(os.path.join(out_dir, name + "_input.npy"), x)
    np.save(os.path.join(out_dir, name + "_expected.npy"), y)


def external_data(out_dir, rng):
    ext_dir = os.path.join(out_dir, "external")
    os.makedirs(ext_dir, exist_ok=True)
    w = rng.standard_normal((7, 5)).astype(np.float32)
    b = rng.standard_normal((5,)).astype(np.float32)
    padding = b"\0" * 12
    with open(os.path.join(ext_dir, "weights.bin"), "wb") as f:
        f.write(w.tobytes())
        f.write(padding)
        f.write(b.tobytes())

    def ext(name, arr, offset):
        t = TensorProto()
        t.name = name
        t.data_type = TensorProto.FLOAT
        t.dims.extend(arr.shape)
        t.data_location = TensorProto.EXTERNAL
        for k, v in (("location", "weights.bin"), ("offset", str(offset)), ("length", str(arr.nbytes))):
            e = t.external_data.add()
            e.key, e.value = k, v
        return t

    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w", "b"], ["y"])], "external",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 7])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])],
        [ext("w", w, 0), ext("b", b, w.nbytes + len(padding))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    save(model, os.path.join(ext_dir, "external_data.onnx"), rng.standard_normal((3, 7)).astype(np.float32), ext_dir, "external_data")


def function_swish(out_dir, rng):
    # Swish(X) = X * Sigmoid(beta * X): beta comes from the calling node's attribute.
    scale = helper.make_node("Constant", [], ["beta_t"])
    scale.attribute.append(onnx.AttributeProto(name="value_float", ref_attr_name="beta", type=onnx.AttributeProto.FLOAT))
    body = [
        scale,
        helper.make_node("Mul", ["X", "beta_t"], ["bx"]),
        helper.make_node("Sigmoid", ["bx"], ["s"]),
        helper.make_node("Mul", ["X", "s"], ["Y"]),
    ]
    fn = helper.make_function("gpuinfer.test", "Swish", ["X"], ["Y"], body,
                              [helper.make_opsetid("", 17)], attributes=["beta"])
    graph = helper.make_graph(
        [helper.make_node("Swish", ["x"], ["h"], domain="gpuinfer.test", beta=1.0),
         helper.make_node("Swish", ["h"], ["y"], domain="gpuinfer.test", beta=2.5)],
        "function", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3, 5])])
    model = helper.make_model(graph, functions=[fn],
                              opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("gpuinfer.test", 1)])
    save(model, os.path.join(out_dir, "function_swish.onnx"), rng.standard_normal((2, 3, 5)).astype(np.float32), out_dir, "function_swish")


def opset11(out_dir, rng):
    inits = [numpy_helper.from_array(np.array(-0.5, np.float32), "lo"),
             numpy_helper.from_array(np.array(0.75, np.float32), "hi")]
    graph = helper.make_graph(
        [helper.make_node("Clip", ["x", "lo", "hi"], ["c"]),
         helper.make_node("Unsqueeze", ["c"], ["u"], axes=[0]),
         helper.make_node("Squeeze", ["u"], ["s"], axes=[0]),
         helper.make_node("Softmax", ["s"], ["y"], axis=1)],
        "opset11", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 7])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3, 7])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 6
    save(model, os.path.join(out_dir, "opset11_mixed.onnx"), (2 * rng.standard_normal((2, 3, 7))).astype(np.float32), out_dir, "opset11_mixed")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "data", "generated", "loader"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(2026)
    external_data(args.out, rng)
    function_swish(args.out, rng)
    opset11(args.out, rng)
    print("wrote loader test models to", os.path.normpath(args.out))


if __name__ == "__main__":
    main()
