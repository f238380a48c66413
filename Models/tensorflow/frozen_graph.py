"""TensorFlow frozen inference graphs (`frozen_inference_graph.pb`, a serialized GraphDef) without
TensorFlow: parsed with the schema in graph.proto (compiled by protoc into graph_pb2.py), their
`Const` nodes read as NumPy arrays by node name. A frozen graph keeps the checkpoint's variable
names for the weights (`FeatureExtractor/MobilenetV2/Conv/weights`, …), so exporters map them
exactly as they map a checkpoint. Damaged or truncated files, unsupported tensor types and
tensors whose bytes do not match their shape are GraphErrors naming the node.
"""
from __future__ import annotations

import os
import sys

import numpy as np
from google.protobuf.message import DecodeError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import graph_pb2  # noqa: E402

#: TensorFlow DataType -> NumPy element type (the types weight and configuration constants use).
DTYPES = {graph_pb2.DT_FLOAT: np.float32, graph_pb2.DT_DOUBLE: np.float64, graph_pb2.DT_INT32: np.int32,
          graph_pb2.DT_INT64: np.int64, graph_pb2.DT_UINT8: np.uint8, graph_pb2.DT_INT16: np.int16,
          graph_pb2.DT_INT8: np.int8, graph_pb2.DT_BOOL: np.bool_, graph_pb2.DT_HALF: np.float16}
#: Largest constant read: 2^31 elements.
MAX_ELEMENTS = 1 << 31


class GraphError(Exception):
    """A file that is not a readable frozen graph, or a constant that cannot be read."""


def load(path: str) -> graph_pb2.GraphDef:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise GraphError(f"cannot read {path}: {e.strerror}") from None
    g = graph_pb2.GraphDef()
    try:
        g.ParseFromString(data)
    except (DecodeError, ValueError, RuntimeError) as e:
        raise GraphError(f"{path} is not a TensorFlow GraphDef (damaged or truncated: {e})") from None
    if not g.node:
        raise GraphError(f"{path} holds no graph nodes")
    return g


def tensor_value(t: graph_pb2.TensorProto, where: str) -> np.ndarray:
    """The array a TensorProto holds: `tensor_content` bytes, or the typed `*_val` list (one value
    fills the whole shape, as TensorFlow allows)."""
    if t.dtype not in DTYPES:
        raise GraphError(f"{where}: tensor type {graph_pb2.DataType.Name(t.dtype) if t.dtype in graph_pb2.DataType.values() else t.dtype} is not supported")
    dtype = np.dtype(DTYPES[t.dtype]).newbyteorder("<")
    dims = [d.size for d in t.tensor_shape.dim]
    if any(d < 0 for d in dims):
        raise GraphError(f"{where}: negative dimension in shape {dims}")
    count = 1
    for d in dims:
        count *= d
        if count > MAX_ELEMENTS:
            raise GraphError(f"{where}: shape {dims} has more than {MAX_ELEMENTS} elements")
    if t.tensor_content:
        if len(t.tensor_content) != count * dtype.itemsize:
            raise GraphError(f"{where}: {len(t.tensor_content)} bytes of data for shape {dims} of {dtype.name}")
        return np.frombuffer(t.tensor_content, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))
    values = {np.float32: t.float_val, np.float64: t.double_val, np.int64: t.int64_val, np.bool_: t.bool_val}.get(DTYPES[t.dtype], t.int_val)
    if DTYPES[t.dtype] == np.float16:
        values = np.array(t.half_val, np.uint16).view(np.float16)
    values = np.asarray(values, dtype=DTYPES[t.dtype])
    if values.size == count:
        return values.reshape(dims)
    if values.size == 1 or (values.size == 0 and count == 0):
        return np.full(dims, values[0] if values.size else 0, DTYPES[t.dtype])
    raise GraphError(f"{where}: {values.size} values for shape {dims}")


def constants(g: graph_pb2.GraphDef) -> dict[str, np.ndarray]:
    """Every `Const` node's value by node name (string constants are skipped)."""
    out: dict[str, np.ndarray] = {}
    for n in g.node:
        if n.op != "Const":
            continue
        if "value" not in n.attr or not n.attr["value"].HasField("tensor"):
            raise GraphError(f"Const node '{n.name}' has no tensor value")
        t = n.attr["value"].tensor
        if t.dtype == graph_pb2.DT_STRING:
            continue
        out[n.name] = tensor_value(t, f"Const node '{n.name}'")
    return out


def node(g: graph_pb2.GraphDef, name: str) -> graph_pb2.NodeDef | None:
    return next((n for n in g.node if n.name == name), None)
