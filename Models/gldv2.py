#!/usr/bin/env python3
"""Exports the Google-Landmarks-v2 (2019) retrieval models of Baidu's PaddlePaddle solution as ONNX,
following ../shared/MODELS.md §2 (PaddlePaddle/Research CV/landmark/inference/models/*_embedding.py).

Models (`--model`), each backbone -> GlobalAveragePool -> FC 512 (linear, with bias, NO L2 in the graph):
  gldv2_res152      ResNet152_vd_v0_embedding: deep stem conv3x3/2 32 -> conv3x3 32 -> conv3x3 64 (each
                    conv no-bias + BN + ReLU) -> MaxPool 3x3/2 pad 1; bottlenecks [3, 8, 36, 3], widths
                    64/128/256/512 x4, stride 2 on the 3x3 conv of the first block of stages 2-4;
                    shortcut of stage 1's first block conv1x1 + BN, of stages 2-4's first blocks "vd":
                    AveragePool 2x2/2 pad 0 (Paddle ceil_mode=False, exclusive=True -> ONNX ceil_mode 0,
                    count_include_pad 0) -> conv1x1 -> BN; Add + ReLU.
  gldv2_res200      ResNet200_vd_embedding: the same with depths [3, 12, 48, 3]; its vd pool is the
                    PaddleClas ResNet_vd one (ceil_mode=True, exclusive).
  gldv2_se_x152     SE_ResNeXt152_64x4d_vd_embedding (PaddleClas se_resnext_vd layers=152): stem conv3x3/2
                    64 -> 64 -> 128 + MaxPool 3x3/2 pad 1; depths [3, 8, 36, 3], widths 256/512/1024/2048,
                    block = conv1x1 W -> grouped conv3x3 W (64 groups, stride on it) -> conv1x1 W (the
                    code halves then doubles for cardinality 64) -> SE (GlobalAveragePool -> FC W/16 ReLU ->
                    FC W Sigmoid -> channel Mul) -> + shortcut (stage 1: conv1x1 + BN; else AveragePool
                    2x2/2 ceil_mode=True exclusive -> conv1x1 -> BN) -> ReLU.
  gldv2_inceptionv4 InceptionV4_embedding: stem, 4 x A, reduction A, 7 x B, reduction B, 3 x C (1x7/7x1 and
                    1x3/3x1 convs, Concat, AveragePool 3x3/1 pad 1 exclusive, MaxPool 3x3/2 VALID) -> 1536.
Every conv is Conv (no bias) -> BatchNormalization (eps 1e-5) [-> Relu]; gpuinfer folds the BN into the
conv at load time. FCs are Gemm with the Paddle [in, out] weight as is (y = x.W + b); the SE FCs are
Gemm on the flattened pooled vector, and their [N, C] output is Unsqueezed to [N, C, 1, 1] for the Mul.

Input `image` float32 [N, 3, H, W] with N, H and W dynamic (RGB, (x/255 - mean)/std with the ImageNet
mean 0.485,0.456,0.406 and std 0.229,0.224,0.225); output `embedding` float32 [N, 512].
Preprocessing (metadata `gpuinfer.*`, read by Sources/GPUInferVision/Image/Preprocessing.swift): resize so the
short side is 448 (555 for Inception-v4; if long/short > 3 the short side becomes int(size*3/ratio)),
aspect kept, each side rounded then floored to a multiple of 32 (at least 32), OpenCV INTER_LANCZOS4,
no crop; BGR -> RGB, /255, mean/std.

Weights. ONNX initializer names are the Paddle parameter names and the layouts are Paddle's (conv
filters OIHW, fc weights [in, out], BN vectors), so `--weights-format paddle` needs no transforms:
  res152 (no ParamAttr in the source, so Paddle's LayerHelper names, in creation order i = 0, 1, ...):
    conv2d_{i}.w_0 (filter), batch_norm_{i}.w_0 (scale), .b_0 (offset), .w_1 (moving mean),
    .w_2 (moving variance); the embedding FC fc_0.w_0 [2048, 512], fc_0.b_0 [512]. Per bottleneck
    the order is branch 1x1, 3x3, 1x1, then the shortcut conv.
  res200 (PaddleClas ResNet_vd names): stem conv1_1, conv1_2, conv1_3; blocks res{2..5}{a,b,c,...}
    (stage 4: res4a, res4b1, res4b2, ...) with _branch2a/_branch2b/_branch2c and shortcut _branch1;
    filters "<conv>_weights"; BN "bn" + conv[3:] + _scale/_offset/_mean/_variance (so bnv1_1_scale
    for conv1_1, bn2a_branch2a_scale for res2a_branch2a); embedding fc_0.w_0 / fc_0.b_0.
  se_x152 (PaddleClas SE_ResNeXt_vd names): conv1_1..conv1_3, blocks conv{s}_{i}_x1/_x2/_x3 and
    shortcut conv{s}_{i}_prj with s = 4..7 for stages 1..4 and i from 1; BN "<conv>_bn_scale" etc.;
    SE fc{s}_{i}_sqz_weights/_sqz_offset/_exc_weights/_exc_offset; embedding fc_100.w_0/fc_100.b_0
    (the 101st fc layer created).
  inceptionv4 (PaddleClas InceptionV4 names): conv1_3x3_s2, ..., inception_a1_1x1, ...,
    reduction_a_3x3, inception_b1_1x7, ..., inception_c3_3x1_3, each "<conv>_weights" and
    "<conv>_bn_scale/_offset/_mean/_variance"; embedding fc_0.w_0 / fc_0.b_0.
  The embedding FC names (and the v0 auto names) come from the LayerHelper naming rule, not from a
  released file (unverified): `--fc-names W,B` overrides them.

Paddle inference-model `params` (the combined file of `save_inference_model(params_filename='params')`):
one record per persistable variable in lexicographically sorted name order (`std::sort` in Paddle's
inference/io.cc; Python's sorted() on str is the same byte order for these ASCII names), each:
  uint32 LoDTensor version (0), uint64 lod_level, per level (uint64 byte size, data);
  uint32 Tensor version (0), int32 TensorDesc byte size, TensorDesc protobuf (field 1 data_type
  varint, FP32 = 5; field 2 dims int64, packed or not), raw little-endian data.
The file stores no names: the names are this model's parameter names (or, with `--paddle-model FILE`,
the persistable variables of the `model` ProgramDesc, minus feed/fetch), sorted. Every record's dtype
and dims are checked against the graph; a trailing byte, short read or mismatch is an error.

Without --weights: seeded random weights in the same names and layouts (He-normal convs, BN with
random statistics, the last BN of each residual branch scaled by 0.2 so 50 blocks keep activations
in range); a warning goes to stderr and `gpuinfer.weights` says `random-seed-N`.

Usage:
  gldv2.py --model gldv2_res152 [--out Models/generated/gldv2_res152.onnx]
           [--weights params --weights-format paddle [--paddle-model model] [--fc-names W,B] | --seed N]
  gldv2.py --model M --write-synthetic-params FILE [--seed N]   (random weights written as a params file)
"""
from __future__ import annotations

