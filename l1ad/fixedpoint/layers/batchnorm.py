"""BatchNormalization: a per-channel fixed-point scale and shift, proven to reproduce TensorFlow's float32.

At inference Keras computes ``y = x * γ/√(σ²+ε) + (β - μ γ/√(σ²+ε))`` in float32 (rounded), on the exact
output of the layer before it. A fixed-point ``y = x * S 2**-k + T 2**-t`` is the same function only if it
gives the same result on every value ``x`` can take: :func:`fold_batchnorm` (a rewrite pass) enumerates every
reachable integer ``x`` of every channel (from the exact bounds of the description), runs the Keras layer itself
on them, pushes both through what follows up to the next quantizer (ReLU, quantizer) and keeps the
smallest ``k`` for which the two agree everywhere. No such ``k`` (TF's rounding changes a quantized value), or
a range too wide to enumerate: the layer is refused, naming why — never a silently different function.

The scale is one multiplier per channel (not folded into the weights, which would widen every weight); the
note in the build report says how many bits it needs. hls4ml keeps BatchNormalization as its own layer: its
scale/bias types and values are set to these integers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from l1ad.fixedpoint.layers.base import (
    Bounds,
    FastContext,
    HlsContext,
    Node,
    abs_max,
    channel_factor,
    infer_nodes,
    object_array,
    refuse,
    refuse_node,
    trace_quantize,
)
from l1ad.fixedpoint.layers.quantize import requant
from l1ad.fixedpoint.precision import Precision, Rounding, Saturation, requantize

__all__ = ["KERAS", "NODES", "PASSES", "BatchNorm", "FloatBatchNorm", "fold_batchnorm"]

#: most values enumerated to prove a fold (all channels together)
MAX_ENUMERATED = 1 << 23
#: scale fraction bits tried
MAX_SCALE_FRAC = 40


@dataclass(frozen=True, eq=False)
class BatchNorm(Node):
    """``y = x * scale 2**-scale_frac + shift 2**-shift_frac`` per channel (last axis), held exactly."""

    kind: ClassVar[str] = "batchnorm"
    ARRAYS: ClassVar[tuple[str, ...]] = ("scale", "shift")
    scale: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    scale_frac: int = 0
    shift: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    shift_frac: int = 0

    def _fracs(self, frac: int) -> tuple[int, int]:
        """(frac of x*scale, frac of the sum)"""
        return frac + self.scale_frac, max(frac + self.scale_frac, self.shift_frac)

    def propagate(self, b: Bounds) -> Bounds:
        if b.shape[-1] != len(self.scale):
            raise refuse_node(self, f"{len(self.scale)} channels, input shape {b.shape}")
        pf, g = self._fracs(b.uniform_frac(self))
        s = self.scale.astype(object)
        a, c = b.lo * s, b.hi * s
        t = self.shift.astype(object) * (1 << (g - self.shift_frac))
        return Bounds(np.minimum(a, c) * (1 << (g - pf)) + t, np.maximum(a, c) * (1 << (g - pf)) + t, g)

    def work_bits(self) -> int:
        return self.output.width + int(np.abs(self.scale).max(initial=0)).bit_length()

    def emulate(self, x: np.ndarray, frac: np.ndarray | int, in_prec: Precision | None) -> tuple[np.ndarray, int]:
        pf, g = self._fracs(int(frac))
        if x.dtype == np.float64:
            y = x * (self.scale * 2.0 ** (g - pf)) + self.shift * 2.0 ** (g - self.shift_frac)
        else:
            y = (x * self.scale << (g - pf)) + (self.shift << (g - self.shift_frac))
        return requantize(y, g, self.output)

    def trace(self, x: np.ndarray) -> np.ndarray:
        c = x.shape[-1]
        s = self.scale.astype(np.float64) * 2.0**-self.scale_frac
        t = self.shift.astype(np.float64) * 2.0**-self.shift_frac
        flat = x.reshape(-1, c)
        vals = [trace_quantize(v * float(s[j]) + float(t[j]), self.output) for row in flat for j, v in enumerate(row)]
        return object_array(vals, x.shape)

    def fast(self, ctx: FastContext) -> bool:
        """``x * scale + shift`` per channel (the last axis of the node's shape), then into ``output``."""
        pf, g = self._fracs(ctx.bounds.uniform_frac(self))
        prod = abs_max(ctx.bounds) * np.abs(self.scale).astype(object) * (1 << (g - pf))
        if not ctx.fits(prod, ctx.raw):
            return False
        mul = np.ldexp(self.scale.astype(np.float64), g - pf).astype(ctx.dt)[:, None]
        add = np.ldexp(self.shift.astype(np.float64), g - self.shift_frac).astype(ctx.dt)[:, None]
        ctx.add(_ScaleShift(mul, add))
        return requant(ctx, ctx.raw, self.output)

    def _types(self) -> tuple[Precision, Precision]:
        """Signed types holding the scale and shift integers exactly (hls4ml's ``scale_t``/``bias_t``)."""
        s = Precision.covering(min(int(self.scale.min()), 0), max(int(self.scale.max()), 0), self.scale_frac)
        t = Precision.covering(min(int(self.shift.min()), 0), max(int(self.shift.max()), 0), self.shift_frac)
        return Precision(s.width + (not s.signed), s.frac, True), Precision(t.width + (not t.signed), t.frac, True)

    def hls(self, ctx: HlsContext) -> None:
        st, bt = self._types()
        ctx.set(self.name, "scale", st)
        ctx.set(self.name, "bias", bt)
        ctx.set(self.name, "result", self.output)

    def hls_patch(self, graph_layers: dict[str, Any]) -> None:
        layer = graph_layers.get(self.name)
        if layer is None:
            return
        layer.weights["scale"].data = np.ldexp(self.scale.astype(np.float64), -self.scale_frac)
        layer.weights["bias"].data = np.ldexp(self.shift.astype(np.float64), -self.shift_frac)


class _ScaleShift:
    """Fast-path step ``x * mul + add`` with per-channel (c, 1) columns over a (..., c, n) tensor."""

    def __init__(self, mul: np.ndarray, add: np.ndarray):
        self.mul, self.add = mul, add

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y = x * self.mul
        y += self.add
        return y

    def scaled(self, factor: np.ndarray) -> _ScaleShift | None:
        f = channel_factor(factor, len(self.mul))
        return None if f is None else _ScaleShift(self.mul * f, self.add * f)


@dataclass(frozen=True, eq=False)
class FloatBatchNorm(Node):
    """A Keras BatchNormalization before :func:`fold_batchnorm` turns it into a :class:`BatchNorm` (never saved)."""

    kind: ClassVar[str] = "float_batchnorm"
    layer: Any = None

    def propagate(self, b: Bounds) -> Bounds:
        raise refuse_node(self, "BatchNormalization was not folded")  # pragma: no cover - the pass always runs


def _batchnorm(layer: Any) -> list[Node]:
    rank = len(layer.input_shape)
    axis = [a % rank for a in np.atleast_1d(layer.axis)]
    if axis != [rank - 1]:
        raise refuse(layer, f"normalizes axis {layer.axis}; only the last (channel) axis is supported")
    if getattr(layer, "renorm", False) or getattr(layer, "virtual_batch_size", None):
        raise refuse(layer, "renorm / virtual batches are not supported")
    return [FloatBatchNorm(layer.name, layer=layer)]


# ------------------------------------------------------------------------------------------------ the proof
def _quantize_real(y: np.ndarray, p: Precision) -> np.ndarray:
    """``p``'s rounding and saturation on real (float64, dyadic) values; exact below 2**52 codes."""
    c = np.ldexp(y, p.frac)
    if p.rounding == Rounding.TRN:
        c = np.floor(c)
    elif p.rounding == Rounding.RND:
        c = np.floor(c + 0.5)
    else:
        c = np.rint(c)
    lo, hi = float(p.min_int), float(p.max_int)
    c = np.clip(c, lo, hi) if p.saturation != Saturation.WRAP else np.mod(c - lo, 2.0**p.width) + lo
    return np.ldexp(c, -p.frac)


def _after(y: np.ndarray, chain: list[Node]) -> np.ndarray:
    """What the elementwise nodes after the batch norm do with ``y``, up to the first quantizer."""
    for n in chain:
        if n.kind == "relu":
            y = np.maximum(y, 0.0)
        elif n.kind == "quantize":
            return _quantize_real(y, n.output)
    return y


def _elementwise_chain(nodes: list[Node]) -> list[Node]:
    chain: list[Node] = []
    for n in nodes:
        if n.kind not in ("relu", "quantize"):
            break
        chain.append(n)
        if n.kind == "quantize":
            break
    return chain


def _prove(node: FloatBatchNorm, b: Bounds, chain: list[Node]) -> tuple[BatchNorm, str]:
    from l1ad import _compat

    layer = node.layer
    f = b.uniform_frac(node)
    c = b.shape[-1]
    lo = np.asarray([min(int(v) for v in b.lo[..., j].ravel()) for j in range(c)], dtype=object)
    hi = np.asarray([max(int(v) for v in b.hi[..., j].ravel()) for j in range(c)], dtype=object)
    n = int(max(hi - lo)) + 1
    if n * c > MAX_ENUMERATED or max(max(abs(int(v)) for v in lo), max(abs(int(v)) for v in hi)) >= 1 << 24:
        raise refuse(layer, f"its input takes up to {n} values per channel, too many to prove a fixed-point fold "
                     "exact; fold it into the weights before QAT (QConv2DBatchnorm) or quantize before it")
    x_int = np.minimum(np.arange(n)[:, None] + lo.astype(np.int64)[None, :], hi.astype(np.int64)[None, :])  # (n, c)
    x = np.ldexp(x_int.astype(np.float64), -f).astype(np.float32)
    tf = _compat.tensorflow()
    shape = (n,) + (1,) * (len(layer.input_shape) - 2) + (c,)
    y32 = np.asarray(layer(tf.constant(x.reshape(shape)), training=False), dtype=np.float64).reshape(n, c)
    want = _after(y32, chain)
    gamma = layer.gamma.numpy().astype(np.float64) if layer.scale else np.ones(c)
    beta = layer.beta.numpy().astype(np.float64) if layer.center else np.zeros(c)
    mul = gamma / np.sqrt(layer.moving_variance.numpy().astype(np.float64) + float(layer.epsilon))
    add = beta - layer.moving_mean.numpy().astype(np.float64) * mul
    for k in range(MAX_SCALE_FRAC + 1):
        s_int = np.rint(np.ldexp(mul, k)).astype(np.int64)
        t_int = np.rint(np.ldexp(add, f + k)).astype(np.int64)
        yk = x_int * s_int + t_int  # integers at frac f + k
        if np.max(np.abs(yk)) >= 2**52:
            break
        if np.array_equal(_after(np.ldexp(yk.astype(np.float64), -(f + k)), chain), want):
            bits = int(np.abs(s_int).max(initial=0)).bit_length() + 1
            until = f"up to '{chain[-1].name}'" if chain else "exactly"
            note = (f"BatchNormalization '{layer.name}': kept as a per-channel {bits}-bit fixed-point scale "
                    f"(2**-{k}) that reproduces TensorFlow's float32 result {until} on all {n * c} reachable "
                    "inputs; its multipliers cost LUTs - folding it into the weights before quantization-aware "
                    "training (QConv2DBatchnorm; QDenseBatchnorm in newer QKeras) avoids them")
            return BatchNorm(layer.name, scale=s_int, scale_frac=k, shift=t_int, shift_frac=f + k), note
    after = f" after '{chain[-1].name}'" if chain else ""
    raise refuse(layer, "TensorFlow's float32 arithmetic rounds some reachable values differently from every "
                 f"fixed-point scale{after}; fold it into the weights before QAT (QConv2DBatchnorm) or put a "
                 "quantizer after it")


def fold_batchnorm(nodes: list[Node], b: Bounds) -> tuple[list[Node], list[str]]:
    """Rewrite pass: every :class:`FloatBatchNorm` -> a proven :class:`BatchNorm` (or a refusal)."""
    notes: list[str] = []
    out = list(nodes)
    for i, node in enumerate(out):
        if isinstance(node, FloatBatchNorm):
            done, bounds = infer_nodes(out[:i], b)
            out[i], note = _prove(node, bounds[-1], _elementwise_chain(out[i + 1:]))
            notes.append(note)
    return out, notes


NODES: tuple[type[Node], ...] = (BatchNorm,)
KERAS = {"BatchNormalization": _batchnorm}
PASSES = (fold_batchnorm,)
