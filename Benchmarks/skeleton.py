#!/usr/bin/env python3
"""Writes a model's skeleton: the same ONNX graph with every float32 initializer (or Constant
node's tensor, as Paddle2ONNX writes weights) of more than --min-elements elements replaced by a
RandomUniform node (same name and shape, low/high = the
tensor's min/max, one seed per tensor). A 600 MB NetVLAD becomes ~100 KB that gpuinfer (and
onnxruntime) load and run — for benchmarks on machines the real files cannot reach
(Benchmarks/gpu.sh). gpuinfer folds RandomUniform at load, deterministically per seed; the
values are not the model's, so a skeleton's outputs mean nothing.

usage: skeleton.py MODEL.onnx OUT.onnx [--min-elements 1024]
"""
import argparse
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--min-elements", type=int, default=1024)
    a = ap.parse_args()
    model = onnx.load(a.model)
    graph = model.graph
    keep, nodes, replaced, bytes_before = [], [], 0, 0
    for i, init in enumerate(graph.initializer):
        count = int(np.prod(init.dims)) if len(init.dims) else 1
        if init.data_type != onnx.TensorProto.FLOAT or count <= a.min_elements:
            keep.append(init)
            continue
        values = numpy_helper.to_array(init)
        bytes_before += values.nbytes
        low, high = float(values.min()), float(values.max())
        nodes.append(helper.make_node("RandomUniform", [], [init.name], name=f"skeleton_{i}", dtype=onnx.TensorProto.FLOAT,
                                      shape=list(init.dims), low=low, high=high, seed=float(i + 1)))
        replaced += 1
    existing = []
    for j, node in enumerate(graph.node):
        value = next((x.t for x in node.attribute if x.name == "value" and x.type == onnx.AttributeProto.TENSOR), None)
        if node.op_type != "Constant" or value is None or value.data_type != onnx.TensorProto.FLOAT or \
                (int(np.prod(value.dims)) if len(value.dims) else 1) <= a.min_elements:
            existing.append(node)
            continue
        values = numpy_helper.to_array(value)
        bytes_before += values.nbytes
        existing.append(helper.make_node("RandomUniform", [], [node.output[0]], name=node.name or f"skeleton_c{j}",
                                         dtype=onnx.TensorProto.FLOAT, shape=list(value.dims), low=float(values.min()),
                                         high=float(values.max()), seed=float(len(graph.initializer) + j + 1)))
        replaced += 1
    names = {n.output[0] for n in nodes}
    inputs = [x for x in graph.input if x.name not in names]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    del graph.input[:]
    graph.input.extend(inputs)
    del graph.node[:]
    graph.node.extend(nodes + existing)
    model.doc_string = (model.doc_string + "\n" if model.doc_string else "") + \
        f"skeleton of {a.model}: {replaced} weights replaced by RandomUniform (Benchmarks/skeleton.py)"
    onnx.save(model, a.out)
    print(f"{a.out}: {replaced} weight tensors ({bytes_before / 1e6:.1f} MB) replaced by RandomUniform")
    return 0


if __name__ == "__main__":
    sys.exit(main())
