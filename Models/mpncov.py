#!/usr/bin/env python3
"""Exports fast MPN-COV / iSQRT-COV classifiers (Li, Xie, Wang, Gao, CVPR 2018;
jiangtaoxie/fast-MPN-COV) as ONNX, following ../shared/MODELS.md §3.

Models (`--arch`), input `image` float32 [N,3,224,224] (RGB, ImageNet mean/std, dynamic batch N),
outputs `logits` [N,classes] and `representation` [N,32896]:
  mpncov_resnet50 / mpncov_resnet101 (src/network/mpncovresnet.py): torchvision-style ResNet
    (7x7/2 conv, BN, ReLU, 3x3/2 max-pool pad 1; bottlenecks with the stride on the 3x3 conv,
    depths [3,4,6,3] / [3,4,23,3]), layer4 stride 1 (no dilation: a 14x14 map at 224),
    layer_reduce 1x1 conv 2048->256 without bias + BN + ReLU, iSQRT-COV, fc Linear(32896, classes).
  mpncov_vggd (src/network/mpncovvgg.py, in the TF port's order features -> representation ->
    classifier): VGG-16-BN convs (3x3 pad 1 with bias + BN + ReLU) without pool5 (14x14x512),
    representation 1x1 conv 512->256 without bias + BN + ReLU, iSQRT-COV, classifier
    Linear(32896,4096)-ReLU-Linear(4096,4096)-ReLU-Linear(4096,classes) (dropout is identity).
BatchNormalization nodes (eps 1e-5, PyTorch's default) stay in the graph; gpuinfer folds them into
the convolutions at load time.

iSQRT-COV is ONE node `ai.gpuinfer::ISqrtCov` (attribute iterN = 5) calling the model-local
function below, so onnxruntime runs its body while gpuinfer runs its fused kernels. Function body
(standard ops, opset 17, built for the C it is called with):
  X = Reshape(features, [N,C,M]); Xc = X - ReduceMean(X, axis 2); Sigma = MatMul(Xc, Xc^T) / M
    (= X I_hat X^T with I_hat = I/M - 11^T/M^2: biased covariance)
  tr = ReduceSum(Sigma * I, axes [1,2]) (trace by an eye mask); A = Sigma / tr
  T = 0.5 (3I - A); Y = A T; Z = T; iterN - 2 times: T = 0.5 (3I - Z Y); Y, Z = Y T, T Z
  Y = 0.5 Y (3I - Z Y); Y = Y * sqrt(tr)                    (Sqrtm of MPNCOV.py, unrolled)
  representation = Gather(Reshape(Y, [N, C*C]), triu_index, axis 1)   (Triuvec: j >= i, row-major)
`--plain` writes the same model with the function inlined (standard ops only).

Weights (`--weights FILE.npz`): the PyTorch checkpoint's state_dict, one npz entry per tensor,
named exactly as in the state_dict; ONNX initializers carry the same names and layouts (conv
weights OIHW, Linear weights [out,in] used by Gemm with transB=1), so the mapping is the identity.
A leading 'module.' (DataParallel) is stripped, '.module.' becomes '.' (as mpncovvgg.py does), and
'num_batches_tracked' entries are ignored. Names per arch:
  resnet: conv1.weight; bn1.{weight,bias,running_mean,running_var};
          layer{1-4}.{b}.conv{1,2,3}.weight, layer{1-4}.{b}.bn{1,2,3}.*, layer{1-4}.0.downsample.0.weight,
          layer{1-4}.0.downsample.1.*; layer_reduce.weight, layer_reduce_bn.*; fc.weight [classes,32896], fc.bias
  vggd:   features.{0,3,7,10,14,17,20,24,27,30,34,37,40}.{weight,bias} (convs) and
          features.{1,4,...,41}.* (their BNs); representation.conv_dr_block.0.weight,
          representation.conv_dr_block.1.*; classifier.{0,3,6}.{weight,bias}
To make the npz from a released checkpoint (PyTorch needed, not in this venv):
  sd = torch.load("mpncovresnet50-15991845.pth", map_location="cpu"); sd = sd.get("state_dict", sd)
  np.savez("mpncov_resnet50.npz", **{k: v.numpy() for k, v in sd.items()})
The number of classes is taken from the fc / last classifier weight.

Without --weights: seeded random weights (Kaiming-normal fan_out convs as in the published init),
CALIBRATED so the output is well-conditioned: a float32 NumPy forward of the net on the calibration
photo (Models/samples/grace_hopper.jpg, preprocessed as below) sets every BN's running mean and
variance to the batch statistics of its input there (gamma ~ U(0.5,1.5), beta ~ N(0,0.2)), so every
BN output has the scale of gamma instead of growing or vanishing with depth; the classifier weights
are then scaled so the logits on that photo have standard deviation 3 (top classes well separated,
not a near-uniform softmax). `--no-calibrate` skips this (BN mean 0, var 1, fc N(0, 0.01)): fast,
for load/type checks only. `gpuinfer.weights` says `random-seed-N`.

Preprocessing (metadata, fast-MPN-COV imagepreprocess.py eval): resize the short side to 256
(long side int(256*long/short)), center crop 224 (offsets round((size-224)/2), half to even, as
torchvision), RGB, /255, mean [0.485,0.456,0.406], std [0.229,0.224,0.225]. The resize is
bilinear without antialiasing (OpenCV INTER_LINEAR, what gpuinfer implements), not PIL's.

Usage:
  mpncov.py --arch mpncov_resnet50 [--out Models/generated/mpncov_resnet50.onnx]
            [--weights FILE.npz | --seed N] [--no-calibrate] [--plain] [--labels FILE.txt]
            [--reference-out DIR]
  mpncov.py --arch ARCH --make-synthetic-npz FILE.npz [--seed N]
--labels copies a class-name file (one per line) next to the model as <model>.labels.txt, where
`gpuinfer mpncov` finds it. --reference-out DIR writes photo_input.npy ([2,3,224,224]: the photo
and its mirror image), onnxruntime's logits_b{1,2}.npy and representation_b{1,2}.npy, the
ISqrtCov input features.npy [2,256,14,14] and its float64 NumPy oracle features_oracle.npy.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

import numpy as np
import onnx
from onnx import TensorProto, helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from graph_builder import GraphBuilder  # noqa: E402
from onnx_export import FunctionBody, check_arrays, model_calling_function  # noqa: E402
from reference_outputs import run_onnxruntime, save_npy  # noqa: E402

OPSET = 17
DOMAIN = "ai.gpuinfer"
ITER_N = 5
REDUCED = 256
NUM_CLASSES = 1000
INPUT = 224
RESIZE_SHORT = 256
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
ARCHS = {"mpncov_resnet50": [3, 4, 6, 3], "mpncov_resnet101": [3, 4, 23, 3], "mpncov_vggd": None}
VGG_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512]  # pool5 removed
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PHOTO = os.path.join(ROOT, "Models", "samples", "grace_hopper.jpg")


# ---------------------------------------------------------------------------------------------
# The float64 NumPy port of the published forward (MPNCOV.py Covpool, Sqrtm, Triuvec): the oracle.

def covpool(x: np.ndarray) -> np.ndarray:
    """Covpool.forward: y = x I_hat x^T with I_hat = (-1/M/M) 11^T + (1/M) I, in float64."""
    n, c = x.shape[:2]
    m = int(np.prod(x.shape[2:]))
    x = x.reshape(n, c, m).astype(np.float64)
    i_hat = (-1.0 / m / m) * np.ones((m, m)) + (1.0 / m) * np.eye(m)
    return x @ i_hat @ x.transpose(0, 2, 1)


def sqrtm(x: np.ndarray, iter_n: int) -> np.ndarray:
    """Sqrtm.forward (iterN >= 2) in float64."""
    n, dim = x.shape[:2]
    i3 = 3.0 * np.eye(dim)[None]
    norm_a = (1.0 / 3.0) * (x * i3).sum(axis=1).sum(axis=1)
    a = x / norm_a[:, None, None]
    zy = 0.5 * (i3 - a)
    y = a @ zy
    z = zy
    for _ in range(1, iter_n - 1):
        zy = 0.5 * (i3 - z @ y)
        y, z = y @ zy, zy @ z
    zy = 0.5 * y @ (i3 - z @ y)
    return zy * np.sqrt(norm_a)[:, None, None]


def triuvec(x: np.ndarray) -> np.ndarray:
    """Triuvec.forward: the upper triangle with the diagonal, row-major."""
    n, dim = x.shape[:2]
    index = np.nonzero(np.triu(np.ones((dim, dim))).reshape(dim * dim))[0]
    return x.reshape(n, dim * dim)[:, index]


def isqrtcov_numpy(features: np.ndarray, iter_n: int = ITER_N) -> np.ndarray:
    """The published iSQRT-COV forward in float64: [N,C,H,W] (or [N,C,M]) -> [N, C(C+1)/2]."""
    return triuvec(sqrtm(covpool(features), iter_n))


# ---------------------------------------------------------------------------------------------
# ONNX function ai.gpuinfer::ISqrtCov.

def isqrtcov_function(c: int, iter_n: int = ITER_N) -> onnx.FunctionProto:
    """ai.gpuinfer::ISqrtCov in standard ops for C channels (see the module docstring)."""
    assert iter_n >= 2
    body = FunctionBody()
    op, const = body.op, body.const

    eye = const("eye", np.eye(c, dtype=np.float32))
    eye3 = const("eye3", 3 * np.eye(c, dtype=np.float32))
    half = const("half", np.array(0.5, np.float32))
    x = op("Reshape", ["features", const("shape_ncm", np.array([0, 0, -1], np.int64))], "x")       # [N,C,M]
    xc = op("Sub", [x, op("ReduceMean", [x], "mean", axes=[2], keepdims=1)], "xc")
    xx = op("MatMul", [xc, op("Transpose", [xc], "xct", perm=[0, 2, 1])], "xx")                   # [N,C,C]
    m = op("Cast", [op("Gather", [op("Shape", [x], "x_shape"), const("two", np.array(2, np.int64))], "m_int")], "m", to=TensorProto.FLOAT)
    sigma = op("Div", [xx, m], "sigma")
    tr = op("ReduceSum", [op("Mul", [sigma, eye], "diag"), const("axes12", np.array([1, 2], np.int64))], "tr", keepdims=1)
    a = op("Div", [sigma, tr], "a")
    t = op("Mul", [op("Sub", [eye3, a], "t1_d"), half], "t1")
    y = op("MatMul", [a, t], "y1")
    z = t
    for k in range(2, iter_n):
        zy = op("MatMul", [z, y], f"zy{k}")
        t = op("Mul", [op("Sub", [eye3, zy], f"t{k}_d"), half], f"t{k}")
        y, z = op("MatMul", [y, t], f"y{k}"), op("MatMul", [t, z], f"z{k}")
    zy = op("MatMul", [z, y], "zy_last")
    y = op("Mul", [half, op("MatMul", [y, op("Sub", [eye3, zy], "t_last_d")], "y_last_p")], "y_last")
    ys = op("Mul", [y, op("Sqrt", [tr], "sqrt_tr")], "ys")
    flat = op("Reshape", [ys, const("shape_n_cc", np.array([0, -1], np.int64))], "flat")
    index = np.nonzero(np.triu(np.ones((c, c))).reshape(c * c))[0].astype(np.int64)
    op("Gather", [flat, const("triu_index", index)], "representation", axis=1)
    return helper.make_function(DOMAIN, "ISqrtCov", ["features"], ["representation"], body.nodes,
                                [helper.make_opsetid("", OPSET)], attributes=["iterN"])


def isqrtcov_node(features: str, output: str, iter_n: int = ITER_N) -> onnx.NodeProto:
    return helper.make_node("ISqrtCov", [features], [output], name="isqrtcov", domain=DOMAIN, iterN=iter_n)


def make_model(graph: onnx.GraphProto, metadata: dict[str, str], c: int, plain: bool, iter_n: int = ITER_N) -> onnx.ModelProto:
    """Wraps a graph that calls ISqrtCov on C channels; `plain` inlines the function."""
    return model_calling_function(graph, metadata, isqrtcov_function(c, iter_n), "gpuinfer Models/mpncov.py", OPSET, plain)


def tensor(name: str, a: np.ndarray) -> TensorProto:
    a = np.ascontiguousarray(a, dtype=np.float32)
    t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=a.shape)
    t.raw_data = a.tobytes()
    return t


def build_head(c: int, h: int, w: int, iter_n: int = ITER_N, plain: bool = False) -> onnx.ModelProto:
    """A head-only model: `features` [N,C,H,W] -> `representation` [N, C(C+1)/2]."""
    graph = helper.make_graph([isqrtcov_node("features", "representation", iter_n)], "isqrtcov_head",
                              [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", c, h, w])],
                              [helper.make_tensor_value_info("representation", TensorProto.FLOAT, ["N", c * (c + 1) // 2])])
    return make_model(graph, {"gpuinfer.model": "isqrtcov_head"}, c, plain, iter_n)


# ---------------------------------------------------------------------------------------------
# Networks: one description drives both the ONNX graph and (for calibration) a NumPy forward.

class Net(GraphBuilder):
    """The networks' layers (Models/graph_builder.py), plus conv+BN+ReLU, ISqrtCov and Linear."""

    def conv_bn_relu(self, x: str, conv: str, bn: str, stride: int = 1, pad: int = 0, bias: bool = False, relu: bool = True) -> str:
        y = self.bn(self.conv(x, conv, stride, pad, bias), bn)
        return self.relu(y) if relu else y

    def isqrtcov(self, x: str) -> str:
        self.nodes.append(isqrtcov_node(x, "representation"))
        if self.values is not None:
            self.values["representation"] = isqrtcov_numpy(self.values[x]).astype(np.float32)
        return "representation"

    def linear(self, x: str, name: str, out: str, target_std: float | None) -> str:
        """Gemm with transB; with `target_std` (calibration) the random weight is rescaled so the
        outputs on the calibration input have that standard deviation."""
        if self.values is not None:
            w, b = self.w[f"{name}.weight"], self.w[f"{name}.bias"]
            if self.calibrate and target_std is not None:
                y0 = self.values[x] @ w.T
                w *= np.float32(target_std / max(float(y0.std()), 1e-12))
            self.values[out] = self.values[x] @ w.T + b
        return self.node("Gemm", [x, f"{name}.weight", f"{name}.bias"], out, transB=1)


