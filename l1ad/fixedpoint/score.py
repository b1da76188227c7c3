"""The score node of the fixed-point description: its exact type, integer emulation and da4ml trace.

The formula itself is :mod:`l1ad.models.scoring` (defined once for training, evaluation, QKeras and hls4ml
cross-checks); here it is applied to integers: outputs (and, for ``squared_error``, the reference: the input
quantizer's output, or the preprocessed input when the model has none) are brought to one binary point, the
formula runs on exact integers and the result is held exactly in ``output`` (no rounding, no overflow).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from l1ad.errors import UnsupportedLayerError
from l1ad.fixedpoint.layers.base import Bounds, trace_quantize, tree_sum
from l1ad.fixedpoint.precision import Precision, requantize
from l1ad.models.scoring import ScoreKind, combine, score_array, score_terms

__all__ = ["Score", "square_terms"]


@dataclass(frozen=True, eq=False)
class Score:
    """``type`` (:class:`ScoreKind`), its exact ``output`` type; ``reference``: the layer subtracted by
    ``squared_error`` (None: the preprocessed input)."""

    type: ScoreKind
    output: Precision
    reference: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", ScoreKind(self.type))

    def to_json(self) -> dict[str, Any]:
        return {"output": self.output.to_json(), "reference": self.reference, "type": str(self.type)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Score:
        return cls(ScoreKind(d["type"]), Precision(**d["output"]), d.get("reference"))

    # ---- exact type from the bounds of the network's output (and of the reference)
    @classmethod
    def exact(cls, kind: ScoreKind, b: Bounds, reference: str | None, ref_bounds: Bounds | None) -> Score:
        f = int(b.frac) if b.uniform else int(np.max(b.frac))
        lo, hi = b.lo.ravel(), b.hi.ravel()
        if kind == ScoreKind.IDENTITY:
            if lo.size != 1:
                raise UnsupportedLayerError(f"score 'identity' needs one network output, got {lo.size} "
                                            "(use --score sum_squares or squared_error)")
            return cls(kind, Precision.covering(lo[0], hi[0], f))
        if kind == ScoreKind.SUM_SQUARES:
            sq = np.maximum(lo * lo, hi * hi)
            return cls(kind, Precision.covering(0, sum(sq), 2 * f))
        if ref_bounds is None or ref_bounds.lo.size != lo.size:
            n = None if ref_bounds is None else ref_bounds.lo.size
            raise UnsupportedLayerError(f"score 'squared_error': output size {lo.size} differs from the input size {n}")
        if not ref_bounds.uniform:
            raise UnsupportedLayerError("score 'squared_error': the inputs have different binary points; add an "
                                        "input quantizer or give one --shift")
        rf = int(ref_bounds.frac)
        ff = max(f, rf)
        dlo = lo * (1 << (ff - f)) - ref_bounds.hi.ravel() * (1 << (ff - rf))
        dhi = hi * (1 << (ff - f)) - ref_bounds.lo.ravel() * (1 << (ff - rf))
        sq = np.maximum(dlo * dlo, dhi * dhi)
        return cls(kind, Precision.covering(0, sum(sq), 2 * ff), reference=reference)

    # ---- integer emulation
    def emulate(self, y: np.ndarray, y_frac: int, ref: np.ndarray | None, ref_frac: int | None) -> tuple[np.ndarray, int]:
        y = y.reshape(y.shape[0], -1)
        if self.type == ScoreKind.IDENTITY:
            return requantize(score_array(self.type, y[:, :1], exact=True), y_frac, self.output)
        if self.type == ScoreKind.SUM_SQUARES:
            return requantize(score_array(self.type, y, exact=True), 2 * y_frac, self.output)
        assert ref is not None and ref_frac is not None
        f = max(y_frac, ref_frac)
        r = ref.reshape(ref.shape[0], -1)
        return requantize(score_array(self.type, _shl(y, f - y_frac), _shl(r, f - ref_frac), exact=True), 2 * f,
                          self.output)

    # ---- da4ml
    def trace(self, y: list[Any], ref: list[Any] | None) -> Any:
        """The raw integer score (output * 2**frac) of traced outputs ``y`` (and reference)."""
        s = combine(self.type, score_terms(self.type, y, ref), square_terms, tree_sum)
        return trace_quantize(s, self.output) * 2.0**self.output.frac

    # ---- float outputs (QKeras, hls4ml C simulation)
    def raw_from_float(self, out: np.ndarray, x_ref: np.ndarray | None) -> np.ndarray:
        """Raw integer score from float network outputs (exact: dyadic values, float64 sums); a value off the
        score's grid becomes -2**62 (a guaranteed, reported mismatch)."""
        s = score_array(self.type, np.asarray(out, np.float64), None if x_ref is None else np.asarray(x_ref, np.float64))
        raw = np.ldexp(s, self.output.frac)
        raw = np.where(raw != np.round(raw), -(2**62), raw)
        return raw.astype(np.int64)


def _shl(x: np.ndarray, n: int) -> np.ndarray:
    if n == 0:
        return x
    return x * float(2**n) if x.dtype == np.float64 else x << n


def square_terms(x: Any) -> list[Any]:
    """Partial products of x*x (one mux per bit of x): summed in one balanced tree with the other squares,
    this is shallower than da4ml's ripple multiplier model and uses LUTs only."""
    if x.low == x.high:
        return [x * x]
    k, i, f = x.kif
    n = int(k + i + f)
    terms = []
    for j in range(n):
        sign_bit = bool(k) and j == n - 1
        key = x if sign_bit else x.quantize(1, j - f, f, "WRAP", "TRN")
        weight = 2.0 ** (j - f)
        terms.append(key.msb_mux(x * (-weight if sign_bit else weight), 0.0))
    return terms
