"""Fast path of the emulator: the integer network as exact float32/float64 BLAS products, chunk by chunk.

Every value of the network is an integer (its binary point kept aside). Float32 holds every integer below
2**24 exactly and float64 every one below 2**53; sums and products of such integers that stay below that limit
are exact in any order (BLAS blocking, FMA), and so are power-of-two scalings, ``floor``, ``rint`` (round half
to even), ``clip`` and ``mod``. :func:`compile_fast` proves, from the exact integer bounds of the description
(input word ranges propagated layer by layer, :class:`~l1ad.fixedpoint.layers.base.Bounds`), that every
integer the steps form - products, partial sums of every product, the result before it is rounded - stays below
the limit: float32 when it can, else float64, else ``None`` (the caller then runs the generic int64 path).
Each layer kind contributes its own steps (``Node.fast`` in its module).

Layout: tensors are ``(*shape, n)``, events on the last axis, so every layer is one BLAS call with the events as
its long dimension (a dense layer ``W^T @ X``; a convolution one batched call over a strided view of its
windows, no im2col copy) and per-channel constants broadcast along contiguous rows. The input words arrive as
``(n, inputs)`` rows; the first step converts them into a float buffer and hands on its transposed view, which
BLAS takes as it is. Events go through in chunks sized so that the tensors a step reads and writes (and the
words' int32 copy) stay in the core's L2 cache together.
Overflow counting is left to the generic path (:meth:`FixedPointModel.overflow_counts`); the scores are identical
(tested on random words for every layer kind).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from l1ad.bits import int_range
from l1ad.errors import UnsupportedLayerError
from l1ad.fixedpoint.layers.base import Bounds, FastContext, Node, Step, abs_max
from l1ad.fixedpoint.precision import InputField, requantize
from l1ad.fixedpoint.score import Score
from l1ad.models.scoring import ScoreKind
from l1ad.rows import RowOp

__all__ = ["FastPath", "cache_bytes", "compile_fast"]

#: (dtype, integers below this magnitude are exact in it)
_FLOATS = ((np.float32, 2**24), (np.float64, 2**53))
#: chunk sizes (events) are powers of two in this range
MIN_CHUNK, MAX_CHUNK = 512, 16_384


@functools.cache
def cache_bytes() -> int:
    """Size of one core's L2 (unified or data) cache from sysfs; 1 MiB where it cannot be read."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    for d in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            if (d / "level").read_text().strip() != "2" or (d / "type").read_text().strip() == "Instruction":
                continue
            size = (d / "size").read_text().strip()
            return int(size[:-1]) * units[size[-1]] if size[-1] in units else int(size)
        except (OSError, ValueError):
            continue
    return 1 << 20


class _Input:
    """Words (n, inputs) of any integer dtype -> the float tensor ``(word - offset) * scale`` as (*shape, n).

    ``scale`` starts at 1 and takes the power-of-two scale of an input quantizer that follows (folded:
    ``word * scale - offset * scale`` is exact, both terms and the result being representable)."""

    def __init__(self, shape: tuple[int, ...], offset: np.ndarray, scale: np.ndarray | None, dt: type, via32: bool):
        self.shape, self.dt, self.via32 = shape, dt, via32
        self.n_in = int(np.prod(shape))
        sc = np.broadcast_to(np.asarray(1.0 if scale is None else scale, np.float64), (self.n_in,))
        off = np.asarray(offset, np.float64) * sc
        self.scale = RowOp(np.multiply, sc.astype(dt)) if np.any(sc != 1) else None
        self.offset = RowOp(np.subtract, off.astype(dt)) if np.any(off) else None
        self._raw_offset, self._raw_scale = np.asarray(offset), scale

    def __call__(self, words: np.ndarray) -> np.ndarray:
        n = len(words)
        src = words.astype(np.int32) if self.via32 and words.dtype.itemsize > 4 else words
        x = np.empty((n, self.n_in), self.dt)
        np.copyto(x, src, casting="unsafe")
        if self.scale is not None:
            self.scale(x)
        if self.offset is not None:
            self.offset(x)
        return x.T.reshape(*self.shape, n)

    def scaled(self, factor: np.ndarray) -> _Input | None:
        f = np.asarray(factor, np.float64).reshape(-1)
        if f.size not in (1, self.n_in):
            return None
        old = np.ones(self.n_in) if self._raw_scale is None else np.asarray(self._raw_scale, np.float64)
        return _Input(self.shape, self._raw_offset, old * f, self.dt, self.via32)


