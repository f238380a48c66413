#!/usr/bin/env python3
"""Writes Tests/data/tensorflow/ with TensorFlow itself — run once, the output is committed (tiny),
so CI needs no TensorFlow: the fixtures of the TensorFlow readers in Models/tensorflow/.

  tiny.index, tiny.data-00000-of-00001   a checkpoint bundle written by tf.train.Checkpoint's
                                          low-level saver (tf.raw_ops.SaveV2) with 203 tensors:
                                          float32/float64/int32/int64/uint8/bool/half, scalars,
                                          empty and multi-dimensional shapes, names that share
                                          long prefixes (several index blocks, prefix compression)
  tiny_frozen.pb                          a frozen GraphDef (Conv2D + BiasAdd + Relu6 + MatMul on a
                                          placeholder, variables folded to Const nodes by
                                          convert_variables_to_constants_v2)
  expected.npz                            every tensor of both, by name, as TensorFlow reads them
                                          back (the checkpoint via tf.train.load_checkpoint, the
                                          graph's constants via tf.make_ndarray), plus the frozen
                                          graph's output for `input` = the npz entry `graph_input`

Run with a Python that has TensorFlow (e.g. `pip install tensorflow-cpu` in a scratch venv):
  python Tests/Models/write_tensorflow_fixtures.py [--out Tests/data/tensorflow]
Written with TensorFlow 2.21.0.
"""
import argparse
import os

import numpy as np
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "tensorflow"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(2026)
    tensors = {
        "vgg16_netvlad_pca/conv1_1/kernel": rng.standard_normal((3, 3, 3, 4)).astype(np.float32),
        "vgg16_netvlad_pca/conv1_1/bias": rng.standard_normal(4).astype(np.float32),
        "vgg16_netvlad_pca/average_rgb": np.array([123.68, 116.78, 103.94], np.float32),
        "scalar_float": np.array(2.5, np.float32),
        "scalar_int64": np.array(-7, np.int64),
        "empty": np.zeros((0, 3), np.float32),
        "double": rng.standard_normal((2, 5)),
        "int32": rng.integers(-1000, 1000, (7,), dtype=np.int32),
        "uint8": rng.integers(0, 255, (4, 4), dtype=np.uint8),
        "bool": rng.integers(0, 2, (6,)).astype(bool),
        "half": rng.standard_normal((3, 2)).astype(np.float16),
        "big/matrix": rng.standard_normal((64, 130)).astype(np.float32),
    }
    for i in range(191):
        tensors[f"FeatureExtractor/MobilenetV2/expanded_conv_{i}/depthwise/BatchNorm/moving_variance"] = rng.uniform(0.5, 2, (i % 7 + 1,)).astype(np.float32)
    names = sorted(tensors)
    prefix = os.path.join(a.out, "tiny")
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[tf.constant(tensors[n]) for n in names])
    reader = tf.train.load_checkpoint(prefix)
    expected = {"ckpt/" + n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()}
    assert set(expected) == {"ckpt/" + n for n in names}

    # A frozen graph.
    w = tf.Variable(rng.standard_normal((3, 3, 2, 5)).astype(np.float32), name="conv/weights")
    b = tf.Variable(rng.standard_normal(5).astype(np.float32), name="conv/biases")
    fc = tf.Variable(rng.standard_normal((5, 3)).astype(np.float32), name="fc/weights")

    @tf.function(input_signature=[tf.TensorSpec([1, 6, 6, 2], tf.float32, name="input")])
    def model(x):
        y = tf.nn.relu6(tf.nn.bias_add(tf.nn.conv2d(x, w, strides=1, padding="SAME"), b))
        return tf.identity(tf.matmul(tf.reduce_mean(y, axis=[1, 2]), fc), name="output")

    frozen = convert_variables_to_constants_v2(model.get_concrete_function())
    graph_def = frozen.graph.as_graph_def()
    with open(os.path.join(a.out, "tiny_frozen.pb"), "wb") as f:
        f.write(graph_def.SerializeToString())
    for node in graph_def.node:
        if node.op == "Const":
            expected["graph/" + node.name] = tf.make_ndarray(node.attr["value"].tensor)
    x = rng.standard_normal((1, 6, 6, 2)).astype(np.float32)
    expected["graph_input"] = x
    expected["graph_output"] = frozen(tf.constant(x))[0].numpy()
    np.savez(os.path.join(a.out, "expected.npz"), **expected)
    print(f"wrote {a.out}: {len(names)} checkpoint tensors, {len(graph_def.node)} graph nodes (TensorFlow {tf.__version__})")


if __name__ == "__main__":
    main()
