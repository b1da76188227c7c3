"""Integer thresholds for target rates, and rate-vs-threshold curves with their 68 % intervals.

The trigger fires when ``score > threshold`` (both firmware integers), so on zero bias the rate at T is
``f * p(T)`` (f = collision rate) with p(T) the fraction of crossings whose score exceeds T: ``n(T) / N`` for an
unweighted sample, ``sum_k w_k n_k(T)`` for a weighted one (per-stratum counts, :mod:`l1ad.rates.weights`).
For a target rate r the chosen threshold is the *smallest* integer T with ``f * p(T) <= r``: the loosest cut
that stays within budget. Intervals: Clopper-Pearson where one stratum contributes, bootstrap otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from l1ad.rates.ratemodel import RateModel
from l1ad.rates.streaming import ScoreHistogram

if TYPE_CHECKING:
    from l1ad.rates.weights import StratumWeights

__all__ = [
    "ONE_SIGMA_CL",
    "RateCurve",
    "ThresholdChoice",
    "WeightedScores",
    "choose_threshold",
    "choose_thresholds",
    "clopper_pearson",
    "max_pass_count",
    "rate_curve",
]

#: central 68.27 % interval (1 sigma)
ONE_SIGMA_CL = 0.6826894921370859


def clopper_pearson(
    k: np.ndarray | int, n: np.ndarray | int, cl: float = ONE_SIGMA_CL
) -> tuple[np.ndarray, np.ndarray]:
    """Central Clopper-Pearson interval (lo, hi) for a binomial fraction k/n at confidence level ``cl``.

    lo = Beta(a/2; k, n-k+1) (0 if k = 0), hi = Beta(1-a/2; k+1, n-k) (1 if k = n), a = 1 - cl.
    """
    from scipy.stats import beta

    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    if np.any(n <= 0) or np.any(k < 0) or np.any(k > n):
        raise ValueError("clopper_pearson needs 0 <= k <= n and n > 0")
    a = 1.0 - cl
    with np.errstate(invalid="ignore", divide="ignore"):
        lo = np.where(k > 0, beta.ppf(a / 2, k, n - k + 1), 0.0)
        hi = np.where(k < n, beta.ppf(1 - a / 2, k + 1, n - k), 1.0)
    return lo, hi


def max_pass_count(target_hz: float, n_total: int, rate_model: RateModel) -> int:
    """Largest event count n with ``f * n / N <= target`` (exact despite floating point)."""
    f = rate_model.collision_rate_hz
    k = math.floor(target_hz * n_total / f)
    while k > 0 and f * k / n_total > target_hz:
        k -= 1
    while f * (k + 1) / n_total <= target_hz and k + 1 <= n_total:
        k += 1
    return min(k, n_total)


class WeightedScores:
    """Per-stratum integer-score histograms with the strata's weights: fractions of crossings above any T."""

    def __init__(self, hists: Sequence[ScoreHistogram], weights: StratumWeights) -> None:
        if len(hists) != len(weights):
            raise ValueError(f"{len(hists)} histograms for {len(weights)} strata")
        self.hists = list(hists)
        self.weights = weights

    @classmethod
    def of(cls, hist: ScoreHistogram | WeightedScores) -> WeightedScores:
        """An unweighted histogram as a one-stratum weighted one (weight 1/N)."""
        if isinstance(hist, WeightedScores):
            return hist
        from l1ad.rates.weights import StratumWeights

        return cls([hist], StratumWeights.unweighted(hist.n_total))

    @property
    def n_total(self) -> int:
        return int(sum(h.n_total for h in self.hists))

    @property
    def exact_from(self) -> int | None:
        """n_above(T) is exact in every stratum for T >= exact_from - 1 (None: everywhere)."""
        edges = [h.exact_from for h in self.hists if h.n_total and h.exact_from is not None]
        return max(edges) if edges else None

    def exact_values(self) -> np.ndarray:
        """Distinct score values in the exact region of every stratum (where the fraction steps)."""
        edge = self.exact_from
        vals = [h.exact_pairs()[0] for h in self.hists if h.n_total]
        v = np.unique(np.concatenate(vals)) if vals else np.zeros(0, np.int64)
        return v if edge is None else v[v >= edge]

    def is_exact(self, thresholds: np.ndarray | int) -> np.ndarray:
        t = np.asarray(thresholds, dtype=np.int64)
        ok = np.ones(t.shape, dtype=bool)
        for h in self.hists:
            if h.n_total:
                ok &= h.is_exact(t)
        return ok

    def counts_above(self, thresholds: np.ndarray | int) -> np.ndarray:
        """(K, T) exact integer counts of events with score > T per stratum."""
        t = np.atleast_1d(np.asarray(thresholds, dtype=np.int64))
        return np.stack([h.n_above(t) if h.n_total else np.zeros(t.shape, np.int64) for h in self.hists])

    def fraction_above(self, thresholds: np.ndarray | int) -> np.ndarray:
        return self.weights.fraction(self.counts_above(thresholds))

    def curve_thresholds(self, max_points: int = 2000, tail_points: int = 400) -> np.ndarray:
        """Where every stratum is exact and the fraction steps: distinct tail values (thinned) and coarse edges."""
        if len(self.hists) == 1:
            return self.hists[0].curve_thresholds(max_points, tail_points)
        ev = self.exact_values()
        if ev.size > tail_points:
            keep_top = tail_points // 2
            idx = np.unique(np.linspace(0, ev.size - keep_top - 1, tail_points - keep_top).astype(np.int64))
            ev = np.concatenate([ev[idx], ev[-keep_top:]])
        edge = self.exact_from
        below: list[np.ndarray] = []
        for h in self.hists:
            if h.n_total:
                cv, _, _ = h.coarse_pairs()
                below.append(cv - 1 if edge is None else cv[cv < edge] - 1)
        b = np.unique(np.concatenate(below)) if below else np.zeros(0, np.int64)
        if b.size > max_points - ev.size:
            idx = np.unique(np.linspace(0, b.size - 1, max(2, max_points - ev.size)).astype(np.int64))
            b = b[idx]
        extra = [] if edge is None else [edge - 1]
        t = np.unique(np.concatenate([b, np.asarray(extra, np.int64), ev - 1, ev])).astype(np.int64)
        return t[self.is_exact(t)]


