#!/usr/bin/env python3
"""Exports the visual-place-recognition models of the deep-visual-geo-localization-benchmark
(gmberton/deep-visual-geo-localization-benchmark, Berton et al., CVPR 2022) as ONNX, built the way
its `model/network.py` and `model/aggregation.py` build them:

  resnet18_gem      torchvision ResNet-18 cut after layer3 ("resnet18conv4": conv1, bn1, relu,
                    maxpool, layer1..3; layer4, avgpool, fc dropped: 256 channels, stride 16)
                    -> L2Norm over channels -> GeM (p = 3 learnable, eps 1e-6) -> Flatten  [N,256]
  resnet18_netvlad  the same backbone -> NetVLAD (64 clusters, dim 256)              [N,16384]
  vgg16_gem         torchvision VGG-16 `features` without its last ReLU and MaxPool (conv5_3 is
                    the output, no ReLU: 512 channels, stride 16) -> L2Norm -> GeM -> Flatten
                                                                                     [N,512]

Graph (opset 17), input `image` float32 [N,3,H,W] (N, H, W dynamic; RGB, (x/255 - mean)/std with
the ImageNet mean/std; nominal size 480x640, the benchmark's --resize default), output
`descriptor`:
  ResNet-18: Conv 7x7/2 pad 3 (no bias) -> BatchNormalization -> Relu -> MaxPool 3x3/2 pad 1 ->
    BasicBlocks 2/2/2 (3x3 convs, no bias, BN; stride 2 and a 1x1/2 conv + BN shortcut in the
    first block of layer2 and layer3) -> [N,256,H/16,W/16]. BatchNormalization nodes (eps 1e-5)
    stay in the file (gpuinfer folds them into the convolutions).
  VGG-16: 13 Conv 3x3 pad 1 + bias, Relu after the first 12, MaxPool 2x2/2 after conv1_2, 2_2, 3_3,
    4_3 -> [N,512,H/16,W/16] (conv5_3 without ReLU: the benchmark's `features.children()[:-2]`).
  GeM head (`--l2 before_pool`, the benchmark's default): L2Norm = F.normalize(x, dim=1) as
    ReduceL2(axes=[1], keepdims) -> Max(., 1e-12) -> Div; then GeM as torch.onnx.export writes
    `F.avg_pool2d(x.clamp(min=eps).pow(p), (H, W)).pow(1./p)`:
      Clip(x, min=1e-6) -> Pow(., p) -> GlobalAveragePool -> Pow(., Div(1, p)) -> Flatten
    with p the initializer `aggregation.1.p` [1] and the exponent 1/p computed in the graph.
    `--gem-pattern reducemean` writes Max(x, 1e-6) and ReduceMean(axes=[2,3], keepdims=1)
    instead (the other exporters' style). The benchmark's GeM output is NOT L2-normalized with
    --l2 before_pool (network.py builds Sequential(L2Norm(), GeM, Flatten()) and adds a final
    L2Norm only with --fc_output_dim); `--l2 after_pool` gives Sequential(GeM, L2Norm, Flatten),
    `--l2 none` Sequential(GeM, Flatten) (then p is `aggregation.0.p`).
  NetVLAD head: one node `ai.gpuinfer::NetVLADTorch(features, assignment, centroids)` (attribute
    eps = 1e-12) calling the model-local function below. The benchmark's layer is NOT the
    netvlad_tf_open layer of Models/netvlad.py (ai.gpuinfer::NetVLAD): it has no WPCA and no final
    L2, its normalizations are F.normalize (x / max(||x||, eps)) rather than the TF / MatConvNet
    forms, and it flattens cluster-major (index k*D + d, not d*K + k). Body, in standard ops:
      1. xn = x / max(||x||_2 over channels, eps)                   (F.normalize(x, dim=1))
      2. a = Softmax(Conv1x1(xn, assignment), axis=1)               (conv without bias)
      3. V[k,d] = sum_i a_ik xn_id - C[k,d] sum_i a_ik              (sum_i a_ik (xn_i - c_k))
      4. V[k,:] /= max(||V[k,:]||, eps)                             (intra-normalization, dim=2)
      5. v = Reshape(V, [N, K*D]) (index k*D + d); v /= max(||v||, eps)   -> descriptor [N, K*D]
    `centroids` is the layer's `centroids` parameter as stored: [K, D], positive (residual x - c).
    gpuinfer inlines the body unless it has a fused kernel for ai.gpuinfer::NetVLADTorch.
    `--plain` writes the function inlined (standard ops only).

Weights (`--weights CHECKPOINT.pth`): the benchmark's checkpoints, read by
Models/torch_checkpoint.py (no torch, never unpickled): a training checkpoint
{"model_state_dict": ..., "epoch_num", "optimizer_state_dict", "best_r5", ...} (its
model_state_dict is taken, everything else ignored) or a plain state_dict; a leading `module.`
(DataParallel: train.py wraps the model before saving) is stripped, `num_batches_tracked` is
ignored. The ONNX initializers have the state_dict names and layouts (identity mapping):
  backbone.0.weight [64,3,7,7], backbone.1.{weight,bias,running_mean,running_var}   conv1, bn1
  backbone.{4,5,6}.{0,1}.conv{1,2}.weight, .bn{1,2}.*                  layer1..3 BasicBlocks
  backbone.{5,6}.0.downsample.0.weight, .downsample.1.*                layer2/3 shortcuts
  backbone.{0,2,5,7,10,12,14,17,19,21,24,26,28}.{weight,bias}          VGG-16 conv1_1..conv5_3
  aggregation.1.p [1]                    GeM p (aggregation.0.p with --l2 after_pool / none)
  aggregation.conv.weight [64,256,1,1], aggregation.centroids [64,256]       NetVLAD
Missing, misshapen, non-finite or left-over tensors are errors that name the tensor.

Without --weights: seeded random weights (ResNet: Kaiming-normal fan_out convs as torchvision's
init, BN gamma ~ U(0.5,1.5), beta ~ N(0,0.2); VGG: He-normal fan_in; p = 3), CALIBRATED on a
float32 NumPy forward of Models/samples/grace_hopper.jpg (240x320): each ResNet BN's running
mean/variance are set to its input's statistics there, and each VGG conv is rescaled with its bias
set so that every output channel has mean 0 and variance 1 there (a data-dependent init: VGG has
no BN). Descriptors of different photos then differ clearly (mean pairwise cosine over the nine
scikit-image photos at 240x320: resnet18_gem 0.96, resnet18_netvlad 0.76, vgg16_gem 0.95; the
two motorcycle viewpoints are each other's nearest neighbours in all three). NetVLAD is
initialized as the benchmark's `init_params` does after its k-means: centroids = 20 k-means
iterations over the photo's L2-normalized layer3 descriptors (seeded), assignment weight =
alpha * normalized centroids with alpha = -log(0.01) / mean(best - second best dot product).
`gpuinfer.weights` says `random-seed-N`; the descriptors mean nothing for place recognition.

Usage:
  vpr.py NAME [--out Models/generated/NAME.onnx] [--weights CHECKPOINT.pth | --seed 0]
         [--height 480 --width 640] [--l2 before_pool|after_pool|none]
         [--gem-pattern globalaveragepool|reducemean] [--plain] [--reference-out DIR]
--reference-out DIR writes input.npy ([2,3,H,W]: the sample photo and its mirror image, resized
to --height x --width) and descriptor.npy (onnxruntime). Deterministic: same bytes every run.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from graph_builder import GraphBuilder, np_conv  # noqa: E402
from onnx_export import FunctionBody, model_calling_function  # noqa: E402

OPSET = 17
DOMAIN = "ai.gpuinfer"
NAMES = {"resnet18_gem": ("resnet18", "gem"), "resnet18_netvlad": ("resnet18", "netvlad"), "vgg16_gem": ("vgg16", "gem")}
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
GEM_EPS = 1e-6
L2_EPS = 1e-12
GEM_P = 3.0
CLUSTERS = 64
PHOTO = os.path.join(HERE, "samples", "grace_hopper.jpg")
CALIBRATION_SIZE = (240, 320)
#: torchvision vgg16 `features` indices of the 13 convs (in, out) and of the 4 kept max-pools.
VGG_CONVS = [(0, 3, 64), (2, 64, 64), (5, 64, 128), (7, 128, 128), (10, 128, 256), (12, 256, 256), (14, 256, 256),
             (17, 256, 512), (19, 512, 512), (21, 512, 512), (24, 512, 512), (26, 512, 512), (28, 512, 512)]
VGG_POOLS = {4, 9, 16, 23}  # 30 (pool5) and 29 (relu5_3) are cut
#: ResNet-18 layers kept: (Sequential index, channels, stride of the first block).
RESNET_LAYERS = [(4, 64, 1), (5, 128, 2), (6, 256, 2)]


class WeightError(Exception):
    """A checkpoint that does not fit the network; the message names the tensor."""


def feature_dim(backbone: str) -> int:
    return 256 if backbone == "resnet18" else 512


def gem_index(l2: str) -> int:
    return 1 if l2 == "before_pool" else 0


def expected_shapes(name: str, l2: str = "before_pool") -> dict[str, tuple[int, ...]]:
    """State_dict name -> shape (after `module.` is stripped), in the order the graph uses them."""
    backbone, agg = NAMES[name]
    s: dict[str, tuple[int, ...]] = {}

    def bn(p: str, c: int) -> None:
        for k in ("weight", "bias", "running_mean", "running_var"):
            s[f"{p}.{k}"] = (c,)

    if backbone == "resnet18":
        s["backbone.0.weight"] = (64, 3, 7, 7)
        bn("backbone.1", 64)
        cin = 64
        for idx, c, stride in RESNET_LAYERS:
            for b in range(2):
                p = f"backbone.{idx}.{b}"
                s[f"{p}.conv1.weight"] = (c, cin if b == 0 else c, 3, 3)
                bn(f"{p}.bn1", c)
                s[f"{p}.conv2.weight"] = (c, c, 3, 3)
                bn(f"{p}.bn2", c)
                if b == 0 and (stride != 1 or cin != c):
                    s[f"{p}.downsample.0.weight"] = (c, cin, 1, 1)
                    bn(f"{p}.downsample.1", c)
            cin = c
    else:
        for idx, cin, cout in VGG_CONVS:
            s[f"backbone.{idx}.weight"] = (cout, cin, 3, 3)
            s[f"backbone.{idx}.bias"] = (cout,)
    d = feature_dim(backbone)
    if agg == "gem":
        s[f"aggregation.{gem_index(l2)}.p"] = (1,)
    else:
        s["aggregation.conv.weight"] = (CLUSTERS, d, 1, 1)
        s["aggregation.centroids"] = (CLUSTERS, d)
    return s


# ---------------------------------------------------------------------------------------------
# Weights

def random_weights(name: str, seed: int, l2: str = "before_pool") -> dict[str, np.ndarray]:
    """Seeded weights in state_dict names and layouts (before calibration / NetVLAD init); the GeM
    p's name follows `l2` (aggregation.1.p before_pool, aggregation.0.p otherwise)."""
    rng = np.random.default_rng(seed)
    w: dict[str, np.ndarray] = {}
    for k, shape in expected_shapes(name, l2).items():
        if k.endswith(".running_mean"):
            a = np.zeros(shape, np.float32)
        elif k.endswith(".running_var"):
            a = np.ones(shape, np.float32)
        elif k.endswith(".p"):
            a = np.full(shape, GEM_P, np.float32)
        elif k.startswith("aggregation."):
            a = np.zeros(shape, np.float32)  # NetVLAD: set by init_netvlad
        elif len(shape) == 4 and NAMES[name][0] == "vgg16":
            a = rng.standard_normal(shape, np.float32) * np.float32(np.sqrt(2.0 / (shape[1] * shape[2] * shape[3])))
        elif len(shape) == 4:
            a = rng.standard_normal(shape, np.float32) * np.float32(np.sqrt(2.0 / (shape[0] * shape[2] * shape[3])))
        elif NAMES[name][0] == "vgg16":
            a = rng.standard_normal(shape, np.float32) * np.float32(0.01)  # conv bias
        elif k.endswith(".weight"):
            a = rng.uniform(0.5, 1.5, shape).astype(np.float32)  # BN gamma
        else:
            a = rng.standard_normal(shape, np.float32) * np.float32(0.2)  # BN beta
        w[k] = a
    return w