import argparse
import os
import struct
import sys
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
EMBEDDING = 512
BN_EPS = 1e-5
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
MODELS = ("gldv2_res152", "gldv2_res200", "gldv2_se_x152", "gldv2_inceptionv4")
SHORT_SIDE = {"gldv2_res152": 448, "gldv2_res200": 448, "gldv2_se_x152": 448, "gldv2_inceptionv4": 555}
SUMMARY = {
    "gldv2_res152": "ResNet152-vd-v0 -> GAP -> FC 512 (GLDv2 res152_arcmargin)",
    "gldv2_res200": "ResNet200-vd -> GAP -> FC 512 (GLDv2 res200_arcmargin)",
    "gldv2_se_x152": "SE-ResNeXt152 64x4d vd -> GAP -> FC 512 (GLDv2 se_x152_arcmargin)",
    "gldv2_inceptionv4": "Inception-v4 -> GAP -> FC 512 (GLDv2 inceptionv4_arcmargin)",
}


class Builder:
    """Collects ONNX nodes and the parameter shapes (Paddle names and layouts) of one network."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.params: dict[str, tuple[int, ...]] = {}
        self.kinds: dict[str, str] = {}  # name -> conv | bn_scale | bn_offset | bn_mean | bn_var | fc_w | fc_b
        self.last_bn: set[str] = set()  # BN scales of residual-branch ends (random init scales them down)
        self.count = 0
        self.auto = 0  # LayerHelper counters (conv2d_i / batch_norm_i) for unnamed models

    def fresh(self, stem: str) -> str:
        self.count += 1
        return f"{stem}__{self.count}"

    def node(self, op: str, inputs: list[str], stem: str, **attrs) -> str:
        out = self.fresh(stem)
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def param(self, name: str, shape: tuple[int, ...], kind: str) -> str:
        if name in self.params:
            raise ValueError(f"duplicate parameter {name}")
        self.params[name] = shape
        self.kinds[name] = kind
        return name

    def conv_bn(self, x: str, cin: int, cout: int, k: tuple[int, int], stride: int = 1, pad: tuple[int, int] | None = None,
                groups: int = 1, relu: bool = True, names: tuple[str, str, str, str, str] | None = None,
                branch_end: bool = False) -> str:
        """Conv (no bias) -> BatchNormalization -> optional Relu. `names` = (filter, scale, offset,
        mean, variance); None takes the next LayerHelper names conv2d_i.w_0, batch_norm_i.{w_0,b_0,w_1,w_2}."""
        if names is None:
            i = self.auto
            self.auto += 1
            names = (f"conv2d_{i}.w_0", f"batch_norm_{i}.w_0", f"batch_norm_{i}.b_0", f"batch_norm_{i}.w_1", f"batch_norm_{i}.w_2")
        if pad is None:
            pad = ((k[0] - 1) // 2, (k[1] - 1) // 2)
        w = self.param(names[0], (cout, cin // groups, k[0], k[1]), "conv")
        y = self.node("Conv", [x, w], "conv", kernel_shape=list(k), strides=[stride, stride],
                      pads=[pad[0], pad[1], pad[0], pad[1]], group=groups)
        bn = [self.param(n, (cout,), kind) for n, kind in zip(names[1:], ("bn_scale", "bn_offset", "bn_mean", "bn_var"))]
        if branch_end:
            self.last_bn.add(names[1])
        y = self.node("BatchNormalization", [y] + bn, "bn", epsilon=BN_EPS)
        return self.node("Relu", [y], "relu") if relu else y

    def avg_pool(self, x: str, k: int, stride: int, pad: int, ceil: bool) -> str:
        # Paddle pool2d's default exclusive=True: padding is not counted (count_include_pad 0).
        return self.node("AveragePool", [x], "avgpool", kernel_shape=[k, k], strides=[stride, stride],
                         pads=[pad] * 4, ceil_mode=int(ceil), count_include_pad=0)

    def max_pool(self, x: str, k: int, stride: int, pad: int) -> str:
        return self.node("MaxPool", [x], "maxpool", kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4)

    def fc(self, x: str, cin: int, cout: int, w: str, b: str) -> str:
        """Gemm with Paddle's [in, out] weight: y = x.W + b."""
        return self.node("Gemm", [x, self.param(w, (cin, cout), "fc_w"), self.param(b, (cout,), "fc_b")], "fc")

    def head(self, x: str, channels: int, fc_names: tuple[str, str]) -> None:
        """GlobalAveragePool -> Flatten -> FC 512 into the graph output `embedding`."""
        pooled = self.node("Flatten", [self.node("GlobalAveragePool", [x], "gap")], "flatten", axis=1)
        w = self.param(fc_names[0], (channels, EMBEDDING), "fc_w")
        b = self.param(fc_names[1], (EMBEDDING,), "fc_b")
        self.nodes.append(helper.make_node("Gemm", [pooled, w, b], ["embedding"], name="embedding"))


