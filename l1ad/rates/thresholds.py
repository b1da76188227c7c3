"""Integer thresholds for target rates, and rate-vs-threshold curves with Clopper-Pearson intervals.

The trigger fires when ``score > threshold`` (both firmware integers), so on N zero-bias events with n(T)
events above T the rate is ``f * n(T) / N`` (f = collision rate). For a target rate r the chosen threshold
is the *smallest* integer T with ``f * n(T) / N <= r``: the loosest cut that stays within budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from l1ad.rates.ratemodel import RateModel
from l1ad.rates.streaming import ScoreHistogram

__all__ = [
    "ONE_SIGMA_CL",
    "RateCurve",
    "ThresholdChoice",
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


@dataclass(frozen=True)
class ThresholdChoice:
    """The threshold for one target rate and what it gives on the sample it was chosen on."""

    target_khz: float
    threshold: int  # trigger fires when score > threshold
    n_pass: int
    n_total: int
    rate_khz: float
    rate_lo_khz: float  # Clopper-Pearson 68 % interval
    rate_hi_khz: float
    #: n_pass at threshold - 1 (the next looser cut), to show the step the integer grid allows
    n_pass_looser: int

    def to_dict(self) -> dict[str, float | int]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def choose_threshold(
    hist: ScoreHistogram, target_khz: float, rate_model: RateModel, cl: float = ONE_SIGMA_CL
) -> ThresholdChoice:
    """Smallest integer T with rate(score > T) <= target on the histogrammed zero-bias sample."""
    n = hist.n_total
    if n == 0:
        raise ValueError("empty zero-bias histogram")
    k = max_pass_count(target_khz * 1e3, n, rate_model)
    values, counts = hist.exact_pairs()  # every value at or above hist.exact_from
    n_exact = int(counts.sum())
    tail = n_exact - np.cumsum(counts)  # tail[i] = events with score > values[i]
    if k < n_exact:
        i = int(np.argmax(tail <= k))  # first index; tail[-1] == 0 <= k guarantees a hit
        t = int(values[i])
    elif hist.exact_from is None:  # every event is in the exact region and the target admits all
        t = int(values[0]) - 1
    else:
        raise ValueError(
            f"target {target_khz} kHz needs {k} of {n} events, more than the {n_exact} kept with exact scores "
            f"(raise tail_events)"
        )
    n_pass, n_looser = (int(x) for x in hist.n_above(np.array([t, t - 1])))
    f = rate_model.collision_rate_hz / 1e3
    lo, hi = clopper_pearson(n_pass, n, cl)
    return ThresholdChoice(
        target_khz=float(target_khz),
        threshold=t,
        n_pass=n_pass,
        n_total=n,
        rate_khz=f * n_pass / n,
        rate_lo_khz=float(f * lo),
        rate_hi_khz=float(f * hi),
        n_pass_looser=n_looser,
    )


def choose_thresholds(
    hist: ScoreHistogram,
    targets_khz: tuple[float, ...] | list[float],
    rate_model: RateModel,
    cl: float = ONE_SIGMA_CL,
) -> list[ThresholdChoice]:
    return [choose_threshold(hist, t, rate_model, cl) for t in targets_khz]


@dataclass(frozen=True)
class RateCurve:
    """Rate vs integer threshold: one point per distinct score value (where the rate steps)."""

    thresholds: np.ndarray  # int64
    n_pass: np.ndarray  # int64
    n_total: int
    rate_khz: np.ndarray
    rate_lo_khz: np.ndarray
    rate_hi_khz: np.ndarray

    def to_dict(self) -> dict[str, object]:
        return {
            "n_total": self.n_total,
            "thresholds": self.thresholds.tolist(),
            "n_pass": self.n_pass.tolist(),
            "rate_khz": self.rate_khz.tolist(),
            "rate_lo_khz": self.rate_lo_khz.tolist(),
            "rate_hi_khz": self.rate_hi_khz.tolist(),
        }


def rate_curve(
    hist: ScoreHistogram,
    rate_model: RateModel,
    thresholds: np.ndarray | None = None,
    cl: float = ONE_SIGMA_CL,
    max_points: int = 2000,
) -> RateCurve:
    """Rate vs threshold with Clopper-Pearson bands.

    Default thresholds: where the rate steps and is exact (:meth:`ScoreHistogram.curve_thresholds`): the
    distinct values of the exact tail (where rates are kHz) and coarse bin edges below, <= ``max_points``.
    """
    n = hist.n_total
    if thresholds is None:
        thresholds = hist.curve_thresholds(max_points)
    thresholds = np.asarray(thresholds, dtype=np.int64)
    k = hist.n_above(thresholds)
    lo, hi = clopper_pearson(k, np.full(k.shape, n), cl)
    f = rate_model.collision_rate_hz / 1e3
    return RateCurve(thresholds, k, n, f * k / n, f * lo, f * hi)