def state_dict_from_checkpoint(raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The model's tensors of a checkpoint as Models/torch_checkpoint.py returns it (nested dicts as
    dotted names): `model_state_dict.` taken when present, `module.` stripped, counters dropped."""
    if any(k.startswith("model_state_dict.") for k in raw):
        raw = {k[len("model_state_dict."):]: t for k, t in raw.items() if k.startswith("model_state_dict.")}
    elif any(k.startswith("state_dict.") for k in raw):
        raw = {k[len("state_dict."):]: t for k, t in raw.items() if k.startswith("state_dict.")}
    out = {}
    for k, t in raw.items():
        k = k[len("module."):] if k.startswith("module.") else k
        if k.endswith("num_batches_tracked"):
            continue
        out[k] = t
    return out


def check_weights(name: str, l2: str, sd: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`sd` checked against the network: every expected tensor present with its shape and finite;
    nothing left over. Returns float32 arrays in graph order."""
    expected = expected_shapes(name, l2)
    w = {}
    for k, shape in expected.items():
        if k not in sd:
            hint = ""
            if k.endswith(".p") and any(x.endswith(".p") and x.startswith("aggregation.") for x in sd):
                hint = " (the checkpoint has " + ", ".join(x for x in sd if x.endswith(".p")) + ": try --l2 after_pool or none)"
            raise WeightError(f"tensor {k} is missing{hint}")
        t = np.asarray(sd[k])
        if tuple(t.shape) != shape:
            raise WeightError(f"tensor {k} has shape {list(t.shape)}, the network needs {list(shape)}")
        t = t.astype(np.float32)
        if not np.all(np.isfinite(t)):
            raise WeightError(f"tensor {k} holds NaN or infinite values")
        if k.endswith(".running_var") and np.any(t < 0):
            raise WeightError(f"tensor {k} has negative values")
        w[k] = t
    left = sorted(set(sd) - set(expected))
    if left:
        raise WeightError(f"{len(left)} tensor(s) of the checkpoint fit nowhere in {name}: {', '.join(left[:5])}"
                          + (" …" if len(left) > 5 else ""))
    return w


