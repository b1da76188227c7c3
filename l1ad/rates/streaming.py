"""Exact histograms of integer trigger scores, accumulated chunk by chunk.

The firmware compares an integer score with an integer threshold, so the rate at *every* threshold follows
exactly from the number of events per integer score value. :class:`ScoreHistogram` keeps those counts and
merges associatively (chunk order, process or Dask worker do not matter), so thresholds for any target rate
come from the merged histogram and the events never have to be held in memory.

Memory bound (independent of the number of events):

* dense mode (default while the score span ``max - min + 1`` is <= ``max_bins``, 2**22 by default):
  one int64 count per integer in the span, <= 8 B x ``max_bins`` = 32 MiB; filled with ``np.bincount``
  at an offset;
* sparse mode (wider spans, e.g. 30+-bit scores): sorted (value, count) pairs of the distinct scores seen,
  16 B per distinct value, <= 16 B x 2**W for a W-bit score;
* plus the chunk in flight (see :mod:`l1ad.rates.pipeline`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["DEFAULT_MAX_BINS", "ScoreHistogram"]

#: dense-mode limit on the score span (bins); 2**22 int64 counts = 32 MiB
DEFAULT_MAX_BINS = 1 << 22


class ScoreHistogram:
    """Counts of events per integer score value; exact, mergeable, bounded in memory."""

    __slots__ = ("_counts", "_max_bins", "_offset", "_values")

    def __init__(self, max_bins: int = DEFAULT_MAX_BINS) -> None:
        self._max_bins = int(max_bins)
        self._offset = 0
        self._counts = np.zeros(0, dtype=np.int64)  # dense: counts[i] = events with score == offset + i
        self._values: np.ndarray | None = None  # sparse mode: sorted distinct values (counts in _counts)

    # -- construction ---------------------------------------------------------------------------------
    @classmethod
    def from_scores(cls, scores: np.ndarray, max_bins: int = DEFAULT_MAX_BINS) -> ScoreHistogram:
        h = cls(max_bins)
        h.add(scores)
        return h

    @classmethod
    def from_pairs(
        cls, values: np.ndarray, counts: np.ndarray, max_bins: int = DEFAULT_MAX_BINS
    ) -> ScoreHistogram:
        """Build from (value, count) pairs (values need not be sorted or unique)."""
        h = cls(max_bins)
        h._add_pairs(np.asarray(values, dtype=np.int64), np.asarray(counts, dtype=np.int64))
        return h

    @property
    def is_sparse(self) -> bool:
        return self._values is not None

    @property
    def n_total(self) -> int:
        return int(self._counts.sum())

    @property
    def nbytes(self) -> int:
        """Memory held by the counts (the bound in the module docstring)."""
        return int(self._counts.nbytes + (self._values.nbytes if self._values is not None else 0))

    def add(self, scores: np.ndarray) -> None:
        """Add a chunk of integer scores."""
        s = np.asarray(scores)
        if s.size == 0:
            return
        if not np.issubdtype(s.dtype, np.integer):
            raise TypeError(f"scores must be integers, got {s.dtype}")
        s = s.astype(np.int64, copy=False).ravel()
        lo, hi = int(s.min()), int(s.max())
        if self._values is None and hi - lo + 1 <= self._max_bins:
            counts = np.bincount(s - lo, minlength=hi - lo + 1).astype(np.int64, copy=False)
            self._add_dense(lo, counts)
        else:
            vals, cnts = np.unique(s, return_counts=True)
            self._add_pairs(vals, cnts.astype(np.int64))

    def merge(self, other: ScoreHistogram) -> ScoreHistogram:
        """A new histogram holding both sets of counts (exact; associative and commutative)."""
        out = ScoreHistogram(max(self._max_bins, other._max_bins))
        out += self
        out += other
        return out

    def __iadd__(self, other: ScoreHistogram) -> ScoreHistogram:
        if not self.is_sparse and not other.is_sparse:
            if other._counts.size:
                self._add_dense(other._offset, other._counts)
        else:
            v, c = other.pairs()
            self._add_pairs(v, c)
        return self

    @staticmethod
    def sum(hists: Iterable[ScoreHistogram], max_bins: int = DEFAULT_MAX_BINS) -> ScoreHistogram:
        out = ScoreHistogram(max_bins)
        for h in hists:
            out += h
        return out

    # -- queries --------------------------------------------------------------------------------------
    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """(sorted distinct score values, their counts), zero counts dropped."""
        if self._values is not None:
            return self._values.copy(), self._counts.copy()
        nz = np.flatnonzero(self._counts)
        return (nz + self._offset).astype(np.int64), self._counts[nz].copy()

    def n_above(self, thresholds: np.ndarray | int) -> np.ndarray:
        """Number of events with score > T for each integer T (the firmware's trigger condition)."""
        values, counts = self.pairs()
        cum = np.concatenate([[0], np.cumsum(counts)])
        t = np.asarray(thresholds, dtype=np.int64)
        idx = np.searchsorted(values, t, side="right")
        return cum[-1] - cum[idx]

    @property
    def min(self) -> int:
        v, _ = self.pairs()
        if v.size == 0:
            raise ValueError("empty histogram")
        return int(v[0])

    @property
    def max(self) -> int:
        v, _ = self.pairs()
        if v.size == 0:
            raise ValueError("empty histogram")
        return int(v[-1])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ScoreHistogram):
            return NotImplemented
        a, b = self.pairs(), other.pairs()
        return bool(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        mode = "sparse" if self.is_sparse else "dense"
        return f"ScoreHistogram(n={self.n_total}, {mode}, {self.nbytes} B)"

    def to_dict(self) -> dict[str, Any]:
        v, c = self.pairs()
        return {"values": v.tolist(), "counts": c.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any], max_bins: int = DEFAULT_MAX_BINS) -> ScoreHistogram:
        return cls.from_pairs(np.asarray(d["values"]), np.asarray(d["counts"]), max_bins)

    # -- internals ------------------------------------------------------------------------------------
    def _add_dense(self, lo: int, counts: np.ndarray) -> None:
        hi = lo + counts.size - 1
        if self._counts.size == 0:
            self._offset, self._counts = lo, counts.astype(np.int64, copy=True)
            return
        cur_lo, cur_hi = self._offset, self._offset + self._counts.size - 1
        new_lo, new_hi = min(lo, cur_lo), max(hi, cur_hi)
        if new_hi - new_lo + 1 > self._max_bins:
            nz = np.flatnonzero(counts)
            self._add_pairs(nz + lo, counts[nz])
            return
        if (new_lo, new_hi) != (cur_lo, cur_hi):
            grown = np.zeros(new_hi - new_lo + 1, dtype=np.int64)
            grown[cur_lo - new_lo : cur_lo - new_lo + self._counts.size] = self._counts
            self._offset, self._counts = new_lo, grown
        self._counts[lo - self._offset : lo - self._offset + counts.size] += counts

    def _add_pairs(self, values: np.ndarray, counts: np.ndarray) -> None:
        if values.size == 0:
            return
        if self._values is None:
            lo, hi = int(values.min()), int(values.max())
            if self._counts.size:
                lo, hi = min(lo, self._offset), max(hi, self._offset + self._counts.size - 1)
            if hi - lo + 1 <= self._max_bins:  # stay dense
                dense = np.zeros(hi - lo + 1, dtype=np.int64)
                np.add.at(dense, values - lo, counts)
                if self._counts.size:
                    dense[self._offset - lo : self._offset - lo + self._counts.size] += self._counts
                self._offset, self._counts = lo, dense
                return
            # switch to sparse mode for good
            v0, c0 = self.pairs()
            self._values, self._counts = v0, c0
        allv = np.concatenate([self._values, values])
        allc = np.concatenate([self._counts, counts])
        order = np.argsort(allv, kind="stable")
        allv, allc = allv[order], allc[order]
        starts = np.flatnonzero(np.concatenate([[True], allv[1:] != allv[:-1]]))
        self._values = allv[starts]
        self._counts = np.add.reduceat(allc, starts).astype(np.int64)
