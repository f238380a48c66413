#!/usr/bin/env python3
"""Writes the NonMaxSuppression and SSDLite test data for Tests/GPUInferTests/{NonMaxSuppression,SSDLite}Tests.swift
under --out (default Tests/data/generated/ssdlite/), with onnxruntime as the oracle:

  nms/<case>.onnx, nms/<case>_{boxes,scores,expected}.npy
      one NonMaxSuppression node (max_output_boxes_per_class, iou_threshold and score_threshold
      as initializers, boxes and scores as inputs) and onnxruntime's selected_indices, for the
      edge cases: ties in score, identical boxes, zero-area and inverted boxes, IoU exactly at the
      threshold, scores exactly at the threshold, everything suppressed, more candidates than the
      limit, empty input, max_output_boxes_per_class 0, no score threshold, center_point_box 1,
      and random multi-batch, multi-class cases.
  head_{small,limits,real}.onnx + _{box_encodings,class_logits,expected}.npy
      the detection output alone (Models/ssdlite.py build_head): 37 anchors x 6 logit columns,
      batch 3; 53 x 4 with 3 per class, 7 in total and IoU 0.3; 1917 x 91, batch 2
  ssdlite_mobilenet_v2.onnx (random seed 0), photo_input.npy ([2,3,300,300]: the sample photo and
      its mirror image, preprocessed with Pillow + OpenCV), photo_expected_b{1,2}.npy
  ssdlite_plain.onnx    the same with the function inlined (checked equal under onnxruntime)
  ssdlite_npz.onnx + npz_*.npy  exported with --weights from a synthetic npz (seed 7; the mapping
      with BatchNorm folding is checked here; the npz is deleted afterwards)
Usage: make_ssdlite_fixtures.py [--out DIR] [--nms-only]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "Models"))
import ssdlite  # noqa: E402
from reference_outputs import run_onnxruntime, save_npy  # noqa: E402


def nms_model(max_out: int | None, iou: float | None, score: float | None, center: int) -> onnx.ModelProto:
    inits, names = [], ["boxes", "scores"]
    for name, value, dtype in (("max_output_boxes_per_class", max_out, np.int64), ("iou_threshold", iou, np.float32),
                               ("score_threshold", score, np.float32)):
        if value is None:
            names.append("")
        else:
            inits.append(numpy_helper.from_array(np.array([value], dtype), name))
            names.append(name)
    while names and names[-1] == "":
        names.pop()
    node = helper.make_node("NonMaxSuppression", names, ["selected_indices"], center_point_box=center)
    graph = helper.make_graph([node], "nms",
                              [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, None),
                               helper.make_tensor_value_info("scores", TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info("selected_indices", TensorProto.INT64, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def nms_case(out: str, name: str, boxes, scores, max_out=10, iou=0.5, score=None, center=0) -> None:
    boxes = np.asarray(boxes, np.float32)
    scores = np.asarray(scores, np.float32)
    if boxes.ndim == 2:
        boxes = boxes[None]
    if scores.ndim == 1:
        scores = scores[None, None]
    path = os.path.join(out, f"{name}.onnx")
    onnx.save(nms_model(max_out, iou, score, center), path)
    y = run_onnxruntime(path, {"boxes": boxes, "scores": scores})["selected_indices"]
    save_npy(os.path.join(out, f"{name}_boxes.npy"), boxes)
    save_npy(os.path.join(out, f"{name}_scores.npy"), scores)
    save_npy(os.path.join(out, f"{name}_expected.npy"), y.astype(np.int64).reshape(-1, 3))


def random_boxes(rng: np.random.Generator, n: int, b: int, center: int) -> np.ndarray:
    """Boxes clustered so that many overlap: centers in [0,1], sizes in [0.05, 0.4]."""
    c = rng.uniform(0, 1, (n, b, 2))
    s = rng.uniform(0.05, 0.4, (n, b, 2))
    if center:
        return np.concatenate([c, s], axis=2).astype(np.float32)
    y0, x0 = c[..., 1] - s[..., 1] / 2, c[..., 0] - s[..., 0] / 2
    return np.stack([y0, x0, y0 + s[..., 1], x0 + s[..., 0]], axis=2).astype(np.float32)


def nms_fixtures(out: str) -> None:
    out = os.path.join(out, "nms")
    os.makedirs(out, exist_ok=True)
    grid = [[0, 0, 1, 1], [0, 0.1, 1, 1.1], [0, -0.1, 1, 0.9], [0, 10, 1, 11], [0, 10.1, 1, 11.1], [0, 100, 1, 101]]
    # The ONNX backend-test case (suppress_by_IOU) and its center_point_box twin.
    nms_case(out, "onnx_suppress_by_iou", grid, [0.9, 0.75, 0.6, 0.95, 0.5, 0.3], max_out=3, iou=0.5, score=0.0)
    centers = [[0.5, 0.5, 1, 1], [0.5, 0.6, 1, 1], [0.5, 0.4, 1, 1], [0.5, 10.5, 1, 1], [0.5, 10.6, 1, 1], [0.5, 100.5, 1, 1]]
    nms_case(out, "center_point_box", centers, [0.9, 0.75, 0.6, 0.95, 0.5, 0.3], max_out=3, iou=0.5, score=0.0, center=1)
    # Equal scores: the lower index wins, both among overlapping and disjoint boxes.
    nms_case(out, "ties_in_score", grid, [0.5, 0.5, 0.5, 0.5, 0.5, 0.5], max_out=6, iou=0.5)
    # Identical boxes: only the best (lowest index among equal scores) survives any threshold < 1.
    same = [[0.1, 0.2, 0.5, 0.6]] * 5 + [[0.6, 0.6, 0.9, 0.9]]
    nms_case(out, "identical_boxes", same, [0.3, 0.8, 0.8, 0.1, 0.8, 0.2], max_out=6, iou=0.9)
    # IoU = 1 for identical boxes is not > 1: threshold 1 keeps them all.
    nms_case(out, "identical_boxes_iou_one", same, [0.3, 0.8, 0.8, 0.1, 0.8, 0.2], max_out=6, iou=1.0)
    # Zero-area (point, line) and inverted boxes (corners given max-first): inverted ones are
    # normalized; zero-area ones never suppress nor get suppressed.
    odd = [[0.2, 0.2, 0.2, 0.2], [0.2, 0.2, 0.2, 0.6], [0.6, 0.6, 0.1, 0.1], [0.1, 0.1, 0.6, 0.6], [0.5, 0.5, 0.5, 0.5],
           [0.6, 0.1, 0.1, 0.6], [0.0, 0.0, 0.0, 0.0]]
    nms_case(out, "zero_area_and_inverted", odd, [0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.4], max_out=7, iou=0.3)
    nms_case(out, "zero_area_and_inverted_center", [[0.3, 0.3, 0, 0.4], [0.3, 0.3, -0.2, -0.2], [0.3, 0.3, 0.2, 0.2],
                                                    [0.35, 0.3, 0.2, 0.2]], [0.9, 0.8, 0.7, 0.6], max_out=4, iou=0.1, center=1)
    # IoU exactly 0.5 in fp32 (intersection 1, union 2) against thresholds 0.5 (kept: not >) and
    # just below (suppressed); exactly 1/3 too.
    half = [[0, 0, 2, 1], [0, 0, 1, 1], [0, 0, 1, 1.5]]
    nms_case(out, "iou_at_threshold", half, [0.9, 0.8, 0.7], max_out=3, iou=0.5)
    nms_case(out, "iou_below_threshold", half, [0.9, 0.8, 0.7], max_out=3, iou=float(np.nextafter(np.float32(0.5), np.float32(0))))
    third = [[0, 0, 1, 2], [0, 1, 1, 3]]
    nms_case(out, "iou_one_third", third, [0.9, 0.8], max_out=3, iou=0.25)
    # Scores exactly at the score threshold are dropped (score > threshold).
    nms_case(out, "score_at_threshold", grid, [0.3, 0.3, 0.6, 0.2, 0.31, 0.3], max_out=6, iou=0.5, score=0.3)
    # Everything below the score threshold; everything suppressed but the first.
    nms_case(out, "all_below_score", grid, [0.1, 0.2, 0.1, 0.2, 0.1, 0.2], max_out=6, iou=0.5, score=0.5)
    nms_case(out, "all_suppressed", [[0, 0, 1, 1]] * 4 + [[0, 0, 1, 1.01]] * 3, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7], max_out=7, iou=0.0)
    # More candidates than the limit: 40 disjoint boxes, 7 kept (the 7 best).
    rng = np.random.default_rng(5)
    disjoint = [[0, 2 * i, 1, 2 * i + 1] for i in range(40)]
    nms_case(out, "more_than_limit", disjoint, rng.permutation(40).astype(np.float32) / 40, max_out=7, iou=0.5)
    # Empty input (no boxes), and max_output_boxes_per_class 0 / absent.
    nms_case(out, "empty_boxes", np.zeros((2, 0, 4)), np.zeros((2, 3, 0)), max_out=5, iou=0.5, score=0.1)
    nms_case(out, "max_output_zero", grid, [0.9, 0.75, 0.6, 0.95, 0.5, 0.3], max_out=0, iou=0.5)
    nms_case(out, "max_output_absent", grid, [0.9, 0.75, 0.6, 0.95, 0.5, 0.3], max_out=None, iou=None)
    # Random: batches and classes, 3 sizes, both box layouts, with and without a score threshold.
    for name, n, c, b, max_out, iou, score, center in (
            ("random_small", 2, 3, 13, 4, 0.5, 0.3, 0), ("random_center", 3, 2, 37, 10, 0.4, None, 1),
            ("random_large", 2, 5, 301, 100, 0.6, 0.3, 0), ("random_no_iou", 1, 4, 65, 70, 0.0, 0.5, 0)):
        rng = np.random.default_rng(b)
        scores = rng.uniform(0, 1, (n, c, b)).astype(np.float32)
        scores[..., ::7] = 0.5  # ties
        nms_case(out, name, random_boxes(rng, n, b, center), scores, max_out=max_out, iou=iou, score=score, center=center)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(ROOT, "Tests", "data", "generated", "ssdlite"))
    parser.add_argument("--nms-only", action="store_true")
    args = parser.parse_args()
    start = time.time()
    nms_fixtures(args.out)
    print(f"NMS fixtures in {args.out}/nms ({time.time() - start:.1f} s)")
    if args.nms_only:
        return
    ssdlite_fixtures(args.out)
    print(f"SSDLite fixtures in {args.out} ({time.time() - start:.0f} s)")


def head_case(out: str, name: str, a: int, classes: int, batch: int, seed: int, **overrides) -> None:
    """A detection-output-only model and onnxruntime's output for seeded encodings and logits:
    logits around the 0.3 score threshold (sigmoid^-1(0.3) = -0.847), a tenth of them tied."""
    path = os.path.join(out, f"{name}.onnx")
    onnx.save(ssdlite.build_head(a, classes, seed, **overrides), path)
    onnx.checker.check_model(path)
    rng = np.random.default_rng(seed + 100)
    enc = (rng.standard_normal((batch, a, 4)) * 0.5).astype(np.float32)
    logits = rng.normal(-1.5, 1.2, (batch, a, classes)).astype(np.float32)
    logits[:, ::10, :] = np.float32(0.25)  # equal scores across anchors and classes
    save_npy(os.path.join(out, f"{name}_box_encodings.npy"), enc)
    save_npy(os.path.join(out, f"{name}_class_logits.npy"), logits)
    y = run_onnxruntime(path, {"box_encodings": enc, "class_logits": logits})["DetectionOutput"]
    save_npy(os.path.join(out, f"{name}_expected.npy"), y)


def photo_input(batch: int) -> np.ndarray:
    """The sample photo preprocessed the reference way (Pillow RGB decode, OpenCV INTER_LINEAR
    resize to 300x300, float 0..255, NCHW); image 2 of a batch is the photo mirrored."""
    import cv2
    from PIL import Image

    rgb = np.asarray(Image.open(os.path.join(ROOT, "Models", "samples", "grace_hopper.jpg")).convert("RGB"))
    x = cv2.resize(rgb, (300, 300), interpolation=cv2.INTER_LINEAR).astype(np.float32).transpose(2, 0, 1)[None]
    return np.concatenate([x, x[..., ::-1]])[:batch].copy()


def exporter(*args: str) -> None:
    subprocess.run([sys.executable, os.path.join(ROOT, "Models", "ssdlite.py"), *args], check=True)


def check_npz_export(npz_path: str, onnx_path: str, out: str) -> None:
    """Asserts the documented checkpoint -> initializer mapping (BatchNorm folding included);
    saves a few variables for the Swift test."""
    model = onnx.load(onnx_path)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    with np.load(npz_path) as z:
        v = {k: z[k] for k in z.files}
    assert set(v) == set(ssdlite.tf_shapes()), "synthetic npz names differ from tf_shapes()"
    for layer in ssdlite.network()[1]:
        s = layer.scope
        w = v[s + ("/depthwise_weights" if layer.kind == "dw" else "/weights")].astype(np.float64)
        w = w.transpose(2, 3, 0, 1) if layer.kind == "dw" else w.transpose(3, 2, 0, 1)
        if layer.bn:
            f = v[s + "/BatchNorm/gamma"] / np.sqrt(v[s + "/BatchNorm/moving_variance"].astype(np.float64) + ssdlite.BN_EPS)
            w, b = w * f[:, None, None, None], v[s + "/BatchNorm/beta"] - v[s + "/BatchNorm/moving_mean"] * f
        else:
            b = v[s + "/biases"]
        assert np.allclose(inits[s + ".weight"], w, rtol=1e-6, atol=1e-7), s
        assert np.allclose(inits[s + ".bias"], b, rtol=1e-6, atol=1e-6), s
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["gpuinfer.weights"] == os.path.basename(npz_path), meta
    fe = ssdlite.FE
    save_npy(os.path.join(out, "npz_conv_weights.npy"), v[fe + "Conv/weights"])
    for leaf in ("gamma", "beta", "moving_mean", "moving_variance"):
        save_npy(os.path.join(out, f"npz_conv_bn_{leaf}.npy"), v[f"{fe}Conv/BatchNorm/{leaf}"])
    save_npy(os.path.join(out, "npz_dw_weights.npy"), v[fe + "expanded_conv_13/depthwise/depthwise_weights"])
    save_npy(os.path.join(out, "npz_class5_biases.npy"), v["BoxPredictor_5/ClassPredictor/biases"])


def ssdlite_fixtures(out: str) -> None:
    os.makedirs(out, exist_ok=True)
    head_case(out, "head_small", 37, 6, 3, seed=1)
    head_case(out, "head_limits", 53, 4, 2, seed=2, max_detections_per_class=3, max_total_detections=7, iou_threshold=0.3)
    head_case(out, "head_real", 1917, 91, 2, seed=3)
    model = os.path.join(out, "ssdlite_mobilenet_v2.onnx")
    exporter("--out", model, "--seed", "0")
    x = photo_input(2)
    save_npy(os.path.join(out, "photo_input.npy"), x)
    for b in (1, 2):
        y = run_onnxruntime(model, {"image_tensor": x[:b]})["DetectionOutput"]
        save_npy(os.path.join(out, f"photo_expected_b{b}.npy"), y)
        print(f"onnxruntime batch {b}: detections per image {[int((y[i, 0, :, 0] >= 0).sum()) for i in range(b)]}")
    exporter("--out", os.path.join(out, "ssdlite_plain.onnx"), "--seed", "0", "--plain")
    plain = onnx.load(os.path.join(out, "ssdlite_plain.onnx"))
    assert not plain.functions and all(n.domain in ("", "ai.onnx") for n in plain.graph.node)
    y = run_onnxruntime(os.path.join(out, "ssdlite_plain.onnx"), {"image_tensor": x[:1]})["DetectionOutput"]
    assert np.array_equal(y, np.load(os.path.join(out, "photo_expected_b1.npy"))), "plain export differs from the function form"
    npz = os.path.join(out, "synthetic.npz")
    exporter("--make-synthetic-npz", npz, "--seed", "7")
    exporter("--weights", npz, "--out", os.path.join(out, "ssdlite_npz.onnx"))
    check_npz_export(npz, os.path.join(out, "ssdlite_npz.onnx"), out)
    os.remove(npz)


if __name__ == "__main__":
    main()
