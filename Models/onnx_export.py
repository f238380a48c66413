"""What the exporters share: checking checkpoint arrays, building the body of a model-local
function, and wrapping a graph that calls one into a model."""
from __future__ import annotations

import sys

import numpy as np
import onnx
import onnx.inliner
from onnx import helper, numpy_helper


class FunctionBody:
    """The nodes of a model-local function's body, each appended by one call that returns its output."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []

    def op(self, op_type: str, inputs: list[str], output: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op_type, inputs, [output], **attrs))
        return output

    def const(self, name: str, a: np.ndarray) -> str:
        return self.op("Constant", [], name, value=numpy_helper.from_array(a, name))

    def ints(self, name: str, values: list[int]) -> str:
        return self.const(name, np.array(values, np.int64))

    def attr_float(self, attr: str) -> str:
        """A float Constant `ATTR_t` holding the function's attribute `attr`."""
        n = helper.make_node("Constant", [], [attr + "_t"])
        n.attribute.append(onnx.AttributeProto(name="value_float", ref_attr_name=attr, type=onnx.AttributeProto.FLOAT))
        self.nodes.append(n)
        return attr + "_t"


def model_calling_function(graph: onnx.GraphProto, metadata: dict[str, str], function: onnx.FunctionProto,
                           producer: str, opset: int, plain: bool) -> onnx.ModelProto:
    """An IR-8 model of `graph` with `function` (in its own domain, version 1) and `metadata` as
    metadata_props. `plain` inlines the function, leaving standard ops only; the weights are
    detached while inlining (the inliner round-trips the whole proto) and put back after."""
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid(function.domain, 1)],
                              functions=[function], producer_name=producer)
    model.ir_version = 8
    helper.set_model_props(model, metadata)
    if plain:
        inits = list(graph.initializer)
        del model.graph.initializer[:]
        model = onnx.inliner.inline_local_functions(model)
        del model.functions[:]
        keep = [o for o in model.opset_import if o.domain != function.domain]
        del model.opset_import[:]
        model.opset_import.extend(keep)
        model.graph.initializer.extend(inits)
    return model


def check_arrays(script: str, path: str, arrays: dict[str, np.ndarray], expected: dict[str, tuple], what: str) -> None:
    """Exits naming `path` when an expected array (of `what`, e.g. "variable(s)") is missing (the
    first 10 named) or has another shape."""
    missing = [k for k in expected if k not in arrays]
    if missing:
        sys.exit(f"{script}: {path} lacks {len(missing)} {what}: {', '.join(missing[:10])}{' …' if len(missing) > 10 else ''}")
    for k, shape in expected.items():
        if arrays[k].shape != shape:
            sys.exit(f"{script}: {path}: {k} has shape {arrays[k].shape}, expected {shape}")