def load_weights(path: str, name: str, l2: str) -> dict[str, np.ndarray]:
    from torch_checkpoint import CheckpointError, load_state_dict
    try:
        raw = load_state_dict(path)
    except CheckpointError as e:
        sys.exit(f"error: vpr.py: {e}")
    try:
        return check_weights(name, l2, state_dict_from_checkpoint(raw))
    except WeightError as e:
        sys.exit(f"error: vpr.py: {path}: {e}")


# ---------------------------------------------------------------------------------------------
# NumPy forward (calibration of random weights only)

def preprocess_photo(path: str, height: int, width: int) -> np.ndarray:
    """[1,3,H,W]: RGB, bilinear resize (PIL), /255, ImageNet mean/std."""
    from PIL import Image
    img = Image.open(path).convert("RGB").resize((width, height), Image.BILINEAR)
    x = np.asarray(img, np.float32) / np.float32(255)
    x = (x - np.array(MEAN, np.float32)) / np.array(STD, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None], np.float32)


# ---------------------------------------------------------------------------------------------
# Graph

class Builder(GraphBuilder):
    """The backbones and heads; with `x` (a NumPy input) also runs the backbone in float32, setting
    each BN's statistics from its input when `calibrate` (and normalizing each biased conv's outputs:
    VGG has no BN)."""

    def __init__(self, w: dict[str, np.ndarray], x: np.ndarray | None = None, calibrate: bool = False) -> None:
        super().__init__(w, None if x is None else {"image": x}, calibrate)
        self.consts: dict[str, np.ndarray] = {}

    def const(self, name: str, a: np.ndarray) -> str:
        self.consts[name] = np.asarray(a, np.float32)
        return name

    def conv_values(self, x: str, name: str, stride: int, pad: int, bias: bool) -> np.ndarray:
        if not (self.calibrate and bias):
            return super().conv_values(x, name, stride, pad, bias)
        # data-dependent init of a conv without BN: unit variance, zero mean per channel
        wt = self.w[f"{name}.weight"]
        y = np_conv(self.values[x], wt, None, stride, pad)
        mean, std = y.mean(axis=(0, 2, 3)), np.maximum(y.std(axis=(0, 2, 3)), 1e-6)
        self.w[f"{name}.weight"] = (wt / std[:, None, None, None]).astype(np.float32)
        self.w[f"{name}.bias"] = (-mean / std).astype(np.float32)
        return y / std[None, :, None, None] + self.w[f"{name}.bias"][None, :, None, None]

    # -- backbones --------------------------------------------------------------------------
    def resnet18(self, x: str) -> str:
        x = self.maxpool(self.relu(self.bn(self.conv(x, "backbone.0", 2, 3), "backbone.1")), "backbone.3", 3, 2, 1)
        for idx, _, stride in RESNET_LAYERS:
            for b in range(2):
                p, s = f"backbone.{idx}.{b}", stride if b == 0 else 1
                y = self.relu(self.bn(self.conv(x, f"{p}.conv1", s, 1), f"{p}.bn1"))
                y = self.bn(self.conv(y, f"{p}.conv2", 1, 1), f"{p}.bn2")
                shortcut = self.bn(self.conv(x, f"{p}.downsample.0", s, 0), f"{p}.downsample.1") if f"{p}.downsample.0.weight" in self.w else x
                x = self.relu(self.add(y, shortcut, f"{p}.add"))
        return x

    def vgg16(self, x: str) -> str:
        for n, (idx, _, _) in enumerate(VGG_CONVS):
            x = self.conv(x, f"backbone.{idx}", 1, 1, bias=True)
            if n < len(VGG_CONVS) - 1:
                x = self.relu(x)
            if idx + 2 in VGG_POOLS:
                x = self.maxpool(x, f"backbone.{idx + 2}", 2, 2, 0)
        return x

    # -- heads ------------------------------------------------------------------------------
    def l2norm(self, x: str, name: str, axis: int = 1) -> str:
        """F.normalize(x, dim=axis): x / max(||x||_2, 1e-12)."""
        norm = self.node("ReduceL2", [x], f"{name}.norm", axes=[axis], keepdims=1)
        guarded = self.node("Max", [norm, self.const("l2_eps", np.array(L2_EPS, np.float32))], f"{name}.norm_eps")
        return self.node("Div", [x, guarded], name)

    def gem(self, x: str, p: str, pattern: str) -> str:
        eps = self.const("gem_eps", np.array(GEM_EPS, np.float32))
        if pattern == "reducemean":
            c = self.node("Max", [x, eps], "gem.clamp")
        else:
            c = self.node("Clip", [x, eps], "gem.clamp")
        powed = self.node("Pow", [c, p], "gem.pow")
        if pattern == "reducemean":
            mean = self.node("ReduceMean", [powed], "gem.mean", axes=[2, 3], keepdims=1)
        else:
            mean = self.node("GlobalAveragePool", [powed], "gem.mean")
        inv = self.node("Div", [self.const("one", np.ones(1, np.float32)), p], "gem.inv_p")
        return self.node("Pow", [mean, inv], "gem.root")


