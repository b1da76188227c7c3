"""Pooling: Keras ``MaxPooling1D/2D``, ``AveragePooling1D/2D`` and their global forms, held exactly.

Max pooling is a comparator tree. Average pooling is the window's sum and a free shift when the window holds a
power-of-two number of values (the float mean is then exact, as Keras computes it); other sizes have no exact
fixed-point mean and are refused. Only ``padding='valid'``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from l1ad.fixedpoint.layers.base import (
    Bounds,
    FastContext,
    HlsContext,
    Node,
    abs_max,
    object_array,
    refuse,
    refuse_node,
    trace_quantize,
    tree_sum,
)
from l1ad.fixedpoint.layers.conv import window_index
from l1ad.fixedpoint.layers.quantize import requant
from l1ad.fixedpoint.precision import Precision, requantize

__all__ = ["KERAS", "NODES", "AvgPool1D", "AvgPool2D", "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalMaxPool1D",
           "GlobalMaxPool2D", "MaxPool1D", "MaxPool2D", "Pool"]


@dataclass(frozen=True, eq=False)
class Pool(Node):
    """A window op over the spatial axes of a (spatial..., channels) tensor. ``op``: max or avg."""

    op: ClassVar[str] = "max"
    glob: ClassVar[bool] = False
    dims: ClassVar[int] = 1

    def window(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(pool size, strides) per spatial axis (global: ignored)."""
        raise NotImplementedError

    def _index(self, shape: tuple[int, ...]) -> tuple[np.ndarray, tuple[int, ...]]:
        spatial = shape[:-1]
        if len(spatial) != self.dims:
            raise refuse_node(self, f"expects a {self.dims + 1}-d input, got shape {shape}")
        if self.glob:
            return np.arange(int(np.prod(spatial)))[None, :], ()
        pool, strides = self.window()
        return window_index(spatial, pool, strides, tuple((0, 0) for _ in pool))

    def _shift(self, n: int) -> int:
        if self.op == "max":
            return 0
        if n & (n - 1):
            raise refuse_node(self, f"averages {n} values, not a power of two (no exact fixed-point mean)")
        return n.bit_length() - 1

    def propagate(self, b: Bounds) -> Bounds:
        idx, out = self._index(b.shape)
        c = b.shape[-1]
        frac = b.uniform_frac(self)
        lo, hi = b.lo.reshape(-1, c)[idx], b.hi.reshape(-1, c)[idx]  # (P, K, C)
        if self.op == "max":
            return Bounds(lo.max(axis=1), hi.max(axis=1), frac).reshape((*out, c))
        return Bounds(lo.sum(axis=1), hi.sum(axis=1), frac + self._shift(idx.shape[1])).reshape((*out, c))

    def emulate(self, x: np.ndarray, frac: np.ndarray | int, in_prec: Precision | None) -> tuple[np.ndarray, int]:
        idx, out = self._index(x.shape[1:])
        c = x.shape[-1]
        win = x.reshape(len(x), -1, c)[:, idx, :]  # (N, P, K, C)
        if self.op == "max":
            return win.max(axis=2).reshape((len(x), *out, c)), 0
        y, n = requantize(win.sum(axis=2), int(frac) + self._shift(idx.shape[1]), self.output)
        return y.reshape((len(x), *out, c)), n

    def fast(self, ctx: FastContext) -> bool:
        """Max or sum over each window as one NumPy op per window offset (a strided view of every window at once);
        global pooling as one reduction over the spatial axes. Sums are exact: every partial sum is at most the
        window's sum of magnitudes."""
        b = ctx.bounds
        idx, out = self._index(b.shape)
        c = b.shape[-1]
        if self.op == "avg" and not ctx.fits(abs_max(b).reshape(-1, c)[idx].sum(axis=1)):
            return False
        if self.glob:
            ctx.add(_GlobalPool(self.op, b.shape))
        else:
            pool, strides = self.window()
            ctx.add(_WindowPool(self.op, pool, strides, out))
        return requant(ctx, ctx.raw, self.output)

    def hls(self, ctx: HlsContext) -> None:
        """hls4ml pools in ``accum_t`` (max: the comparisons; avg: the sum, then ``/= n`` in place): the input type
        for max, the sum's integer range at the result's binary point for avg."""
        ctx.set(self.name, "result", self.output)
        if self.op == "max" and ctx.in_prec is not None:
            ctx.set(self.name, "accum", ctx.in_prec)
        elif self.op == "avg" and ctx.in_prec is not None:
            k = self.output.frac - ctx.in_prec.frac
            ctx.set(self.name, "accum", Precision(self.output.width + k, self.output.frac, self.output.signed))

    def trace(self, x: np.ndarray) -> np.ndarray:
        idx, out = self._index(x.shape)
        c = x.shape[-1]
        xf = x.reshape(-1, c)
        vals = []
        for p in range(len(idx)):
            for ch in range(c):
                win = list(xf[idx[p], ch])
                if self.op == "max":
                    vals.append(functools.reduce(lambda a, b: a.max_of(b), win))
                else:
                    k = int(math.log2(len(win)))
                    vals.append(trace_quantize(tree_sum(win) * 2.0**-k, self.output))
        return object_array(vals, (*out, c))


