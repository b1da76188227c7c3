"""Integer-domain input scaling as the firmware does it: ``v = (word - offset) >> shift``.

AXOL1TL scales each GT word with one subtraction and one shift, no multipliers
(github.com/cms-hls4ml/AXOL1TL). Here the shift only moves the binary point, so
``v = (word - offset) * 2**-shift`` is exact, and the fit keeps ``shift <= frac_bits`` of the input
quantizer: every ``v`` lies on the quantizer's grid, the quantizer never rounds, it only saturates the rare
tails outside its range.

``extra_shift`` drops low word bits on purpose (per input, e.g. one bit of every calorimeter word): then
``v`` is finer than the grid and the input quantizer rounds it, half to even as QKeras does. The fixed-point
description carries exactly that (exact ``v``, then the input quantizer's RND_CONV), so the emulator, the
hls4ml project (its input type holds ``v`` exactly, the quantizer layer rounds) and the RTL all round alike.

For the b-tag CNN (float track features, not GT words) :func:`fit_float_scaling` picks power-of-two scales
only (offset 0); there the input quantizer does round.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from l1ad.errors import DataError
from l1ad.models.quantizers import BitsQuantizer

__all__ = ["Preprocessing", "fit_float_scaling", "fit_word_preprocessing"]


@dataclass(frozen=True)
class Preprocessing:
    """Per-input integer ``offset`` and ``shift``; ``apply`` gives ``(x - offset) * 2**-shift``."""

    offset: np.ndarray  # int64 (n,)
    shift: np.ndarray  # int64 (n,)

    def apply(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        n = self.offset.shape[0]
        if x.shape[-1] != n:
            raise DataError(f"preprocessing: expected {n} inputs per row, got shape {x.shape}")
        if np.issubdtype(x.dtype, np.integer):
            d = (x.astype(np.int64) - self.offset).astype(np.float64)
        else:
            d = x.astype(np.float64) - self.offset
        return np.ldexp(d, -self.shift).astype(np.float32)

    def to_json(self) -> dict[str, Any]:
        return {"offset": [int(v) for v in self.offset], "shift": [int(v) for v in self.shift]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Preprocessing:
        off = np.asarray(d["offset"], dtype=np.int64)
        sh = np.asarray(d["shift"], dtype=np.int64)
        if off.shape != sh.shape or off.ndim != 1:
            raise DataError(f"preprocessing: offset/shift shapes differ ({off.shape} vs {sh.shape})")
        return cls(off, sh)


def _code_range(q: BitsQuantizer) -> tuple[int, int]:
    """Integer codes of the quantizer (value = code * 2**-frac_bits)."""
    if q.signed:
        return -(2 ** (q.bits - 1)), 2 ** (q.bits - 1) - 1
    return 0, 2**q.bits - 1


def _fit_one(lo: int, hi: int, cmin: int, cmax: int, frac_bits: int, zoom: bool) -> tuple[int, int]:
    """(offset, shift) for one input whose zero-bias words mostly lie in [lo, hi]."""
    shifts = range(frac_bits + 1) if zoom else range(frac_bits, frac_bits + 1)
    # 1) offset 0 if [lo, hi] fits as is: zero padding stays exactly 0 (as AXOL1TL does for pT and eta)
    for s in shifts:
        scale = 2 ** (frac_bits - s)  # codes per word LSB
        if cmin <= lo * scale and hi * scale <= cmax:
            return 0, s
    # 2) else centre [lo, hi] on the code range (e.g. unsigned phi bins: offset ~ bins / 2)
    for s in shifts:
        scale = 2 ** (frac_bits - s)
        if (hi - lo) * scale <= cmax - cmin:
            break
    mid_code = (cmin + cmax) / 2
    return int(round((lo + hi) / 2 - mid_code / scale)), s


def fit_word_preprocessing(words: np.ndarray, q: BitsQuantizer, coverage: float = 0.999,
                           zoom: bool = False, extra_shift: np.ndarray | None = None) -> Preprocessing:
    """Fit integer offsets and shifts on zero-bias words (N, n) so ``coverage`` of each input is in range.

    Per input, with [lo, hi] the central ``coverage`` interval of the words: offset 0 if [lo, hi] fits the
    code range as it is (zero padding stays 0), else [lo, hi] is centred on it. The shift is
    ``frac_bits`` (one quantizer code per word LSB: the widest exact range); with ``zoom=True`` it is the
    smallest shift that still fits [lo, hi] (larger values, but signal objects harder than zero bias, e.g.
    leptons, then saturate early - measured to cost most of the quantized model's signal efficiency).
    Words outside the representable range saturate at the quantizer's limits. ``extra_shift`` (per input,
    >= 0) is added to the fitted shifts: those inputs lose that many low bits (rounded half to even by the
    input quantizer) and reach ``2**extra_shift`` times further before saturating; offsets are unchanged.
    """
    w = np.asarray(words)
    if w.ndim != 2 or w.shape[0] == 0:
        raise DataError(f"preprocessing fit: need a non-empty (N, n) word array, got shape {w.shape}")
    if not np.issubdtype(w.dtype, np.integer):
        raise DataError(f"preprocessing fit: words must be integers, got {w.dtype}")
    cmin, cmax = _code_range(q)
    tail = (1.0 - coverage) / 2
    lo = np.floor(np.quantile(w, tail, axis=0)).astype(np.int64)
    hi = np.ceil(np.quantile(w, 1.0 - tail, axis=0)).astype(np.int64)
    n = w.shape[1]
    offset = np.zeros(n, np.int64)
    shift = np.full(n, q.frac_bits, np.int64)
    for j in range(n):
        offset[j], shift[j] = _fit_one(int(lo[j]), int(hi[j]), cmin, cmax, q.frac_bits, zoom)
    if extra_shift is not None:
        extra = np.asarray(extra_shift, dtype=np.int64)
        if extra.shape != (n,) or np.any(extra < 0):
            raise DataError(f"preprocessing fit: extra_shift must be {n} integers >= 0, got {extra.tolist()}")
        shift = shift + extra
    return Preprocessing(offset, shift)


def fit_float_scaling(x: np.ndarray, q: BitsQuantizer, coverage: float = 0.999) -> Preprocessing:
    """Power-of-two scale per feature (last axis) so ``coverage`` of ``|x|`` is below the quantizer maximum."""
    x = np.asarray(x, dtype=np.float64)
    flat = x.reshape(-1, x.shape[-1])
    amax = np.quantile(np.abs(flat), coverage, axis=0)
    limit = 2.0**q.integer
    shift = np.zeros(flat.shape[1], np.int64)
    for j, a in enumerate(amax):
        if a > 0:
            shift[j] = int(np.ceil(np.log2(a / limit)))
    return Preprocessing(np.zeros(flat.shape[1], np.int64), shift)
