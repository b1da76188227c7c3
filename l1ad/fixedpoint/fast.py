"""Fast path of the emulator: in-place float32/float64 arithmetic on exact integers.

Every intermediate is an integer far below 2**24 (float32) or 2**53 (float64), so BLAS matrix products,
power-of-two scalings, ``floor``/``rint`` (round half to even) and ``clip`` are exact. Each node contributes its
own steps (:meth:`l1ad.fixedpoint.layers.base.Node.fast`); a node without them sends the model to the generic
path. Overflow counting is left to the generic path; results are identical (tested).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from l1ad.bits import int_range
from l1ad.fixedpoint.layers.base import FastContext, Node, Step
from l1ad.fixedpoint.precision import InputField, requantize
from l1ad.fixedpoint.score import Score
from l1ad.models.scoring import ScoreKind, score_array

__all__ = ["compile_fast"]


def compile_fast(layers: Sequence[Node], inputs: Sequence[InputField], offset: np.ndarray, shift: np.ndarray,
                 score: Score, max_bits: int) -> Callable[[np.ndarray], np.ndarray] | None:
    """A function words (N, n) int64 -> raw scores int64, or None if the model needs the generic path.

    ``max_bits``: the widest intermediate integer of the layers (float32 when at most 23 bits); the caller has
    checked that every integer, the score included, stays below 2**52."""
    dt: type = np.float32 if max_bits <= 23 else np.float64
    lo_in, hi_in = (np.array(r, dtype=np.float64) - offset
                    for r in zip(*(int_range(f.width, f.signed) for f in inputs), strict=True))
    off = offset.astype(dt)
    ctx = FastContext(dt, lo_in, hi_in, int(shift[0]) if len(shift) and np.all(shift == shift[0]) else shift)
    steps: list[Step] = [lambda x: np.subtract(x, off, out=x)] if np.any(offset) else [lambda x: x]
    ref_step, ref_frac = -1, 0
    if score.type == ScoreKind.SQUARED_ERROR and score.reference is None:
        if np.any(shift != shift[0]):
            return None
        ref_step, ref_frac = 0, int(shift[0])
    for node in layers:
        more = node.fast(ctx)
        if more is None:
            return None
        steps.extend(more)
        ctx.frac = node.output.frac
        if score.reference == node.name:
            ref_step, ref_frac = len(steps) - 1, node.output.frac
    y_frac = int(ctx.frac)
    kind, out_prec = score.type, score.output

    def run(words: np.ndarray) -> np.ndarray:
        x = words.astype(dt)
        ref = None
        for i, st in enumerate(steps):
            x = st(x)
            if i == ref_step:
                ref = x.astype(np.float64)
        y = x.astype(np.float64)
        if kind == ScoreKind.IDENTITY:
            s, f = score_array(kind, y[:, :1], exact=True), y_frac
        elif kind == ScoreKind.SUM_SQUARES:
            s, f = score_array(kind, y, exact=True), 2 * y_frac
        else:
            g = max(y_frac, ref_frac)
            s, f = score_array(kind, y * 2.0 ** (g - y_frac), ref * 2.0 ** (g - ref_frac), exact=True), 2 * g  # type: ignore[operator]
        return requantize(s, f, out_prec)[0].astype(np.int64)

    return run
