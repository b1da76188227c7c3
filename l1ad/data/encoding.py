"""Hardware encoding: float L1 events <-> the exact integer words the Global Trigger (and our firmware) receives.

Bit widths and LSBs per object group come from ``configs/l1_objects.yaml`` (CMS uGT data types; sources
are cited there). The 57 words of an event are ordered per object row as [pT, eta, phi], i.e. word index
``3 * row + feature`` with rows as in :mod:`l1ad.data.layout`.

* pT/ET words: unsigned, ``round(pT / lsb)``; eta words: signed two's complement (held as signed int64);
  phi words: bin indices ``round(phi / lsb) mod bins`` - unsigned ``0..bins-1`` as in the uGT (or centred
  ``-bins/2..bins/2-1`` if a config marks phi ``signed``). Rounding is to nearest, ties to even.
* Out-of-range pT/eta saturate at the nearest representable word and are counted per ``group.field``
  (e.g. ``"jet.pT"``) in :attr:`EncodeResult.overflow`; nothing wraps. Phi is periodic, so bringing it into
  range is not an overflow.
* :meth:`Encoding.decode` maps words back to physics units (phi in [-pi, pi)); the class id comes from the
  row's group where the pT word is non-zero, else 0. ``encode(decode(w)) == w`` exactly for every valid ``w``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
from pydantic import Field, model_validator

from l1ad.bits import int_range
from l1ad.config import StrictModel, config_path, load_config
from l1ad.data.layout import FEATURES, GROUPS, N_INPUTS, N_OBJECTS, ObjectClass
from l1ad.errors import DataError
from l1ad.rows import RowOp, column_extrema

__all__ = [
    "CHUNK",
    "DEFAULT_CONFIG",
    "read_words",
    "EncodeResult",
    "Encoding",
    "FieldSpec",
    "GroupSpec",
    "InputField",
    "ObjectsConfig",
    "load_encoding",
]

DEFAULT_CONFIG = "l1_objects.yaml"
#: events encoded at a time (float64 scratch of CHUNK x 57 values: 1 MiB)
CHUNK = 2048

#: config group name of each layout class
GROUP_NAMES: dict[ObjectClass, str] = {
    ObjectClass.MET: "met",
    ObjectClass.EGAMMA: "egamma",
    ObjectClass.MUON: "muon",
    ObjectClass.JET: "jet",
}


# ------------------------------------------------------------------------------------------ config schema


class FieldSpec(StrictModel):
    """One word of an object: ``bits`` wide, value = word * lsb (``lsb = 2 pi / periodic_bins`` for phi)."""

    bits: int = Field(ge=1, le=32)
    signed: bool
    lsb: float | None = Field(default=None, gt=0)
    periodic_bins: int | None = Field(default=None, ge=2)
    unit: str = ""

    @model_validator(mode="after")
    def _one_scale(self) -> FieldSpec:
        if (self.lsb is None) == (self.periodic_bins is None):
            raise ValueError("give exactly one of 'lsb' or 'periodic_bins'")
        if self.periodic_bins is not None:
            lo, hi = self.periodic_range
            if lo < self.word_min or hi > self.word_max:
                raise ValueError(
                    f"{self.periodic_bins} periodic bins do not fit in {self.bits} "
                    f"{'signed' if self.signed else 'unsigned'} bits"
                )
        return self

    @property
    def scale(self) -> float:
        return self.lsb if self.lsb is not None else 2.0 * math.pi / float(self.periodic_bins or 1)

    @property
    def word_min(self) -> int:
        return int_range(self.bits, self.signed)[0]

    @property
    def word_max(self) -> int:
        return int_range(self.bits, self.signed)[1]

    @property
    def periodic_range(self) -> tuple[int, int]:
        n = self.periodic_bins or 0
        return (-(n // 2), n - n // 2 - 1) if self.signed else (0, n - 1)


class GroupSpec(StrictModel):
    pT: FieldSpec
    eta: FieldSpec
    phi: FieldSpec

    @model_validator(mode="after")
    def _kinds(self) -> GroupSpec:
        if self.pT.signed or self.pT.periodic_bins is not None:
            raise ValueError("pT must be unsigned and not periodic")
        if self.eta.periodic_bins is not None:
            raise ValueError("eta cannot be periodic")
        if self.phi.periodic_bins is None:
            raise ValueError("phi must give 'periodic_bins'")
        return self


class GroupsSpec(StrictModel):
    met: GroupSpec
    egamma: GroupSpec
    muon: GroupSpec
    jet: GroupSpec


class ObjectsConfig(StrictModel):
    version: Literal[1] = 1
    groups: GroupsSpec


# ------------------------------------------------------------------------------------------- public types


@dataclass(frozen=True)
class InputField:
    """One of the 57 input words: its name (e.g. ``jet1_pT``), width in bits, signedness and LSB."""

    name: str
    width: int
    signed: bool
    lsb: float
    unit: str
    group: str = ""
    feature: str = ""
    periodic_bins: int = 0

    @property
    def min(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1


class EncodeResult(NamedTuple):
    """``words`` int64 (N, 57); ``overflow`` = number of saturated values per ``"group.field"``."""

    words: np.ndarray
    overflow: dict[str, int]

    @property
    def n_overflow(self) -> int:
        return int(sum(self.overflow.values()))


# ---------------------------------------------------------------------------------------------- encoding


class Encoding:
    """Float events (N, 19, >=3) <-> integer words (N, 57) for one :class:`ObjectsConfig`."""

    def __init__(self, config: ObjectsConfig, source: str | os.PathLike[str] = "<encoding>") -> None:
        self.config = config
        self.source = str(source)
        fields: list[InputField] = []
        specs: list[FieldSpec] = []
        keys: list[str] = []
        for row in range(N_OBJECTS):
            cls, first, n = next(g for g in GROUPS if g[1] <= row < g[1] + g[2])
            gname = GROUP_NAMES[cls]
            gspec: GroupSpec = getattr(config.groups, gname)
            obj = gname if n == 1 else f"{gname}{row - first + 1}"
            for feat in FEATURES:
                fs: FieldSpec = getattr(gspec, feat)
                specs.append(fs)
                keys.append(f"{gname}.{feat}")
                fields.append(
                    InputField(
                        name=f"{obj}_{feat}",
                        width=fs.bits,
                        signed=fs.signed,
                        lsb=fs.scale,
                        unit=fs.unit,
                        group=gname,
                        feature=feat,
                        periodic_bins=fs.periodic_bins or 0,
                    )
                )
        self._fields = fields
        self.lsb = np.array([f.lsb for f in fields], dtype=np.float64)
        self.word_min = np.array([f.min for f in fields], dtype=np.int64)
        self.word_max = np.array([f.max for f in fields], dtype=np.int64)
        self.widths = np.array([f.width for f in fields], dtype=np.int64)
        self.signed = np.array([f.signed for f in fields], dtype=bool)
        self.periodic_bins = np.array([f.periodic_bins for f in fields], dtype=np.int64)
        self._periodic = self.periodic_bins > 0
        self._pcols = np.flatnonzero(self._periodic)
        self._phi_view = bool(np.array_equal(self._pcols, np.arange(2, N_INPUTS, 3)))
        self._divide = RowOp(np.divide, self.lsb)
        self._masks: dict[int, np.ndarray] = {}
        self._pbins = self.periodic_bins[self._pcols].astype(np.float64)
        self._psigned_p = self.signed[self._pcols]
        self._psigned_any = bool(self._psigned_p.any())
        self._sat_min = np.where(self._periodic, -np.inf, self.word_min)
        self._sat_max = np.where(self._periodic, np.inf, self.word_max)
        # valid word range per column (periodic fields: their bin range)
        self.valid_min = self.word_min.copy()
        self.valid_max = self.word_max.copy()
        for i, fs in enumerate(specs):
            if fs.periodic_bins is not None:
                self.valid_min[i], self.valid_max[i] = fs.periodic_range
        self.overflow_keys: list[str] = list(dict.fromkeys(keys))
        self._key_index = np.array([self.overflow_keys.index(k) for k in keys], dtype=np.int64)
        self._row_class = np.zeros(N_OBJECTS, dtype=np.float32)
        for cls, first, n in GROUPS:
            self._row_class[first : first + n] = int(cls)

    @property
    def fields(self) -> list[InputField]:
        """The 57 input words in order (index ``3 * row + feature``)."""
        return list(self._fields)

    def __repr__(self) -> str:
        return f"Encoding({self.source!r}, {N_INPUTS} words, {int(self.widths.sum())} bits)"

    @property
    def word_dtype(self) -> np.dtype:
        """The narrowest signed integer dtype holding every word (int16 for the uGT formats)."""
        for dt in (np.int8, np.int16, np.int32):
            info = np.iinfo(dt)
            if self.word_min.min() >= info.min and self.word_max.max() <= info.max:
                return np.dtype(dt)
        return np.dtype(np.int64)

    def encode(self, particles: np.ndarray, dtype: Any = np.int64) -> EncodeResult:
        """Float events (N, 19, 3 or 4) -> ``EncodeResult(words (N, 57), overflow counts)``.

        ``dtype``: of the words (int64 by default; :attr:`word_dtype` holds them in a quarter of the bytes).
        Vectorised over chunks of :data:`CHUNK` events (float64 scratch in cache); the words are the same for
        any chunking."""
        p = np.asarray(particles)
        if p.ndim != 3 or p.shape[1] != N_OBJECTS or p.shape[2] < 3:
            raise DataError(f"encode: input has shape {tuple(p.shape)}, expected (N, {N_OBJECTS}, 3 or 4)")
        dt = np.dtype(dtype)
        if dt.kind not in "iu" or np.iinfo(dt).min > self.word_min.min() or np.iinfo(dt).max < self.word_max.max():
            raise DataError(f"encode: dtype {dt} cannot hold every word (use int64 or {self.word_dtype})")
        words = np.empty((len(p), N_INPUTS), dt)
        counts = np.zeros(len(self.overflow_keys), np.int64)
        scratch = np.empty((min(len(p), CHUNK), N_INPUTS), np.float64)
        for a in range(0, len(p), CHUNK):
            self._encode_chunk(p[a : a + CHUNK], words[a : a + CHUNK], counts, scratch, a)
        overflow = {k: int(c) for k, c in zip(self.overflow_keys, counts, strict=True)}
        return EncodeResult(words, overflow)

    def _encode_chunk(self, p: np.ndarray, out: np.ndarray, counts: np.ndarray, scratch: np.ndarray,
                      first: int) -> None:
        """One chunk: word = rint(value / lsb) in float64 (ties to even), phi into its bins, the rest saturated
        and counted only in the columns whose extrema say so."""
        m = len(p)
        x = scratch[:m]
        if p.shape[2] == 3 or not p.flags.c_contiguous:
            np.copyto(x.reshape(m, N_OBJECTS, 3), p[:, :, :3])  # float32 -> float64, exact
        else:  # one gather of the (pT, eta, phi) columns (NumPy copies 3-of-4 strides slowly)
            np.copyto(x, p.reshape(m, -1)[:, self._value_columns(p.shape[2])])
        self._divide(x)
        np.rint(x, out=x)
        lo, hi = column_extrema(x)  # before the phi wrap: saturation, finiteness and the wrap's exactness
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):  # NaN/inf survive rint, min and max
            self._refuse_nonfinite(p, first)
        # periodic (phi) columns: wrap into the bin range; q - floor(q / bins) * bins is exact on integers below
        # 2**51 (their quotient never rounds across an integer) and much faster than np.mod, which takes over for
        # a column holding larger ones
        qp = x.reshape(m, N_OBJECTS, 3)[:, :, 2] if self._phi_view else x[:, self._pcols]
        huge = np.maximum(-lo[self._pcols], hi[self._pcols]) >= 2.0**51
        exact = np.mod(qp[:, huge], self._pbins[huge]) if huge.any() else None
        k = np.floor(qp / self._pbins)
        k *= self._pbins
        qp -= k
        if exact is not None:
            qp[:, huge] = exact
        if self._psigned_any:
            qp -= np.where(self._psigned_p & (qp >= self._pbins / 2), self._pbins, 0.0)
        if not self._phi_view:
            x[:, self._pcols] = qp
        # saturate the rest (periodic columns have infinite bounds here), counting every clipped value
        for c in np.flatnonzero((lo < self._sat_min) | (hi > self._sat_max)):
            col = x[:, c]
            counts[self._key_index[c]] += np.count_nonzero(col < self.word_min[c]) + np.count_nonzero(
                col > self.word_max[c])
            np.clip(col, self.word_min[c], self.word_max[c], out=col)
        np.copyto(out, x, casting="unsafe")

    def _value_columns(self, width: int) -> np.ndarray:
        """Mask of the pT, eta, phi values among an event's N_OBJECTS * width floats."""
        if width not in self._masks:
            self._masks[width] = np.tile(np.arange(width) < 3, N_OBJECTS)
        return self._masks[width]

    def _refuse_nonfinite(self, p: np.ndarray, first: int) -> None:
        x = p[:, :, :3].reshape(len(p), N_INPUTS)
        ev, col = np.argwhere(~np.isfinite(x))[0]
        f = self._fields[col]
        raise DataError(
            f"encode: event {first + int(ev)}, object {f.name.rsplit('_', 1)[0]}: field '{f.feature}': "
            f"not finite (value {x[ev, col]!r})"
        )

    def check_words(self, words: np.ndarray, source: str = "words") -> np.ndarray:
        """Return ``words`` as int64 (N, 57); :class:`DataError` on a wrong shape or an out-of-range word."""
        w = np.asarray(words)
        if w.ndim != 2 or w.shape[1] != N_INPUTS:
            raise DataError(f"{source}: shape {tuple(w.shape)}, expected (N, {N_INPUTS})")
        if w.dtype.kind not in "iu":
            if w.dtype.kind != "f" or not np.all(np.isfinite(w)) or not np.all(w == np.rint(w)):
                raise DataError(f"{source}: words must be integers (dtype {w.dtype})")
        w = w.astype(np.int64)
        bad = (w < self.valid_min) | (w > self.valid_max)
        if bad.any():
            ev, col = np.argwhere(bad)[0]
            f = self._fields[col]
            raise DataError(
                f"{source}: event {int(ev)}: field '{f.name}': word out of range "
                f"[{self.valid_min[col]}, {self.valid_max[col]}] (value {int(w[ev, col])})"
            )
        return w

    def decode(self, words: np.ndarray) -> np.ndarray:
        """Integer words (N, 57) -> float32 events (N, 19, 4) = (pT, eta, phi in [-pi, pi), class id)."""
        w = self.check_words(words, "decode")
        v = w.astype(np.float64)
        # unsigned periodic indices >= bins/2 are negative angles
        upper = self._periodic & ~self.signed & (w >= (self.periodic_bins + 1) // 2)
        v = np.where(upper, v - self.periodic_bins, v) * self.lsb
        out = np.empty((w.shape[0], N_OBJECTS, 4), dtype=np.float32)
        out[:, :, :3] = v.reshape(w.shape[0], N_OBJECTS, 3)
        out[:, :, 3] = np.where(w[:, 0::3] != 0, self._row_class[None, :], 0.0)
        return out

    def quantize(self, particles: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
        """``decode(encode(particles))``: float events at hardware precision (saturated) + overflow counts."""
        r = self.encode(particles)
        return self.decode(r.words), r.overflow

    def describe(self) -> list[dict[str, Any]]:
        """Per-group table (for docs and ``l1ad data`` output)."""
        rows = []
        for gname in GROUP_NAMES.values():
            g: GroupSpec = getattr(self.config.groups, gname)
            for feat in FEATURES:
                fs: FieldSpec = getattr(g, feat)
                rows.append(
                    {"group": gname, "field": feat, "bits": fs.bits, "signed": fs.signed, "lsb": fs.scale,
                     "periodic_bins": fs.periodic_bins, "min": fs.word_min * fs.scale if not fs.periodic_bins
                     else None, "max": fs.word_max * fs.scale if not fs.periodic_bins else None, "unit": fs.unit}
                )
        return rows


def load_encoding(path: str | os.PathLike[str] | None = None) -> Encoding:
    """The encoding of ``path`` (default ``configs/l1_objects.yaml``); :class:`ConfigError` if invalid."""
    p = config_path(path if path is not None else DEFAULT_CONFIG)
    return Encoding(load_config(ObjectsConfig, p), p)


def read_words(
    path: str | os.PathLike[str], start: int = 0, stop: int | None = None, encoding: Encoding | None = None
) -> np.ndarray:
    """Events ``[start, stop)`` of an ADC2021 file as the firmware's input words, int64 (N, 57)."""
    from l1ad.data.adc2021 import read_events

    enc = encoding if encoding is not None else load_encoding()
    return np.asarray(enc.encode(read_events(path, start, stop)).words, dtype=np.int64)
