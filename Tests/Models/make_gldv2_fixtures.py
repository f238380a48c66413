#!/usr/bin/env python3
"""Writes the GLDv2 model test data for Tests/GPUInferTests/GLDv2Tests.swift under --out (default
Tests/data/generated/gldv2/), with onnxruntime as the oracle:

  <model>.onnx                     Models/gldv2.py --model <model> (random weights, seed 0), for
                                   gldv2_res152, gldv2_res200, gldv2_se_x152, gldv2_inceptionv4
  <model>_input_{a,b}.npy          Models/samples/grace_hopper.jpg preprocessed by the recipe
                                   (cv2 INTER_LANCZOS4, RGB, ImageNet mean/std) with the short side
                                   224 (a: 256x224, HxW) and 192 (b: 224x192) instead of 448/555 to keep
                                   CI time down; the architectures are the full recipe ones
  <model>_expected_{a,b}.npy       onnxruntime's embedding [1, 512]
  photo.png                        the photo as OpenCV decodes it (lossless), so the Swift tests
                                   check resize and normalization apart from JPEG decoding
  lanczos_{W}x{H}.npy              cv2.resize(photo, (W, H), INTER_LANCZOS4) as float32 [H, W, 3] RGB:
                                   448x512 (the 448 recipe size of the photo, downscale), 611x733 (upscale),
                                   300x200 (aspect changed)
  preprocess_448.npy               the photo preprocessed by the 448 recipe ([1, 3, 512, 448])
  preprocess_555.npy               the same for Inception-v4's 555 ([1, 3, 640, 544])
  gldv2_res152_expected_recipe.npy onnxruntime's embedding of preprocess_448.npy (the recipe size)

The Paddle params reader is checked here too: seeded weights for gldv2_inceptionv4 are written as a
synthetic combined params file (gldv2.py --write-synthetic-params), exported back with
`--weights FILE --weights-format paddle` (names from the graph, and from a synthetic `model`
ProgramDesc with --paddle-model), and every initializer must equal the written tensor; a truncated
file, trailing bytes, wrong dims and a ProgramDesc with an unknown persistable must be refused.
Usage: make_gldv2_fixtures.py [--out DIR] [--models m1,m2]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np
import onnx
from onnx import numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "Models"))
import gldv2  # noqa: E402
from reference_outputs import run_onnxruntime, save_npy  # noqa: E402

PHOTO = os.path.join(ROOT, "Models", "samples", "grace_hopper.jpg")
SIZES = {"a": 224, "b": 192}


def exporter(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, os.path.join(ROOT, "Models", "gldv2.py"), *args], capture_output=True, text=True)


def field(number: int, payload: bytes | int) -> bytes:
    """One protobuf field: varint (int) or length-delimited (bytes)."""
    if isinstance(payload, int):
        return gldv2._put_varint(number << 3) + gldv2._put_varint(payload)
    return gldv2._put_varint(number << 3 | 2) + gldv2._put_varint(len(payload)) + payload


def program_desc(persistable: list[str], other: list[str]) -> bytes:
    """A minimal ProgramDesc: block 0 (idx 0, parent -1) with VarDescs (name, type LOD_TENSOR = 7,
    persistable), plus feed/fetch and non-persistable variables that the reader must skip."""
    var = lambda name, keep: field(3, field(1, name.encode()) + field(2, field(1, 7)) + field(3, int(keep)))  # noqa: E731
    block = field(1, 0) + field(2, (1 << 64) - 1)
    block += b"".join(var(n, True) for n in persistable + ["feed", "fetch"]) + b"".join(var(n, False) for n in other)
    return field(1, block)


def check_paddle_reader(out: str) -> None:
    model = "gldv2_inceptionv4"
    params = os.path.join(out, "synthetic_params")
    onnx_path = os.path.join(out, "paddle_export.onnx")
    try:
        r = exporter("--model", model, "--write-synthetic-params", params, "--seed", "3")
        assert r.returncode == 0, r.stderr
        r = exporter("--model", model, "--weights", params, "--weights-format", "paddle", "--out", onnx_path)
        assert r.returncode == 0, r.stderr
        g = gldv2.build_network(model)
        expected = gldv2.random_weights(g, 3)
        m = onnx.load(onnx_path)
        inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
        for name, a in expected.items():
            assert inits[name].shape == a.shape and np.array_equal(inits[name], a), name
        meta = {p.key: p.value for p in m.metadata_props}
        assert meta["gpuinfer.weights"] == "synthetic_params", meta
        # The record order is the sorted name order: the first record is the smallest name.
        with open(params, "rb") as f:
            data = f.read()
        first = sorted(expected)[0]
        desc = gldv2.tensor_desc(expected[first].shape)
        assert data[20:20 + len(desc)] == desc, "first record is not the lexicographically smallest name"
        # Refusals: truncated, trailing record, wrong dims.
        bad = os.path.join(out, "bad_params")
        for what, blob in [("truncated", data[:-5]), ("trailing bytes", data + b"\0" * 12)]:
            with open(bad, "wb") as f:
                f.write(blob)
            r = exporter("--model", model, "--weights", bad, "--out", onnx_path + ".bad")
            assert r.returncode != 0 and "gldv2.py:" in r.stderr, (what, r.stderr)
        other = dict(expected)
        other[first] = np.zeros((1,) + expected[first].shape, np.float32)
        gldv2.write_paddle_params(bad, other)
        r = exporter("--model", model, "--weights", bad, "--out", onnx_path + ".bad")
        assert r.returncode != 0 and "has dims" in r.stderr, r.stderr
        # --paddle-model: the record names come from the ProgramDesc's persistable variables.
        program = os.path.join(out, "synthetic_model")
        with open(program, "wb") as f:
            f.write(program_desc(sorted(expected, reverse=True), ["image", "conv2d_0.tmp_0"]))
        assert gldv2.program_persistables(program) == sorted(expected, reverse=True)
        r = exporter("--model", model, "--weights", params, "--paddle-model", program, "--out", onnx_path + ".prog")
        assert r.returncode == 0, r.stderr
        m2 = onnx.load(onnx_path + ".prog")
        assert all(np.array_equal(numpy_helper.to_array(t), expected[t.name]) for t in m2.graph.initializer if t.name in expected)
        with open(program, "wb") as f:
            f.write(program_desc(sorted(expected) + ["extra_var"], []))
        r = exporter("--model", model, "--weights", params, "--paddle-model", program, "--out", onnx_path + ".bad")
        assert r.returncode != 0 and "extra_var" in r.stderr, r.stderr
        # A packed-dims TensorDesc (proto3-style encoding) reads the same.
        assert gldv2.parse_tensor_desc(bytes([8, 5, 18, 3, 4, 200, 1])) == (5, [4, 200])
        print(f"paddle params reader: {len(expected)} tensors round-trip (names from the graph and from a ProgramDesc), 4 bad inputs refused")
    finally:
        for p in (params, onnx_path, onnx_path + ".bad", onnx_path + ".prog", os.path.join(out, "bad_params"),
                  os.path.join(out, "synthetic_model")):
            if os.path.exists(p):
                os.remove(p)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(ROOT, "Tests", "data", "generated", "gldv2"))
    parser.add_argument("--models", default=",".join(gldv2.MODELS))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for model in [m for m in args.models.split(",") if m]:
        start = time.time()
        path = os.path.join(args.out, f"{model}.onnx")
        onnx.save(gldv2.build_model(model, gldv2.random_weights(gldv2.build_network(model), 0), "random-seed-0"), path)
        for key, short in SIZES.items():
            x = gldv2.preprocess(PHOTO, short)
            y = run_onnxruntime(path, {"image": x})["embedding"]
            assert np.isfinite(y).all() and np.linalg.norm(y) > 1e-3, (model, key)
            save_npy(os.path.join(args.out, f"{model}_input_{key}.npy"), x)
            save_npy(os.path.join(args.out, f"{model}_expected_{key}.npy"), y)
        print(f"{model}: {os.path.getsize(path) / 1e6:.0f} MB, inputs {[gldv2.preprocess(PHOTO, s).shape[2:] for s in SIZES.values()]}, "
              f"{time.time() - start:.1f} s")
    import cv2
    im = cv2.imread(PHOTO)
    cv2.imwrite(os.path.join(args.out, "photo.png"), im)
    for w, h in [(448, 512), (611, 733), (300, 200)]:
        r = cv2.resize(im, (w, h), interpolation=cv2.INTER_LANCZOS4)[:, :, ::-1]
        save_npy(os.path.join(args.out, f"lanczos_{w}x{h}.npy"), r.astype(np.float32))
    x448 = gldv2.preprocess(PHOTO, 448)
    save_npy(os.path.join(args.out, "preprocess_448.npy"), x448)
    res152 = os.path.join(args.out, "gldv2_res152.onnx")
    if os.path.exists(res152):
        save_npy(os.path.join(args.out, "gldv2_res152_expected_recipe.npy"), run_onnxruntime(res152, {"image": x448})["embedding"])
    save_npy(os.path.join(args.out, "preprocess_555.npy"), gldv2.preprocess(PHOTO, 555))
    check_paddle_reader(args.out)


if __name__ == "__main__":
    main()
