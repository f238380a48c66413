#!/usr/bin/env python3
"""Writes the fixtures of the visual-place-recognition zoo models (Models/vpr.py: the
deep-visual-geo-localization-benchmark's resnet18_gem, resnet18_netvlad, vgg16_gem) for gpuinfer's
model tests, from seeded random weights and onnxruntime:

  resnet18_gem.onnx, resnet18_netvlad.onnx, vgg16_gem.onnx     vpr.py NAME (seed 0)
  resnet18_gem_reducemean.onnx                                  vpr.py resnet18_gem --gem-pattern reducemean
                                                                (same weights: Max + ReduceMean GeM)
  input_480x640.npy, input_353x517.npy   float32 [4,3,H,W]: photos astronaut, chelsea,
                         motorcycle_left, motorcycle_right (Models/fetch_assets.py --photos), each
                         decoded RGB, resized to HxW with OpenCV INTER_LINEAR (uint8, what gpuinfer's
                         bilinear resize does), then (x/255 - mean)/std, ImageNet mean/std
  MODEL_HxW.npy          float32 [4,D] onnxruntime descriptors (graph optimizations off, 1 thread)
  cases.json             every (model, input, output) case with shapes, the photos, norms
  tiny_set/              a real-photo place-recognition set in the benchmark's layout:
    database/*.jpg, queries/*.jpg   8 database and 5 query photos named
                         `@UTM_east@UTM_north@18@T@@@@@@@@@@note@.jpg` (datasets_ws.py reads
                         path.split("@")[1] and [2] as east and north)
    tiny_set.json        the files in the benchmark's index order (sorted paths), their UTMs, each
                         query's positives within 25 m (hand-derived, checked here), and for each
                         model the onnxruntime ranking (by Euclidean distance as faiss IndexFlatL2,
                         ties by index) and recall@1/5/10 from it
    MODEL_descriptors.npy  float32 [13, D]: database then queries, inputs as above at 480x640

usage: make_vpr_fixtures.py [--out Tests/data/generated/vpr]. Deterministic (seeded); rewrites the
folder each run.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import cv2
import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "Models"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eval_metrics  # noqa: E402
import vpr  # noqa: E402
from reference_outputs import run_onnxruntime, save_npy  # noqa: E402

MODELS = ["resnet18_gem", "resnet18_netvlad", "vgg16_gem"]
SIZES = [(480, 640), (353, 517)]
PHOTOS = ["astronaut.png", "chelsea.png", "motorcycle_left.png", "motorcycle_right.png"]
E0, N0 = 585000.0, 4477000.0  # UTM zone 18T (made up)
#: tiny set: (photo, crop box or None, east offset, north offset, note)
DATABASE = [
    ("astronaut.png", None, 0.0, 0.0, "astronaut"),
    ("brick.png", None, 10.0, 0.0, "brick"),
    ("camera.png", None, 300.0, 0.0, "camera"),
    ("chelsea.png", None, 300.0, 15.0, "chelsea"),
    ("coffee.png", None, 600.0, 0.0, "coffee"),
    ("hubble_deep_field.jpg", None, 615.0, 20.0, "hubble"),
    ("motorcycle_left.png", None, 900.0, 0.0, "motorcycle_left"),
    ("rocket.jpg", None, 1200.0, 0.0, "rocket"),
]
QUERIES = [
    ("motorcycle_right.png", None, 905.0, 5.0, "q_motorcycle_right"),
    ("chelsea.png", (100, 50, 350, 300), 300.0, 10.0, "q_chelsea_crop"),
    ("astronaut.png", (64, 64, 448, 448), -14.94, 19.92, "q_astronaut_crop"),
    ("coffee.png", (100, 50, 500, 350), 605.0, 5.0, "q_coffee_crop"),
    ("rocket.jpg", (100, 0, 540, 427), 1215.06, 20.08, "q_rocket_crop"),
]
#: by hand: query note -> database notes within 25 m (distances in the comments)
EXPECTED_POSITIVES = {
    "q_motorcycle_right": ["motorcycle_left"],        # 7.07 m; everything else >= 295 m
    "q_chelsea_crop": ["camera", "chelsea"],          # 10 m, 5 m
    "q_astronaut_crop": ["astronaut"],                # 24.90 m (0.6, 0.8 x 24.9); brick 32.3 m
    "q_coffee_crop": ["coffee", "hubble"],            # 7.07 m, 18.03 m
    "q_rocket_crop": [],                              # rocket 25.10 m (0.6, 0.8 x 25.1): not within
}


def load_rgb(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def preprocess(rgb: np.ndarray, h: int, w: int) -> np.ndarray:
    """[3,H,W] float32: OpenCV INTER_LINEAR resize of the uint8 RGB image, /255, ImageNet mean/std."""
    x = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32) / np.float32(255)
    x = (x - np.array(vpr.MEAN, np.float32)) / np.array(vpr.STD, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1), np.float32)


def utm_name(e: float, n: float, note: str) -> str:
    return "@".join(["", f"{E0 + e:.2f}", f"{N0 + n:.2f}", "18", "T", "", "", "", "", "", "", "", "", "", note, ".jpg"])


def tiny_set(out: str, photo_dir: str, models: dict[str, str]) -> dict:
    folder = os.path.join(out, "tiny_set")
    for sub, items in (("database", DATABASE), ("queries", QUERIES)):
        os.makedirs(os.path.join(folder, sub))
        for photo, box, e, n, note in items:
            img = Image.open(os.path.join(photo_dir, photo)).convert("RGB")
            if box:
                img = img.crop(box)
            img.save(os.path.join(folder, sub, utm_name(e, n, note)), quality=95)
    db_files = sorted(os.listdir(os.path.join(folder, "database")))
    q_files = sorted(os.listdir(os.path.join(folder, "queries")))
    db_utm = np.array([(f.split("@")[1], f.split("@")[2]) for f in db_files]).astype(float)
    q_utm = np.array([(f.split("@")[1], f.split("@")[2]) for f in q_files]).astype(float)
    db_notes = [f.split("@")[-2] for f in db_files]
    q_notes = [f.split("@")[-2] for f in q_files]
    pos = eval_metrics.positives(db_utm, q_utm, 25.0)
    for qi, note in enumerate(q_notes):
        got = sorted(db_notes[j] for j in pos[qi])
        if got != sorted(EXPECTED_POSITIVES[note]):
            raise SystemExit(f"error: tiny set: {note} has positives {got}, expected by hand {EXPECTED_POSITIVES[note]}")
    dist_m = np.sqrt(((q_utm[:, None, :] - db_utm[None]) ** 2).sum(-1))
    info = {
        "layout": "the benchmark's images/<split>/{database,queries}/@UTM_east@UTM_north@...@.jpg; index order = sorted file names",
        "threshold_m": 25.0, "rule": "positive iff sqrt(de^2 + dn^2) <= 25 (float64, from coordinate differences)",
        "database": [{"index": i, "file": f"database/{f}", "utm_east": float(u[0]), "utm_north": float(u[1]), "note": db_notes[i]}
                     for i, (f, u) in enumerate(zip(db_files, db_utm))],
        "queries": [{"index": i, "file": f"queries/{f}", "utm_east": float(u[0]), "utm_north": float(u[1]), "note": q_notes[i],
                     "positives": pos[i], "positive_notes": [db_notes[j] for j in pos[i]],
                     "distances_m": [round(float(d), 4) for d in dist_m[i]]}
                    for i, (f, u) in enumerate(zip(q_files, q_utm))],
        "recall_values": [1, 5, 10],
        "models": {},
    }
    images = [load_rgb(os.path.join(folder, "database", f)) for f in db_files] + [load_rgb(os.path.join(folder, "queries", f)) for f in q_files]
    x = np.stack([preprocess(im, 480, 640) for im in images])
    nd = len(db_files)
    for name, path in models.items():
        y = run_onnxruntime(path, {"image": x})["descriptor"]
        save_npy(os.path.join(folder, f"{name}_descriptors.npy"), y)
        d2 = ((y[nd:, None, :].astype(np.float64) - y[None, :nd, :]) ** 2).sum(-1)
        ranked = eval_metrics.rank_by_distance(d2, 10)
        rec = eval_metrics.recall_at(ranked, pos, [1, 5, 10])
        info["models"][name] = {
            "descriptors": f"{name}_descriptors.npy", "input": "480x640 as input_480x640.npy's preprocessing",
            "ranked": ranked.tolist(), "squared_l2": [[round(float(v), 6) for v in row] for row in d2],
            "first_correct_rank": eval_metrics.first_correct_rank(ranked, pos),
            "recall": {str(n): r for n, r in rec.items()}, "recall_percent": {str(n): round(100 * r, 4) for n, r in rec.items()},
        }
        print(f"tiny set {name}: top-1 {[db_notes[r[0]] for r in ranked]}, recall@1/5/10 {[rec[n] for n in (1, 5, 10)]}")
    with open(os.path.join(folder, "tiny_set.json"), "w") as f:
        json.dump(info, f, indent=1)
    return info


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "Tests", "data", "generated", "vpr"))
    a = ap.parse_args()
    start = time.time()
    photo_paths = subprocess.run([sys.executable, os.path.join(ROOT, "Models", "fetch_assets.py"), "--photos"],
                                 check=True, capture_output=True, text=True).stdout.split()
    photo_dir = os.path.dirname(photo_paths[0])
    shutil.rmtree(a.out, ignore_errors=True)
    os.makedirs(a.out)
    models = {}
    for name in MODELS:
        path = os.path.join(a.out, name + ".onnx")
        vpr.export(name, path, seed=0)
        models[name] = path
    vpr.export("resnet18_gem", os.path.join(a.out, "resnet18_gem_reducemean.onnx"), seed=0, gem_pattern="reducemean")
    print(f"exported {len(models) + 1} models in {time.time() - start:.1f} s")
    rgb = [load_rgb(os.path.join(photo_dir, p)) for p in PHOTOS]
    cases = []
    for h, w in SIZES:
        x = np.stack([preprocess(im, h, w) for im in rgb])
        inp = f"input_{h}x{w}.npy"
        save_npy(os.path.join(a.out, inp), x)
        for name in MODELS + ["resnet18_gem_reducemean"]:
            t = time.time()
            y = run_onnxruntime(os.path.join(a.out, name + ".onnx"), {"image": x})["descriptor"]
            if name == "resnet18_gem_reducemean":
                ref = np.load(os.path.join(a.out, f"resnet18_gem_{h}x{w}.npy"))
                if np.abs(y - ref).max() > 1e-5:
                    raise SystemExit("error: the two GeM patterns disagree")
            else:
                save_npy(os.path.join(a.out, f"{name}_{h}x{w}.npy"), y)
            if not np.all(np.isfinite(y)):
                raise SystemExit(f"error: {name} gives non-finite descriptors")
            yn = y / np.linalg.norm(y, axis=1, keepdims=True)
            cos = yn @ yn.T
            cases.append({"model": f"{name}.onnx", "input": inp, "output": f"{'resnet18_gem' if name.endswith('reducemean') else name}_{h}x{w}.npy",
                          "input_shape": list(x.shape), "output_shape": list(y.shape), "photos": PHOTOS,
                          "norms": [round(float(v), 6) for v in np.linalg.norm(y, axis=1)],
                          "cosine_matrix": [[round(float(v), 6) for v in row] for row in cos]})
            print(f"{name} {h}x{w}: {list(y.shape)} in {time.time() - t:.1f} s, norms {np.linalg.norm(y, axis=1).round(4)}, "
                  f"cosine(moto L, moto R) {cos[2, 3]:.4f}, other pairs max {max(cos[i, j] for i in range(4) for j in range(i + 1, 4) if (i, j) != (2, 3)):.4f}")
    with open(os.path.join(a.out, "cases.json"), "w") as f:
        json.dump({"preprocessing": "RGB, cv2.resize INTER_LINEAR to HxW (uint8), /255, mean 0.485,0.456,0.406, std 0.229,0.224,0.225, NCHW",
                   "weights": "vpr.py random-seed-0 (calibrated on Models/samples/grace_hopper.jpg)",
                   "reference": "onnxruntime CPU, graph optimizations disabled, 1 thread", "cases": cases}, f, indent=1)
    tiny_set(a.out, photo_dir, models)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(a.out) for f in fs)
    print(f"wrote {a.out} ({total / 1e6:.0f} MB) in {time.time() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