@dataclass(frozen=True)
class ThresholdChoice:
    """The threshold for one target rate and what it gives on the sample it was chosen on."""

    target_khz: float
    threshold: int  # trigger fires when score > threshold
    n_pass: int  # events above the threshold (all strata)
    n_total: int
    rate_khz: float
    rate_lo_khz: float  # 68 % interval (Clopper-Pearson, or bootstrap for a weighted sum)
    rate_hi_khz: float
    #: n_pass at threshold - 1 (the next looser cut), to show the step the integer grid allows
    n_pass_looser: int
    #: effective number of events the rate rests on (= n_pass for an unweighted sample)
    n_eff: float = 0.0
    interval: str = "clopper-pearson"

    def to_dict(self) -> dict[str, float | int | str]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def choose_threshold(
    hist: ScoreHistogram | WeightedScores, target_khz: float, rate_model: RateModel, cl: float = ONE_SIGMA_CL
) -> ThresholdChoice:
    """Smallest integer T with rate(score > T) <= target on the histogrammed (possibly weighted) zero bias."""
    ws = WeightedScores.of(hist)
    n = ws.n_total
    if n == 0:
        raise ValueError("empty zero-bias histogram")
    f = rate_model.collision_rate_hz
    target = target_khz * 1e3
    if len(ws.hists) == 1:  # unweighted: integer counting, exact despite floating point
        h = ws.hists[0]
        k = max_pass_count(target, n, rate_model)
        values, counts = h.exact_pairs()
        n_exact = int(counts.sum())
        tail = n_exact - np.cumsum(counts)  # tail[i] = events with score > values[i]
        if k < n_exact:
            t = int(values[int(np.argmax(tail <= k))])  # first index; tail[-1] == 0 <= k guarantees a hit
        elif h.exact_from is None:  # every event is in the exact region and the target admits all
            t = int(values[0]) - 1
        else:
            raise ValueError(
                f"target {target_khz} kHz needs {k} of {n} events, more than the {n_exact} kept with exact scores "
                f"(raise tail_events)")
    else:
        # p(T) steps only at the distinct exact values v_i: the first v_i with f p(v_i) <= target is the cut,
        # unless p already fits below the first value (then the tail must reach lower: raise tail_events)
        values = ws.exact_values()
        if values.size == 0:
            raise ValueError("empty zero-bias histograms")
        frac = ws.fraction_above(values)
        ok = np.flatnonzero(f * frac <= target)
        if ok.size == 0:  # cannot happen: above the highest value nothing passes
            raise ValueError(f"target {target_khz} kHz: no threshold reaches it")
        i = int(ok[0])
        t = int(values[i])
        if i == 0 and f * ws.fraction_above(int(values[0]) - 1)[0] <= target:
            if ws.exact_from is not None:
                raise ValueError(f"target {target_khz} kHz lies below the exact tail of some stratum "
                                 "(raise tail_events)")
            t = int(values[0]) - 1  # every event is in the exact region and the target admits all
    c = ws.counts_above(np.array([t, t - 1]))
    iv = ws.weights.interval(c[:, :1], cl)
    khz = f / 1e3
    return ThresholdChoice(
        target_khz=float(target_khz),
        threshold=t,
        n_pass=int(c[:, 0].sum()),
        n_total=n,
        rate_khz=float(khz * ws.fraction_above(t)[0]) if len(ws.hists) > 1 else khz * int(c[0, 0]) / n,
        rate_lo_khz=float(khz * iv.lo[0]),
        rate_hi_khz=float(khz * iv.hi[0]),
        n_pass_looser=int(c[:, 1].sum()),
        n_eff=float(iv.n_eff[0]),
        interval=iv.method,
    )


