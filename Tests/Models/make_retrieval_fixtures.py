#!/usr/bin/env python3
"""Writes the retrieval fixtures for RetrievalTests.swift and RetrievalCLITests.swift.

Search (exact NumPy ranking; seeded):
  search_db.npy        float32 [10000, 100] random unit vectors; rows 9990..9999 copy rows 0..9
                       (exact ties: equal scores rank the lower index first)
  search_queries.npy   float32 [100, 100]: queries 0..4 are database rows 0..4 (each ties with its
                       copy), the rest random unit vectors
  search_top10.npy     int64 [100, 10]: the exact top-10 rows per query, ranked by the float64
                       dot product of the float32 values, ties broken by the lower row index
  search_top10_scores.npy float32 [100, 10]: those scores
  A random query is redrawn until, in its top 11, any two different scores differ by more than
  1e-5 (200x the worst float32 rounding of a 100-term dot product of unit vectors, ~5e-8·√100), so
  the ranking is the same for any correct float32 implementation; exact ties are kept.

Workflow (a small embedding model and a folder of photos made from Models/samples/grace_hopper.jpg):
  embed_small.onnx     input "image" float32 [N,3,48,64] (gpuinfer.* preprocessing metadata: 64x48,
                       RGB, /255, ImageNet mean/std) -> Conv 3->8 5x5/2 + Relu -> Conv 8->16 3x3/2 +
                       Relu -> AveragePool 4x4/4 -> Flatten -> Gemm 192->64 = "descriptor" [N,64]
                       (seeded random weights; no L2 in the graph)
  photos/              grace_hopper.jpg (the sample), flipped.jpg, crop.png, noise.png,
                       sub/dark.jpg, sub/deeper/gray.jpg, sub/rotated.jpg (good images);
                       corrupt.jpg (JPEG magic then garbage), empty.jpg (0 bytes), notes.txt (text),
                       sub/README (text, no extension)
  query_small.jpg      the sample resized to 256x300 (not in the folder)

Usage: make_retrieval_fixtures.py [--out Tests/data/generated/retrieval]. Deterministic.
"""
from __future__ import annotations

import argparse
import os
import shutil

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image, ImageOps

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPLE = os.path.join(ROOT, "Models", "samples", "grace_hopper.jpg")
MARGIN = 1e-5


def unit(rng, n, d):
    x = rng.standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def ranking(db64, q):
    scores = db64 @ q.astype(np.float64)
    order = np.lexsort((np.arange(len(scores)), -scores))
    return order, scores


def search_fixtures(out):
    rng = np.random.default_rng(6)
    n, d, nq, k = 10000, 100, 100, 10
    db = unit(rng, n, d)
    db[n - 10:] = db[:10]
    db64 = db.astype(np.float64)
    queries = np.zeros((nq, d), np.float32)
    queries[:5] = db[:5]
    top = np.zeros((nq, k), np.int64)
    top_scores = np.zeros((nq, k), np.float32)
    for i in range(nq):
        while True:
            if i >= 5:
                queries[i] = unit(rng, 1, d)[0]
            order, scores = ranking(db64, queries[i])
            head = scores[order[:k + 1]]
            gaps = -np.diff(head)
            if np.all((gaps == 0) | (gaps > MARGIN)):
                break
            assert i >= 5, "a copied database row has a near-tie"
        top[i] = order[:k]
        top_scores[i] = scores[order[:k]]
    assert top[0, 0] == 0 and top[0, 1] == n - 10, "tie order"
    np.save(os.path.join(out, "search_db.npy"), db)
    np.save(os.path.join(out, "search_queries.npy"), queries)
    np.save(os.path.join(out, "search_top10.npy"), top)
    np.save(os.path.join(out, "search_top10_scores.npy"), top_scores)


def embed_model(path):
    rng = np.random.default_rng(61)
    inits = []

    def const(name, shape, scale):
        inits.append(numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name))
        return name

    nodes = [
        helper.make_node("Conv", ["image", const("w1", (8, 3, 5, 5), 0.2), const("b1", (8,), 0.1)], ["c1"],
                         strides=[2, 2], pads=[2, 2, 2, 2]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", const("w2", (16, 8, 3, 3), 0.2), const("b2", (16,), 0.1)], ["c2"],
                         strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("AveragePool", ["r2"], ["p"], kernel_shape=[4, 4], strides=[4, 4]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", const("w3", (64, 192), 0.1), const("b3", (64,), 0.0)], ["descriptor"], transB=1),
    ]
    graph = helper.make_graph(
        nodes, "embed_small",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 48, 64])],
        [helper.make_tensor_value_info("descriptor", TensorProto.FLOAT, ["N", 64])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="make_retrieval_fixtures")
    model.ir_version = 8
    meta = {"gpuinfer.input_width": "64", "gpuinfer.input_height": "48", "gpuinfer.resize": "bilinear",
            "gpuinfer.channel_order": "RGB", "gpuinfer.scale": "0.00392156862745098",
            "gpuinfer.mean": "0.485,0.456,0.406", "gpuinfer.std": "0.229,0.224,0.225",
            "gpuinfer.weights": "random (seed 61)"}
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, path)


def photos(out):
    folder = os.path.join(out, "photos")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(os.path.join(folder, "sub", "deeper"))
    shutil.copyfile(SAMPLE, os.path.join(folder, "grace_hopper.jpg"))
    img = Image.open(SAMPLE).convert("RGB")
    w, h = img.size
    ImageOps.mirror(img).save(os.path.join(folder, "flipped.jpg"), quality=90)
    img.crop((w // 4, h // 4, 3 * w // 4, 3 * h // 4)).save(os.path.join(folder, "crop.png"))
    rng = np.random.default_rng(7)
    Image.fromarray(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)).save(os.path.join(folder, "noise.png"))
    img.point(lambda v: v // 3).save(os.path.join(folder, "sub", "dark.jpg"), quality=90)
    img.convert("L").save(os.path.join(folder, "sub", "deeper", "gray.jpg"), quality=90)
    img.rotate(90, expand=True).save(os.path.join(folder, "sub", "rotated.jpg"), quality=90)
    with open(os.path.join(folder, "corrupt.jpg"), "wb") as fh:
        fh.write(b"\xff\xd8\xff\xe0" + rng.integers(0, 256, 3000, dtype=np.uint8).tobytes())
    open(os.path.join(folder, "empty.jpg"), "wb").close()
    with open(os.path.join(folder, "notes.txt"), "w") as fh:
        fh.write("not an image\n")
    with open(os.path.join(folder, "sub", "README"), "w") as fh:
        fh.write("also not an image\n")
    img.resize((256, 300), Image.BILINEAR).save(os.path.join(out, "query_small.jpg"), quality=92)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "Tests", "data", "generated", "retrieval"))
    out = ap.parse_args().out
    os.makedirs(out, exist_ok=True)
    search_fixtures(out)
    embed_model(os.path.join(out, "embed_small.onnx"))
    photos(out)
    print(f"retrieval fixtures written to {out}")


if __name__ == "__main__":
    main()
