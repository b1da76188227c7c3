"""Turn merged counts into the numbers of the rate report (thresholds, pure rate, efficiencies)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

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
        return (-(1 << (w - 1)), (1 << (w - 1)) - 1) if signed else (0, (1 << w) - 1)

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
                k_ad = int(s.scores.n_above(t))
                k_gain = int(s.scores_menu_off.n_above(t))
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
        """Per signal: efficiency vs zero-bias rate over the thresholds where the zero-bias rate steps."""
        curve = rate_curve(self.zero_bias.scores, self.rate_model, max_points=max_points)
        out = {}
        for name, s in self.signals.items():
            out[name] = {
                "threshold": curve.thresholds.tolist(),
                "rate_khz": curve.rate_khz.tolist(),
                "eff_ad": (s.scores.n_above(curve.thresholds) / s.n_events).tolist(),
                "eff_gain_over_menu": (s.scores_menu_off.n_above(curve.thresholds) / s.n_events).tolist(),
            }
        return out

    def to_dict(self) -> dict[str, Any]:
        zb = self.zero_bias
        values, counts = zb.scores.pairs()
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
            "zero_bias": {"n_events": zb.n_events, "score_min": int(values[0]), "score_max": int(values[-1]),
                          "distinct_scores": int(values.size)},
            "menu": self.menu(),
            "thresholds": self.per_threshold(),
            "rate_curve": rate_curve(zb.scores, self.rate_model).to_dict(),
            "efficiency_curves": self.efficiency_curves(),
            "score_histograms": {
                "zero_bias": _coarse(values, counts),
                **{n: _coarse(*s.scores.pairs()) for n, s in self.signals.items()},
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




def _coarse(values: np.ndarray, counts: np.ndarray, max_bins: int = 2000) -> dict[str, Any]:
    """Exact (value, count) pairs, or for many distinct values equal-width integer bins (left edges)."""
    if values.size <= max_bins:
        return {"values": values.tolist(), "counts": counts.tolist(), "bin_width": 1}
    lo, hi = int(values[0]), int(values[-1])
    width = -(-(hi - lo + 1) // max_bins)
    idx = (values - lo) // width
    summed = np.bincount(idx, weights=counts, minlength=int(idx.max()) + 1).astype(np.int64)
    return {"values": (lo + width * np.arange(summed.size)).tolist(), "counts": summed.tolist(),
            "bin_width": int(width)}
