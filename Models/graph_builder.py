"""The CNN graph builder the exporters of calibrated random weights share (Models/vpr.py,
Models/mpncov.py): it appends ONNX nodes and, given a NumPy input, runs them in float32, setting
each BN's statistics from its input when calibrating."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

BN_EPS = 1e-5


def np_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: int, pad: int) -> np.ndarray:
    """Cross-correlation NCHW x OIHW in float32 (sliding windows + tensordot)."""
    kh, kw = w.shape[2:]
    if kh == 1 and kw == 1 and pad == 0:
        y = np.tensordot(x[:, :, ::stride, ::stride], w[:, :, 0, 0], axes=([1], [1])).transpose(0, 3, 1, 2)
    else:
        xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
        y = np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)
    y = np.ascontiguousarray(y, np.float32)
    return y if b is None else y + b[None, :, None, None]


class GraphBuilder:
    """Appends ONNX nodes named after their outputs, reading weights `NAME.weight` etc. from `w`;
    with `values` (a dict holding the input), also runs them in NumPy and, when `calibrate`, sets
    each BN's statistics from its input before applying it."""

    def __init__(self, w: dict[str, np.ndarray], values: dict[str, np.ndarray] | None, calibrate: bool) -> None:
        self.w, self.values, self.calibrate = w, values, calibrate
        self.nodes: list[onnx.NodeProto] = []

    def node(self, op_type: str, inputs: list[str], output: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=output, **attrs))
        return output

    def conv(self, x: str, name: str, stride: int = 1, pad: int = 0, bias: bool = False) -> str:
        k = self.w[f"{name}.weight"].shape[2]
        out = self.node("Conv", [x, f"{name}.weight"] + ([f"{name}.bias"] if bias else []), name,
                        kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4)
        if self.values is not None:
            self.values[out] = self.conv_values(x, name, stride, pad, bias)
        return out

    def conv_values(self, x: str, name: str, stride: int, pad: int, bias: bool) -> np.ndarray:
        """The NumPy forward of conv `name` on value `x`."""
        return np_conv(self.values[x], self.w[f"{name}.weight"], self.w[f"{name}.bias"] if bias else None, stride, pad)

    def bn(self, x: str, name: str) -> str:
        out = self.node("BatchNormalization", [x] + [f"{name}.{p}" for p in ("weight", "bias", "running_mean", "running_var")],
                        name, epsilon=BN_EPS)
        if self.values is not None:
            v = self.values[x]
            if self.calibrate:
                self.w[f"{name}.running_mean"] = v.mean(axis=(0, 2, 3)).astype(np.float32)
                self.w[f"{name}.running_var"] = v.var(axis=(0, 2, 3)).astype(np.float32)
            g = self.w[f"{name}.weight"] / np.sqrt(self.w[f"{name}.running_var"] + np.float32(BN_EPS))
            self.values[out] = ((v - self.w[f"{name}.running_mean"][None, :, None, None]) * g[None, :, None, None]
                                + self.w[f"{name}.bias"][None, :, None, None]).astype(np.float32)
        return out

    def relu(self, x: str) -> str:
        out = self.node("Relu", [x], x + ".relu")
        if self.values is not None:
            self.values[out] = np.maximum(self.values[x], 0)
        return out

    def add(self, a: str, b: str, name: str) -> str:
        out = self.node("Add", [a, b], name)
        if self.values is not None:
            self.values[out] = self.values[a] + self.values[b]
        return out

    def maxpool(self, x: str, name: str, k: int, s: int, pad: int) -> str:
        out = self.node("MaxPool", [x], name, kernel_shape=[k, k], strides=[s, s], pads=[pad] * 4)
        if self.values is not None:
            xp = np.pad(self.values[x], ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=-np.inf)
            win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::s, ::s]
            self.values[out] = win.max(axis=(4, 5))
        return out