def netvlad_function() -> onnx.FunctionProto:
    """ai.gpuinfer::NetVLADTorch(features [N,D,H,W], assignment [K,D,1,1], centroids [K,D]) ->
    descriptor [N,K*D]; attribute eps (F.normalize's, 1e-12). See the module docstring."""
    body = FunctionBody()
    op, ints = body.op, body.ints
    eps = body.attr_float("eps")

    def normalize(x: str, axis: str, out: str) -> str:
        ss = op("ReduceSum", [op("Mul", [x, x], x + "_sq"), axis], x + "_ss", keepdims=1)
        norm = op("Max", [op("Sqrt", [ss], x + "_l2"), eps], x + "_norm")
        return op("Div", [x, norm], out)

    ax1, ax2 = ints("axis1", [1]), ints("axis2", [2])
    xn = normalize("features", ax1, "xn")                                              # [N,D,H,W]
    a = op("Softmax", [op("Conv", [xn, "assignment"], "logits")], "a", axis=1)         # [N,K,H,W]
    flat3 = ints("flat3", [0, 0, -1])
    x_t = op("Transpose", [op("Reshape", [xn, flat3], "x_f")], "x_t", perm=[0, 2, 1])  # [N,P,D]
    a_f = op("Reshape", [a, flat3], "a_f")                                             # [N,K,P]
    ax = op("MatMul", [a_f, x_t], "ax")                                                # [N,K,D]
    a_sum = op("ReduceSum", [a_f, ax2], "a_sum", keepdims=1)                           # [N,K,1]
    v = op("Sub", [ax, op("Mul", [a_sum, "centroids"], "ac")], "v")                    # [N,K,D]
    v_intra = normalize(v, ax2, "v_intra")
    v_flat = op("Reshape", [v_intra, ints("flat2", [0, -1])], "v_flat")               # [N,K*D], k*D+d
    normalize(v_flat, ax1, "descriptor")
    return helper.make_function(DOMAIN, "NetVLADTorch", ["features", "assignment", "centroids"], ["descriptor"], body.nodes,
                                [helper.make_opsetid("", OPSET)], attributes=["eps"])