# --- ResNet-vd (v0: LayerHelper names; res200: PaddleClas names) -------------------------------------

def resnet_vd(g: Builder, depths: list[int], named: bool, ceil: bool) -> tuple[str, int]:
    def conv_names(name: str) -> tuple[str, str, str, str, str] | None:
        if not named:
            return None
        bn = "bn" + name[3:]
        return (name + "_weights", bn + "_scale", bn + "_offset", bn + "_mean", bn + "_variance")

    x = "image"
    x = g.conv_bn(x, 3, 32, (3, 3), 2, names=conv_names("conv1_1"))
    x = g.conv_bn(x, 32, 32, (3, 3), 1, names=conv_names("conv1_2"))
    x = g.conv_bn(x, 32, 64, (3, 3), 1, names=conv_names("conv1_3"))
    x = g.max_pool(x, 3, 2, 1)
    cin = 64
    for block, (depth, width) in enumerate(zip(depths, [64, 128, 256, 512])):
        for i in range(depth):
            if block == 2:  # ResNet_vd layers 101/152/200 name stage 3 res4a, res4b1, res4b2, ...
                name = f"res{block + 2}" + ("a" if i == 0 else f"b{i}")
            else:
                name = f"res{block + 2}{chr(97 + i)}"
            stride = 2 if i == 0 and block != 0 else 1
            y = g.conv_bn(x, cin, width, (1, 1), names=conv_names(name + "_branch2a"))
            y = g.conv_bn(y, width, width, (3, 3), stride, names=conv_names(name + "_branch2b"))
            y = g.conv_bn(y, width, width * 4, (1, 1), relu=False, names=conv_names(name + "_branch2c"), branch_end=True)
            short = x
            if cin != width * 4 or stride != 1:
                if block == 0:
                    short = g.conv_bn(x, cin, width * 4, (1, 1), stride, relu=False, names=conv_names(name + "_branch1"))
                else:
                    short = g.conv_bn(g.avg_pool(x, 2, 2, 0, ceil), cin, width * 4, (1, 1), relu=False,
                                      names=conv_names(name + "_branch1"))
            x = g.node("Relu", [g.node("Add", [short, y], "add")], "relu")
            cin = width * 4
    return x, cin