def resnet_shapes(depths: list[int], classes: int = NUM_CLASSES) -> dict[str, tuple[int, ...]]:
    s: dict[str, tuple[int, ...]] = {}

    def bn(name: str, c: int) -> None:
        for p in ("weight", "bias", "running_mean", "running_var"):
            s[f"{name}.{p}"] = (c,)

    s["conv1.weight"] = (64, 3, 7, 7)
    bn("bn1", 64)
    inplanes = 64
    for li, (planes, blocks) in enumerate(zip([64, 128, 256, 512], depths), start=1):
        for b in range(blocks):
            p = f"layer{li}.{b}"
            s[f"{p}.conv1.weight"] = (planes, inplanes, 1, 1)
            bn(f"{p}.bn1", planes)
            s[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
            bn(f"{p}.bn2", planes)
            s[f"{p}.conv3.weight"] = (planes * 4, planes, 1, 1)
            bn(f"{p}.bn3", planes * 4)
            if b == 0:
                s[f"{p}.downsample.0.weight"] = (planes * 4, inplanes, 1, 1)
                bn(f"{p}.downsample.1", planes * 4)
            inplanes = planes * 4
    s["layer_reduce.weight"] = (REDUCED, 2048, 1, 1)
    bn("layer_reduce_bn", REDUCED)
    s["fc.weight"] = (classes, REDUCED * (REDUCED + 1) // 2)
    s["fc.bias"] = (classes,)
    return s


def vgg_conv_indices() -> list[tuple[int, int, int]]:
    """(features index of the conv, in channels, out channels); its BN is at index + 1."""
    out, i, cin = [], 0, 3
    for v in VGG_CFG:
        if v == "M":
            i += 1
        else:
            out.append((i, cin, v))
            cin, i = v, i + 3
    return out


def vgg_shapes(classes: int = NUM_CLASSES) -> dict[str, tuple[int, ...]]:
    s: dict[str, tuple[int, ...]] = {}
    for i, cin, cout in vgg_conv_indices():
        s[f"features.{i}.weight"], s[f"features.{i}.bias"] = (cout, cin, 3, 3), (cout,)
        for p in ("weight", "bias", "running_mean", "running_var"):
            s[f"features.{i + 1}.{p}"] = (cout,)
    s["representation.conv_dr_block.0.weight"] = (REDUCED, 512, 1, 1)
    for p in ("weight", "bias", "running_mean", "running_var"):
        s[f"representation.conv_dr_block.1.{p}"] = (REDUCED,)
    k = REDUCED * (REDUCED + 1) // 2
    for name, fin, fout in (("classifier.0", k, 4096), ("classifier.3", 4096, 4096), ("classifier.6", 4096, classes)):
        s[f"{name}.weight"], s[f"{name}.bias"] = (fout, fin), (fout,)
    return s


def expected_shapes(arch: str, classes: int = NUM_CLASSES) -> dict[str, tuple[int, ...]]:
    return vgg_shapes(classes) if ARCHS[arch] is None else resnet_shapes(ARCHS[arch], classes)


def random_state_dict(arch: str, seed: int) -> dict[str, np.ndarray]:
    """Seeded weights in state_dict names and layouts (before calibration): Kaiming-normal fan_out
    convs, BN gamma ~ U(0.5,1.5), beta ~ N(0,0.2), mean 0, var 1, conv biases N(0,0.1), Linear
    N(0,0.01) with biases N(0,0.01)."""
    rng = np.random.default_rng(seed)
    w: dict[str, np.ndarray] = {}
    for name, shape in expected_shapes(arch).items():
        if name.endswith(".running_mean"):
            a = np.zeros(shape, np.float32)
        elif name.endswith(".running_var"):
            a = np.ones(shape, np.float32)
        elif len(shape) == 4:
            a = rng.standard_normal(shape, np.float32) * np.float32(np.sqrt(2.0 / (shape[0] * shape[2] * shape[3])))
        elif len(shape) == 2:
            a = rng.standard_normal(shape, np.float32) * np.float32(0.01)
        elif name.startswith(("fc.", "classifier.")):
            a = rng.standard_normal(shape, np.float32) * np.float32(0.01)
        elif name.startswith("features.") and int(name.split(".")[1]) in {i for i, _, _ in vgg_conv_indices()}:
            a = rng.standard_normal(shape, np.float32) * np.float32(0.1)  # conv bias
        elif name.endswith(".weight"):
            a = rng.uniform(0.5, 1.5, shape).astype(np.float32)  # BN gamma
        else:
            a = rng.standard_normal(shape, np.float32) * np.float32(0.2)  # BN beta
        w[name] = a
    return w


def load_weights(path: str, arch: str) -> dict[str, np.ndarray]:
    """A state_dict — an npz, or the PyTorch checkpoint itself (.pth/.pt, zip or legacy format, read
    by Models/torch_checkpoint.py without torch; a training checkpoint's "state_dict" entry is
    taken) — prefixes stripped, checked against the arch's names and shapes."""
    if path.endswith(".npz"):
        with np.load(path) as z:
            raw = {k: z[k] for k in z.files}
    else:
        from torch_checkpoint import CheckpointError, load_state_dict
        try:
            raw = load_state_dict(path)
        except CheckpointError as e:
            sys.exit(f"error: mpncov.py: {e}")
        if any(k.startswith("state_dict.") for k in raw):
            raw = {k[len("state_dict."):]: t for k, t in raw.items() if k.startswith("state_dict.")}
    v = {}
    for k, t in raw.items():
        name = k[len("module."):] if k.startswith("module.") else k
        name = name.replace(".module.", ".")
        if name.endswith("num_batches_tracked"):
            continue
        v[name] = np.asarray(t, np.float32)
    last = "classifier.6.weight" if ARCHS[arch] is None else "fc.weight"
    if last not in v:
        sys.exit(f"mpncov.py: {path} has no '{last}': not a {arch} state_dict")
    expected = expected_shapes(arch, v[last].shape[0])
    check_arrays("mpncov.py", path, v, expected, f"tensor(s) for {arch}")
    extra = sorted(set(v) - set(expected))
    if extra:
        print(f"warning: mpncov.py: ignoring {len(extra)} unknown tensor(s): {', '.join(extra[:5])}", file=sys.stderr)
    return {k: v[k] for k in expected}


def build_graph(arch: str, w: dict[str, np.ndarray], values: dict | None = None, calibrate: bool = False) -> Net:
    """The network's nodes (and, with `values` = {"image": x}, its NumPy forward)."""
    net = Net(w, values, calibrate)
    if ARCHS[arch] is None:
        x, i = "image", 0
        for v in VGG_CFG:
            if v == "M":
                x, i = net.maxpool(x, f"features.{i}", 2, 2, 0), i + 1
            else:
                x, i = net.conv_bn_relu(x, f"features.{i}", f"features.{i + 1}", pad=1, bias=True), i + 3
        x = net.conv_bn_relu(x, "representation.conv_dr_block.0", "representation.conv_dr_block.1")
        r = net.isqrtcov(x)
        h = net.relu(net.linear(r, "classifier.0", "classifier.0", np.sqrt(2.0)))
        h = net.relu(net.linear(h, "classifier.3", "classifier.3", np.sqrt(2.0)))
        net.linear(h, "classifier.6", "logits", 3.0)
        return net
    x = net.conv_bn_relu("image", "conv1", "bn1", stride=2, pad=3)
    x = net.maxpool(x, "maxpool", 3, 2, 1)
    for li, blocks in enumerate(ARCHS[arch], start=1):
        stride = 2 if li in (2, 3) else 1  # layer4 stride 1 (mpncovresnet.py)
        for b in range(blocks):
            p, s = f"layer{li}.{b}", stride if b == 0 else 1
            y = net.conv_bn_relu(x, f"{p}.conv1", f"{p}.bn1")
            y = net.conv_bn_relu(y, f"{p}.conv2", f"{p}.bn2", stride=s, pad=1)
            y = net.conv_bn_relu(y, f"{p}.conv3", f"{p}.bn3", relu=False)
            shortcut = net.conv_bn_relu(x, f"{p}.downsample.0", f"{p}.downsample.1", stride=s, relu=False) if b == 0 else x
            x = net.relu(net.add(y, shortcut, f"{p}.add"))
    x = net.conv_bn_relu(x, "layer_reduce", "layer_reduce_bn")
    r = net.isqrtcov(x)
    net.linear(r, "fc", "logits", 3.0)
    return net


def preprocess(path: str = PHOTO) -> np.ndarray:
    """The eval preprocessing as gpuinfer does it: Pillow RGB decode, OpenCV INTER_LINEAR resize of
    the short side to 256, center crop 224 (torchvision offsets), (x/255 - mean)/std -> [1,3,224,224]."""
    import cv2
    from PIL import Image

    rgb = np.asarray(Image.open(path).convert("RGB"))
    h, w = rgb.shape[:2]
    if h <= w:
        nh, nw = RESIZE_SHORT, int(RESIZE_SHORT * w / h)
    else:
        nh, nw = int(RESIZE_SHORT * h / w), RESIZE_SHORT
    rgb = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_LINEAR)
    top, left = int(round((nh - INPUT) / 2.0)), int(round((nw - INPUT) / 2.0))
    crop = rgb[top:top + INPUT, left:left + INPUT].astype(np.float32)
    x = (crop * np.float32(1 / 255) - MEAN) / STD
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None], np.float32)