def init_netvlad(w: dict[str, np.ndarray], features: np.ndarray, seed: int) -> None:
    """The benchmark's NetVLAD init (`initialize_netvlad_layer` + `init_params`) on the features of
    the calibration photo: k-means centroids of the L2-normalized descriptors, assignment weight
    alpha * normalized centroids."""
    d = features.shape[1]
    desc = features.reshape(d, -1).T.astype(np.float64)
    desc /= np.maximum(np.linalg.norm(desc, axis=1, keepdims=True), 1e-12)
    rng = np.random.default_rng(seed + 1)
    c = desc[rng.choice(len(desc), CLUSTERS, replace=len(desc) < CLUSTERS)] + rng.standard_normal((CLUSTERS, d)) * 0.01
    for _ in range(20):
        assign = np.argmax(desc @ c.T - 0.5 * (c * c).sum(1)[None], axis=1)
        for k in range(CLUSTERS):
            members = desc[assign == k]
            if len(members):
                c[k] = members.mean(0)
    cn = c / np.linalg.norm(c, axis=1, keepdims=True)
    dots = np.sort(cn @ desc.T, axis=0)[::-1]
    alpha = -np.log(0.01) / np.mean(dots[0] - dots[1])
    w["aggregation.centroids"] = c.astype(np.float32)
    w["aggregation.conv.weight"] = (alpha * cn).astype(np.float32)[:, :, None, None]
    print(f"NetVLAD init: alpha {alpha:.1f}, {len(desc)} descriptors", file=sys.stderr)


