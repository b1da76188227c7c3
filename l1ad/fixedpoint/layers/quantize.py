"""Quantize: requantise a tensor into a declared type — QKeras ``QActivation`` and quantizer activations.

QKeras semantics (qkeras/quantizers.py, v0.9): ``quantized_bits(bits, integer, keep_negative, alpha=None|1)``
gives codes ``clip(round(x * 2**f), -2**(bits-1), 2**(bits-1)-1)`` with ``f = bits - keep_negative - integer``,
where ``round`` is ``tf.round`` = round half to even (RND_CONV) and the clip is saturation (SAT; ``symmetric``
excludes the most negative code: SAT_SYM). ``quantized_relu(bits, integer)`` gives unsigned codes
``clip(round(x * 2**(bits-integer)), 0, 2**bits-1)`` (RND_CONV, SAT; the lower clip is the ReLU), for any
``integer >= 0`` (``integer > bits`` gives a negative number of fraction bits, still a fixed-point type).
Anything else a QKeras quantizer can do (stochastic rounding, sigmoid/tanh shapes, negative slopes, upper
bounds, non-power-of-two scales) has no exact fixed-point form here and is refused naming the layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from l1ad.errors import UnsupportedLayerError
from l1ad.fixedpoint.layers.base import Bounds, FastContext, Node, abs_max, per_element, trace_quantize
from l1ad.fixedpoint.precision import Precision, Rounding, Saturation, requantize

__all__ = ["KERAS", "NODES", "Quantize", "activation_nodes", "is_quantizer", "quantizer_name", "quantizer_precision",
           "requant"]


@dataclass(frozen=True, eq=False)
class Quantize(Node):
    """Requantise to ``output`` (with its rounding and saturation). quantized_relu = unsigned SAT."""

    kind: ClassVar[str] = "quantize"
    EXACT: ClassVar[bool] = False
    source: str = ""  # the Keras quantizer it came from, for the report

    def emulate(self, x: np.ndarray, frac: np.ndarray | int, in_prec: Precision | None) -> tuple[np.ndarray, int]:
        return requantize(x, frac, self.output)

    def trace(self, x: np.ndarray) -> np.ndarray:
        return np.vectorize(lambda v: trace_quantize(v, self.output), otypes=[object])(x)

    def fast(self, ctx: FastContext) -> bool:
        return requant(ctx, ctx.raw, self.output)


def requant(ctx: FastContext, raw: Bounds, prec: Precision) -> bool:
    """Fast-path steps bringing the tensor (the exact integers ``raw``, LSB 2**-raw.frac per element) into
    ``prec``: a power-of-two scaling (folded into the step before when it is linear), the rounding and the
    saturation or wrap, each only where the bounds say it can matter. False if a value could reach ``ctx.limit``.
    """
    if not ctx.fits(raw):
        return False
    s = np.asarray(raw.frac, dtype=np.int64) - prec.frac
    m = abs_max(raw)
    grow = np.vectorize(lambda v, k: int(v) << max(-int(k), 0), otypes=[object])(m, s)  # left shifts: bigger
    half = np.vectorize(lambda v, k: int(v) + (1 << (int(k) - 1)) if k > 0 else int(v), otypes=[object])(m, s)
    if not ctx.fits(grow, half if prec.rounding == Rounding.RND else 0):
        return False
    wide = Precision(62, prec.frac, True, prec.rounding, Saturation.WRAP)
    q, _ = requantize(np.stack([raw.lo, raw.hi]).astype(np.int64), raw.frac, wide)  # monotone: ends -> ends
    may_lo, may_hi = bool(q[0].min() < prec.min_int), bool(q[1].max() > prec.max_int)
    if (may_lo or may_hi) and prec.saturation == Saturation.WRAP and not ctx.fits(abs_max(Bounds(q[0], q[1], 0)) - prec.min_int):
        return False  # the wrap computes x - min_int
    need_round = bool(np.any(s > 0))
    if np.any(s != 0):
        scale = per_element(s) if s.ndim else int(s)
        factor = np.ldexp(1.0, -np.asarray(scale)).astype(ctx.dt)
        if not ctx.fold(factor):
            ctx.add(_Scale(factor))
    if need_round or may_lo or may_hi:
        ctx.add(_Round(prec, ctx.dt, need_round, may_lo or may_hi))
    return True


class _Scale:
    def __init__(self, factor: np.ndarray):
        self.factor = factor

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.multiply(x, self.factor, out=x)


class _Round:
    """Round (TRN floor, RND floor(x + 1/2), RND_CONV rint = half to even) and saturate (clip) or wrap (mod)."""

    def __init__(self, prec: Precision, dt: type, rnd: bool, over: bool):
        self.rnd = prec.rounding if rnd else None
        self.sat = prec.saturation if over else None
        self.lo, self.hi, self.dt = dt(prec.min_int), dt(prec.max_int), dt
        self.m = dt(2.0**prec.width)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.rnd == Rounding.RND_CONV:
            np.rint(x, out=x)
        elif self.rnd == Rounding.RND:
            x += self.dt(0.5)
            np.floor(x, out=x)
        elif self.rnd == Rounding.TRN:
            np.floor(x, out=x)
        if self.sat == Saturation.WRAP:
            x -= self.lo
            np.mod(x, self.m, out=x)
            x += self.lo
        elif self.sat is not None:
            np.clip(x, self.lo, self.hi, out=x)
        return x


# ------------------------------------------------------------------------------------------------ QKeras
def quantizer_name(q: Any) -> str:
    return type(q).__name__ if not callable(q) or hasattr(q, "get_config") else getattr(q, "__name__", str(q))


def quantizer_precision(q: Any, layer_name: str, layer_type: str, *, weights: bool = False) -> Precision:
    """Precision (RND_CONV, SAT/SAT_SYM) of a QKeras activation/weight quantizer; refuse anything else.

    ``weights=True`` also accepts ``alpha='auto_po2'`` (per-channel power-of-two scales, carried exactly by the
    weight integers; this precision is then the unscaled grid)."""
    cls = type(q).__name__
    where = f"layer '{layer_name}' ({layer_type})"
    if cls == "quantized_bits":
        alpha = q.alpha
        if isinstance(alpha, str):
            if not (weights and alpha == "auto_po2"):
                hint = "use alpha=1 or 'auto_po2'" if weights else "activations take alpha=1"
                raise UnsupportedLayerError(f"{where}: quantized_bits alpha={alpha!r} not supported ({hint})")
        elif not (alpha is None or float(alpha) == 1.0):
            raise UnsupportedLayerError(f"{where}: quantized_bits alpha={alpha!r} not supported (use alpha=1)")
        if q.use_stochastic_rounding or float(getattr(q, "qnoise_factor", 1.0)) != 1.0:
            raise UnsupportedLayerError(f"{where}: stochastic/noisy quantized_bits not supported")
        bits, integer, signed = int(q.bits), int(q.integer), bool(q.keep_negative)
        if bits - int(signed) <= 0:
            raise UnsupportedLayerError(f"{where}: 1-bit (binary) quantized_bits not supported")
        sat = Saturation.SAT_SYM if (q.symmetric and signed) else Saturation.SAT
        return Precision(bits, bits - int(signed) - integer, signed, Rounding.RND_CONV, sat)
    if cls == "quantized_relu":
        if float(q.negative_slope) != 0.0 or q.use_sigmoid or q.relu_upper_bound is not None or q.use_stochastic_rounding:
            raise UnsupportedLayerError(f"{where}: quantized_relu with negative_slope/sigmoid/upper bound not supported")
        if float(getattr(q, "qnoise_factor", 1.0)) != 1.0:
            raise UnsupportedLayerError(f"{where}: quantized_relu qnoise_factor != 1")
        bits, integer = int(q.bits), int(q.integer)
        if integer < 0:
            raise UnsupportedLayerError(f"{where}: quantized_relu integer={integer} < 0 not supported")
        return Precision(bits, bits - integer, False, Rounding.RND_CONV, Saturation.SAT)
    why = {"quantized_tanh": "tanh has no exact fixed-point form", "quantized_sigmoid": "sigmoid has no exact "
           "fixed-point form", "binary": "binary quantizers are not supported", "ternary": "ternary quantizers are "
           "not supported", "quantized_po2": "power-of-two quantizers are not supported"}.get(cls, "not supported")
    raise UnsupportedLayerError(f"{where}: quantizer {quantizer_name(q)}: {why}")


def is_quantizer(q: Any) -> bool:
    """A QKeras quantizer object (as opposed to a Keras activation function)."""
    return hasattr(q, "bits") or type(q).__name__ in ("binary", "ternary", "stochastic_binary", "stochastic_ternary")


def activation_nodes(act: Any, name: str, layer_type: str) -> list[Node]:
    """Nodes for the ``activation=`` of a QDense/QConv: a quantizer (given as object or string) becomes
    ``<name>_act``, 'relu' becomes ``<name>_relu``, 'linear' nothing; anything else is refused."""
    from l1ad.fixedpoint.layers.relu import relu_nodes

    if act is None:
        return []
    if is_quantizer(act):
        return [Quantize(f"{name}_act", quantizer_precision(act, name, layer_type), source=str(act))]
    return relu_nodes(getattr(act, "__name__", type(act).__name__), name, layer_type, f"{name}_relu")


def _qactivation(layer: Any) -> list[Node]:
    from l1ad.fixedpoint.layers.relu import relu_nodes

    q = layer.quantizer if layer.quantizer is not None else layer.activation
    if is_quantizer(q):
        return [Quantize(layer.name, quantizer_precision(q, layer.name, "QActivation"), source=str(q))]
    return relu_nodes(getattr(q, "__name__", type(q).__name__), layer.name, "QActivation", layer.name, standalone=True)


NODES: tuple[type[Node], ...] = (Quantize,)
KERAS = {"QActivation": _qactivation}