def build_model(arch: str, w: dict[str, np.ndarray], weights_label: str, calibrate: bool, plain: bool = False) -> onnx.ModelProto:
    values = {"image": preprocess()} if calibrate else None
    net = build_graph(arch, w, values, calibrate)
    if calibrate:
        logits = values["logits"][0]
        print(f"calibrated on {os.path.basename(PHOTO)}: representation norm {np.linalg.norm(values['representation']):.3g}, "
              f"logits std {logits.std():.3f}, top-5 {np.argsort(-logits)[:5].tolist()}")
    classes = w["classifier.6.weight" if ARCHS[arch] is None else "fc.weight"].shape[0]
    k = REDUCED * (REDUCED + 1) // 2
    graph = helper.make_graph(
        net.nodes, arch,
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, INPUT, INPUT])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes]),
         helper.make_tensor_value_info("representation", TensorProto.FLOAT, ["N", k])],
        [tensor(name, a) for name, a in w.items()])
    metadata = {
        "gpuinfer.model": arch, "gpuinfer.input_width": str(INPUT), "gpuinfer.input_height": str(INPUT),
        "gpuinfer.resize": "bilinear", "gpuinfer.resize_short": str(RESIZE_SHORT), "gpuinfer.channel_order": "RGB",
        "gpuinfer.scale": repr(1 / 255), "gpuinfer.mean": ",".join(f"{v:.3f}" for v in MEAN),
        "gpuinfer.std": ",".join(f"{v:.3f}" for v in STD), "gpuinfer.weights": weights_label,
        "gpuinfer.iterN": str(ITER_N),
    }
    return make_model(graph, metadata, REDUCED, plain)


