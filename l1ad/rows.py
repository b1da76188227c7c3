"""Row-vector operations on (n, m) arrays with short rows, at NumPy's full speed.

NumPy runs a broadcast ``y op v`` (v one value per column) as one inner loop per row; with m of a few dozen
(57 GT words, 32 neurons) the per-row cost dominates. Taking k rows as one row of k*m values against ``v``
tiled k times gives the same result with k times fewer, longer inner loops. Used by the encoding and the
emulator's fast path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["MIN_ROW", "RowOp", "column_extrema"]

#: rows are grouped until an inner loop covers at least this many values
MIN_ROW = 512


def _group(m: int) -> int:
    return max(1, MIN_ROW // max(m, 1))


class RowOp:
    """``op(y, v, out=y)`` in place for a row vector ``v`` over a C-contiguous (n, m) array ``y``."""

    def __init__(self, op: Callable[..., Any], v: np.ndarray):
        self.op, self.v = op, np.ascontiguousarray(np.ravel(v))
        self.k = _group(self.v.size)
        self.tiled = np.tile(self.v, self.k)

    def __call__(self, y: np.ndarray) -> np.ndarray:
        n, m = y.shape
        if self.k > 1 and n % self.k == 0 and y.flags.c_contiguous:
            g = y.reshape(n // self.k, m * self.k)
            self.op(g, self.tiled, out=g)
        else:
            self.op(y, self.v, out=y)
        return y


def column_extrema(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(min, max) of each column of a C-contiguous (n, m) array (NaN where a column holds one)."""
    n, m = y.shape
    k = _group(m)
    if k > 1 and n % k == 0 and n and y.flags.c_contiguous:
        g = y.reshape(n // k, m * k)
        return g.min(axis=0).reshape(k, m).min(axis=0), g.max(axis=0).reshape(k, m).max(axis=0)
    return y.min(axis=0), y.max(axis=0)