def build(name: str, w: dict[str, np.ndarray], weights_label: str, height: int, width: int, l2: str = "before_pool",
          gem_pattern: str = "globalaveragepool", plain: bool = False, calibrate: bool = False, seed: int = 0) -> onnx.ModelProto:
    backbone, agg = NAMES[name]
    x = preprocess_photo(PHOTO, *CALIBRATION_SIZE) if calibrate else None
    b = Builder(w, x, calibrate)
    feats = b.resnet18("image") if backbone == "resnet18" else b.vgg16("image")
    d = feature_dim(backbone)
    functions = []
    if agg == "gem":
        p = f"aggregation.{gem_index(l2)}.p"
        y = b.l2norm(feats, "aggregation.0") if l2 == "before_pool" else feats
        y = b.gem(y, p, gem_pattern)
        if l2 == "after_pool":
            y = b.l2norm(y, "aggregation.1")
        b.node("Flatten", [y], "descriptor", axis=1)
        out_dim = d
    else:
        if calibrate:
            init_netvlad(w, b.values[feats], seed)
        b.nodes.append(helper.make_node("NetVLADTorch", [feats, "aggregation.conv.weight", "aggregation.centroids"], ["descriptor"],
                                        name="aggregation", domain=DOMAIN, eps=L2_EPS))
        functions.append(netvlad_function())
        out_dim = CLUSTERS * d
    inits = [numpy_helper.from_array(np.ascontiguousarray(a, np.float32), k) for k, a in w.items()]
    inits += [numpy_helper.from_array(a, k) for k, a in b.consts.items()]
    graph = helper.make_graph(b.nodes, name, [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, "H", "W"])],
                              [helper.make_tensor_value_info("descriptor", TensorProto.FLOAT, ["N", out_dim])], inits)
    metadata = {
        "gpuinfer.model": name, "gpuinfer.input_width": str(width), "gpuinfer.input_height": str(height),
        "gpuinfer.resize": "bilinear", "gpuinfer.channel_order": "RGB", "gpuinfer.scale": repr(1 / 255),
        "gpuinfer.mean": ",".join(f"{v:.3f}" for v in MEAN), "gpuinfer.std": ",".join(f"{v:.3f}" for v in STD),
        "gpuinfer.weights": weights_label,
        "gpuinfer.descriptor": (f"{out_dim}-d, " + ("L2-normalized" if agg == "netvlad" or l2 == "after_pool" else "not L2-normalized")
                                + "; the benchmark ranks the database by Euclidean distance (faiss IndexFlatL2)"),
    }
    if functions:
        model = model_calling_function(graph, metadata, functions[0], "gpuinfer Models/vpr.py", OPSET, plain)
    else:
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="gpuinfer Models/vpr.py")
        model.ir_version = 8
        helper.set_model_props(model, metadata)
    onnx.checker.check_model(model)
    return model


