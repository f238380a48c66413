#!/usr/bin/env python3
"""Exports NetVLAD (netvlad_tf_open `vd16_pitts30k_conv5_3_vlad_preL2_intra_white`, the Open Model
Zoo `netvlad-tf`) as ONNX, following ../shared/MODELS.md §1.

Graph (opset 17), input `image` float32 [N,3,200,300] (RGB, 0..255, dynamic batch N), output
`descriptor` float32 [N,4096] (L2-normalized):
  Sub average_rgb ([1,3,1,1] constant: the mean subtraction is inside the graph)
  VGG16 conv1_1 .. conv5_3: 3x3, stride 1, pad 1 (TF 'same'), bias; ReLU after every conv except
    conv1_2, conv2_2, conv3_3, conv4_3 (whose ReLU follows their 2x2/2 VALID MaxPool, as in
    nets.py: max-pool then ReLU equals ReLU then max-pool because both are monotone, and ReLU on
    the pooled map touches 4x fewer values) and conv5_3 (no ReLU, no pool5): [N,512,12,18]
  NetVLAD head: ONE node `ai.gpuinfer::NetVLAD` calling the model-local function below, so
    onnxruntime runs its body while gpuinfer runs its fused kernel.

Function ai.gpuinfer::NetVLAD(features [N,D,H,W], assignment [K,D,1,1], centroids [D,K],
wpca_weight [O,D*K], wpca_bias [O]) -> descriptor [N,O], attributes pre_eps, intra_eps,
global_eps, out_eps (all 1e-12), body in standard ops:
  1. preL2 over channels, TF l2_normalize form:  x / sqrt(max(sum_d x^2, pre_eps))
  2. soft-assignment: Conv 1x1 without bias, Softmax over the K clusters (axis 1)
  3. aggregation V[d,k] = sum_i a_ik x_id + C[d,k] sum_i a_ik  (MatMul + ReduceSum); `centroids`
     are the stored NEGATED centroids, so this is sum_i a_ik (x_i - c_k)
  4. intra-normalization over D, MatConvNet form: v / sqrt(sum_d v^2 + intra_eps)
  5. flatten D-major, K fastest (index d*K + k), global L2: v / sqrt(sum v^2 + global_eps)
  6. WPCA: Gemm(v, wpca_weight, wpca_bias, transB=1), i.e. y_o = sum_j W[o,j] v_j + b_o
  7. final L2, TF form: y / sqrt(max(sum y^2, out_eps))
`--plain` writes the same model with the function inlined (standard ops only, no custom domain).

Weights (`--weights FILE.npz`): the checkpoint's TensorFlow variables, one npz entry each, named as
in the checkpoint (a trailing ':0' is accepted). Name -> ONNX initializer, with the layout change:
  vgg16_netvlad_pca/average_rgb          [3] (RGB)           -> average_rgb [1,3,1,1]
  vgg16_netvlad_pca/convX_Y/kernel       [3,3,Cin,Cout] HWIO -> convX_Y.weight [Cout,Cin,3,3] (OIHW,
                                                                transpose(3,2,0,1))
  vgg16_netvlad_pca/convX_Y/bias         [Cout]              -> convX_Y.bias
  vgg16_netvlad_pca/assignment/kernel    [1,1,512,64]        -> netvlad.assignment [64,512,1,1]
  vgg16_netvlad_pca/cluster_centers      [1,1,1,512,64]      -> netvlad.centroids [512,64] (kept
                                                                negated, as stored)
  vgg16_netvlad_pca/WPCA/kernel          [1,1,32768,4096]    -> wpca.weight [4096,32768] (transposed:
                                                                row o is output o's contiguous dot product)
  vgg16_netvlad_pca/WPCA/bias            [4096]              -> wpca.bias
(convX_Y for conv1_1, 1_2, 2_1, 2_2, 3_1..3_3, 4_1..4_3, 5_1..5_3.) To make the npz from the
checkpoint (TensorFlow needed, not in this venv):
  r = tf.train.load_checkpoint("checkpoints/vd16_pitts30k_conv5_3_vlad_preL2_intra_white/...")
  np.savez("netvlad_tf.npz", **{k: r.get_tensor(k) for k in r.get_variable_to_shape_map()
                                if k.startswith("vgg16_netvlad_pca/")})
Without --weights: seeded random weights in the same TF layouts, sent through the same mapping
(He-normal convs, average_rgb 123.68,116.78,103.94, unit-norm centroids with assignment = 60 x
centroid, WPCA N(0,1) with bias N(0,0.1)); a warning goes to stderr and `gpuinfer.weights` says
`random-seed-N`.

Usage:
  netvlad.py [--out Models/generated/netvlad.onnx] [--weights FILE.npz | --seed N] [--plain]
             [--reference-out DIR]
  netvlad.py --make-synthetic-npz FILE.npz [--seed N]
--reference-out DIR writes input.npy (seeded [2,3,200,300] in 0..255), descriptor_b1.npy
(onnxruntime on image 0) and descriptor_b2.npy (both images).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import onnx
from onnx import TensorProto, helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_export import FunctionBody, check_arrays, model_calling_function  # noqa: E402
from reference_outputs import run_onnxruntime, save_npy  # noqa: E402

OPSET = 17
DOMAIN = "ai.gpuinfer"
PREFIX = "vgg16_netvlad_pca/"
INPUT_H, INPUT_W = 200, 300
NUM_CLUSTERS, DIM, WPCA_DIM = 64, 512, 4096
EPS = 1e-12
# (name, input channels, output channels, followed by a 2x2 max-pool); ReLU everywhere but conv5_3.
CONVS = [
    ("conv1_1", 3, 64, False), ("conv1_2", 64, 64, True),
    ("conv2_1", 64, 128, False), ("conv2_2", 128, 128, True),
    ("conv3_1", 128, 256, False), ("conv3_2", 256, 256, False), ("conv3_3", 256, 256, True),
    ("conv4_1", 256, 512, False), ("conv4_2", 512, 512, False), ("conv4_3", 512, 512, True),
    ("conv5_1", 512, 512, False), ("conv5_2", 512, 512, False), ("conv5_3", 512, 512, False),
]


def tf_shapes() -> dict[str, tuple[int, ...]]:
    """Checkpoint variable name -> shape (TensorFlow layouts)."""
    shapes = {PREFIX + "average_rgb": (3,)}
    for name, cin, cout, _ in CONVS:
        shapes[f"{PREFIX}{name}/kernel"] = (3, 3, cin, cout)
        shapes[f"{PREFIX}{name}/bias"] = (cout,)
    shapes[PREFIX + "assignment/kernel"] = (1, 1, DIM, NUM_CLUSTERS)
    shapes[PREFIX + "cluster_centers"] = (1, 1, 1, DIM, NUM_CLUSTERS)
    shapes[PREFIX + "WPCA/kernel"] = (1, 1, DIM * NUM_CLUSTERS, WPCA_DIM)
    shapes[PREFIX + "WPCA/bias"] = (WPCA_DIM,)
    return shapes


def random_tf_variables(seed: int) -> dict[str, np.ndarray]:
    """Seeded weights in checkpoint layouts, scaled so activations stay finite and meaningful."""
    rng = np.random.default_rng(seed)
    v: dict[str, np.ndarray] = {PREFIX + "average_rgb": np.array([123.68, 116.78, 103.94], np.float32)}
    for name, cin, cout, _ in CONVS:
        v[f"{PREFIX}{name}/kernel"] = rng.standard_normal((3, 3, cin, cout), np.float32) * np.float32(np.sqrt(2.0 / (9 * cin)))
        v[f"{PREFIX}{name}/bias"] = rng.standard_normal(cout, np.float32) * np.float32(0.5)
    v[PREFIX + "assignment/kernel"], v[PREFIX + "cluster_centers"] = random_vlad(rng, DIM, NUM_CLUSTERS)
    v[PREFIX + "WPCA/kernel"] = rng.standard_normal((1, 1, DIM * NUM_CLUSTERS, WPCA_DIM), np.float32)
    v[PREFIX + "WPCA/bias"] = rng.standard_normal(WPCA_DIM, np.float32) * np.float32(0.1)
    return v


def random_vlad(rng: np.random.Generator, d: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """layerVLAD-style init: unit centroids c (D x K), assignment kernel 60*c, stored centers -c."""
    c = rng.standard_normal((d, k)).astype(np.float32)
    c /= np.linalg.norm(c, axis=0, keepdims=True)
    return (np.float32(60) * c).reshape(1, 1, d, k), (-c).reshape(1, 1, 1, d, k)


def load_weights(path: str) -> dict[str, np.ndarray]:
    """Checkpoint variables from an npz — or straight from the TensorFlow checkpoint bundle when
    `path` is its prefix or `.index` file (Models/tensorflow/checkpoint.py, no TensorFlow needed;
    the netvlad_tf_open variables, other variables such as optimizer slots ignored) — checked
    against the expected names and shapes."""
    if path.endswith(".index") or os.path.exists(path + ".index"):
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "tensorflow"))
        from checkpoint import CheckpointError, load
        try:
            tensors = load(path)
        except CheckpointError as e:
            sys.exit(f"error: netvlad.py: {e}")
        v = {k: np.asarray(t, np.float32) for k, t in tensors.items() if k.startswith(PREFIX)}
    else:
        with np.load(path) as z:
            v = {k[:-2] if k.endswith(":0") else k: np.asarray(z[k], np.float32) for k in z.files}
    expected = tf_shapes()
    check_arrays("netvlad.py", path, v, expected, "variable(s)")
    return v


def onnx_weights(v: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Checkpoint variables -> ONNX initializers (the mapping in the module docstring)."""
    w = {"average_rgb": v[PREFIX + "average_rgb"].reshape(1, 3, 1, 1)}
    for name, *_ in CONVS:
        w[f"{name}.weight"] = v[f"{PREFIX}{name}/kernel"].transpose(3, 2, 0, 1)
        w[f"{name}.bias"] = v[f"{PREFIX}{name}/bias"]
    w["netvlad.assignment"] = v[PREFIX + "assignment/kernel"].transpose(3, 2, 0, 1)
    w["netvlad.centroids"] = v[PREFIX + "cluster_centers"].reshape(DIM, NUM_CLUSTERS)
    w["wpca.weight"] = v[PREFIX + "WPCA/kernel"].reshape(DIM * NUM_CLUSTERS, WPCA_DIM).T
    w["wpca.bias"] = v[PREFIX + "WPCA/bias"]
    return w


