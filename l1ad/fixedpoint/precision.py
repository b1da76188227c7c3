"""Fixed-point numbers: :class:`Precision` (an ap_fixed-like type), input words and the one requantize operation.

Every value is an integer ``q`` standing for ``q * 2**-frac``. A :class:`Precision` is ``width`` bits (two's
complement when ``signed``) with ``frac`` fraction bits, and says how a wider value is brought into it:
:class:`Rounding` TRN (floor), RND (round half up) or RND_CONV (round half to even, what ``tf.round`` and hence
QKeras quantizers do) and :class:`Saturation` WRAP, SAT or SAT_SYM (QKeras ``symmetric=1``: the most negative
code is excluded). :func:`requantize` is that operation on integer arrays (int64, or float64 holding exact
integers below 2**53); every layer of the emulator uses it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from l1ad.bits import int_range
from l1ad.errors import ModelError

__all__ = ["InputField", "Precision", "Rounding", "Saturation", "parse_hls_type", "requantize"]


class Rounding(StrEnum):
    TRN = "TRN"
    RND = "RND"
    RND_CONV = "RND_CONV"


class Saturation(StrEnum):
    WRAP = "WRAP"
    SAT = "SAT"
    SAT_SYM = "SAT_SYM"


@dataclass(frozen=True)
class Precision:
    width: int
    frac: int
    signed: bool
    rounding: Rounding = Rounding.TRN
    saturation: Saturation = Saturation.WRAP

    def __post_init__(self) -> None:
        try:  # accept the JSON strings; store the enums
            object.__setattr__(self, "rounding", Rounding(self.rounding))
            object.__setattr__(self, "saturation", Saturation(self.saturation))
        except ValueError:
            raise ModelError(f"invalid precision {self}") from None
        if int(self.width) < 1:
            raise ModelError(f"invalid precision {self}")

    @property
    def integer(self) -> int:
        """Integer bits including the sign bit (the ap_fixed ``I``)."""
        return self.width - self.frac

    @property
    def min_int(self) -> int:
        """Smallest code the value can take (SAT_SYM: symmetric, -max)."""
        lo = int_range(self.width, self.signed)[0]
        return lo + (self.signed and self.saturation == Saturation.SAT_SYM)

    @property
    def max_int(self) -> int:
        return int_range(self.width, self.signed)[1]

    def ap_type(self) -> str:
        base = "ap_fixed" if self.signed else "ap_ufixed"
        return f"{base}<{self.width},{self.integer},AP_{self.rounding},AP_{self.saturation}>"

    def hls_type(self) -> str:
        """hls4ml's spelling (``fixed<W,I,RND,SAT,0>``) of the same type."""
        base = "fixed" if self.signed else "ufixed"
        return f"{base}<{self.width},{self.integer},{self.rounding},{self.saturation},0>"

    def to_json(self) -> dict[str, Any]:
        return {"frac": self.frac, "rounding": str(self.rounding), "saturation": str(self.saturation),
                "signed": self.signed, "width": self.width}

    @staticmethod
    def covering(lo: int, hi: int, frac: int, **modes: Any) -> Precision:
        """Smallest precision holding every integer in [lo, hi] at ``frac`` fraction bits."""
        lo, hi = int(lo), int(hi)
        signed = lo < 0
        if signed:
            width = max(int(hi).bit_length(), int(-lo - 1).bit_length()) + 1
        else:
            width = max(int(hi).bit_length(), 1)
        return Precision(width, frac, signed, **modes)


@dataclass(frozen=True)
class InputField:
    """One input word of the firmware: ``width`` bits, two's complement when ``signed``."""

    name: str
    width: int
    signed: bool


_HLS_TYPE = re.compile(r"^\s*(ap_)?(u?)(fixed|int)\s*<\s*(\d+)\s*(?:,\s*(-?\d+)\s*)?(?:,[^>]*)?>\s*$")


def parse_hls_type(text: str, what: str = "--input-precision") -> Precision:
    """``ap_fixed<16,6>``, ``ap_ufixed<8,4>``, ``fixed<..>``, ``ap_int<8>``, ``ap_uint<8>`` (hls4ml syntax) ->
    Precision (rounding/saturation modes, if given, are not part of an input word's format and are ignored)."""
    m = _HLS_TYPE.match(text)
    if not m:
        raise ModelError(f"{what}: not an hls4ml type such as ap_fixed<16,6> or ap_uint<8> (value {text!r})")
    unsigned, kind, width = m.group(2) == "u", m.group(3), int(m.group(4))
    integer = width if kind == "int" else (int(m.group(5)) if m.group(5) is not None else None)
    if integer is None:
        raise ModelError(f"{what}: {kind} needs <width,integer> (value {text!r})")
    if width < 1 or width > 62:
        raise ModelError(f"{what}: width must be 1..62 (value {text!r})")
    return Precision(width, width - integer, not unsigned)


# ------------------------------------------------------------------------------------------------ requantize
def requantize(q: np.ndarray, frac: np.ndarray | int, prec: Precision) -> tuple[np.ndarray, int]:
    """Bring integers ``q`` (LSB 2**-frac, frac scalar or broadcastable) into ``prec``; return (values, overflows)."""
    if isinstance(q, np.ndarray) and q.dtype == np.float64:
        return _requantize_f(q, frac, prec)
    q = np.asarray(q, dtype=np.int64)
    s = np.broadcast_to(np.asarray(frac, dtype=np.int64) - prec.frac, q.shape)
    if np.any(s > 0):
        sp = np.maximum(s, 1)
        fl = q >> sp
        if prec.rounding == Rounding.TRN:
            down = fl
        elif prec.rounding == Rounding.RND:
            down = (q + (np.int64(1) << (sp - 1))) >> sp
        else:  # RND_CONV: half to even
            rem = q - (fl << sp)
            half = np.int64(1) << (sp - 1)
            down = fl + ((rem > half) | ((rem == half) & ((fl & 1) == 1)))
        q = np.where(s > 0, down, q << np.maximum(-s, 0))
    elif np.any(s < 0):
        q = q << (-s)
    lo, hi = prec.min_int, prec.max_int
    over = (q < lo) | (q > hi)
    n_over = int(np.count_nonzero(over))
    if n_over:
        if prec.saturation != Saturation.WRAP:
            q = np.clip(q, lo, hi)
        else:
            m = np.int64(1) << prec.width
            q = ((q - lo) & (m - 1)) + lo
    return q, n_over


def _requantize_f(q: np.ndarray, frac: np.ndarray | int, prec: Precision) -> tuple[np.ndarray, int]:
    """Same as the int64 path on float64 arrays holding exact integers (< 2**53): scaling by 2**-s is exact,
    floor/rint are exact, and np.rint rounds half to even like RND_CONV."""
    s = np.asarray(frac, dtype=np.int64) - prec.frac
    if np.any(s != 0):
        y = q * np.ldexp(1.0, -s) if s.ndim else q * 2.0 ** -int(s)
        if np.any(s > 0):
            if prec.rounding == Rounding.TRN:
                y = np.floor(y)
            elif prec.rounding == Rounding.RND:
                y = np.floor(y + 0.5)
            else:
                y = np.rint(y)
        q = y
    lo, hi = float(prec.min_int), float(prec.max_int)
    mn, mx = q.min(initial=lo), q.max(initial=hi)
    if mn >= lo and mx <= hi:
        return q, 0
    n_over = int(np.count_nonzero((q < lo) | (q > hi)))
    if prec.saturation != Saturation.WRAP:
        q = np.clip(q, lo, hi)
    else:
        q = np.mod(q - lo, 2.0**prec.width) + lo
    return q, n_over
