"""Integer trigger scores accumulated chunk by chunk into a bounded, exactly mergeable histogram.

The firmware compares an integer score with an integer threshold, so the rate at a threshold T follows from
the number of events with score > T. :class:`ScoreHistogram` keeps

* coarse counts: events per bin ``score >> shift`` (dense int64 array over the bins seen), and
* an exact tail: (value, count) of every score in the highest bins that together hold at least
  ``tail_events`` events (bins >= B, B chosen from the coarse counts).

With ``shift = 0`` the coarse counts are exact everywhere and no tail is kept. Otherwise ``n_above(T)`` is
exact for every T in the tail region (T >= lower edge of bin B, minus 1) and at coarse bin edges below
it. Thresholds for target rates lie in the tail when ``tail_events`` exceeds the target's event count (the
rates pipeline sets it from the targets and the zero-bias size).

Merging is exact and order independent: B only moves up as counts grow, and every part keeps the exact
values of all its bins at or above its own B, which is never above the merged B (counts of a sum are >= the
counts of each part). Dropped values lie in bins below every later B.

Memory bound, independent of the number of events (W = score width in bits):

* coarse counts <= 8 B x 2**(W - shift) <= 8 B x ``max_bins`` (2**22 -> 32 MiB; ``shift`` is chosen as
  ``max(0, W - 22)`` by :func:`shift_for_width`);
* exact tail <= 16 B x (``tail_events`` + 2**shift) distinct values (65,536 events -> ~1 MiB plus one bin);
* plus the chunk in flight (see :mod:`l1ad.rates.pipeline`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["DEFAULT_MAX_BINS", "DEFAULT_TAIL_EVENTS", "ScoreHistogram", "shift_for_width"]

#: coarse-count limit (bins); 2**22 int64 counts = 32 MiB
DEFAULT_MAX_BINS = 1 << 22
#: default size of the exact tail (events); the pipeline raises it for large samples / loose targets
DEFAULT_TAIL_EVENTS = 1 << 16

_EMPTY = np.zeros(0, dtype=np.int64)


def shift_for_width(width: int | None, max_bins: int = DEFAULT_MAX_BINS) -> int:
    """Coarse-bin shift so a ``width``-bit score spans at most ``max_bins`` bins (64-bit if unknown)."""
    w = 64 if width is None else int(width)
    return max(0, w - (int(max_bins).bit_length() - 1))


class ScoreHistogram:
    """Coarse counts of ``score >> shift`` plus exact counts in the top ``tail_events`` events' bins."""

    __slots__ = ("_coarse", "_lo", "_tail_bin", "_tc", "_tv", "shift", "tail_events")

    def __init__(self, shift: int = 0, tail_events: int = DEFAULT_TAIL_EVENTS) -> None:
        if shift < 0 or tail_events < 1:
            raise ValueError(f"need shift >= 0 and tail_events >= 1, got {shift}, {tail_events}")
        self.shift = int(shift)
        self.tail_events = int(tail_events)
        self._lo = 0  # coarse bin index of _coarse[0]
        self._coarse = _EMPTY
        self._tail_bin: int | None = None  # B: exact values kept for bins >= B; None: all kept (< K events)
        self._tv = _EMPTY  # sorted distinct tail values
        self._tc = _EMPTY

    # -- construction ---------------------------------------------------------------------------------
    @classmethod
    def from_scores(
        cls, scores: np.ndarray, shift: int = 0, tail_events: int = DEFAULT_TAIL_EVENTS
    ) -> ScoreHistogram:
        h = cls(shift, tail_events)
        h.add(scores)
        return h

    def empty_like(self) -> ScoreHistogram:
        return ScoreHistogram(self.shift, self.tail_events)

    def add(self, scores: np.ndarray) -> None:
        """Add a chunk of integer scores."""
        s = np.asarray(scores)
        if s.size == 0:
            return
        if not np.issubdtype(s.dtype, np.integer):
            raise TypeError(f"scores must be integers, got {s.dtype}")
        s = s.astype(np.int64, copy=False).ravel()
        b = s >> self.shift if self.shift else s
        lo = int(b.min())
        self._add_coarse(lo, np.bincount(b - lo).astype(np.int64, copy=False))
        if self.shift:
            self._update_tail_bin()
            keep = s if self._tail_bin is None else s[b >= self._tail_bin]
            vals, cnts = np.unique(keep, return_counts=True)
            self._merge_tail(vals, cnts.astype(np.int64))

    def __iadd__(self, other: ScoreHistogram) -> ScoreHistogram:
        if self._coarse.size == 0:  # empty: take the other's binning
            self.shift, self.tail_events = other.shift, other.tail_events
        if (self.shift, self.tail_events) != (other.shift, other.tail_events):
            raise ValueError("cannot merge histograms with different shift / tail_events")
        if other._coarse.size:
            self._add_coarse(other._lo, other._coarse)
        if self.shift and other._tv.size:
            self._update_tail_bin()
            self._merge_tail(other._tv, other._tc)
        return self

    def merge(self, other: ScoreHistogram) -> ScoreHistogram:
        """A new histogram holding both sets of counts (exact; associative and commutative)."""
        out = self.empty_like()
        out += self
        out += other
        return out

    @staticmethod
    def sum(hists: Iterable[ScoreHistogram]) -> ScoreHistogram:
        hs = list(hists)
        out = hs[0].empty_like() if hs else ScoreHistogram()
        for h in hs:
            out += h
        return out

    # -- queries --------------------------------------------------------------------------------------
    @property
    def n_total(self) -> int:
        return int(self._coarse.sum())

    @property
    def nbytes(self) -> int:
        """Memory held by the counts (the bound in the module docstring)."""
        return int(self._coarse.nbytes + self._tv.nbytes + self._tc.nbytes)

    @property
    def exact_from(self) -> int | None:
        """Smallest value v such that n_above(T) is exact for every T >= v - 1 (None: exact everywhere)."""
        if not self.shift or self._tail_bin is None:
            return None  # exact coarse counts, or fewer than tail_events events: all kept exactly
        return self._tail_bin << self.shift

    def exact_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """Sorted distinct score values and their counts in the exact region (all values if exact_from is None)."""
        if not self.shift:
            nz = np.flatnonzero(self._coarse)
            return (nz + self._lo).astype(np.int64), self._coarse[nz].copy()
        return self._tv.copy(), self._tc.copy()

    def coarse_pairs(self) -> tuple[np.ndarray, np.ndarray, int]:
        """(lower edges of the non-empty coarse bins, their counts, bin width 2**shift)."""
        nz = np.flatnonzero(self._coarse)
        return ((nz + self._lo) << self.shift).astype(np.int64), self._coarse[nz].copy(), 1 << self.shift

    def is_exact(self, thresholds: np.ndarray | int) -> np.ndarray:
        """Whether n_above is exact at each T: in the exact region or at a coarse bin edge (T + 1 = k 2**shift)."""
        t = np.asarray(thresholds, dtype=np.int64)
        edge = self.exact_from
        if edge is None:
            return np.ones(t.shape, dtype=bool)
        return (t >= edge - 1) | (((t + 1) & ((1 << self.shift) - 1)) == 0)

    def n_above(self, thresholds: np.ndarray | int) -> np.ndarray:
        """Events with score > T for each integer T (the firmware's trigger condition). Exact, or ValueError."""
        t = np.asarray(thresholds, dtype=np.int64)
        if not np.all(self.is_exact(t)):
            bad = t[~self.is_exact(t)].ravel()[0]
            raise ValueError(
                f"n_above({bad}) is not exact: below the exact tail (from {self.exact_from}) and not at a coarse "
                f"bin edge (bin width {1 << self.shift})"
            )
        # coarse: events in bins >= ceil((T + 1) / 2**shift) (exact at edges and where the tail is all)
        cum = np.concatenate([[0], np.cumsum(self._coarse)])
        total = cum[-1]
        first_bin = -((-(t + 1)) >> self.shift) if self.shift else t + 1
        idx = np.clip(first_bin - self._lo, 0, self._coarse.size)
        coarse = total - cum[idx]
        if not self.shift:
            return coarse
        tcum = np.concatenate([[0], np.cumsum(self._tc)])
        tail = tcum[-1] - tcum[np.searchsorted(self._tv, t, side="right")]
        edge = self.exact_from
        in_tail = np.ones(t.shape, bool) if edge is None else t >= edge - 1
        return np.where(in_tail, tail, coarse)

    def curve_thresholds(self, max_points: int = 2000, tail_points: int = 400) -> np.ndarray:
        """Thresholds where n_above is exact and steps: every distinct tail value (thinned to ``tail_points``,
        keeping the highest) and coarse bin edges below the tail (thinned to the rest of ``max_points``)."""
        ev, _ = self.exact_pairs()
        edge = self.exact_from
        if ev.size > tail_points:
            keep_top = tail_points // 2
            idx = np.unique(np.linspace(0, ev.size - keep_top - 1, tail_points - keep_top).astype(np.int64))
            ev = np.concatenate([ev[idx], ev[-keep_top:]])
        if edge is None:
            lo = [ev[0] - 1] if ev.size else []
            return np.concatenate([np.asarray(lo, np.int64), ev]).astype(np.int64)
        cv, _, width = self.coarse_pairs()
        below = cv[cv < edge] - 1  # T = edge - 1: counts every event in that bin and above
        if below.size > max_points - ev.size:
            idx = np.unique(np.linspace(0, below.size - 1, max(2, max_points - ev.size)).astype(np.int64))
            below = below[idx]
        return np.unique(np.concatenate([below, [edge - 1], ev])).astype(np.int64)

    @property
    def min(self) -> int:
        nz = np.flatnonzero(self._coarse)
        if nz.size == 0:
            raise ValueError("empty histogram")
        if self.exact_from is None:
            ev, _ = self.exact_pairs()
            return int(ev[0])
        return int((nz[0] + self._lo) << self.shift)  # lower edge of the lowest bin

    @property
    def max(self) -> int:
        if self._coarse.size == 0:
            raise ValueError("empty histogram")
        ev, _ = self.exact_pairs()
        return int(ev[-1])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ScoreHistogram):
            return NotImplemented
        a, b = self.coarse_pairs(), other.coarse_pairs()
        ta, tb = self.exact_pairs(), other.exact_pairs()
        return bool(
            a[2] == b[2]
            and np.array_equal(a[0], b[0])
            and np.array_equal(a[1], b[1])
            and np.array_equal(ta[0], tb[0])
            and np.array_equal(ta[1], tb[1])
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ScoreHistogram(n={self.n_total}, shift={self.shift}, exact_from={self.exact_from}, {self.nbytes} B)"

    def to_dict(self) -> dict[str, Any]:
        cv, cc, width = self.coarse_pairs()
        ev, ec = self.exact_pairs()
        return {"bin_width": width, "bins": cv.tolist(), "counts": cc.tolist(), "exact_from": self.exact_from,
                "exact_values": ev.tolist(), "exact_counts": ec.tolist()}

    # -- internals ------------------------------------------------------------------------------------
    def _add_coarse(self, lo: int, counts: np.ndarray) -> None:
        if self._coarse.size == 0:
            self._lo, self._coarse = lo, counts.astype(np.int64, copy=True)
            return
        new_lo = min(lo, self._lo)
        new_hi = max(lo + counts.size, self._lo + self._coarse.size)
        if (new_lo, new_hi) != (self._lo, self._lo + self._coarse.size):
            grown = np.zeros(new_hi - new_lo, dtype=np.int64)
            grown[self._lo - new_lo : self._lo - new_lo + self._coarse.size] = self._coarse
            self._lo, self._coarse = new_lo, grown
        self._coarse[lo - self._lo : lo - self._lo + counts.size] += counts

    def _update_tail_bin(self) -> None:
        """B = the highest bin such that bins >= B hold >= tail_events events (None while fewer events)."""
        above = np.cumsum(self._coarse[::-1])  # above[i] = events in the top i + 1 bins
        i = int(np.searchsorted(above, self.tail_events))  # first index with above >= K
        if i >= self._coarse.size:
            return  # fewer than K events so far: keep everything (B stays None)
        b = self._lo + self._coarse.size - 1 - i
        self._tail_bin = b if self._tail_bin is None else max(b, self._tail_bin)

    def _merge_tail(self, values: np.ndarray, counts: np.ndarray) -> None:
        if self._tail_bin is None:
            v, c = np.concatenate([self._tv, values]), np.concatenate([self._tc, counts])
        else:
            edge = self._tail_bin << self.shift
            mine, keep = self._tv >= edge, values >= edge
            v = np.concatenate([self._tv[mine], values[keep]])
            c = np.concatenate([self._tc[mine], counts[keep]])
        if v.size == 0:
            self._tv, self._tc = _EMPTY, _EMPTY
            return
        order = np.argsort(v, kind="stable")
        v, c = v[order], c[order]
        starts = np.flatnonzero(np.concatenate([[True], v[1:] != v[:-1]]))
        self._tv = v[starts]
        self._tc = np.add.reduceat(c, starts).astype(np.int64)