def tensor(name: str, a: np.ndarray) -> TensorProto:
    """A float32 initializer written as one raw_data blob (fast for the 537 MB WPCA weight)."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=a.shape)
    t.raw_data = a.tobytes()
    return t


def netvlad_function() -> onnx.FunctionProto:
    """ai.gpuinfer::NetVLAD in standard ops (see the module docstring for the recipe)."""
    body = FunctionBody()
    op, ints, eps = body.op, body.ints, body.attr_float

    def sum_squares(x: str, axis: str) -> str:
        return op("ReduceSum", [op("Mul", [x, x], x + "_sq"), axis], x + "_ss", keepdims=1)

    def l2(x: str, axis: str, attr: str, max_form: bool, out: str) -> str:
        ss = sum_squares(x, axis)
        guarded = op("Max" if max_form else "Add", [ss, eps(attr)], x + "_ssg")
        return op("Div", [x, op("Sqrt", [guarded], x + "_norm")], out)

    ax1 = ints("axis1", [1])
    xn = l2("features", ax1, "pre_eps", True, "xn")                                  # [N,D,H,W]
    a = op("Softmax", [op("Conv", ["xn", "assignment"], "logits")], "a", axis=1)    # [N,K,H,W]
    flat3 = ints("flat3", [0, 0, -1])
    x_f = op("Reshape", [xn, flat3], "x_f")                                          # [N,D,P]
    a_t = op("Transpose", [op("Reshape", [a, flat3], "a_f")], "a_t", perm=[0, 2, 1])  # [N,P,K]
    xa = op("MatMul", [x_f, a_t], "xa")                                              # [N,D,K]
    a_sum = op("ReduceSum", [a_t, ax1], "a_sum", keepdims=1)                        # [N,1,K]
    v = op("Add", [xa, op("Mul", ["centroids", a_sum], "ca")], "v")                  # [N,D,K]
    v_intra = l2(v, ax1, "intra_eps", False, "v_intra")
    v_flat = op("Reshape", [v_intra, ints("flat2", [0, -1])], "v_flat")             # [N,D*K], d*K+k
    v_global = l2(v_flat, ax1, "global_eps", False, "v_global")
    y = op("Gemm", [v_global, "wpca_weight", "wpca_bias"], "y", transB=1)          # [N,O]
    l2(y, ax1, "out_eps", True, "descriptor")
    return helper.make_function(DOMAIN, "NetVLAD", ["features", "assignment", "centroids", "wpca_weight", "wpca_bias"],
                                ["descriptor"], body.nodes, [helper.make_opsetid("", OPSET)],
                                attributes=["pre_eps", "intra_eps", "global_eps", "out_eps"])


def netvlad_node(features: str, prefix: str, output: str) -> onnx.NodeProto:
    """The call of the NetVLAD function with the recipe's eps values."""
    return helper.make_node("NetVLAD", [features, f"{prefix}assignment", f"{prefix}centroids", "wpca.weight", "wpca.bias"],
                            [output], name="netvlad", domain=DOMAIN,
                            pre_eps=EPS, intra_eps=EPS, global_eps=EPS, out_eps=EPS)


