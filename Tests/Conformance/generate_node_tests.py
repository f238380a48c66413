#!/usr/bin/env python3
"""Writes the ONNX backend conformance cases for gpuinfer's ConformanceTests.

Suites (each a folder under Tests/data/generated/ with a cases.json index):
  onnx-node           every case of onnx.backend.test.case.node.collect_testcases(), written in the
                      standard layout <name>/model.onnx + test_data_set_N/{input,output}_K.pb;
                      cases above the engine's highest opset (ONNXLoader.supportedOpsets) are also
                      written downgraded as <name>_opset<max> when onnx.version_converter can and
                      onnxruntime agrees
  pytorch-operator,   copied from the folders the onnx wheel ships under onnx/backend/test/data/;
  pytorch-converted,  models below opset 7 (the engine's minimum) are upgraded to opset 11 with
  simple              onnx.version_converter ("upgraded_from_opset" in cases.json)

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
from onnx import numpy_helper, version_converter

SHIPPED_SUITES = ["pytorch-operator", "pytorch-converted", "simple"]
DEFAULT_RTOL, DEFAULT_ATOL = 1e-3, 1e-7
MIN_OPSET, UPGRADE_TO = 7, 11  # the engine's lowest opset; target for upgrading older shipped models


def engine_max_opset(default: int = 25) -> int:
    """The upper bound of ONNXLoader.supportedOpsets, read from the Swift source."""
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Sources", "GPUInfer", "ONNX", "ONNXLoader.swift")
    try:
        with open(src) as f:
            m = re.search(r"supportedOpsets\s*=\s*\d+\s*\.\.\.\s*(\d+)", f.read())
        return int(m.group(1)) if m else default
    except OSError:
        return default


MAX_OPSET = engine_max_opset()  # cases above the engine's highest opset are also written downgraded


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
    downgraded = 0
    for c in sorted(cases, key=lambda c: c.name):
        base = re.sub(r"_expanded(_ver\d+)?$", "", c.name)
        skipped = write_case(os.path.join(tmp, c.name), c)
        index.append(entry(c.name, c.model, c.rtol, c.atol, len(c.data_sets), skipped, primary.get(base)))
        opset = default_opset(c.model)
        if skipped is None and opset is not None and opset > MAX_OPSET and not c.model.functions:
            e = write_downgraded(tmp, c, opset, primary.get(base))
            if e is not None:
                index.append(e)
                downgraded += e["skipped"] is None
    write_index(tmp, "onnx-node", index)
    print(f"onnx-node: {downgraded} cases above opset {MAX_OPSET} also written as <name>_opset{MAX_OPSET}")
    swap_in(tmp, final)
    return len(index)


def write_downgraded(tmp: str, c, opset: int, primary: str | None) -> dict | None:
    """Writes <name>_opset{MAX_OPSET}: the case downgraded with onnx.version_converter (which refuses
    when the older opset lacks a type or attribute the case uses) and checked with onnxruntime, so
    that ops whose latest version is above the engine's range (Cast-28, Mod-28, ...) are tested."""
    try:
        model = version_converter.convert_version(c.model, MAX_OPSET)
        onnx.checker.check_model(model)
    except Exception:  # noqa: BLE001 - no adapter, or a type the older opset lacks: no variant
        return None
    name = f"{c.name}_opset{MAX_OPSET}"
    folder = os.path.join(tmp, name)
    shutil.copytree(os.path.join(tmp, c.name), folder)
    path = os.path.join(folder, "model.onnx")
    with open(path, "wb") as f:
        f.write(model.SerializeToString(deterministic=True))
    skipped = onnxruntime_disagrees(path, folder, len(c.data_sets), c.rtol, c.atol)
    if skipped is not None:
        shutil.rmtree(folder)
    e = entry(name, model, c.rtol, c.atol, len(c.data_sets), skipped, primary)
    e["expanded"] = "_expanded" in c.name
    e["downgraded_from_opset"] = opset
    return e


def onnxruntime_disagrees(model_path: str, folder: str, data_sets: int,
                          rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL) -> str | None:
    """Why a version-converted model is not a valid test (onnxruntime rejects it or disagrees with
    the expected outputs: e.g. opset-6 PRelu slopes that no longer broadcast under opset 7), or None."""
    import onnxruntime as ort

    ort.set_default_logger_severity(4)  # the failure is reported in cases.json, not on stderr
    try:
        session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
        for k in range(data_sets):
            d = os.path.join(folder, f"test_data_set_{k}")

            def load(kind: str) -> list[np.ndarray]:
                n = len([f for f in os.listdir(d) if f.startswith(kind + "_")])
                return [numpy_helper.to_array(onnx.load_tensor(os.path.join(d, f"{kind}_{i}.pb"))) for i in range(n)]

            feeds = {i.name: v for i, v in zip(session.get_inputs(), load("input"))}
            for got, want in zip(session.run(None, feeds), load("output")):
                np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    except Exception as e:  # noqa: BLE001 - any failure disqualifies the upgraded model
        return f"converted model rejected by onnxruntime: {str(e).strip().splitlines()[0][:160]}"
    return None


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
        upgraded_from = None
        opset = default_opset(model)
        if skipped is None and opset is not None and opset < MIN_OPSET:
            # The engine loads opset >= 7; these exports are opset 6. Upgrade them with onnx's
            # version converter (semantics-preserving, so the shipped expected outputs still hold).
            try:
                upgraded = version_converter.convert_version(model, UPGRADE_TO)
                onnx.checker.check_model(upgraded)
            except Exception as e:  # noqa: BLE001 - the converter raises several exception types
                skipped = f"opset {opset}; onnx.version_converter cannot upgrade it: {str(e).splitlines()[0][:120]}"
            else:
                with open(path, "wb") as f:
                    f.write(upgraded.SerializeToString(deterministic=True))
                model, upgraded_from = upgraded, opset
        if skipped is None and upgraded_from is not None:
            skipped = onnxruntime_disagrees(path, os.path.join(tmp, name), len(sets))
        e = entry(name, model, DEFAULT_RTOL, DEFAULT_ATOL, len(sets), skipped, None)
        e["upgraded_from_opset"] = upgraded_from
        index.append(e)
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
