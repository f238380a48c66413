#!/usr/bin/env python3
"""Fetches two publicly released ONNX CNNs from the rapidocr-onnxruntime 1.4.4 wheel (PyPI) and
computes onnxruntime reference outputs for gpuinfer's RealModelTests.

  ch_ppocr_mobile_v2.0_cls_infer.onnx  MobileNetV3-style text-direction classifier (opset 11)
                                       input [2,3,48,192] -> softmax [2,2]
  ch_PP-OCRv4_det_infer.onnx           DBNet text detector (opset 12; ConvTranspose, Resize)
                                       input [1,3,64,96] -> sigmoid map [1,1,64,96]

The wheel comes from `pip download --no-deps rapidocr-onnxruntime==1.4.4`, or from a local copy
($RAPIDOCR_WHEEL, or /tmp/rapid/) when present; its SHA-256 is checked either way. Writes into
--out (default Tests/data/generated/real/): both models, and <model>_input.npy /
<model>_output.npy (onnxruntime). Inputs are seeded: the classifier gets uniform noise in [-1, 1)
(rapidocr's (pixel/255 - 0.5)/0.5 range); the detector gets a synthetic image of three dark
"text lines" on white, ImageNet-normalised like rapidocr does, so its probability map is not
saturated at 0 everywhere (pure noise gives an all-zero map, which would test nothing).
"""
from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Models"))
from fetch_assets import sha256  # noqa: E402
from reference_outputs import run_onnxruntime, save_npy  # noqa: E402

WHEEL = "rapidocr_onnxruntime-1.4.4-py3-none-any.whl"
WHEEL_SHA256 = "971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf"
MODELS = {
    # file name in the wheel: (short name, input shape, seed, input maker)
    "ch_ppocr_mobile_v2.0_cls_infer.onnx": ("cls", (2, 3, 48, 192), 11, "noise"),
    "ch_PP-OCRv4_det_infer.onnx": ("det", (1, 3, 64, 96), 12, "text"),
}


def noise_input(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape, dtype=np.float32) - 0.5) / 0.5


def text_lines_input(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Dark glyph-like bars in three rows on a white page, with a little noise."""
    rng = np.random.default_rng(seed)
    n, c, h, w = shape
    page = np.ones((h, w), np.float32)
    for row in (h * 10 // 64, h * 30 // 64, h * 48 // 64):
        x = w // 16
        while x < w - w // 12:
            width = int(rng.integers(2, 6))
            page[row:row + 9, x:x + width] = 0
            page[row + int(rng.integers(0, 8)), x:x + width + 2] = 0
            x += width + int(rng.integers(1, 4))
    img = np.broadcast_to(page, shape) + rng.normal(0, 0.03, shape).astype(np.float32)
    mean = np.array([0.485, 0.456, 0.406], np.float32)[:, None, None]
    std = np.array([0.229, 0.224, 0.225], np.float32)[:, None, None]
    return ((img - mean) / std).astype(np.float32)


def find_wheel(tmp: str) -> str:
    candidates = [os.environ.get("RAPIDOCR_WHEEL", ""), os.path.join("/tmp/rapid", WHEEL)]
    for c in candidates:
        if c and os.path.isfile(c) and sha256(c) == WHEEL_SHA256:
            return c
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp,
                    "rapidocr-onnxruntime==1.4.4"], check=True)
    found = glob.glob(os.path.join(tmp, "rapidocr_onnxruntime-1.4.4-*.whl"))
    if not found:
        sys.exit("pip download produced no rapidocr_onnxruntime 1.4.4 wheel")
    return found[0]


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(here, "..", "data", "generated", "real"))
    args = parser.parse_args()
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = find_wheel(tmp)
        digest = sha256(wheel)
        if digest != WHEEL_SHA256:
            sys.exit(f"{wheel}: SHA-256 {digest} does not match the pinned {WHEEL_SHA256}")
        with zipfile.ZipFile(wheel) as z:
            for name in MODELS:
                data = z.read(f"rapidocr_onnxruntime/models/{name}")
                with open(os.path.join(out, name), "wb") as f:
                    f.write(data)
    for name, (short, shape, seed, kind) in MODELS.items():
        path = os.path.join(out, name)
        x = noise_input(shape, seed) if kind == "noise" else text_lines_input(shape, seed)
        (value,) = run_onnxruntime(path, {"x": x}).values()
        stem = name[:-len(".onnx")]
        save_npy(os.path.join(out, f"{stem}_input.npy"), x)
        save_npy(os.path.join(out, f"{stem}_output.npy"), value)
        print(f"{short}: {name} input {list(shape)} -> output {value.dtype}{list(value.shape)} "
              f"range [{value.min():.4f}, {value.max():.4f}], {np.mean((value > 0.01) & (value < 0.99)):.1%} unsaturated")


if __name__ == "__main__":
    main()