def make_model(graph: onnx.GraphProto, metadata: dict[str, str], plain: bool) -> onnx.ModelProto:
    """Wraps a graph that calls NetVLAD; `plain` inlines the function (standard ops only)."""
    return model_calling_function(graph, metadata, netvlad_function(), "gpuinfer Models/netvlad.py", OPSET, plain)


def build_netvlad(w: dict[str, np.ndarray], weights_label: str, plain: bool = False) -> onnx.ModelProto:
    """The full model: mean subtraction, VGG16 to conv5_3, the NetVLAD call."""
    nodes = [helper.make_node("Sub", ["image", "average_rgb"], ["x0"], name="sub_mean")]
    x = "x0"
    for name, _, _, pool in CONVS:
        nodes.append(helper.make_node("Conv", [x, f"{name}.weight", f"{name}.bias"], [name], name=name,
                                      kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
        x = name
        if pool:
            nodes.append(helper.make_node("MaxPool", [x], [f"pool_{name}"], name=f"pool_{name}", kernel_shape=[2, 2], strides=[2, 2]))
            x = f"pool_{name}"
        if name != "conv5_3":
            nodes.append(helper.make_node("Relu", [x], [f"relu_{x}"], name=f"relu_{x}"))
            x = f"relu_{x}"
    nodes.append(netvlad_node(x, "netvlad.", "descriptor"))
    graph = helper.make_graph(
        nodes, "netvlad",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, INPUT_H, INPUT_W])],
        [helper.make_tensor_value_info("descriptor", TensorProto.FLOAT, ["N", WPCA_DIM])],
        [tensor(k, a) for k, a in w.items()])
    metadata = {
        "gpuinfer.model": "netvlad", "gpuinfer.input_width": str(INPUT_W), "gpuinfer.input_height": str(INPUT_H),
        "gpuinfer.resize": "bilinear", "gpuinfer.channel_order": "RGB", "gpuinfer.scale": "1", "gpuinfer.mean": "0,0,0", "gpuinfer.std": "1",
        "gpuinfer.weights": weights_label,
    }
    return make_model(graph, metadata, plain)