def reference_outputs(model_path: str, out_dir: str, height: int, width: int) -> None:
    from reference_outputs import run_onnxruntime, save_npy
    os.makedirs(out_dir, exist_ok=True)
    x = preprocess_photo(PHOTO, height, width)
    x = np.concatenate([x, x[:, :, :, ::-1]])
    save_npy(os.path.join(out_dir, "input.npy"), x)
    y = run_onnxruntime(model_path, {"image": x})["descriptor"]
    save_npy(os.path.join(out_dir, "descriptor.npy"), y)
    print(f"onnxruntime: descriptor {list(y.shape)}, norms {np.linalg.norm(y, axis=1)}, "
          f"cosine(photo, mirror) {float(y[0] @ y[1] / np.linalg.norm(y[0]) / np.linalg.norm(y[1])):.4f}")


def export(name: str, out: str, weights: str | None = None, seed: int = 0, height: int = 480, width: int = 640,
           l2: str = "before_pool", gem_pattern: str = "globalaveragepool", plain: bool = False) -> str:
    """Writes the model; returns the weights label."""
    if weights:
        w, label, calibrate = load_weights(weights, name, l2), os.path.basename(weights), False
    else:
        w, label, calibrate = random_weights(name, seed, l2), f"random-seed-{seed}", True
    model = build(name, w, label, height, width, l2, gem_pattern, plain, calibrate, seed)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    onnx.save(model, out)
    return label


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=sorted(NAMES))
    parser.add_argument("--out", help="default Models/generated/NAME.onnx")
    parser.add_argument("--weights", help="a benchmark checkpoint (.pth: training checkpoint or state_dict)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights (without --weights)")
    parser.add_argument("--height", type=int, default=480, help="nominal input height (metadata; the graph is dynamic)")
    parser.add_argument("--width", type=int, default=640, help="nominal input width (metadata; the graph is dynamic)")
    parser.add_argument("--l2", choices=["before_pool", "after_pool", "none"], default="before_pool",
                        help="the benchmark's --l2 for GeM models (default before_pool, as the benchmark)")
    parser.add_argument("--gem-pattern", choices=["globalaveragepool", "reducemean"], default="globalaveragepool",
                        help="Clip+GlobalAveragePool (torch.onnx.export style) or Max+ReduceMean")
    parser.add_argument("--plain", action="store_true", help="inline the NetVLADTorch function (standard ops only)")
    parser.add_argument("--reference-out", metavar="DIR", help="write the sample photo input and onnxruntime's descriptors here")
    args = parser.parse_args()
    out = args.out or os.path.join(HERE, "generated", args.name + ".onnx")
    start = time.time()
    if not args.weights:
        print(f"warning: vpr.py: no --weights given: writing seeded random weights (seed {args.seed}); "
              "the descriptors are not meaningful for place recognition", file=sys.stderr)
    label = export(args.name, out, args.weights, args.seed, args.height, args.width, args.l2, args.gem_pattern, args.plain)
    print(f"wrote {out} ({os.path.getsize(out) / 1e6:.1f} MB, weights {label}) in {time.time() - start:.1f} s")
    if args.reference_out:
        reference_outputs(out, args.reference_out, args.height, args.width)


if __name__ == "__main__":
    main()
