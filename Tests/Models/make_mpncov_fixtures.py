#!/usr/bin/env python3
"""Writes the fast-MPN-COV test data for Tests/GPUInferTests/ISqrtCovTests.swift under --out
(default Tests/data/generated/mpncov/). Oracles: the float64 NumPy port of the published forward
(Models/mpncov.py isqrtcov_numpy) for the function, onnxruntime for the models.

  head_{small,pd,real}.onnx        head only (ai.gpuinfer::ISqrtCov, iterN 5):
                                   small C=13, 1x7 map (M < C: positive semi-definite), batch 3;
                                   pd    C=20, 5x9 map (M = 45 > C: positive definite), batch 2,
                                         channel means far from 0 (checks the centering);
                                   real  C=256, 14x14 (the models' size), ReLU'd normals, batch 2
  head_*_input.npy, head_*_oracle.npy (float64 oracle), head_*_ort.npy (onnxruntime)
  mpncov_resnet50.onnx             the full model, random weights seed 0 calibrated on the photo
  photo_input.npy                  the preprocessed photo and its mirror image [2,3,224,224]
  logits_b{1,2}.npy, representation_b{1,2}.npy   onnxruntime at batch 1 and 2
  features.npy, features_oracle.npy              the ISqrtCov input on the photos (real feature
                                                 maps) and their float64 oracle representation
  mpncov_resnet50_npz.onnx + npz_*.npy           exported with --weights from a synthetic
                                                 state_dict npz (seed 7; slices for the Swift test)
  mpncov_resnet101.onnx, mpncov_vggd.onnx        exported with --no-calibrate (load/type checks)

The npz export is checked here too: every initializer must equal its state_dict tensor (identity
mapping after stripping 'module.'). The synthetic npz is deleted afterwards.
Usage: make_mpncov_fixtures.py [--out DIR]
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
import mpncov  # noqa: E402
from reference_outputs import run_onnxruntime, save_npy  # noqa: E402


def head(out: str, name: str, x: np.ndarray) -> None:
    n, c, h, w = x.shape
    path = os.path.join(out, f"{name}.onnx")
    onnx.save(mpncov.build_head(c, h, w), path)
    onnx.checker.check_model(path)
    save_npy(os.path.join(out, f"{name}_input.npy"), x)
    oracle = mpncov.isqrtcov_numpy(x.astype(np.float64))
    ort = run_onnxruntime(path, {"features": x})["representation"]
    save_npy(os.path.join(out, f"{name}_oracle.npy"), oracle)
    save_npy(os.path.join(out, f"{name}_ort.npy"), ort)
    rel = np.abs(ort - oracle).max() / np.abs(oracle).max()
    print(f"{name}: onnxruntime vs float64 oracle, max relative error {rel:.2e}")


def exporter(*args: str) -> None:
    subprocess.run([sys.executable, os.path.join(ROOT, "Models", "mpncov.py"), *args], check=True)


def check_npz_export(npz_path: str, onnx_path: str, out: str) -> None:
    """Asserts the identity state_dict -> initializer mapping; saves slices for the Swift test."""
    model = onnx.load(onnx_path)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    with np.load(npz_path) as z:
        sd = {k.removeprefix("module."): z[k] for k in z.files if not k.endswith("num_batches_tracked")}
        assert set(sd) == set(inits), sorted(set(sd) ^ set(inits))[:5]
        for k, v in sd.items():
            assert np.array_equal(inits[k], v), k
        save_npy(os.path.join(out, "npz_conv1_weight.npy"), sd["conv1.weight"])
        save_npy(os.path.join(out, "npz_layer4_2_bn3_running_var.npy"), sd["layer4.2.bn3.running_var"])
        save_npy(os.path.join(out, "npz_fc_bias.npy"), sd["fc.bias"])
        save_npy(os.path.join(out, "npz_fc_weight_rows.npy"), sd["fc.weight"][[0, 999]])
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["gpuinfer.weights"] == os.path.basename(npz_path), meta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(ROOT, "Tests", "data", "generated", "mpncov"))
    out = parser.parse_args().out
    os.makedirs(out, exist_ok=True)
    start = time.time()
    rng = np.random.default_rng(4)
    head(out, "head_small", rng.standard_normal((3, 13, 1, 7)).astype(np.float32))
    means = rng.uniform(-20, 20, (2, 20, 1, 1))
    head(out, "head_pd", (means + rng.standard_normal((2, 20, 5, 9)) * rng.uniform(0.5, 3, (2, 20, 1, 1))).astype(np.float32))
    head(out, "head_real", np.maximum(rng.standard_normal((2, 256, 14, 14)) + 0.3, 0).astype(np.float32))
    exporter("--arch", "mpncov_resnet50", "--out", os.path.join(out, "mpncov_resnet50.onnx"), "--seed", "0", "--reference-out", out)
    npz = os.path.join(out, "synthetic.npz")
    exporter("--arch", "mpncov_resnet50", "--make-synthetic-npz", npz, "--seed", "7")
    exporter("--arch", "mpncov_resnet50", "--weights", npz, "--out", os.path.join(out, "mpncov_resnet50_npz.onnx"))
    check_npz_export(npz, os.path.join(out, "mpncov_resnet50_npz.onnx"), out)
    os.remove(npz)
    for arch in ("mpncov_resnet101", "mpncov_vggd"):
        exporter("--arch", arch, "--out", os.path.join(out, f"{arch}.onnx"), "--no-calibrate")
    print(f"fast-MPN-COV fixtures in {out} ({time.time() - start:.0f} s)")


if __name__ == "__main__":
    main()