class FastPath:
    """Compiled fast path: ``path(words (N, inputs) integers) -> raw scores (N,) int64``.

    ``exact_f64``: the score's sum is formed in float64 (exact below 2**53), else in int64; ``requant``: the
    score's declared type needs a requantization (never for a description l1ad inferred: the type is exact)."""

    def __init__(self, steps: list[Step], ref_step: int, score: Score, y_frac: int, ref_frac: int, exact_f64: bool,
                 requant: bool, dt: type, chunk: int):
        self.steps, self.ref_step, self.score = steps, ref_step, score
        self.y_frac, self.ref_frac, self.exact_f64, self.requant = y_frac, ref_frac, exact_f64, requant
        self.dt, self.chunk = dt, chunk

    def __call__(self, words: np.ndarray) -> np.ndarray:
        out = np.empty(len(words), np.int64)
        for a in range(0, len(words), self.chunk):
            x = words[a : a + self.chunk]
            n = len(x)
            ref = None
            for i, step in enumerate(self.steps):
                x = step(x)
                if i == self.ref_step:
                    ref = x.reshape(-1, n).astype(np.float64)
            np.copyto(out[a : a + n], self._score(x.reshape(-1, n), ref), casting="unsafe")
        return out

    def _score(self, y: np.ndarray, ref: np.ndarray | None) -> np.ndarray:
        kind = self.score.type
        if kind == ScoreKind.IDENTITY:
            s, f = y[0], self.y_frac
        else:
            g = max(self.y_frac, self.ref_frac) if kind == ScoreKind.SQUARED_ERROR else self.y_frac
            dt = np.float64 if self.exact_f64 else np.int64
            d = y.astype(dt)
            if g != self.y_frac:
                d *= dt(2 ** (g - self.y_frac))
            if kind == ScoreKind.SQUARED_ERROR:
                assert ref is not None
                r = ref.astype(dt)
                if g != self.ref_frac:
                    r *= dt(2 ** (g - self.ref_frac))
                d -= r
            s, f = np.einsum("ij,ij->j", d, d), 2 * g
        if self.requant:
            return requantize(s if s.dtype == np.int64 else s.astype(np.float64), f, self.score.output)[0]
        return s


def compile_fast(layers: Sequence[Node], inputs: Sequence[InputField], offset: np.ndarray, shift: np.ndarray,
                 shape: tuple[int, ...], score: Score) -> FastPath | None:
    """The fast path of a description: float32 if every integer it forms provably stays below 2**24, else
    float64 below 2**53, else None (the generic int64 path)."""
    from l1ad.fixedpoint.convert import input_bounds

    b0 = input_bounds(list(inputs), np.asarray(offset), np.asarray(shift), tuple(shape))
    words = np.array([int_range(f.width, f.signed) for f in inputs], dtype=object)
    via32 = all(f.width <= 31 for f in inputs)
    for dt, limit in _FLOATS:
        path = _compile(layers, b0, words, offset, shape, score, dt, limit, via32)
        if path is not None:
            return path
    return None


def _compile(layers: Sequence[Node], b0: Bounds, words: np.ndarray, offset: np.ndarray, shape: tuple[int, ...],
             score: Score, dt: type, limit: int, via32: bool) -> FastPath | None:
    ctx = FastContext(dt, limit, b0, b0, [_Input(tuple(shape), offset, None, dt, via32)])
    if not ctx.fits(words, b0):
        return None
    ref_step, ref_b = -1, b0
    if score.type == ScoreKind.SQUARED_ERROR and score.reference is None:
        ref_step = 0
        ctx.pinned.add(0)
    b = b0
    sizes = [int(np.prod(shape))]
    try:
        for node in layers:
            raw = node.propagate(b)
            ctx.bounds, ctx.raw = b, raw
            if not node.fast(ctx):
                return None
            b = raw.requantized(node.output)
            sizes.append(int(np.prod(b.shape)))
            if score.reference == node.name:
                ref_step, ref_b = len(ctx.steps) - 1, b
                ctx.pinned.add(ref_step)
    except (UnsupportedLayerError, OverflowError):
        return None
    squared_error = score.type == ScoreKind.SQUARED_ERROR
    if not b.uniform or (squared_error and not ref_b.uniform):
        return None
    y_frac, ref_frac = int(b.frac), int(ref_b.frac) if squared_error else 0
    # the score: the squares' sum is exact in float64 below 2**53 (every partial sum is at most the total)
    ym = abs_max(b).ravel()
    if score.type == ScoreKind.IDENTITY:
        total = int(ym[0]) if ym.size else 0
    elif score.type == ScoreKind.SUM_SQUARES:
        total = sum(int(v) ** 2 for v in ym)
    else:
        g = max(y_frac, ref_frac)
        rm = abs_max(ref_b).ravel()
        if rm.size != ym.size:
            return None
        total = sum(((int(u) << (g - y_frac)) + (int(v) << (g - ref_frac))) ** 2 for u, v in zip(ym, rm, strict=True))
    if total >= 2**63:
        return None
    f = y_frac if score.type == ScoreKind.IDENTITY else 2 * (max(y_frac, ref_frac) if squared_error else y_frac)
    lo = int(b.lo.ravel()[0]) if score.type == ScoreKind.IDENTITY else 0
    requant = f != score.output.frac or not (score.output.min_int <= lo and total <= score.output.max_int)
    # chunk: the float tensors one step reads and writes (its input and output) and the int32 copy of the words
    # fit in L2 together
    per_event = np.dtype(dt).itemsize * max(a + c for a, c in zip(sizes, sizes[1:] + [0], strict=True)) + 4 * sizes[0]
    chunk = int(np.clip(1 << int(np.log2(max(cache_bytes() // per_event, 1))), MIN_CHUNK, MAX_CHUNK))
    return FastPath(ctx.steps, ref_step, score, y_frac, ref_frac, total < 2**53, requant, dt, chunk)
