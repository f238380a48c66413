#!/usr/bin/env python3
"""Reference outputs from onnxruntime (the oracle for gpuinfer's model-level tests).

As a module: `run_onnxruntime(model_path, feeds)` returns {output name: array}. onnxruntime runs
on the CPU with graph optimizations disabled and one thread, so the result is a literal fp32
evaluation of the graph and reproducible run to run.

As a script: reference_outputs.py MODEL.onnx INPUT.npy [INPUT.npy ...] --out PREFIX
writes PREFIX<k>.npy for each model output k (inputs are matched to the model inputs in order).
"""
from __future__ import annotations

import argparse

import numpy as np
import onnxruntime as ort


def run_onnxruntime(model_path: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds)))


def save_npy(path: str, array: np.ndarray) -> None:
    """Writes a C-order .npy (float64 narrowed to float32, the engine's float type)."""
    a = np.ascontiguousarray(array)
    if a.dtype == np.float64:
        a = a.astype(np.float32)
    np.save(path, a, allow_pickle=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("inputs", nargs="+")
    parser.add_argument("--out", required=True, help="output path prefix")
    args = parser.parse_args()
    session = ort.InferenceSession(args.model, providers=["CPUExecutionProvider"])
    feeds = {i.name: np.load(p) for i, p in zip(session.get_inputs(), args.inputs)}
    for k, (name, value) in enumerate(run_onnxruntime(args.model, feeds).items()):
        save_npy(f"{args.out}{k}.npy", value)
        print(f"{name}: {value.dtype}{list(value.shape)} -> {args.out}{k}.npy")


if __name__ == "__main__":
    main()
