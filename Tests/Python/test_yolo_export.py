"""Models/yolo.py (YOLOv8n with seeded random weights, for speed benchmarks): the export passes the
ONNX checker, onnxruntime runs it at batch 1 and 2 with Ultralytics' output layout (output0
[N,84,A]: box centre x, y, width, height in pixels, then 80 sigmoid class scores), the DFL and
dist2bbox head equals a NumPy decoding of the raw head outputs, and the same seed gives the same
bytes. Exports at --size 160 (A = 20² + 10² + 5² = 525) to keep it fast."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
YOLO = os.path.join(ROOT, "Models", "yolo.py")
SIZE = 160
ANCHORS = (SIZE // 8) ** 2 + (SIZE // 16) ** 2 + (SIZE // 32) ** 2


def export(out: str, seed: int = 0, size: int = SIZE) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, YOLO, "--out", out, "--size", str(size), "--seed", str(seed)],
                          capture_output=True, text=True)


def session(model: onnx.ModelProto | str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    data = model if isinstance(model, str) else model.SerializeToString()
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


class YoloExport(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="gpuinfer-yolo-")
        cls.path = os.path.join(cls.tmp, "yolov8n.onnx")
        cls.run_result = export(cls.path)
        if cls.run_result.returncode != 0:
            raise RuntimeError(f"yolo.py failed: {cls.run_result.stderr}")
        cls.x = np.random.default_rng(0).random((2, 3, SIZE, SIZE), dtype=np.float32)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_checker_interface_and_metadata(self):
        onnx.checker.check_model(self.path)
        m = onnx.load(self.path)
        self.assertEqual([(o.domain, o.version) for o in m.opset_import], [("", 17)])
        (inp,), (out,) = m.graph.input, m.graph.output
        self.assertEqual(inp.name, "images")
        dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
        self.assertEqual(dims, ["N", 3, SIZE, SIZE])
        self.assertEqual(out.name, "output0")
        props = {p.key: p.value for p in m.metadata_props}
        self.assertEqual(props["gpuinfer.model"], "yolov8n")
        self.assertEqual((props["gpuinfer.input_width"], props["gpuinfer.input_height"]), (str(SIZE), str(SIZE)))
        self.assertEqual(props["gpuinfer.weights"], "random-seed-0")
        self.assertAlmostEqual(float(props["gpuinfer.scale"]), 1 / 255)
        self.assertIn("random", self.run_result.stderr)  # the random-weights warning
        ops = {n.op_type for n in m.graph.node}
        self.assertLessEqual({"Conv", "Sigmoid", "Mul", "Split", "Concat", "MaxPool", "Resize", "Softmax"}, ops)
        self.assertEqual(sum(n.op_type == "Conv" for n in m.graph.node), 64)

    def test_output_at_batch_1_and_2(self):
        s = session(self.path)
        (y1,) = s.run(["output0"], {"images": self.x[:1]})
        self.assertEqual(y1.shape, (1, 84, ANCHORS))
        self.assertTrue(np.all(np.isfinite(y1)))
        scores = y1[:, 4:]
        self.assertTrue(np.all((scores > 0) & (scores < 1)))
        self.assertGreater(float(scores.max() / scores.min()), 10)  # spread, not one constant
        self.assertTrue(np.all(y1[:, 2:4] > 0))  # widths, heights
        centres = y1[:, :2]
        self.assertTrue(np.all((centres > -SIZE) & (centres < 2 * SIZE)))
        (y2,) = s.run(["output0"], {"images": self.x})
        self.assertEqual(y2.shape, (2, 84, ANCHORS))
        np.testing.assert_allclose(y2[:1], y1, rtol=1e-5, atol=1e-4)
        self.assertGreater(float(np.abs(y2[1] - y2[0]).max()), 1e-3)  # the two images differ

    def test_head_equals_numpy_decoding(self):
        """output0 from the raw head outputs [N,144,A] (64 DFL logits, 80 class logits) decoded as
        Ultralytics does: softmax over 16 bins, expected bin = l,t,r,b; anchors at grid cell
        centres, row-major per level; xywh times the stride."""
        m = onnx.load(self.path)
        m.graph.output.append(helper.make_tensor_value_info("model.22.cat", onnx.TensorProto.FLOAT, None))
        raw, y = session(m).run(["model.22.cat", "output0"], {"images": self.x})
        self.assertEqual(raw.shape, (2, 144, ANCHORS))
        bins = raw[:, :64].reshape(2, 4, 16, ANCHORS).astype(np.float64)
        p = np.exp(bins - bins.max(axis=2, keepdims=True))
        dist = (p / p.sum(axis=2, keepdims=True) * np.arange(16)[None, None, :, None]).sum(axis=2)
        anchors, strides = [], []
        for stride in (8, 16, 32):
            n = SIZE // stride
            for i in range(n):
                for j in range(n):
                    anchors.append((j + 0.5, i + 0.5))
                    strides.append(stride)
        a, st = np.array(anchors).T[None], np.array(strides)[None, None]
        x1y1, x2y2 = a - dist[:, :2], a + dist[:, 2:]
        expected = np.concatenate([(x1y1 + x2y2) / 2 * st, (x2y2 - x1y1) * st, 1 / (1 + np.exp(-raw[:, 64:].astype(np.float64)))], axis=1)
        np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-3)

    def test_deterministic_per_seed(self):
        again, other = os.path.join(self.tmp, "again.onnx"), os.path.join(self.tmp, "seed1.onnx")
        self.assertEqual(export(again).returncode, 0)
        self.assertEqual(export(other, seed=1).returncode, 0)
        with open(self.path, "rb") as f, open(again, "rb") as g, open(other, "rb") as h:
            a, b, c = f.read(), g.read(), h.read()
        self.assertEqual(a, b)
        self.assertNotEqual(a, c)

    def test_size_must_be_a_multiple_of_32(self):
        r = export(os.path.join(self.tmp, "bad.onnx"), size=100)
        self.assertEqual(r.returncode, 2)
        self.assertIn("multiple of 32", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "bad.onnx")))


if __name__ == "__main__":
    unittest.main()
