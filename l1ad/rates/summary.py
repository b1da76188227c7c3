"""Turn merged counts into the numbers of the rate report (thresholds, pure rate, menu, efficiencies).

Zero bias may be weighted (a stitched sample, :mod:`l1ad.rates.weights`): every zero-bias number is a
fraction of LHC crossings ``sum_k w_k c_k`` computed from exact per-stratum counts, with its 68 % interval
(Clopper-Pearson where one stratum contributes, bootstrap otherwise) and its effective number of events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from l1ad.bits import int_range
from l1ad.rates.pipeline import SampleCounts
from l1ad.rates.ratemodel import RateModel
from l1ad.rates.thresholds import (
    ONE_SIGMA_CL,
    ThresholdChoice,
    WeightedScores,
    choose_thresholds,
    rate_curve,
)
from l1ad.rates.weights import StratumWeights

__all__ = ["RatesSummary", "summarize"]


def _num(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


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
    zb_weights: StratumWeights | None = None
    signal_weights: Mapping[str, StratumWeights] = field(default_factory=dict)
    #: per seed name: (reference kHz, its source) from the menu file
    references: Mapping[str, tuple[float, str]] = field(default_factory=dict)
    reference_tolerance: float = 2.0

    @property
    def weights(self) -> StratumWeights:
        return self.zb_weights if self.zb_weights is not None else StratumWeights.unweighted(self.zero_bias.n_events)

    @property
    def scores(self) -> WeightedScores:
        return WeightedScores(self.zero_bias.hists, self.weights)

    def port_range(self) -> tuple[int, int] | None:
        """Integers the threshold port can hold (same width/signedness as the score)."""
        if self.score_port is None:
            return None
        w, signed = self.score_port
        return int_range(w, signed)

    # -- zero-bias rates -----------------------------------------------------------------------------------
    def _khz(self, by_stratum: np.ndarray) -> dict[str, Any]:
        """Rate of per-stratum zero-bias counts: value, 68 % interval, effective events, raw events."""
        c = np.asarray(by_stratum, np.int64)
        iv = self.weights.interval(c, self.cl)
        f = self.rate_model.collision_rate_hz / 1e3
        return {"n": int(c.sum()), "khz": f * float(iv.value), "lo_khz": f * float(iv.lo),
                "hi_khz": f * float(iv.hi), "n_eff": _num(float(iv.n_eff)), "interval": iv.method}

    def _frac(self, name: str, by_stratum: np.ndarray) -> tuple[float, float, float]:
        """A signal efficiency (fraction of the sample's weight) and its 68 % interval."""
        s = self.signals[name]
        w = self.signal_weights.get(name) or StratumWeights.unweighted(s.n_events)
        iv = w.interval(np.asarray(by_stratum, np.int64), self.cl)
        return float(iv.value), float(iv.lo), float(iv.hi)

    def menu(self) -> dict[str, Any]:
        zb = self.zero_bias
        seeds = {}
        for j, name in enumerate(zb.seed_names):
            row = self._khz(zb.seed_by_stratum[:, j])
            ref = self.references.get(name)
            if ref is not None:
                row["reference_khz"], row["reference_source"] = ref
                row["ratio"] = row["khz"] / ref[0]
                tol = self.reference_tolerance
                row["within_tolerance"] = bool(row["khz"] > 0 and 1 / tol <= row["ratio"] <= tol)
            seeds[name] = row
        return {"total": self._khz(zb.menu_by_stratum), "seeds": seeds,
                "reference_tolerance": self.reference_tolerance}

    def menu_failures(self) -> list[str]:
        """Seeds with a reference whose emulated rate is 0 or outside the tolerance factor."""
        return [f"{n} ({v['khz']:.2f} kHz vs reference {v['reference_khz']:.2f}, ratio {v['ratio']:.2f})"
                for n, v in self.menu()["seeds"].items() if v.get("within_tolerance") is False]

    def per_threshold(self) -> list[dict[str, Any]]:
        zb = self.zero_bias
        rng = self.port_range()
        rows = []
        for c in self.choices:
            t = c.threshold
            ad = zb.above_by_stratum(t)
            pure = zb.above_by_stratum(t, menu_off=True)
            row: dict[str, Any] = {
                **c.to_dict(),
                "threshold_value": t * 2.0**-self.score_frac if self.score_frac is not None else None,
                # False: the target needs a cut below the smallest port value (fires on every event)
                "fits_threshold_port": None if rng is None else bool(rng[0] <= t <= rng[1]),
                "ad_rate": self._khz(ad),
                "pure_rate": self._khz(pure),
                "menu_or_ad_rate": self._khz(zb.menu_by_stratum + pure),
                "signals": {},
            }
            for name, s in self.signals.items():
                k_ad = s.above_by_stratum(t)
                k_gain = s.above_by_stratum(t, menu_off=True)
                row["signals"][name] = {
                    "n_events": s.n_events,
                    "eff_ad": self._frac(name, k_ad),
                    "eff_menu": self._frac(name, s.menu_by_stratum),
                    "eff_menu_or_ad": self._frac(name, s.menu_by_stratum + k_gain),
                    "gain_over_menu": self._frac(name, k_gain),
                }
            rows.append(row)
        return rows

    def efficiency_curves(self, max_points: int = 400) -> dict[str, dict[str, list[float]]]:
        """Per signal: efficiency vs zero-bias rate at the thresholds where both are exact (coarse bin edges,
        the signal's exact tail, and the chosen thresholds, counted exactly in the signal pass)."""
        ws = self.scores
        f = self.rate_model.collision_rate_hz / 1e3
        out = {}
        for name, s in self.signals.items():
            t = ws.curve_thresholds(max_points)
            ok = np.ones(t.shape, bool)
            for h in (*s.hists, *s.hists_menu_off):
                if h.n_total:
                    ok &= h.is_exact(t)
            t = np.unique(np.concatenate([t[ok], [c.threshold for c in self.choices]])).astype(np.int64)
            zb = np.array([self.weights.fraction(self.zero_bias.above_by_stratum(int(x))) for x in t])
            sw = self.signal_weights.get(name) or StratumWeights.unweighted(s.n_events)
            ad = np.array([sw.fraction(s.above_by_stratum(int(x))) for x in t])
            gain = np.array([sw.fraction(s.above_by_stratum(int(x), menu_off=True)) for x in t])
            out[name] = {
                "threshold": t.tolist(),
                "rate_khz": (f * zb).tolist(),
                "eff_ad": ad.tolist(),
                "eff_gain_over_menu": gain.tolist(),
            }
        return out

    def weighted_histogram(self, sample: str = "zero_bias", max_bins: int = 2000) -> dict[str, Any]:
        """Score distribution as a fraction of the sample per bin (weighted for a weighted sample)."""
        if sample == "zero_bias":
            s, w = self.zero_bias, self.weights
        else:
            s = self.signals[sample]
            w = self.signal_weights.get(sample) or StratumWeights.unweighted(s.n_events)
        pairs = [h.coarse_pairs() for h in s.hists]
        width = max((p[2] for p in pairs if p[0].size), default=1)
        edges = np.concatenate([p[0] for p in pairs if p[0].size]) if any(p[0].size for p in pairs) else np.zeros(0)
        if edges.size == 0:
            return {"values": [], "fraction": [], "bin_width": int(width)}
        lo, hi = int(edges.min()), int(edges.max())
        span = (hi - lo) // width + 1
        group = max(1, -(-span // max_bins))
        nb = -(-span // group)
        frac = np.zeros(nb)
        for p, wk in zip(pairs, w.weights, strict=True):
            if p[0].size:
                frac += wk * np.bincount((p[0] - lo) // (width * group), weights=p[1], minlength=nb)[:nb]
        return {"values": (lo + width * group * np.arange(nb)).tolist(), "fraction": frac.tolist(),
                "bin_width": int(width * group)}

    def to_dict(self) -> dict[str, Any]:
        zb = self.zero_bias
        ev = self.scores.exact_values()
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
                "weighted": self.weights.weighted,
                "strata": self.weights.to_dict(),
                "score_max": max(h.max for h in zb.hists if h.n_total),
                # scores are kept exactly from here up (None: everywhere); coarse bins of 2**shift below
                "exact_scores_from": self.scores.exact_from,
                "exact_distinct_scores": int(ev.size),
                "coarse_bin_width": 1 << zb.hists[0].shift,
            },
            "menu": self.menu(),
            "thresholds": self.per_threshold(),
            "rate_curve": rate_curve(self.scores, self.rate_model).to_dict(),
            "efficiency_curves": self.efficiency_curves(),
            "score_histograms": {
                "zero_bias": self.weighted_histogram(),
                **{n: self.weighted_histogram(n) for n in self.signals},
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
    zb_weights: StratumWeights | None = None,
    signal_weights: Mapping[str, StratumWeights] | None = None,
    references: Mapping[str, tuple[float, str]] | None = None,
    reference_tolerance: float = 2.0,
) -> RatesSummary:
    if zero_bias.n_events == 0:
        raise ValueError("no zero-bias events")
    w = zb_weights if zb_weights is not None else StratumWeights.unweighted(zero_bias.n_events)
    choices = tuple(choose_thresholds(WeightedScores(zero_bias.hists, w), list(targets_khz), rate_model, cl))
    return RatesSummary(rate_model, zero_bias, dict(signals), choices, score_frac, cl, score_port, w,
                        dict(signal_weights or {}), dict(references or {}), reference_tolerance)