def build_head(d: int, k: int, h: int, w: int, o: int, seed: int, plain: bool = False) -> onnx.ModelProto:
    """A head-only model (input `features` [N,D,H,W] -> `descriptor` [N,O]) with seeded weights,
    for testing the fused kernel against the function body at any size."""
    rng = np.random.default_rng(seed)
    assign, centers = random_vlad(rng, d, k)
    inits = {
        "assignment": assign.transpose(3, 2, 0, 1), "centroids": centers.reshape(d, k),
        "wpca.weight": rng.standard_normal((o, d * k), np.float32), "wpca.bias": rng.standard_normal(o, np.float32) * np.float32(0.1),
    }
    graph = helper.make_graph(
        [netvlad_node("features", "", "descriptor")], "netvlad_head",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", d, h, w])],
        [helper.make_tensor_value_info("descriptor", TensorProto.FLOAT, ["N", o])],
        [tensor(n, a) for n, a in inits.items()])
    return make_model(graph, {"gpuinfer.model": "netvlad_head", "gpuinfer.weights": f"random-seed-{seed}"}, plain)


def reference_outputs(model_path: str, out_dir: str, seed: int) -> None:
    """Seeded input [2,3,200,300] and onnxruntime's descriptors for batch 1 and 2."""
    os.makedirs(out_dir, exist_ok=True)
    x = np.random.default_rng(seed + 1000).uniform(0, 255, (2, 3, INPUT_H, INPUT_W)).astype(np.float32)
    save_npy(os.path.join(out_dir, "input.npy"), x)
    for b in (1, 2):
        y = run_onnxruntime(model_path, {"image": x[:b]})["descriptor"]
        save_npy(os.path.join(out_dir, f"descriptor_b{b}.npy"), y)
        print(f"onnxruntime batch {b}: descriptor {list(y.shape)}, norms {np.linalg.norm(y, axis=1)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--out", default=os.path.join(root, "generated", "netvlad.onnx"))
    parser.add_argument("--weights", help="the netvlad_tf_open checkpoint: its bundle prefix (or .index file), or an npz of its variables")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights (without --weights)")
    parser.add_argument("--plain", action="store_true", help="inline the NetVLAD function (standard ops only)")
    parser.add_argument("--reference-out", metavar="DIR", help="write a seeded input and onnxruntime's outputs here")
    parser.add_argument("--make-synthetic-npz", metavar="FILE", help="write random variables with the checkpoint's names and shapes, then exit")
    args = parser.parse_args()

    start = time.time()
    if args.make_synthetic_npz:
        np.savez(args.make_synthetic_npz, **random_tf_variables(args.seed))
        print(f"wrote {args.make_synthetic_npz} ({len(tf_shapes())} variables, {time.time() - start:.1f} s)")
        return
    if args.weights:
        variables, label = load_weights(args.weights), os.path.basename(args.weights.removesuffix(".index"))
    else:
        print(f"warning: netvlad.py: no --weights given: writing seeded random weights (seed {args.seed}); "
              "the descriptors are not meaningful for place recognition", file=sys.stderr)
        variables, label = random_tf_variables(args.seed), f"random-seed-{args.seed}"
    model = build_netvlad(onnx_weights(variables), label, plain=args.plain)
    del variables
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    onnx.save(model, args.out)
    onnx.checker.check_model(args.out)
    print(f"wrote {args.out} ({os.path.getsize(args.out) / 1e6:.0f} MB, weights {label}{', plain ops' if args.plain else ''}) "
          f"in {time.time() - start:.1f} s")
    if args.reference_out:
        del model
        reference_outputs(args.out, args.reference_out, args.seed)


if __name__ == "__main__":
    main()