# --- SE-ResNeXt-152 64x4d vd ----------------------------------------------------------------------------

def se_resnext_vd(g: Builder) -> tuple[str, int]:
    def conv_names(name: str) -> tuple[str, str, str, str, str]:
        bn = name + "_bn"
        return (name + "_weights", bn + "_scale", bn + "_offset", bn + "_mean", bn + "_variance")

    cardinality, reduction = 64, 16
    x = g.conv_bn("image", 3, 64, (3, 3), 2, names=conv_names("conv1_1"))
    x = g.conv_bn(x, 64, 64, (3, 3), 1, names=conv_names("conv1_2"))
    x = g.conv_bn(x, 64, 128, (3, 3), 1, names=conv_names("conv1_3"))
    x = g.max_pool(x, 3, 2, 1)
    cin = 128
    n = 3
    for block, (depth, width) in enumerate(zip([3, 8, 36, 3], [256, 512, 1024, 2048])):
        n += 1
        for i in range(depth):
            name = f"{n}_{i + 1}"
            stride = 2 if i == 0 and block != 0 else 1
            y = g.conv_bn(x, cin, width, (1, 1), names=conv_names(f"conv{name}_x1"))
            y = g.conv_bn(y, width, width, (3, 3), stride, groups=cardinality, names=conv_names(f"conv{name}_x2"))
            out = width // 2 * 2  # cardinality 64: num_filters // 2, then * 2
            y = g.conv_bn(y, width, out, (1, 1), relu=False, names=conv_names(f"conv{name}_x3"), branch_end=True)
            # Squeeze-excitation: GAP -> FC out/16 ReLU -> FC out Sigmoid -> per-channel scale.
            s = g.node("Flatten", [g.node("GlobalAveragePool", [y], "se_gap")], "se_flat", axis=1)
            s = g.node("Relu", [g.fc(s, out, out // reduction, f"fc{name}_sqz_weights", f"fc{name}_sqz_offset")], "se_relu")
            s = g.node("Sigmoid", [g.fc(s, out // reduction, out, f"fc{name}_exc_weights", f"fc{name}_exc_offset")], "se_sigmoid")
            y = g.node("Mul", [y, g.node("Unsqueeze", [s, "axes_2_3"], "se_unsq")], "se_scale")
            short = x
            if cin != out or stride != 1:
                if block == 0:
                    short = g.conv_bn(x, cin, out, (1, 1), stride, relu=False, names=conv_names(f"conv{name}_prj"))
                else:
                    short = g.conv_bn(g.avg_pool(x, 2, 2, 0, True), cin, out, (1, 1), relu=False, names=conv_names(f"conv{name}_prj"))
            x = g.node("Relu", [g.node("Add", [short, y], "add")], "relu")
            cin = out
    return x, cin


# --- Inception-v4 ----------------------------------------------------------------------------------------

def inception_v4(g: Builder) -> tuple[str, int]:
    def cb(x: str, cin: int, cout: int, k, name: str, stride: int = 1, pad=(0, 0)) -> str:
        k = (k, k) if isinstance(k, int) else k
        bn = name + "_bn"
        return g.conv_bn(x, cin, cout, k, stride, pad, names=(name + "_weights", bn + "_scale", bn + "_offset", bn + "_mean", bn + "_variance"))

    def cat(xs: list[str]) -> str:
        return g.node("Concat", xs, "concat", axis=1)

    # Stem (all paddings 0 unless given, as in Paddle's conv_bn_layer default padding=0).
    x = cb("image", 3, 32, 3, "conv1_3x3_s2", 2)
    x = cb(x, 32, 32, 3, "conv2_3x3_s1")
    x = cb(x, 32, 64, 3, "conv3_3x3_s1", pad=(1, 1))
    x = cat([g.max_pool(x, 3, 2, 0), cb(x, 64, 96, 3, "inception_stem1_3x3_s2", 2)])              # 160
    a = cb(cb(x, 160, 64, 1, "inception_stem2_3x3_reduce"), 64, 96, 3, "inception_stem2_3x3")
    b = cb(x, 160, 64, 1, "inception_stem2_1x7_reduce")
    b = cb(b, 64, 64, (7, 1), "inception_stem2_1x7", pad=(3, 0))
    b = cb(b, 64, 64, (1, 7), "inception_stem2_7x1", pad=(0, 3))
    b = cb(b, 64, 96, 3, "inception_stem2_3x3_2")
    x = cat([a, b])                                                                                   # 192
    x = cat([cb(x, 192, 192, 3, "inception_stem3_3x3_s2", 2), g.max_pool(x, 3, 2, 0)])                # 384
    c = 384
    for i in range(1, 5):
        p = f"inception_a{i}"
        b1 = cb(g.avg_pool(x, 3, 1, 1, False), c, 96, 1, p + "_1x1")
        b2 = cb(x, c, 96, 1, p + "_1x1_2")
        b3 = cb(cb(x, c, 64, 1, p + "_3x3_reduce"), 64, 96, 3, p + "_3x3", pad=(1, 1))
        b4 = cb(cb(cb(x, c, 64, 1, p + "_3x3_2_reduce"), 64, 96, 3, p + "_3x3_2", pad=(1, 1)), 96, 96, 3, p + "_3x3_3", pad=(1, 1))
        x = cat([b1, b2, b3, b4])
    # Reduction A: 384 -> 384 + 384 + 256 = 1024.
    b3 = cb(cb(cb(x, c, 192, 1, "reduction_a_3x3_2_reduce"), 192, 224, 3, "reduction_a_3x3_2", pad=(1, 1)), 224, 256, 3, "reduction_a_3x3_3", 2)
    x = cat([g.max_pool(x, 3, 2, 0), cb(x, c, 384, 3, "reduction_a_3x3", 2), b3])
    c = 1024
    for i in range(1, 8):
        p = f"inception_b{i}"
        b1 = cb(g.avg_pool(x, 3, 1, 1, False), c, 128, 1, p + "_1x1")
        b2 = cb(x, c, 384, 1, p + "_1x1_2")
        b3 = cb(x, c, 192, 1, p + "_1x7_reduce")
        b3 = cb(b3, 192, 224, (1, 7), p + "_1x7", pad=(0, 3))
        b3 = cb(b3, 224, 256, (7, 1), p + "_7x1", pad=(3, 0))
        b4 = cb(x, c, 192, 1, p + "_7x1_2_reduce")
        b4 = cb(b4, 192, 192, (1, 7), p + "_1x7_2", pad=(0, 3))
        b4 = cb(b4, 192, 224, (7, 1), p + "_7x1_2", pad=(3, 0))
        b4 = cb(b4, 224, 224, (1, 7), p + "_1x7_3", pad=(0, 3))
        b4 = cb(b4, 224, 256, (7, 1), p + "_7x1_3", pad=(3, 0))
        x = cat([b1, b2, b3, b4])                                                                     # 1024
    # Reduction B: 1024 -> 1024 + 192 + 320 = 1536.
    b2 = cb(cb(x, c, 192, 1, "reduction_b_3x3_reduce"), 192, 192, 3, "reduction_b_3x3", 2)
    b3 = cb(x, c, 256, 1, "reduction_b_1x7_reduce")
    b3 = cb(b3, 256, 256, (1, 7), "reduction_b_1x7", pad=(0, 3))
    b3 = cb(b3, 256, 320, (7, 1), "reduction_b_7x1", pad=(3, 0))
    b3 = cb(b3, 320, 320, 3, "reduction_b_3x3_2", 2)
    x = cat([g.max_pool(x, 3, 2, 0), b2, b3])
    c = 1536
    for i in range(1, 4):
        p = f"inception_c{i}"
        b1 = cb(g.avg_pool(x, 3, 1, 1, False), c, 256, 1, p + "_1x1")
        b2 = cb(x, c, 256, 1, p + "_1x1_2")
        b3 = cb(x, c, 384, 1, p + "_1x1_3")
        b31 = cb(b3, 384, 256, (1, 3), p + "_1x3", pad=(0, 1))
        b32 = cb(b3, 384, 256, (3, 1), p + "_3x1", pad=(1, 0))
        b4 = cb(x, c, 384, 1, p + "_1x1_4")
        b4 = cb(b4, 384, 448, (1, 3), p + "_1x3_2", pad=(0, 1))
        b4 = cb(b4, 448, 512, (3, 1), p + "_3x1_2", pad=(1, 0))
        b41 = cb(b4, 512, 256, (1, 3), p + "_1x3_3", pad=(0, 1))
        b42 = cb(b4, 512, 256, (3, 1), p + "_3x1_3", pad=(1, 0))
        x = cat([b1, b2, b31, b32, b41, b42])                                                         # 1536
    return x, c


DEFAULT_FC = {"gldv2_res152": ("fc_0.w_0", "fc_0.b_0"), "gldv2_res200": ("fc_0.w_0", "fc_0.b_0"),
              "gldv2_se_x152": ("fc_100.w_0", "fc_100.b_0"), "gldv2_inceptionv4": ("fc_0.w_0", "fc_0.b_0")}


def build_network(model: str, fc_names: tuple[str, str] | None = None) -> Builder:
    """The graph of `model` (nodes + parameter names/shapes), without weights."""
    g = Builder()
    if model == "gldv2_res152":
        x, c = resnet_vd(g, [3, 8, 36, 3], named=False, ceil=False)
    elif model == "gldv2_res200":
        x, c = resnet_vd(g, [3, 12, 48, 3], named=True, ceil=True)
    elif model == "gldv2_se_x152":
        x, c = se_resnext_vd(g)
    elif model == "gldv2_inceptionv4":
        x, c = inception_v4(g)
    else:
        raise ValueError(f"unknown model {model}; known: {', '.join(MODELS)}")
    g.head(x, c, fc_names or DEFAULT_FC[model])
    return g


def random_weights(g: Builder, seed: int) -> dict[str, np.ndarray]:
    """Seeded weights with the parameter names and shapes of `g` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    w: dict[str, np.ndarray] = {}
    for name, shape in g.params.items():
        kind = g.kinds[name]
        if kind == "conv":
            fan_in = shape[1] * shape[2] * shape[3]
            a = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
        elif kind == "bn_scale":
            a = rng.uniform(0.5, 1.0, shape) * (0.2 if name in g.last_bn else 1.0)
        elif kind == "bn_offset":
            a = rng.normal(0.0, 0.1, shape)
        elif kind == "bn_mean":
            a = rng.normal(0.0, 0.1, shape)
        elif kind == "bn_var":
            a = rng.uniform(0.5, 1.5, shape)
        elif kind == "fc_w":
            a = rng.standard_normal(shape) * np.sqrt(1.0 / shape[0])
        else:  # fc_b
            a = rng.normal(0.0, 0.1, shape)
        w[name] = a.astype(np.float32)
    return w


# --- Paddle params file -------------------------------------------------------------------------------

PADDLE_FP32 = 5
PADDLE_DTYPES = {5: np.float32, 6: np.float64, 4: np.float16, 2: np.int32, 3: np.int64}


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated protobuf varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ValueError("protobuf varint too long")


def _put_varint(v: int) -> bytes:
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _fields(buf: bytes):
    """Yields (field number, wire type, value) of a protobuf message (value: int or bytes)."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            n, pos = _varint(buf, pos)
            if pos + n > len(buf):
                raise ValueError("truncated protobuf field")
            value, pos = buf[pos:pos + n], pos + n
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield field, wire, value


def _signed64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def parse_tensor_desc(buf: bytes) -> tuple[int, list[int]]:
    """VarType.TensorDesc: data_type (1), dims (2, int64, packed or not)."""
    dtype, dims = None, []
    for field, wire, value in _fields(buf):
        if field == 1 and wire == 0:
            dtype = value
        elif field == 2 and wire == 0:
            dims.append(_signed64(value))
        elif field == 2 and wire == 2:
            pos = 0
            while pos < len(value):
                v, pos = _varint(value, pos)
                dims.append(_signed64(v))
    if dtype is None:
        raise ValueError("TensorDesc without data_type")
    return dtype, dims


def tensor_desc(dims: tuple[int, ...], dtype: int = PADDLE_FP32) -> bytes:
    out = bytearray(_put_varint(1 << 3 | 0) + _put_varint(dtype))
    for d in dims:
        out += _put_varint(2 << 3 | 0) + _put_varint(d)
    return bytes(out)


def write_paddle_params(path: str, weights: dict[str, np.ndarray]) -> None:
    """A combined params file: records in sorted name order (the format in the module docstring)."""
    with open(path, "wb") as f:
        for name in sorted(weights):
            a = np.ascontiguousarray(weights[name], np.float32)
            desc = tensor_desc(a.shape)
            f.write(struct.pack("<IQ", 0, 0))            # LoDTensor version, lod_level 0
            f.write(struct.pack("<Ii", 0, len(desc)))    # Tensor version, TensorDesc size
            f.write(desc)
            f.write(a.astype("<f4").tobytes())


def read_paddle_params(path: str, expected: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Reads a combined params file whose records are the `expected` names in sorted order, checking
    every record's dtype and dims. Raises ValueError naming the record on any mismatch."""
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    out: dict[str, np.ndarray] = {}

    def take(n: int, what: str, name: str) -> bytes:
        nonlocal pos
        if pos + n > len(data):
            raise ValueError(f"{path}: truncated in {what} of '{name}' (offset {pos}, need {n} bytes, file has {len(data)})")
        b = data[pos:pos + n]
        pos += n
        return b

    for name in sorted(expected):
        version, = struct.unpack("<I", take(4, "LoDTensor version", name))
        if version != 0:
            raise ValueError(f"{path}: '{name}': unsupported LoDTensor version {version}")
        lod_level, = struct.unpack("<Q", take(8, "lod_level", name))
        if lod_level > 16:
            raise ValueError(f"{path}: '{name}': implausible lod_level {lod_level}")
        for _ in range(lod_level):
            size, = struct.unpack("<Q", take(8, "LoD size", name))
            take(size, "LoD data", name)
        version, = struct.unpack("<I", take(4, "Tensor version", name))
        if version != 0:
            raise ValueError(f"{path}: '{name}': unsupported Tensor version {version}")
        desc_size, = struct.unpack("<i", take(4, "TensorDesc size", name))
        if desc_size < 0 or desc_size > 1 << 20:
            raise ValueError(f"{path}: '{name}': bad TensorDesc size {desc_size}")
        dtype, dims = parse_tensor_desc(take(desc_size, "TensorDesc", name))
        if dtype not in PADDLE_DTYPES:
            raise ValueError(f"{path}: '{name}': unsupported data type {dtype}")
        if tuple(dims) != tuple(expected[name]):
            raise ValueError(f"{path}: '{name}' has dims {dims}, the graph expects {list(expected[name])} "
                             "(wrong model, or the params file holds other variables)")
        np_dtype = np.dtype(PADDLE_DTYPES[dtype]).newbyteorder("<")
        count = int(np.prod(dims)) if dims else 1
        raw = take(count * np_dtype.itemsize, "data", name)
        out[name] = np.frombuffer(raw, np_dtype).reshape(dims).astype(np.float32)
    if pos != len(data):
        raise ValueError(f"{path}: {len(data) - pos} bytes after the last expected record "
                         f"('{sorted(expected)[-1]}'): the file holds more variables than the graph")
    return out


def program_persistables(path: str) -> list[str]:
    """Names of the persistable variables of block 0 of a Paddle ProgramDesc (`model` file), minus
    feed/fetch: ProgramDesc.blocks (1) -> BlockDesc.vars (3) -> VarDesc name (1), persistable (3)."""
    with open(path, "rb") as f:
        buf = f.read()
    names: list[str] = []
    for field, wire, block in _fields(buf):
        if field != 1 or wire != 2:
            continue
        for bfield, bwire, var in _fields(block):
            if bfield != 3 or bwire != 2:
                continue
            name, persistable = None, False
            for vfield, vwire, value in _fields(var):
                if vfield == 1 and vwire == 2:
                    name = value.decode("utf-8")
                elif vfield == 3 and vwire == 0:
                    persistable = bool(value)
            if name and persistable and name not in ("feed", "fetch"):
                names.append(name)
        break  # block 0 holds the parameters
    return names


# --- ONNX assembly --------------------------------------------------------------------------------------

def tensor(name: str, a: np.ndarray) -> TensorProto:
    a = np.ascontiguousarray(a, dtype=np.float32)
    t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=a.shape)
    t.raw_data = a.tobytes()
    return t


def build_model(model: str, weights: dict[str, np.ndarray], label: str, fc_names: tuple[str, str] | None = None) -> onnx.ModelProto:
    g = build_network(model, fc_names)
    inits = [tensor(n, weights[n]) for n in g.params]
    inits.append(numpy_helper.from_array(np.array([2, 3], np.int64), "axes_2_3"))
    if not any("axes_2_3" in n.input for n in g.nodes):
        inits.pop()
    graph = helper.make_graph(
        g.nodes, model,
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", EMBEDDING])], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="gpuinfer Models/gldv2.py")
    m.ir_version = 8
    short = SHORT_SIDE[model]
    helper.set_model_props(m, {
        "gpuinfer.model": model, "gpuinfer.summary": SUMMARY[model],
        "gpuinfer.size_mode": "short_side", "gpuinfer.short_side": str(short), "gpuinfer.size_multiple": "32",
        "gpuinfer.max_aspect": "3",
        # Nominal square size (short side floored to 32) for tools that need one fixed size.
        "gpuinfer.input_width": str(short // 32 * 32), "gpuinfer.input_height": str(short // 32 * 32),
        "gpuinfer.resize": "lanczos4", "gpuinfer.channel_order": "RGB", "gpuinfer.scale": str(1 / 255),
        "gpuinfer.mean": ",".join(map(str, MEAN)), "gpuinfer.std": ",".join(map(str, STD)),
        "gpuinfer.weights": label, "gpuinfer.embedding": "raw (no L2); compare with cosine similarity",
    })
    return m


def recipe_size(width: int, height: int, size: int) -> tuple[int, int]:
    """infer_retrieval.py's target (W'', H'') for an image of width x height."""
    ratio = max(width, height) / min(width, height)
    if ratio > 3:
        size = int(size * 3 / ratio)
    scale = size / min(height, width)
    w, h = round(width * scale), round(height * scale)
    return max(32, w // 32 * 32), max(32, h // 32 * 32)


def preprocess(path: str, size: int) -> np.ndarray:
    """The reference preprocessing (cv2 decode, INTER_LANCZOS4 to the recipe size, RGB, ImageNet norm)."""
    import cv2
    im = cv2.imread(path)
    if im is None:
        raise ValueError(f"cannot read image {path}")
    h, w = im.shape[:2]
    tw, th = recipe_size(w, h, size)
    im = cv2.resize(im, (tw, th), interpolation=cv2.INTER_LANCZOS4)
    x = im[:, :, ::-1].astype(np.float32).transpose(2, 0, 1) / 255.0
    x = (x - np.array(MEAN, np.float32)[:, None, None]) / np.array(STD, np.float32)[:, None, None]
    return x[None].astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--model", required=True, choices=MODELS)
    parser.add_argument("--out", help="output .onnx (default Models/generated/<model>.onnx)")
    parser.add_argument("--weights", help="weights file (see --weights-format)")
    parser.add_argument("--weights-format", choices=["paddle"], default="paddle",
                        help="paddle: the combined `params` file of a Paddle inference model")
    parser.add_argument("--paddle-model", help="the inference model's `model` ProgramDesc: take the record names from it")
    parser.add_argument("--fc-names", help="names of the embedding FC weight and bias, comma-separated")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights (without --weights)")
    parser.add_argument("--write-synthetic-params", metavar="FILE", help="write seeded random weights as a Paddle params file, then exit")
    args = parser.parse_args()
    fc_names = tuple(args.fc_names.split(",")) if args.fc_names else None
    if fc_names is not None and len(fc_names) != 2:
        sys.exit("gldv2.py: --fc-names needs two names: WEIGHT,BIAS")

    start = time.time()
    g = build_network(args.model, fc_names)
    if args.write_synthetic_params:
        write_paddle_params(args.write_synthetic_params, random_weights(g, args.seed))
        print(f"wrote {args.write_synthetic_params} ({len(g.params)} tensors, {time.time() - start:.1f} s)")
        return
    if args.weights:
        expected = dict(g.params)
        if args.paddle_model:
            names = program_persistables(args.paddle_model)
            extra = sorted(set(names) - set(expected))
            missing = sorted(set(expected) - set(names))
            if missing:
                sys.exit(f"gldv2.py: {args.paddle_model} lacks {len(missing)} parameter(s) of {args.model}: {', '.join(missing[:8])}"
                         + (" (use --fc-names for the embedding FC)" if any(n in missing for n in (fc_names or DEFAULT_FC[args.model])) else ""))
            if extra:
                sys.exit(f"gldv2.py: {args.paddle_model} has {len(extra)} persistable variable(s) {args.model} does not use: {', '.join(extra[:8])}")
        try:
            weights = read_paddle_params(args.weights, expected)
        except (OSError, ValueError) as e:
            sys.exit(f"gldv2.py: {e}")
        label = os.path.basename(args.weights)
    else:
        print(f"warning: gldv2.py: no --weights given: writing seeded random weights (seed {args.seed}); "
              "the embeddings are not meaningful for retrieval", file=sys.stderr)
        weights, label = random_weights(g, args.seed), f"random-seed-{args.seed}"
    model = build_model(args.model, weights, label, fc_names)
    out = args.out or os.path.join(root, "generated", f"{args.model}.onnx")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    onnx.save(model, out)
    onnx.checker.check_model(out)
    print(f"wrote {out} ({os.path.getsize(out) / 1e6:.0f} MB, {len(g.params)} parameters, weights {label}) in {time.time() - start:.1f} s")


if __name__ == "__main__":
    main()
