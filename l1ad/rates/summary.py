"""Turn merged counts into the numbers of the rate report (thresholds, pure rate, efficiencies)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from l1ad.bits import int_range
from l1ad.rates.pipeline import SampleCounts
from l1ad.rates.ratemodel import RateModel
from l1ad.rates.thresholds import (
    ONE_SIGMA_CL,
    ThresholdChoice,
    choose_thresholds,
    clopper_pearson,
    rate_curve,
)

__all__ = ["RatesSummary", "summarize"]


@dataclass(frozen=True)
class RatesSummary:
    rate_model: RateModel
    zero_bias: SampleCounts
    signals: Mapping[str, SampleCounts]
    choices: tuple[ThresholdChoice, ...]
    score_frac: int | None
    cl: float = ONE_SIGMA_CL
    #: (width, signed) of the firmware's score and threshold ports, when known
    score_port: tuple[int, bool] | None = None

    def port_range(self) -> tuple[int, int] | None:
        """Integers the threshold port can hold (same width/signedness as the score)."""
        if self.score_port is None:
            return None
        w, signed = self.score_port
        return int_range(w, signed)

    def _frac(self, k: int, n: int) -> tuple[float, float, float]:
        lo, hi = clopper_pearson(k, n, self.cl)
        return k / n, float(lo), float(hi)

    def _khz(self, k: int) -> dict[str, float]:
        f = self.rate_model.collision_rate_hz / 1e3
        p, lo, hi = self._frac(k, self.zero_bias.n_events)
        return {"n": int(k), "khz": f * p, "lo_khz": f * lo, "hi_khz": f * hi}

    def menu(self) -> dict[str, Any]:
        zb = self.zero_bias
        return {
            "total": self._khz(zb.menu_count),
            "seeds": {name: self._khz(int(c)) for name, c in zip(zb.seed_names, zb.seed_counts, strict=True)},
        }

    def per_threshold(self) -> list[dict[str, Any]]:
        zb = self.zero_bias
        rng = self.port_range()
        rows = []
        for c in self.choices:
            t = c.threshold
            n_ad = int(zb.scores.n_above(t))
            n_pure = int(zb.scores_menu_off.n_above(t))
            row: dict[str, Any] = {
                **c.to_dict(),
                "threshold_value": t * 2.0**-self.score_frac if self.score_frac is not None else None,
                # False: the target needs a cut below the smallest port value (fires on every event)
                "fits_threshold_port": None if rng is None else bool(rng[0] <= t <= rng[1]),
                "ad_rate": self._khz(n_ad),
                "pure_rate": self._khz(n_pure),
                "menu_or_ad_rate": self._khz(zb.menu_count + n_pure),
                "signals": {},
            }
            for name, s in self.signals.items():
                n = s.n_events
                k_ad = s.count_above(t)
                k_gain = s.count_above(t, menu_off=True)
                row["signals"][name] = {
                    "n_events": n,
                    "eff_ad": self._frac(k_ad, n),
                    "eff_menu": self._frac(s.menu_count, n),
                    "eff_menu_or_ad": self._frac(s.menu_count + k_gain, n),
                    "gain_over_menu": self._frac(k_gain, n),
                }
            rows.append(row)
        return rows

    def efficiency_curves(self, max_points: int = 400) -> dict[str, dict[str, list[float]]]:
        """Per signal: efficiency vs zero-bias rate at the thresholds where both are exact (coarse bin edges,
        the signal's exact tail, and the chosen thresholds, counted exactly in the signal pass)."""
        curve = rate_curve(self.zero_bias.scores, self.rate_model, max_points=max_points)
        f = self.rate_model.collision_rate_hz / 1e3
        n_zb = self.zero_bias.n_events
        out = {}
        for name, s in self.signals.items():
            t = curve.thresholds
            ok = s.scores.is_exact(t) & s.scores_menu_off.is_exact(t)
            t = np.unique(np.concatenate([t[ok], [c.threshold for c in self.choices]])).astype(np.int64)
            zb = np.array([self.zero_bias.count_above(int(x)) for x in t], dtype=np.int64)
            ad = np.array([s.count_above(int(x)) for x in t], dtype=np.int64)
            gain = np.array([s.count_above(int(x), menu_off=True) for x in t], dtype=np.int64)
            out[name] = {
                "threshold": t.tolist(),
                "rate_khz": (f * zb / n_zb).tolist(),
                "eff_ad": (ad / s.n_events).tolist(),
                "eff_gain_over_menu": (gain / s.n_events).tolist(),
            }
        return out

    def to_dict(self) -> dict[str, Any]:
        zb = self.zero_bias
        ev, _ = zb.scores.exact_pairs()
        return {
            "rate_model": {
                **self.rate_model.model_dump(),
                "collision_rate_khz": self.rate_model.collision_rate_hz / 1e3,
            },
            "trigger": "fires when integer score > integer threshold",
            "score_frac_bits": self.score_frac,
            "score_port": None if self.score_port is None else {
                "width": self.score_port[0], "signed": self.score_port[1]},
            "confidence_level": self.cl,
            "zero_bias": {
                "n_events": zb.n_events,
                "score_max": zb.scores.max,
                # scores are kept exactly from here up (None: everywhere); coarse bins of 2**shift below
                "exact_scores_from": zb.scores.exact_from,
                "exact_distinct_scores": int(ev.size),
                "coarse_bin_width": 1 << zb.scores.shift,
            },
            "menu": self.menu(),
            "thresholds": self.per_threshold(),
            "rate_curve": rate_curve(zb.scores, self.rate_model).to_dict(),
            "efficiency_curves": self.efficiency_curves(),
            "score_histograms": {
                "zero_bias": _coarse(*zb.scores.coarse_pairs()),
                **{n: _coarse(*s.scores.coarse_pairs()) for n, s in self.signals.items()},
            },
        }


def summarize(
    zero_bias: SampleCounts,
    signals: Mapping[str, SampleCounts],
    targets_khz: Sequence[float],
    rate_model: RateModel,
    score_frac: int | None = None,
    cl: float = ONE_SIGMA_CL,
    score_port: tuple[int, bool] | None = None,
) -> RatesSummary:
    if zero_bias.n_events == 0:
        raise ValueError("no zero-bias events")
    choices = tuple(choose_thresholds(zero_bias.scores, list(targets_khz), rate_model, cl))
    return RatesSummary(rate_model, zero_bias, dict(signals), choices, score_frac, cl, score_port)


def _coarse(edges: np.ndarray, counts: np.ndarray, width: int, max_bins: int = 2000) -> dict[str, Any]:
    """Coarse-bin counts (lower edges), merged into <= ``max_bins`` equal-width bins for the JSON."""
    if edges.size == 0:
        return {"values": [], "counts": [], "bin_width": width}
    span_bins = (int(edges[-1]) - int(edges[0])) // width + 1
    if span_bins <= max_bins:
        return {"values": edges.tolist(), "counts": counts.tolist(), "bin_width": width}
    group = -(-span_bins // max_bins)
    idx = (edges - edges[0]) // (width * group)
    summed = np.bincount(idx, weights=counts, minlength=int(idx.max()) + 1).astype(np.int64)
    return {"values": (edges[0] + width * group * np.arange(summed.size)).tolist(), "counts": summed.tolist(),
            "bin_width": int(width * group)}
