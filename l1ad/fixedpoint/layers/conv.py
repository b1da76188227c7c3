"""Convolutions: QKeras ``QConv1D`` and ``QConv2D`` as one matrix product per output position.

A (k_1 x ... x c_in) window of the input, flattened in Keras' kernel order, times the (fan-in, c_out) weight
matrix plus the bias, held exactly (the same integer weights as :mod:`~l1ad.fixedpoint.layers.dense`, including
``alpha='auto_po2'`` kernels, and the same float32 exactness rule). ``padding='valid'`` or ``'same'`` (zeros, as
Keras pads), strides, no dilation. The emulator gathers all windows at once (im2col) and does one product; the
da4ml trace builds one constant-matrix adder graph per output position.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.lib.stride_tricks import as_strided

from l1ad.fixedpoint.layers.base import (
    Bounds,
    FastContext,
    Node,
    abs_max,
    channel_factor,
    object_array,
    refuse,
    refuse_node,
)
from l1ad.fixedpoint.layers.dense import (
    Affine,
    abs_bound,
    affine_bounds,
    affine_from_keras,
    matmul,
    trace_matmul,
    weight_integers,
)
from l1ad.fixedpoint.layers.quantize import activation_nodes, requant
from l1ad.fixedpoint.precision import Precision

__all__ = ["KERAS", "NODES", "Conv", "Conv1D", "Conv2D", "ConvGemm", "window_index"]


def window_index(spatial: tuple[int, ...], kernel: tuple[int, ...], strides: tuple[int, ...],
                 pads: tuple[tuple[int, int], ...]) -> tuple[np.ndarray, tuple[int, ...]]:
    """Flat indices into the zero-padded spatial grid of every window: (positions, window size), row-major both,
    and the output spatial shape."""
    padded = tuple(s + a + b for s, (a, b) in zip(spatial, pads, strict=True))
    out = tuple((p - k) // st + 1 for p, k, st in zip(padded, kernel, strides, strict=True))
    starts = np.stack(np.meshgrid(*[np.arange(o) * st for o, st in zip(out, strides, strict=True)], indexing="ij"),
                      -1).reshape(-1, len(out))
    offs = np.stack(np.meshgrid(*[np.arange(k) for k in kernel], indexing="ij"), -1).reshape(-1, len(kernel))
    pos = starts[:, None, :] + offs[None, :, :]  # (P, K, d)
    return np.ravel_multi_index(tuple(pos[..., i] for i in range(len(out))), padded), out


def _pad(a: np.ndarray, pads: tuple[tuple[int, int], ...], lead: int = 1) -> np.ndarray:
    if not any(a0 or b0 for a0, b0 in pads):
        return a
    width = [(0, 0)] * lead + list(pads) + [(0, 0)]
    return np.pad(a, width)


@dataclass(frozen=True, eq=False)
class Conv(Affine):
    """Weights (k_1, ..., k_d, c_in, c_out); ``pads`` per spatial axis (before, after)."""

    @property
    def kernel(self) -> tuple[int, ...]:
        return tuple(int(k) for k in self.weights.shape[:-2])

    @property
    def step(self) -> tuple[int, ...]:
        raise NotImplementedError

    @property
    def pads(self) -> tuple[tuple[int, int], ...]:
        raise NotImplementedError

    def _index(self, shape: tuple[int, ...]) -> tuple[np.ndarray, tuple[int, ...]]:
        return window_index(shape[:-1], self.kernel, self.step, self.pads)

    def propagate(self, b: Bounds) -> Bounds:
        if len(b.shape) != len(self.kernel) + 1:
            raise refuse_node(self, f"expects a {len(self.kernel) + 1}-d input, got shape {b.shape}")
        idx, out = self._index(b.shape)
        c = b.shape[-1]
        lo = _pad(b.lo, self.pads, 0).reshape(-1, c)[idx].reshape(len(idx), -1)
        hi = _pad(b.hi, self.pads, 0).reshape(-1, c)[idx].reshape(len(idx), -1)
        r = affine_bounds(self, lo, hi, b.uniform_frac(self))
        return r.reshape((*out, self.weights.shape[-1]))

    def emulate(self, x: np.ndarray, frac: np.ndarray | int, in_prec: Precision | None) -> tuple[np.ndarray, int]:
        bound = abs_bound(in_prec) if in_prec is not None else int(np.abs(x).max(initial=0))
        idx, out = self._index(x.shape[1:])
        xp = _pad(x, self.pads)
        patches = xp.reshape(len(x), -1, x.shape[-1])[:, idx, :].reshape(len(x), len(idx), -1)  # (N, P, K*c_in)
        acc = matmul(patches, self.matrix, bound)
        y, n = self.finish(acc, int(frac))
        return y.reshape((len(x), *out, self.weights.shape[-1])), n

    def fast(self, ctx: FastContext) -> bool:
        """One strided BLAS product per row of the kernel (Conv1D: one in all) on the (*spatial, c_in, n) tensor:
        the windows of the kernel's last axis times c_in are contiguous, so a strided view of the input (no
        im2col copy) is the product's operand; then the requantization into ``output``."""
        b = ctx.bounds
        if len(b.shape) != len(self.kernel) + 1:
            return False
        frac = b.uniform_frac(self)
        idx, out = self._index(b.shape)
        c = b.shape[-1]
        mag = _pad(abs_max(b), self.pads, 0).reshape(-1, c)[idx].reshape(len(idx), -1)
        if not ctx.fits(self.partial_sums(mag, frac)):
            return False
        w, bias = self.fast_weights(frac, ctx.dt)  # (c_out, k_1 * ... * k_d * c_in)
        rows = w.reshape(w.shape[0], -1, self.kernel[-1] * c)  # (c_out, taps, k_d * c_in)
        taps = [np.ascontiguousarray(rows[:, i]) for i in range(rows.shape[1])]
        ctx.add(ConvGemm(taps, bias, self.kernel, self.step, self.pads, b.shape, out))
        return requant(ctx, ctx.raw, self.output)

    def trace(self, x: np.ndarray) -> np.ndarray:
        c_in = x.shape[-1]
        idx, out = self._index(x.shape)
        padded = tuple(s + a + b for s, (a, b) in zip(x.shape[:-1], self.pads, strict=True))
        valid = np.zeros(padded, bool)
        valid[tuple(slice(a, a + s) for s, (a, _) in zip(x.shape[:-1], self.pads, strict=True))] = True
        where = np.full(valid.size, -1)
        where[valid.ravel()] = np.arange(int(np.prod(x.shape[:-1])))
        xf = x.reshape(-1, c_in)
        w = self.weights.reshape(-1, c_in, self.weights.shape[-1])
        rows = []
        for p in range(len(idx)):
            src = where[idx[p]]
            keep = src >= 0  # padded positions hold 0: leave their weights out
            vec = xf[src[keep]].reshape(-1)
            acc = trace_matmul(vec, w[keep].reshape(-1, w.shape[-1]), self.weight_frac)
            rows.extend(self.trace_outputs(acc))
        return object_array(rows, (*out, self.weights.shape[-1]))


