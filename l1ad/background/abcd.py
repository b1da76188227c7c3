"""The ABCD background estimate on two scores (s1, s2) and its closure test.

Regions, as in Mikuni, Nachman, Shih, arXiv:2111.06417 (code ``ViniciusMikuni/DoubleAE``) and ABCDisCo,
arXiv:2007.14400: A = (s1 > x, s2 > y) is the signal region, B = (s1 > x, s2 <= y), C = (s1 <= x, s2 > y),
D = both low. If s1 and s2 are independent on background, N_A = N_B · N_C / N_D.

Statistical uncertainties treat the four regions as independent Poisson counts (with event weights, the
variance of a region is Σw²):  σ(N_pred)/N_pred = sqrt(σ_B²/N_B² + σ_C²/N_C² + σ_D²/N_D²), and the closure
ratio N_pred/N_obs has σ/ratio = sqrt(Σ_{A,B,C,D} σ_R²/N_R²) (propagated linearly, so an empty B or C
gives a prediction of 0 and a non-closure of 100 % instead of an undefined ratio).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = [
    "Closure",
    "RegionCounts",
    "closure",
    "predict",
    "region_counts",
    "thresholds_for_efficiency",
    "thresholds_per_axis",
]


@dataclass(frozen=True)
class RegionCounts:
    """Weighted event counts in A, B, C, D and their variances (Σw²)."""

    a: float
    b: float
    c: float
    d: float
    var_a: float
    var_b: float
    var_c: float
    var_d: float

    @property
    def total(self) -> float:
        return self.a + self.b + self.c + self.d

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class Closure:
    """Predicted vs observed count in A for one pair of thresholds."""

    x: float
    y: float
    counts: RegionCounts
    n_pred: float
    n_pred_err: float
    n_obs: float
    n_obs_err: float
    ratio: float  # N_pred / N_obs
    ratio_err: float
    tolerance: float
    n_sigma: float

    @property
    def nonclosure(self) -> float:
        """|N_pred/N_obs - 1|."""
        return abs(self.ratio - 1.0)

    @property
    def pull(self) -> float:
        """(ratio - 1) / σ(ratio)."""
        return (self.ratio - 1.0) / self.ratio_err if self.ratio_err > 0 else math.inf

    @property
    def closes(self) -> bool:
        """|ratio - 1| <= max(tolerance, n_sigma · σ(ratio)) (the issue's acceptance rule)."""
        return bool(self.nonclosure <= max(self.tolerance, self.n_sigma * self.ratio_err))

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k != "counts"}
        d["counts"] = self.counts.as_dict()
        d.update(nonclosure=self.nonclosure, pull=self.pull, closes=self.closes)
        return d


def _check(s1: np.ndarray, s2: np.ndarray, weights: np.ndarray | None) -> tuple[np.ndarray, ...]:
    s1 = np.asarray(s1, dtype=np.float64).ravel()
    s2 = np.asarray(s2, dtype=np.float64).ravel()
    if s1.shape != s2.shape:
        raise ValueError(f"s1 and s2 differ in length ({len(s1)} vs {len(s2)})")
    w = np.ones_like(s1) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    if w.shape != s1.shape:
        raise ValueError(f"weights length {len(w)} != scores length {len(s1)}")
    return s1, s2, w


def region_counts(
    s1: np.ndarray, s2: np.ndarray, x: float, y: float, weights: np.ndarray | None = None
) -> RegionCounts:
    """Counts in A (s1>x, s2>y), B (s1>x, s2<=y), C (s1<=x, s2>y), D (both <=)."""
    s1, s2, w = _check(s1, s2, weights)
    hi1, hi2 = s1 > x, s2 > y
    masks = (hi1 & hi2, hi1 & ~hi2, ~hi1 & hi2, ~hi1 & ~hi2)
    n = [float(w[m].sum()) for m in masks]
    v = [float((w[m] ** 2).sum()) for m in masks]
    return RegionCounts(*n, *v)


def predict(c: RegionCounts) -> tuple[float, float]:
    """N_A^pred = N_B·N_C/N_D and its statistical uncertainty (linear error propagation; nan if D is empty).

    An empty B or C gives the prediction 0 (with the propagated error of the other factor)."""
    if c.d <= 0:
        return math.nan, math.nan
    pred = c.b * c.c / c.d
    var = (c.c / c.d) ** 2 * c.var_b + (c.b / c.d) ** 2 * c.var_c + (pred / c.d) ** 2 * c.var_d
    return pred, math.sqrt(var)


def closure(
    s1: np.ndarray,
    s2: np.ndarray,
    x: float,
    y: float,
    weights: np.ndarray | None = None,
    tolerance: float = 0.10,
    n_sigma: float = 2.0,
) -> Closure:
    """Closure of the ABCD prediction in A at thresholds (x, y).

    ``tolerance`` and ``n_sigma`` define :attr:`Closure.closes`; the defaults are the issue's acceptance
    rule (10 % or 2σ, whichever is larger).
    """
    c = region_counts(s1, s2, x, y, weights)
    pred, pred_err = predict(c)
    obs, obs_err = c.a, math.sqrt(c.var_a)
    if obs > 0 and not math.isnan(pred):
        ratio = pred / obs
        ratio_err = math.sqrt((pred_err / obs) ** 2 + (pred * obs_err / obs**2) ** 2)
    else:
        ratio, ratio_err = math.nan, math.nan
    return Closure(float(x), float(y), c, pred, pred_err, obs, obs_err, ratio, ratio_err, tolerance, n_sigma)


def _wquantile(v: np.ndarray, w: np.ndarray, q: float) -> float:
    """Weighted quantile: smallest t with Σ_{v<=t} w >= q·Σw."""
    order = np.argsort(v, kind="stable")
    cw = np.cumsum(w[order])
    i = int(np.searchsorted(cw, q * cw[-1], side="left"))
    return float(v[order][min(i, len(v) - 1)])


def thresholds_for_efficiency(
    s1: np.ndarray, s2: np.ndarray, eff: float, split: float = 1.0, weights: np.ndarray | None = None
) -> tuple[float, float]:
    """Thresholds giving background efficiency ``eff`` in A, the authors' way (arXiv:2111.06417 code).

    x is the (1 - split·√eff) quantile of s1; y is chosen among events with s1 > x so that exactly a
    fraction ``eff`` of all events lands in A. ``split`` = 1 shares the rejection equally between the axes.
    """
    if not 0 < eff < 1:
        raise ValueError(f"background efficiency must be in (0, 1), got {eff}")
    s1, s2, w = _check(s1, s2, weights)
    f1 = min(split * math.sqrt(eff), 1.0)
    if f1 < eff:
        raise ValueError(f"split {split} leaves s1 efficiency {f1:.3g} below the target {eff}")
    x = _wquantile(s1, w, 1.0 - f1)
    sel = s1 > x
    frac_needed = eff * w.sum() / w[sel].sum()
    y = _wquantile(s2[sel], w[sel], 1.0 - min(frac_needed, 1.0))
    return x, y


def thresholds_per_axis(
    s1: np.ndarray, s2: np.ndarray, eff1: float, eff2: float, weights: np.ndarray | None = None
) -> tuple[float, float]:
    """Thresholds at background efficiencies ``eff1`` on s1 and ``eff2`` on s2 separately."""
    s1, s2, w = _check(s1, s2, weights)
    return _wquantile(s1, w, 1.0 - eff1), _wquantile(s2, w, 1.0 - eff2)
