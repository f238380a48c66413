#!/usr/bin/env python3
"""Checks Models/vpr.py's `--weights` mapping against PyTorch (needs torch; NOT part of the normal
fixture run, which needs no torch): builds the deep-visual-geo-localization-benchmark networks in
plain torch (ResNet-18 to layer3 / VGG-16 features[:-2] with torchvision's module names, the
benchmark's L2Norm -> GeM -> Flatten and NetVLAD layers, wrapped in `.backbone` / `.aggregation`,
re-implemented here from model/network.py and model/aggregation.py), randomizes every parameter
and BN statistic, saves the benchmark's checkpoint layouts —
  train_ckpt.pth   torch.save({"epoch_num", "model_state_dict" (DataParallel: `module.` prefix),
                   "optimizer_state_dict" (Adam, with state), "best_r5", "not_improved_num"})
                   (zip format)
  state_dict.pth   the bare state_dict without prefix, legacy (non-zip) format
— exports each with `vpr.py --weights`, and compares onnxruntime with the torch forward (eval mode)
at 480x640 and 353x517, batch 2. Also checks --gem-pattern reducemean, --plain, --l2 after_pool,
and a training checkpoint that also holds NumPy bookkeeping (the benchmark's "recalls" array and
numpy-float "best_r5"), which the reader skips as inert placeholders.

usage: /path/to/torch-venv/bin/python Tests/Models/check_vpr_torch.py [--dir /tmp/vpr_torch_check]
(that interpreter also needs numpy, onnx and onnxruntime). Exit status 1 on any mismatch.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "Models"))
import vpr  # noqa: E402
from reference_outputs import run_onnxruntime  # noqa: E402
from torch_checkpoint import CheckpointError, load_state_dict  # noqa: E402


class BasicBlock(nn.Module):
    def __init__(self, cin: int, c: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, c, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.downsample = nn.Sequential(nn.Conv2d(cin, c, 1, stride, bias=False), nn.BatchNorm2d(c)) if stride != 1 or cin != c else None

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


def resnet18_conv4() -> nn.Sequential:
    """list(torchvision resnet18.children())[:-3]: conv1, bn1, relu, maxpool, layer1, layer2, layer3."""
    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for c, s in ((64, 1), (128, 2), (256, 2)):
        layers.append(nn.Sequential(BasicBlock(cin, c, s), BasicBlock(c, c, 1)))
        cin = c
    return nn.Sequential(*layers)


def vgg16_features_cut() -> nn.Sequential:
    """list(torchvision vgg16.features.children())[:-2]."""
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
    layers, cin = [], 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=True)]
            cin = v
    return nn.Sequential(*layers[:-2])


class L2Norm(nn.Module):
    def forward(self, x):
        return F.normalize(x, p=2, dim=1)


class GeM(nn.Module):
    def __init__(self, p: float = 3, eps: float = 1e-6) -> None:
        super().__init__()
        self.p = nn.Parameter(torch.ones(1) * p)
        self.eps = eps

    def forward(self, x):
        return F.avg_pool2d(x.clamp(min=self.eps).pow(self.p), (x.size(-2), x.size(-1))).pow(1. / self.p)


class Flatten(nn.Module):
    def forward(self, x):
        return x[:, :, 0, 0]


class NetVLAD(nn.Module):
    def __init__(self, clusters: int, dim: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(dim, clusters, 1, bias=False)
        self.centroids = nn.Parameter(torch.rand(clusters, dim))

    def forward(self, x):
        n, d = x.shape[:2]
        x = F.normalize(x, p=2, dim=1)
        xf = x.view(n, d, -1)
        a = F.softmax(self.conv(x).view(n, self.centroids.shape[0], -1), dim=1)
        residual = xf.unsqueeze(1) - self.centroids[None, :, :, None]      # N,K,D,P
        vlad = (residual * a.unsqueeze(2)).sum(-1)                         # N,K,D
        vlad = F.normalize(vlad, p=2, dim=2).view(n, -1)
        return F.normalize(vlad, p=2, dim=1)


class Net(nn.Module):
    def __init__(self, name: str, l2: str) -> None:
        super().__init__()
        backbone, agg = vpr.NAMES[name]
        self.backbone = resnet18_conv4() if backbone == "resnet18" else vgg16_features_cut()
        d = vpr.feature_dim(backbone)
        if agg == "netvlad":
            self.aggregation = NetVLAD(64, d)
        elif l2 == "before_pool":
            self.aggregation = nn.Sequential(L2Norm(), GeM(), Flatten())
        elif l2 == "after_pool":
            self.aggregation = nn.Sequential(GeM(), L2Norm(), Flatten())
        else:
            self.aggregation = nn.Sequential(GeM(), Flatten())

    def forward(self, x):
        return self.aggregation(self.backbone(x))


def randomize(net: nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.2)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.3)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.num_batches_tracked.fill_(1234)
            elif isinstance(m, GeM):
                m.p.fill_(2.5 + float(torch.rand(1, generator=g)))
            elif isinstance(m, NetVLAD):
                c = torch.randn(m.centroids.shape, generator=g)
                m.centroids.copy_(F.normalize(c, dim=1) * 0.5)
                m.conv.weight.copy_((20 * F.normalize(c, dim=1))[:, :, None, None])


def images(h: int, w: int, seed: int) -> np.ndarray:
    x = vpr.preprocess_photo(vpr.PHOTO, h, w)
    rng = np.random.default_rng(seed)
    return np.concatenate([x, x[:, :, ::-1, :] + rng.standard_normal(x.shape).astype(np.float32) * 0.3]).astype(np.float32)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", default="/tmp/vpr_torch_check")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    torch.manual_seed(0)
    failures = 0
    cases = [("resnet18_gem", "before_pool", "globalaveragepool", False), ("resnet18_netvlad", "before_pool", "globalaveragepool", False),
             ("vgg16_gem", "before_pool", "globalaveragepool", False), ("resnet18_gem", "before_pool", "reducemean", False),
             ("resnet18_netvlad", "before_pool", "globalaveragepool", True), ("resnet18_gem", "after_pool", "globalaveragepool", False),
             ("resnet18_gem", "none", "reducemean", False)]
    for i, (name, l2, pattern, plain) in enumerate(cases):
        net = Net(name, l2)
        randomize(net, 100 + i)
        net.eval()
        dp = nn.DataParallel(net)
        opt = torch.optim.Adam(net.parameters(), lr=1e-5)
        net.train()
        net(torch.from_numpy(images(64, 96, i))).sum().backward()  # one step: the optimizer gets state
        opt.step()
        net.eval()
        with torch.no_grad():
            for m in net.modules():  # undo the BN statistic updates of the training step, keep it random
                if isinstance(m, nn.BatchNorm2d):
                    m.running_var.clamp_(min=0.1)
        ckpt = os.path.join(a.dir, f"{name}_{l2}_train_ckpt.pth")
        torch.save({"epoch_num": 3, "model_state_dict": dp.state_dict(), "optimizer_state_dict": opt.state_dict(),
                    "best_r5": 81.5, "not_improved_num": 0}, ckpt)
        sd_path = os.path.join(a.dir, f"{name}_{l2}_state_dict.pth")
        torch.save(net.state_dict(), sd_path, _use_new_zipfile_serialization=False)
        for path in (ckpt, sd_path):
            out = os.path.join(a.dir, f"{name}_{l2}_{pattern}{'_plain' if plain else ''}.onnx")
            vpr.export(name, out, weights=path, l2=l2, gem_pattern=pattern, plain=plain)
            for h, w in ((480, 640), (353, 517)):
                x = images(h, w, i)
                with torch.no_grad():
                    ref = net(torch.from_numpy(x)).numpy()
                got = run_onnxruntime(out, {"image": x})["descriptor"]
                err = float(np.abs(got - ref).max())
                rel = err / float(np.abs(ref).max())
                ok = got.shape == ref.shape and rel < 1e-4
                failures += not ok
                print(f"{'ok  ' if ok else 'FAIL'} {name:17s} l2={l2:11s} {pattern:17s} plain={plain!s:5s} {os.path.basename(path)[-14:]:14s} "
                      f"{h}x{w}: shape {list(got.shape)}, max |ort - torch| {err:.2e} (rel {rel:.1e})")
    # The benchmark's own training checkpoints also hold "recalls" (a NumPy array) and "best_r5" (a NumPy
    # float): the reader keeps them as inert placeholders (nothing is unpickled) and takes the model.
    net = Net("resnet18_gem", "before_pool")
    randomize(net, 7)
    net.eval()
    bad = os.path.join(a.dir, "with_recalls.pth")
    torch.save({"epoch_num": 1, "model_state_dict": nn.DataParallel(net).state_dict(), "recalls": np.array([80.1, 90.2, 93.0, 95.5]),
                "best_r5": np.float64(90.2), "not_improved_num": 0}, bad)
    try:
        tensors = load_state_dict(bad)
        out = os.path.join(a.dir, "with_recalls.onnx")
        vpr.export("resnet18_gem", out, weights=bad)
        x = images(480, 640, 0)
        with torch.no_grad():
            ref = net(torch.from_numpy(x)).numpy()
        err = float(np.abs(run_onnxruntime(out, {"image": x})["descriptor"] - ref).max())
        ok = err < 1e-5 and not any("recalls" in k or "best_r5" in k for k in tensors)
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} with_recalls.pth (NumPy recalls, best_r5): {len(tensors)} tensors read, max |ort - torch| {err:.2e}")
    except CheckpointError as e:
        print(f"FAIL with_recalls.pth refused: {e}")
        failures += 1
    print("all ok" if failures == 0 else f"{failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
