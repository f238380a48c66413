#!/usr/bin/env python3
"""Writes the ONNX backend conformance cases for gpuinfer's ConformanceTests.

Suites (each a folder under Tests/data/generated/ with a cases.json index):
  onnx-node           every case of onnx.backend.test.case.node.collect_testcases(), written in the
                      standard layout <name>/model.onnx + test_data_set_N/{input,output}_K.pb
  pytorch-operator,   copied from the folders the onnx wheel ships under onnx/backend/test/data/
  pytorch-converted,
  simple

cases.json: {"suite", "onnx_version", "cases": [{"name", "op", "expanded", "ops", "domains", "opset",
"rtol", "atol", "data_sets", "skipped"}]}. `ops` are the op types of the default domain used by the
graph; `skipped` (or null) says why a case was not written (sequence/map/optional inputs).

Deterministic (numpy is seeded before the generators run; files are written in sorted order) and
idempotent (each suite folder is rebuilt in a temporary folder and swapped in).

Usage: generate_node_tests.py [--out Tests/data/generated]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import warnings

import numpy as np
import onnx
from onnx import numpy_helper

SHIPPED_SUITES = ["pytorch-operator", "pytorch-converted", "simple"]
DEFAULT_RTOL, DEFAULT_ATOL = 1e-3, 1e-7


def graph_ops(model: onnx.ModelProto) -> tuple[list[str], list[str]]:
    """Default-domain op types and other domains used by the main graph and its subgraphs."""
    ops, domains = set(), set()

    def visit(graph: onnx.GraphProto) -> None:
        for n in graph.node:
            if n.domain in ("", "ai.onnx"):
                ops.add(n.op_type)
            else:
                domains.add(n.domain)
            for a in n.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    visit(a.g)
                for g in a.graphs:
                    visit(g)

    visit(model.graph)
    # Model-local functions are inlined by the engine: count their bodies' ops too.
    for f in model.functions:
        for n in f.node:
            if n.domain in ("", "ai.onnx"):
                ops.add(n.op_type)
            elif n.domain != f.domain:
                domains.add(n.domain)
    return sorted(ops), sorted(domains)


def default_opset(model: onnx.ModelProto) -> int | None:
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            return int(o.version)
    return None


def as_tensor_proto(value, name: str) -> onnx.TensorProto | None:
    """A TensorProto for a plain tensor value, None for sequences, maps and optionals."""
    if isinstance(value, onnx.TensorProto):
        t = onnx.TensorProto()
        t.CopyFrom(value)
        if not t.name:
            t.name = name
        return t
    if isinstance(value, np.ndarray) or np.isscalar(value):
        arr = np.asarray(value)
        if arr.dtype == object:
            return None  # string tensors and ragged data
        return numpy_helper.from_array(arr, name)
    return None


def write_case(folder: str, case) -> str | None:
    """Writes one TestCase; returns a reason when it cannot be expressed as plain tensors."""
    graph = case.model.graph
    input_names = [i.name for i in graph.input if i.name not in {t.name for t in graph.initializer}]
    output_names = [o.name for o in graph.output]
    sets = []
    for inputs, outputs in case.data_sets:
        ins = [as_tensor_proto(v, n) for v, n in zip(inputs, input_names)]
        outs = [as_tensor_proto(v, n) for v, n in zip(outputs, output_names)]
        if any(t is None for t in ins + outs) or len(ins) != len(inputs) or len(outs) != len(outputs):
            return "a sequence, map, optional or string value among its inputs/outputs"
        sets.append((ins, outs))
    os.makedirs(folder)
    with open(os.path.join(folder, "model.onnx"), "wb") as f:
        f.write(case.model.SerializeToString(deterministic=True))
    for i, (ins, outs) in enumerate(sets):
        d = os.path.join(folder, f"test_data_set_{i}")
        os.makedirs(d)
        for k, t in enumerate(ins):
            with open(os.path.join(d, f"input_{k}.pb"), "wb") as f:
                f.write(t.SerializeToString(deterministic=True))
        for k, t in enumerate(outs):
            with open(os.path.join(d, f"output_{k}.pb"), "wb") as f:
                f.write(t.SerializeToString(deterministic=True))
    return None


def entry(name: str, model: onnx.ModelProto, rtol: float, atol: float, data_sets: int, skipped: str | None,
          primary: str | None) -> dict:
    ops, domains = graph_ops(model)
    return {
        "name": name,
        "op": primary or (ops[0] if len(ops) == 1 else "+".join(ops) or "(none)"),
        "expanded": "_expanded" in name,
        "ops": ops,
        "domains": domains,
        "opset": default_opset(model),
        "rtol": float(rtol),
        "atol": float(atol),
        "data_sets": data_sets,
        "skipped": skipped,
    }


def write_index(folder: str, suite: str, cases: list[dict]) -> None:
    with open(os.path.join(folder, "cases.json"), "w") as f:
        json.dump({"suite": suite, "onnx_version": onnx.__version__, "cases": cases}, f, indent=1, sort_keys=True)
        f.write("\n")


def swap_in(tmp: str, final: str) -> None:
    if os.path.exists(final):
        shutil.rmtree(final)
    os.rename(tmp, final)


def generate_node_suite(out: str) -> int:
    np.random.seed(0)  # several generators draw random inputs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # overflow warnings of the Cast generators
        from onnx.backend.test.case import node

        cases = node.collect_testcases(None)
    primary: dict[str, str] = {}
    for c in cases:
        if len(c.model.graph.node) == 1 and "_expanded" not in c.name:
            primary[c.name] = c.model.graph.node[0].op_type
    final = os.path.join(out, "onnx-node")
    tmp = final + ".tmp"
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
    os.makedirs(tmp)
    index = []
    for c in sorted(cases, key=lambda c: c.name):
        base = re.sub(r"_expanded(_ver\d+)?$", "", c.name)
        skipped = write_case(os.path.join(tmp, c.name), c)
        index.append(entry(c.name, c.model, c.rtol, c.atol, len(c.data_sets), skipped, primary.get(base)))
    write_index(tmp, "onnx-node", index)
    swap_in(tmp, final)
    return len(index)


def copy_shipped_suite(out: str, suite: str) -> int:
    src = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", suite)
    final = os.path.join(out, suite)
    tmp = final + ".tmp"
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
    if not os.path.isdir(src):
        print(f"note: the onnx wheel has no {src}; suite {suite} not written", file=sys.stderr)
        return 0
    shutil.copytree(src, tmp)
    index = []
    for name in sorted(os.listdir(tmp)):
        path = os.path.join(tmp, name, "model.onnx")
        if not os.path.isfile(path):
            continue
        model = onnx.load(path)
        sets = [d for d in os.listdir(os.path.join(tmp, name)) if d.startswith("test_data_set_")]
        skipped = None
        if any(not i.type.HasField("tensor_type") for i in list(model.graph.input) + list(model.graph.output)):
            skipped = "a sequence, map or optional graph input/output"
        index.append(entry(name, model, DEFAULT_RTOL, DEFAULT_ATOL, len(sets), skipped, None))
    write_index(tmp, suite, index)
    swap_in(tmp, final)
    return len(index)


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(here, "..", "data", "generated"))
    args = parser.parse_args()
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    n = generate_node_suite(out)
    print(f"onnx-node: {n} cases -> {os.path.join(out, 'onnx-node')}")
    for suite in SHIPPED_SUITES:
        print(f"{suite}: {copy_shipped_suite(out, suite)} cases")


if __name__ == "__main__":
    main()
