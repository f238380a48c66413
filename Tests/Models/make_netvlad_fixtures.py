#!/usr/bin/env python3
"""Writes the NetVLAD test data for Tests/GPUInferTests/NetVLADTests.swift (all with onnxruntime
as the oracle), under --out (default Tests/data/generated/netvlad/):

  head_small.onnx, head_small_{input,expected}.npy  head only: D=13, K=5, 1x7 map, O=6, batch 3
  head_real.onnx, head_real_{input,expected}.npy    head only: D=512, K=64, 12x18 map, O=256, batch 2
  netvlad.onnx + input.npy, descriptor_b{1,2}.npy   the full model (Models/netvlad.py, random seed 0)
  netvlad_plain.onnx                                the same with the function inlined (--plain)
  netvlad_npz.onnx + npz_*.npy                      exported with --weights from a synthetic npz
                                                    (--make-synthetic-npz, seed 7); npz_*.npy are
                                                    slices of that npz in checkpoint layout

The npz export is also checked here: every initializer must be the documented transform of its
checkpoint variable. The synthetic npz (537 MB) is deleted afterwards.
Usage: make_netvlad_fixtures.py [--out DIR]
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
import netvlad  # noqa: E402
from reference_outputs import run_onnxruntime, save_npy  # noqa: E402

P = netvlad.PREFIX


def head(out: str, name: str, d: int, k: int, h: int, w: int, o: int, batch: int, seed: int, scale: float) -> None:
    path = os.path.join(out, f"{name}.onnx")
    onnx.save(netvlad.build_head(d, k, h, w, o, seed), path)
    onnx.checker.check_model(path)
    x = (np.random.default_rng(seed + 100).standard_normal((batch, d, h, w)) * scale).astype(np.float32)
    save_npy(os.path.join(out, f"{name}_input.npy"), x)
    save_npy(os.path.join(out, f"{name}_expected.npy"), run_onnxruntime(path, {"features": x})["descriptor"])


def exporter(*args: str) -> None:
    subprocess.run([sys.executable, os.path.join(ROOT, "Models", "netvlad.py"), *args], check=True)


def check_npz_export(npz_path: str, onnx_path: str, out: str) -> None:
    """Asserts the documented checkpoint -> initializer mapping; saves slices for the Swift test."""
    model = onnx.load(onnx_path)
    inits = {t.name: t for t in model.graph.initializer}
    get = lambda name: numpy_helper.to_array(inits[name])  # noqa: E731
    with np.load(npz_path) as z:
        for name, *_ in netvlad.CONVS:
            assert np.array_equal(get(f"{name}.weight"), z[f"{P}{name}/kernel"].transpose(3, 2, 0, 1)), name
            assert np.array_equal(get(f"{name}.bias"), z[f"{P}{name}/bias"]), name
        assert np.array_equal(get("average_rgb").ravel(), z[P + "average_rgb"])
        assert np.array_equal(get("netvlad.assignment")[:, :, 0, 0], z[P + "assignment/kernel"][0, 0].T)
        assert np.array_equal(get("netvlad.centroids"), z[P + "cluster_centers"][0, 0, 0])
        assert np.array_equal(get("wpca.bias"), z[P + "WPCA/bias"])
        kernel = z[P + "WPCA/kernel"]
        wpca = np.frombuffer(inits["wpca.weight"].raw_data, np.float32).reshape(tuple(inits["wpca.weight"].dims))
        assert wpca.shape == (4096, 32768) and np.array_equal(wpca, kernel[0, 0].T)
        meta = {p.key: p.value for p in model.metadata_props}
        assert meta["gpuinfer.weights"] == os.path.basename(npz_path), meta
        save_npy(os.path.join(out, "npz_conv1_1_kernel.npy"), z[P + "conv1_1/kernel"])
        save_npy(os.path.join(out, "npz_conv5_3_bias.npy"), z[P + "conv5_3/bias"])
        save_npy(os.path.join(out, "npz_wpca_bias.npy"), z[P + "WPCA/bias"])
        save_npy(os.path.join(out, "npz_wpca_kernel_cols.npy"), kernel[0, 0][:, [0, 1, 4095]].T)  # outputs 0, 1, 4095
        save_npy(os.path.join(out, "npz_cluster_centers.npy"), z[P + "cluster_centers"])


def photo_descriptor(out: str) -> None:
    """onnxruntime's descriptor of the committed sample photo, preprocessed the reference way:
    Pillow RGB decode, OpenCV INTER_LINEAR resize to 300x200, float 0..255, NCHW."""
    import cv2
    import onnxruntime as ort
    from PIL import Image

    rgb = np.asarray(Image.open(os.path.join(ROOT, "Models", "samples", "grace_hopper.jpg")).convert("RGB"))
    x = cv2.resize(rgb, (300, 200), interpolation=cv2.INTER_LINEAR).astype(np.float32).transpose(2, 0, 1)[None]
    session = ort.InferenceSession(os.path.join(out, "netvlad.onnx"), providers=["CPUExecutionProvider"])
    np.save(os.path.join(out, "photo_descriptor.npy"), session.run(None, {"image": x})[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(ROOT, "Tests", "data", "generated", "netvlad"))
    out = parser.parse_args().out
    os.makedirs(out, exist_ok=True)
    start = time.time()
    head(out, "head_small", 13, 5, 1, 7, 6, batch=3, seed=1, scale=1.0)
    head(out, "head_real", 512, 64, 12, 18, 256, batch=2, seed=2, scale=250.0)
    exporter("--out", os.path.join(out, "netvlad.onnx"), "--seed", "0", "--reference-out", out)
    photo_descriptor(out)
    exporter("--out", os.path.join(out, "netvlad_plain.onnx"), "--seed", "0", "--plain")
    plain = onnx.load(os.path.join(out, "netvlad_plain.onnx"), load_external_data=False)
    assert not plain.functions and all(n.domain in ("", "ai.onnx") for n in plain.graph.node)
    assert all(o.domain != netvlad.DOMAIN for o in plain.opset_import)
    del plain
    npz = os.path.join(out, "synthetic.npz")
    exporter("--make-synthetic-npz", npz, "--seed", "7")
    exporter("--weights", npz, "--out", os.path.join(out, "netvlad_npz.onnx"))
    check_npz_export(npz, os.path.join(out, "netvlad_npz.onnx"), out)
    os.remove(npz)
    print(f"NetVLAD fixtures in {out} ({time.time() - start:.0f} s)")


if __name__ == "__main__":
    main()