class ConvGemm:
    """Fast-path convolution step on a (*spatial, c_in, n) tensor -> (*out, c_out, n).

    For each position of the kernel's leading axes (one for Conv1D) the windows of the last spatial axis, k_d
    positions x c_in channels, are contiguous in memory: a strided view of shape (*out, k_d * c_in, n) over the
    (padded) input, multiplied by that tap's (c_out, k_d * c_in) weights in one batched BLAS call."""

    def __init__(self, taps: list[np.ndarray], bias: np.ndarray, kernel: tuple[int, ...], step: tuple[int, ...],
                 pads: tuple[tuple[int, int], ...], in_shape: tuple[int, ...], out: tuple[int, ...]):
        self.taps, self.bias, self.kernel, self.step, self.pads = taps, bias, kernel, step, pads
        self.in_shape, self.out = in_shape, out
        self.offsets = list(np.ndindex(*kernel[:-1]))
        self.padded = any(a or z for a, z in pads)
        self.any_b = bool(np.any(bias))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        d, c, n = len(self.kernel), self.in_shape[-1], x.shape[-1]
        x = x.reshape(*self.in_shape, n)
        if self.padded:
            x = np.pad(x, [*self.pads, (0, 0), (0, 0)])
        if x.strides[d - 1] != c * x.strides[d]:  # windows of (k_d, c_in) must be one stride apart
            x = np.ascontiguousarray(x)
        st = x.strides
        shape = (*self.out, self.kernel[-1] * c, n)
        strides = (*(k * s for k, s in zip(self.step, st[:d], strict=True)), st[d], st[d + 1])
        y = None
        for off, w in zip(self.offsets, self.taps, strict=True):
            view = as_strided(x[off], shape, strides, writeable=False)
            if y is None:
                y = np.matmul(w, view)
            else:
                y += np.matmul(w, view)
        assert y is not None
        if self.any_b:
            y += self.bias
        return y

    def scaled(self, factor: np.ndarray) -> ConvGemm | None:
        f = channel_factor(factor, self.taps[0].shape[0])
        if f is None:
            return None
        return ConvGemm([w * f for w in self.taps], self.bias * f, self.kernel, self.step, self.pads, self.in_shape,
                        self.out)