class _WindowPool:
    """Max/sum over windows of a (*spatial, c, n) tensor: for each offset in the window, the strided view of that
    element of every window, combined elementwise."""

    def __init__(self, op: str, pool: tuple[int, ...], strides: tuple[int, ...], out: tuple[int, ...]):
        self.op = op
        self.views = [tuple(slice(o, o + st * (m - 1) + 1, st) for o, st, m in zip(off, strides, out, strict=True))
                      for off in np.ndindex(*pool)]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y = np.array(x[self.views[0]])
        combine = np.maximum if self.op == "max" else np.add
        for v in self.views[1:]:
            combine(y, x[v], out=y)
        return y


class _GlobalPool:
    def __init__(self, op: str, shape: tuple[int, ...]):
        self.op, self.shape = op, shape

    def __call__(self, x: np.ndarray) -> np.ndarray:
        flat = x.reshape(-1, self.shape[-1], x.shape[-1])
        return flat.max(axis=0) if self.op == "max" else flat.sum(axis=0)


@dataclass(frozen=True, eq=False)
class MaxPool1D(Pool):
    kind: ClassVar[str] = "maxpool1d"
    pool: int = 2
    stride: int = 2

    def window(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        return (self.pool,), (self.stride,)


@dataclass(frozen=True, eq=False)
class AvgPool1D(MaxPool1D):
    kind: ClassVar[str] = "avgpool1d"
    op: ClassVar[str] = "avg"


@dataclass(frozen=True, eq=False)
class MaxPool2D(Pool):
    kind: ClassVar[str] = "maxpool2d"
    dims: ClassVar[int] = 2
    pool: tuple[int, int] = (2, 2)
    strides: tuple[int, int] = (2, 2)

    def window(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        return tuple(self.pool), tuple(self.strides)


@dataclass(frozen=True, eq=False)
class AvgPool2D(MaxPool2D):
    kind: ClassVar[str] = "avgpool2d"
    op: ClassVar[str] = "avg"


@dataclass(frozen=True, eq=False)
class GlobalMaxPool1D(Pool):
    kind: ClassVar[str] = "globalmaxpool1d"
    glob: ClassVar[bool] = True


@dataclass(frozen=True, eq=False)
class GlobalAvgPool1D(Pool):
    """Sum over the length (a power of two) then a free shift: exact, like the float mean."""

    kind: ClassVar[str] = "globalavgpool1d"
    glob: ClassVar[bool] = True
    op: ClassVar[str] = "avg"


@dataclass(frozen=True, eq=False)
class GlobalMaxPool2D(GlobalMaxPool1D):
    kind: ClassVar[str] = "globalmaxpool2d"
    dims: ClassVar[int] = 2


@dataclass(frozen=True, eq=False)
class GlobalAvgPool2D(GlobalAvgPool1D):
    kind: ClassVar[str] = "globalavgpool2d"
    dims: ClassVar[int] = 2


# ------------------------------------------------------------------------------------------------ Keras
_WINDOWED = {"MaxPooling1D": MaxPool1D, "AveragePooling1D": AvgPool1D, "MaxPooling2D": MaxPool2D,
             "AveragePooling2D": AvgPool2D}
_GLOBAL = {"GlobalMaxPooling1D": GlobalMaxPool1D, "GlobalAveragePooling1D": GlobalAvgPool1D,
           "GlobalMaxPooling2D": GlobalMaxPool2D, "GlobalAveragePooling2D": GlobalAvgPool2D}


def _pooling(layer: Any) -> list[Node]:
    ltype = type(layer).__name__
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise refuse(layer, "only data_format='channels_last' supported")
    if ltype in _GLOBAL:
        if getattr(layer, "keepdims", False):
            raise refuse(layer, "keepdims=True not supported")
        return [_GLOBAL[ltype](layer.name)]
    if layer.padding != "valid":
        raise refuse(layer, "only padding='valid' supported")
    pool, strides = tuple(int(v) for v in layer.pool_size), tuple(int(v) for v in layer.strides)
    cls = _WINDOWED[ltype]
    if cls.dims == 1:
        return [cls(layer.name, pool=pool[0], stride=strides[0])]  # type: ignore[call-arg]
    return [cls(layer.name, pool=pool, strides=strides)]  # type: ignore[call-arg]


NODES: tuple[type[Node], ...] = (MaxPool1D, AvgPool1D, MaxPool2D, AvgPool2D, GlobalMaxPool1D, GlobalAvgPool1D,
                                 GlobalMaxPool2D, GlobalAvgPool2D)
KERAS = {name: _pooling for name in (*_WINDOWED, *_GLOBAL)}