def choose_thresholds(
    hist: ScoreHistogram | WeightedScores,
    targets_khz: tuple[float, ...] | list[float],
    rate_model: RateModel,
    cl: float = ONE_SIGMA_CL,
) -> list[ThresholdChoice]:
    return [choose_threshold(hist, t, rate_model, cl) for t in targets_khz]


@dataclass(frozen=True)
class RateCurve:
    """Rate vs integer threshold: one point per distinct score value (where the rate steps)."""

    thresholds: np.ndarray  # int64
    n_pass: np.ndarray  # int64 (all strata)
    n_total: int
    rate_khz: np.ndarray
    rate_lo_khz: np.ndarray
    rate_hi_khz: np.ndarray
    n_eff: np.ndarray

    def to_dict(self) -> dict[str, object]:
        return {
            "n_total": self.n_total,
            "thresholds": self.thresholds.tolist(),
            "n_pass": self.n_pass.tolist(),
            "rate_khz": self.rate_khz.tolist(),
            "rate_lo_khz": self.rate_lo_khz.tolist(),
            "rate_hi_khz": self.rate_hi_khz.tolist(),
            "n_eff": [float(x) if np.isfinite(x) else None for x in self.n_eff],
        }


def rate_curve(
    hist: ScoreHistogram | WeightedScores,
    rate_model: RateModel,
    thresholds: np.ndarray | None = None,
    cl: float = ONE_SIGMA_CL,
    max_points: int = 2000,
    replicas: int = 400,
) -> RateCurve:
    """Rate vs threshold with 68 % bands.

    Default thresholds: where the rate steps and is exact: the distinct values of the exact tail (where rates
    are kHz) and coarse bin edges below, <= ``max_points``.
    """
    ws = WeightedScores.of(hist)
    if thresholds is None:
        thresholds = ws.curve_thresholds(max_points)
    thresholds = np.asarray(thresholds, dtype=np.int64)
    c = ws.counts_above(thresholds)
    iv = ws.weights.interval(c, cl, replicas=replicas)
    f = rate_model.collision_rate_hz / 1e3
    return RateCurve(thresholds, c.sum(axis=0), ws.n_total, f * np.asarray(iv.value), f * np.asarray(iv.lo),
                     f * np.asarray(iv.hi), np.asarray(iv.n_eff))