@dataclass(frozen=True, eq=False)
class Conv1D(Conv):
    """Weights (k, c_in, c_out) applied along the length."""

    kind: ClassVar[str] = "conv1d"
    OPTIONAL: ClassVar[tuple[str, ...]] = ("padding",)
    stride: int = 1
    padding: tuple[tuple[int, int], ...] = ((0, 0),)

    @property
    def step(self) -> tuple[int, ...]:
        return (self.stride,)

    @property
    def pads(self) -> tuple[tuple[int, int], ...]:
        return self.padding


@dataclass(frozen=True, eq=False)
class Conv2D(Conv):
    """Weights (k_h, k_w, c_in, c_out) over (height, width, channels) inputs (channels last)."""

    kind: ClassVar[str] = "conv2d"
    strides: tuple[int, int] = (1, 1)
    padding: tuple[tuple[int, int], ...] = ((0, 0), (0, 0))

    @property
    def step(self) -> tuple[int, ...]:
        return tuple(self.strides)

    @property
    def pads(self) -> tuple[tuple[int, int], ...]:
        return self.padding


# ------------------------------------------------------------------------------------------------ QKeras
def same_padding(size: int, k: int, stride: int) -> tuple[int, int]:
    """Keras/TensorFlow 'same': output ceil(size / stride), the extra zero (if odd) after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def keras_padding(layer: Any, spatial: tuple[int, ...], kernel: tuple[int, ...],
                  strides: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    if layer.padding == "valid":
        return tuple((0, 0) for _ in kernel)
    if layer.padding == "same":
        return tuple(same_padding(s, k, st) for s, k, st in zip(spatial, kernel, strides, strict=True))
    raise refuse(layer, f"padding={layer.padding!r} not supported (valid or same)")


def _qconv(layer: Any) -> list[Node]:
    ltype = type(layer).__name__
    d = 1 if ltype == "QConv1D" else 2
    if ltype == "QConv2DBatchnorm":
        # QKeras folds the batch norm into the kernel and bias, then quantizes both (its inference path)
        kernel, bias = (np.asarray(t, np.float32) for t in layer.get_folded_weights())
        w, wf = weight_integers(layer, layer.kernel_quantizer_internal, kernel, "folded kernel")
        b, bf = weight_integers(layer, layer.bias_quantizer_internal, bias, "folded bias")
    else:
        w, wf, b, bf = affine_from_keras(layer)
    if any(int(r) != 1 for r in np.atleast_1d(layer.dilation_rate)):
        raise refuse(layer, "only dilation 1 supported")
    if int(getattr(layer, "groups", 1)) != 1:
        raise refuse(layer, "grouped convolutions not supported")
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise refuse(layer, "only data_format='channels_last' supported")
    strides = tuple(int(s) for s in layer.strides)
    spatial = tuple(int(s) for s in layer.input_shape[1:1 + d])
    pads = keras_padding(layer, spatial, tuple(w.shape[:d]), strides)
    if d == 1:
        node: Conv = Conv1D(layer.name, weights=w, weight_frac=wf, bias=b, bias_frac=bf, stride=strides[0],
                            padding=pads)
    else:
        node = Conv2D(layer.name, weights=w, weight_frac=wf, bias=b, bias_frac=bf, strides=(strides[0], strides[1]),
                      padding=pads)
    return [node, *activation_nodes(layer.activation, layer.name, ltype)]


NODES: tuple[type[Node], ...] = (Conv1D, Conv2D)
KERAS = {"QConv1D": _qconv, "QConv2D": _qconv, "QConv2DBatchnorm": _qconv}
