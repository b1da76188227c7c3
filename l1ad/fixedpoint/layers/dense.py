"""Dense: ``acc = x @ W * 2**-weight_frac + b * 2**-bias_frac``, held exactly — QKeras ``QDense``.

Weights and bias are the integers of the layer's quantized values (``kernel_quantizer(kernel)`` as QKeras
evaluates it), so ``alpha=1`` and ``alpha='auto_po2'`` (per-output-channel power-of-two scales) are both carried
exactly; hls4ml factors the po2 scale into an ``<name>_alpha`` layer, whose types are set here too. QKeras adds
the products in float32: the layer is refused when a partial sum could need more than float32's 24-bit
significand (QKeras itself would then round). The activation (``activation='quantized_relu(8,0)'`` or a
quantizer object, 'relu', 'linear') follows as its own node. A float ``Dense`` has no weight quantizer and is
refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from l1ad.errors import UnsupportedLayerError
from l1ad.fixedpoint.layers.base import (
    Bounds,
    FastContext,
    HlsContext,
    Node,
    abs_max,
    channel_factor,
    dense_bounds,
    object_array,
    refuse,
    trace_quantize,
)
from l1ad.fixedpoint.layers.quantize import activation_nodes, quantizer_precision, requant
from l1ad.fixedpoint.precision import Precision, requantize
from l1ad.rows import RowOp

__all__ = ["FLOAT32_BITS", "KERAS", "NODES", "Affine", "Dense", "Gemm", "abs_bound", "affine_bounds", "affine_from_keras", "matmul",
           "trace_matmul", "weight_integers"]

#: significand bits of float32, in which TensorFlow/QKeras evaluate the layers
FLOAT32_BITS = 24
_EXACT_F64 = 2**53


@dataclass(frozen=True, eq=False)
class Affine(Node):
    """Shared by Dense and Conv: integer weights (last axis = output channels) and bias."""

    ARRAYS: ClassVar[tuple[str, ...]] = ("weights", "bias")

    weights: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    weight_frac: int = 0
    bias: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    bias_frac: int = 0

    @property
    def matrix(self) -> np.ndarray:
        """Weights as the (fan-in, out) matrix of the products."""
        return self.weights.reshape(-1, self.weights.shape[-1])

    def work_bits(self) -> int:
        return self.output.width + int(np.abs(self.matrix).sum(axis=0).max()).bit_length()

    def finish(self, acc: np.ndarray, frac: int) -> tuple[np.ndarray, int]:
        """acc (LSB 2**-(frac + weight_frac)) + bias, requantized (exactly) into ``output``."""
        acc_frac = frac + self.weight_frac
        f = max(acc_frac, self.bias_frac)
        acc = _shl(acc, f - acc_frac) + _shl(self.bias.astype(np.int64), f - self.bias_frac).astype(acc.dtype)
        return requantize(acc, f, self.output)

    def fast_weights(self, frac: int, dt: type) -> tuple[np.ndarray, np.ndarray]:
        """Fast path: W^T (out, fan-in) and the bias (out, 1) in ``dt``, scaled to the binary point of the sum."""
        acc_frac = frac + self.weight_frac
        f = max(acc_frac, self.bias_frac)
        w = np.ldexp(self.matrix.T.astype(np.float64), f - acc_frac).astype(dt)
        b = np.ldexp(self.bias.astype(np.float64), f - self.bias_frac).astype(dt)[:, None]
        return np.ascontiguousarray(w), b

    def partial_sums(self, mag: np.ndarray, frac: int) -> int:
        """The largest magnitude a partial sum of ``patches @ W`` (+ bias, at the sum's binary point) can reach,
        for patches of input magnitudes ``mag`` (P, fan-in): the products and sums stay below it in any order."""
        acc_frac = frac + self.weight_frac
        f = max(acc_frac, self.bias_frac)
        s = mag.astype(object) @ np.abs(self.matrix).astype(object)
        bias = np.abs(self.bias).astype(object) * (1 << (f - self.bias_frac))
        return max([int(v) for v in np.ravel(s * (1 << (f - acc_frac)) + bias)] + [0])

    def trace_outputs(self, acc: np.ndarray) -> list[Any]:
        bias = self.bias.astype(np.float64) * 2.0**-self.bias_frac
        return [trace_quantize(a + float(b), self.output) if b else trace_quantize(a, self.output)
                for a, b in zip(acc, bias, strict=False)]

    def hls(self, ctx: HlsContext) -> None:
        acc_prec = self.output
        scaled = _po2_scales(ctx.keras_model, self.name)
        if scaled is not None and ctx.in_prec is not None:
            # hls4ml: Dense(unscaled weights, no bias) -> <name>_alpha (x scale + bias): the Dense result is the
            # unscaled accumulation, exact over the input type's whole range
            unscaled, frac = scaled
            n = unscaled.reshape(-1, unscaled.shape[-1]).shape[0]
            lo, hi = dense_bounds(np.full(n, ctx.in_prec.min_int, object), np.full(n, ctx.in_prec.max_int, object),
                                  unscaled.reshape(-1, unscaled.shape[-1]))
            acc_prec = Precision.covering(min(lo), max(hi), ctx.in_prec.frac + frac)
            ctx.set(f"{self.name}_alpha", "result", self.output)
        if self.name in ctx.names:
            ctx.set(self.name, "result", acc_prec)
            ctx.set(self.name, "accum", acc_prec)
        nxt = ctx.following
        for hname in list(ctx.names):
            if hname.startswith(f"{self.name}_") and hname not in ctx.node_names and hname != f"{self.name}_alpha":
                act = nxt if (nxt is not None and nxt.kind in ("quantize", "relu") and nxt.name.startswith(self.name)) else self
                ctx.set(hname, "result", act.output)


def affine_bounds(node: Affine, lo: np.ndarray, hi: np.ndarray, frac: int) -> Bounds:
    """Exact bounds of x @ W + b for x in [lo, hi] (rows of patches); refuse when float32 could round."""
    w = node.matrix
    alo, ahi = dense_bounds(lo, hi, w)
    acc_frac = frac + node.weight_frac
    f = max(acc_frac, node.bias_frac)
    bias = node.bias.astype(object) * (1 << (f - node.bias_frac))
    mag = np.maximum(np.abs(lo), np.abs(hi)) @ np.abs(w).astype(object)
    worst = max(int(v) for v in np.ravel(mag * (1 << (f - acc_frac)) + np.abs(bias))) if mag.size else 0
    if worst >= 1 << FLOAT32_BITS:
        raise UnsupportedLayerError(
            f"layer '{node.name}' ({node.kind}): a partial sum can need {worst.bit_length()} bits; QKeras adds in "
            f"float32 ({FLOAT32_BITS}-bit significand) and would round, so no fixed-point design can match it "
            "bit for bit (use fewer weight/input bits)")
    return Bounds(alo * (1 << (f - acc_frac)) + bias, ahi * (1 << (f - acc_frac)) + bias, f)


@dataclass(frozen=True, eq=False)
class Dense(Affine):
    kind: ClassVar[str] = "dense"

    def propagate(self, b: Bounds) -> Bounds:
        if len(b.shape) != 1:
            raise UnsupportedLayerError(f"layer '{self.name}' (dense): dense on a {len(b.shape)}-d tensor (add Flatten)")
        return affine_bounds(self, b.lo, b.hi, b.uniform_frac(self))

    def emulate(self, x: np.ndarray, frac: np.ndarray | int, in_prec: Precision | None) -> tuple[np.ndarray, int]:
        bound = abs_bound(in_prec) if in_prec is not None else int(np.abs(x).max(initial=0))
        return self.finish(matmul(x, self.weights, bound), int(frac))

    def trace(self, x: np.ndarray) -> np.ndarray:
        acc = trace_matmul(x, self.weights, self.weight_frac)
        return object_array(self.trace_outputs(acc), (len(acc),))

    def fast(self, ctx: FastContext) -> bool:
        """``W^T @ x + b`` as one BLAS product on the (fan-in, n) tensor (a transposed view is fine: BLAS takes it
        as is), then the requantization into ``output`` (usually nothing: the type is exact)."""
        frac = ctx.bounds.uniform_frac(self)
        if len(ctx.bounds.shape) != 1 or not ctx.fits(self.partial_sums(abs_max(ctx.bounds)[None, :], frac)):
            return False
        ctx.add(Gemm(*self.fast_weights(frac, ctx.dt)))
        return requant(ctx, ctx.raw, self.output)


class Gemm:
    """Fast-path step ``W @ x + b`` on a (fan-in, n) tensor; absorbs a power-of-two scale of its result.

    The product runs in the orientation of the tensor's memory: events-first rows (the transposed view the input
    step hands on) as ``rows @ W^T`` (returned transposed, again a view), events-last rows as ``W @ x``; OpenBLAS
    is markedly slower when it has to pack a transposed operand."""

    def __init__(self, w: np.ndarray, b: np.ndarray):
        self.w, self.b = w, b  # (out, fan-in), (out, 1)
        self.wt, self.add_rows = np.ascontiguousarray(w.T), RowOp(np.add, b)
        self.any_b = bool(np.any(b))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = x.reshape(self.w.shape[1], x.shape[-1])
        if x.strides[0] < x.strides[1]:  # events-first in memory
            y = x.T @ self.wt
            if self.any_b:
                self.add_rows(y)
            return y.T
        y = self.w @ x
        if self.any_b:
            y += self.b
        return y

    def scaled(self, factor: np.ndarray) -> Gemm | None:
        f = channel_factor(factor, self.w.shape[0])
        return None if f is None else Gemm(self.w * f, self.b * f)


# ------------------------------------------------------------------------------------------------ arithmetic
def abs_bound(prec: Precision) -> int:
    return max(abs(prec.min_int), abs(prec.max_int))


def _shl(x: np.ndarray, n: int) -> np.ndarray:
    if n == 0:
        return x
    return x * float(2**n) if x.dtype == np.float64 else x << n


def matmul(x: np.ndarray, w: np.ndarray, x_bound: int) -> np.ndarray:
    """Exact integer x @ w (x: (..., n), w: (n, m))."""
    col = int(np.abs(w).sum(axis=0).max()) if w.size else 0
    if x.dtype == np.float64:  # float pipeline: caller guarantees exactness below 2**53
        if x_bound * col < 2**24:
            return (x.astype(np.float32) @ w.astype(np.float32)).astype(np.float64)
        return x @ w.astype(np.float64)
    if x_bound * col < _EXACT_F64:
        return np.rint(x.astype(np.float64) @ w.astype(np.float64)).astype(np.int64)
    return x @ w


def trace_matmul(x: np.ndarray, w: np.ndarray, frac: int, solver_options: dict[str, Any] | None = None) -> np.ndarray:
    """da4ml constant-matrix product of traced variables ``x`` (n,) with integer ``w`` (n, m) * 2**-frac."""
    from da4ml.trace import FixedVariableArray

    r = FixedVariableArray(x, solver_options if solver_options is not None else {"hard_dc": 0}) @ (w.astype(np.float64) * 2.0**-frac)
    return np.asarray(r._vars)


# ------------------------------------------------------------------------------------------------ QKeras
def _dyadic_frac(values: np.ndarray, start: int) -> int | None:
    """Smallest f >= start with every value * 2**f an integer (None beyond 60 bits)."""
    for f in range(start, 61):
        s = np.ldexp(values, f)
        if np.all(s == np.round(s)):
            return f
    return None


def weight_integers(layer: Any, q: Any, values: np.ndarray, what: str) -> tuple[np.ndarray, int]:
    """Integers and fraction bits of ``q(values)`` as QKeras evaluates it (exact dyadic numbers)."""
    if q is None:
        raise refuse(layer, f"{what} has no quantizer (float weights are not firmware)")
    prec = quantizer_precision(q, layer.name, type(layer).__name__, weights=True)
    qv = np.asarray(q(values.astype(np.float32)), dtype=np.float64)
    frac: int | None = prec.frac
    if isinstance(getattr(q, "alpha", None), str):  # auto_po2: per-channel 2**e times the grid
        frac = _dyadic_frac(qv, prec.frac)
    ints = np.ldexp(qv, frac) if frac is not None else qv
    if frac is None or not np.all(ints == np.round(ints)):
        raise refuse(layer, f"quantized {what} not on its 2**-{prec.frac} grid")
    return ints.astype(np.int64), int(frac)


def _po2_scales(keras_model: Any, name: str) -> tuple[np.ndarray, int] | None:
    """For an ``alpha='auto_po2'`` kernel: (unscaled integer weights, their frac) as hls4ml writes them."""
    try:
        layer = keras_model.get_layer(name)
    except (ValueError, AttributeError):
        return None
    q = getattr(layer, "kernel_quantizer_internal", None)
    if q is None or not isinstance(getattr(q, "alpha", None), str):
        return None
    qv = np.asarray(q(layer.kernel.numpy().astype(np.float32)), dtype=np.float64)
    scale = np.asarray(q.scale, dtype=np.float64).reshape(-1)
    unscaled = qv / scale
    prec = quantizer_precision(q, layer.name, type(layer).__name__, weights=True)
    return np.round(np.ldexp(unscaled, prec.frac)).astype(np.int64), prec.frac


def affine_from_keras(layer: Any) -> tuple[np.ndarray, int, np.ndarray, int]:
    """(weights, weight_frac, bias, bias_frac) of a QDense/QConv."""
    w, wf = weight_integers(layer, layer.kernel_quantizer_internal, layer.kernel.numpy(), "kernel")
    if layer.use_bias:
        b, bf = weight_integers(layer, layer.bias_quantizer_internal, layer.bias.numpy(), "bias")
    else:
        b, bf = np.zeros(w.shape[-1], np.int64), 0
    return w, wf, b, bf


def _qdense(layer: Any) -> list[Node]:
    w, wf, b, bf = affine_from_keras(layer)
    node = Dense(layer.name, weights=w, weight_frac=wf, bias=b, bias_frac=bf)
    return [node, *activation_nodes(layer.activation, layer.name, "QDense")]


def _float_layer(layer: Any) -> list[Node]:
    raise refuse(layer, "float layer (its weights have no quantizer): use the QKeras layer (QDense/QConv1D/QConv2D)")


NODES: tuple[type[Node], ...] = (Dense,)
KERAS = {"QDense": _qdense, "Dense": _float_layer, "Conv1D": _float_layer, "Conv2D": _float_layer}
