"""Benchmarks/nodes.py's matching of onnxruntime's profiled nodes to gpuinfer's: onnxruntime renames
the nodes it rewrites (`conv_62` → `conv_62_relu6_nchwc`) or names a fused Conv+Clip after the
Clip (`clip_4_nchwc`, SSDLite's export), and adds layout nodes (ReorderOutput) gpuinfer has no
counterpart for. Every case below comes from a real profile of the zoo models."""
from __future__ import annotations

import os
import sys
import tempfile
import unittest

import onnx
from onnx import TensorProto, helper

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "Benchmarks"))
import nodes  # noqa: E402


class MatchingTests(unittest.TestCase):
    def setUp(self):
        # x → conv_3 → clip_4 → conv_5 → clip_6 → conv_62 → y; gpuinfer folds the Clips.
        chain = [("conv_3", "Conv"), ("clip_4", "Clip"), ("conv_5", "Conv"), ("clip_6", "Clip"), ("conv_62", "Conv")]
        graph_nodes, prev = [], "x"
        for name, op in chain:
            graph_nodes.append(helper.make_node(op, [prev], [name], name=name))
            prev = name
        graph = helper.make_graph(graph_nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
                                  [helper.make_tensor_value_info(prev, TensorProto.FLOAT, None)])
        self.tmp = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.tmp.name, "g.onnx")
        onnx.save(helper.make_model(graph), self.path)
        self.ours = {"conv_3": 1.0, "conv_5": 1.0, "conv_62": 1.0, "conv_6": 1.0}

    def tearDown(self):
        self.tmp.cleanup()

    def test_producers_follow_first_inputs(self):
        p = nodes.onnx_producers(self.path)
        self.assertEqual(p["conv_3"], None)
        self.assertEqual(p["clip_4"], "conv_3")
        self.assertEqual(p["conv_62"], "clip_6")

    def test_renamed_and_fused_nodes(self):
        p = nodes.onnx_producers(self.path)
        # A suffix onnxruntime adds; the longest prefix wins (conv_62, not conv_6).
        self.assertEqual(nodes.owner("conv_62_relu6_nchwc", self.ours, p), "conv_62")
        self.assertEqual(nodes.owner("conv_62", self.ours, p), "conv_62")
        # Named after the Clip gpuinfer folded into the Conv before it.
        self.assertEqual(nodes.owner("clip_4_nchwc", self.ours, p), "conv_3")
        self.assertEqual(nodes.owner("clip_6_nchwc", self.ours, p), "conv_5")
        # Layout conversions and unknown names have no owner; a prefix must end at '_'.
        self.assertIsNone(nodes.owner("ReorderOutput", self.ours, p))
        self.assertIsNone(nodes.owner("conv_622", {"conv_62": 1.0}, p))


if __name__ == "__main__":
    unittest.main()