def reference_outputs(model_path: str, out_dir: str) -> None:
    """The photo and its mirror image, onnxruntime's outputs at batch 1 and 2, and the ISqrtCov
    input features with their float64 oracle representation."""
    import onnxruntime as ort

    os.makedirs(out_dir, exist_ok=True)
    x1 = preprocess()
    x = np.concatenate([x1, x1[:, :, :, ::-1]], axis=0).astype(np.float32)
    save_npy(os.path.join(out_dir, "photo_input.npy"), x)
    for b in (1, 2):
        y = run_onnxruntime(model_path, {"image": x[:b]})
        save_npy(os.path.join(out_dir, f"logits_b{b}.npy"), y["logits"])
        save_npy(os.path.join(out_dir, f"representation_b{b}.npy"), y["representation"])
        print(f"onnxruntime batch {b}: logits {list(y['logits'].shape)} top-1 {np.argmax(y['logits'], axis=1).tolist()}")
    # The ISqrtCov input, exposed as an extra output of an in-memory copy.
    model = onnx.load(model_path)
    feature = next(n.input[0] for n in model.graph.node if n.op_type == "ISqrtCov")
    model.graph.output.append(helper.make_tensor_value_info(feature, TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    del model
    feats, rep = session.run([feature, "representation"], {"image": x})
    oracle = isqrtcov_numpy(feats)
    save_npy(os.path.join(out_dir, "features.npy"), feats)
    save_npy(os.path.join(out_dir, "features_oracle.npy"), oracle)
    rel = np.abs(rep - oracle).max(axis=1) / np.abs(oracle).max(axis=1)
    print(f"features {list(feats.shape)}; onnxruntime representation vs float64 oracle: max relative error {rel.max():.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", choices=sorted(ARCHS), default="mpncov_resnet50")
    parser.add_argument("--out", help="default Models/generated/<arch>.onnx")
    parser.add_argument("--weights", help="a fast-MPN-COV PyTorch checkpoint (.pth/.pt, read without torch) or an npz of its state_dict")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights (without --weights)")
    parser.add_argument("--no-calibrate", action="store_true", help="skip the BN/classifier calibration of random weights")
    parser.add_argument("--plain", action="store_true", help="inline the ISqrtCov function (standard ops only)")
    parser.add_argument("--labels", help="class names, one per line: copied next to the model as <model>.labels.txt")
    parser.add_argument("--reference-out", metavar="DIR", help="write the photo input and onnxruntime's outputs here")
    parser.add_argument("--make-synthetic-npz", metavar="FILE", help="write random tensors with the state_dict's names and shapes, then exit")
    args = parser.parse_args()
    out = args.out or os.path.join(ROOT, "Models", "generated", f"{args.arch}.onnx")

    start = time.time()
    if args.make_synthetic_npz:
        sd = random_state_dict(args.arch, args.seed)
        rng = np.random.default_rng(args.seed + 1)
        for k in sd:  # non-trivial BN statistics, so that folding them is exercised
            if k.endswith("running_mean"):
                sd[k] = rng.standard_normal(sd[k].shape, np.float32) * np.float32(0.1)
            elif k.endswith("running_var"):
                sd[k] = rng.uniform(0.5, 2.0, sd[k].shape).astype(np.float32)
        sd = {("module." + k if i % 2 else k): v for i, (k, v) in enumerate(sd.items())}  # exercise the prefix stripping
        sd["module.bn1.num_batches_tracked" if ARCHS[args.arch] else "features.1.num_batches_tracked"] = np.array(7, np.int64)
        np.savez(args.make_synthetic_npz, **sd)
        print(f"wrote {args.make_synthetic_npz} ({len(sd)} tensors, {time.time() - start:.1f} s)")
        return
    if args.weights:
        w, label, calibrate = load_weights(args.weights, args.arch), os.path.basename(args.weights), False
    else:
        print(f"warning: mpncov.py: no --weights given: writing seeded random weights (seed {args.seed}"
              f"{', calibrated on the sample photo' if not args.no_calibrate else ''}); the classes are not meaningful",
              file=sys.stderr)
        w, label, calibrate = random_state_dict(args.arch, args.seed), f"random-seed-{args.seed}", not args.no_calibrate
    model = build_model(args.arch, w, label, calibrate, plain=args.plain)
    del w
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    onnx.save(model, out)
    del model
    onnx.checker.check_model(out)
    if args.labels:
        shutil.copyfile(args.labels, os.path.splitext(out)[0] + ".labels.txt")
    print(f"wrote {out} ({os.path.getsize(out) / 1e6:.0f} MB, {args.arch}, weights {label}{', plain ops' if args.plain else ''}) "
          f"in {time.time() - start:.1f} s")
    if args.reference_out:
        reference_outputs(out, args.reference_out)


if __name__ == "__main__":
    main()
