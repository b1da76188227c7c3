"""Evaluation of a score pair: closure scan, held-out dCorr², signal injection, SIC; λ>0 vs λ=0 summary.

Conventions (arXiv:2111.06417 code and ABCDisCo arXiv:2007.14400):
* thresholds per target background efficiency ε in A via :func:`thresholds_for_efficiency`; a grid point is
  kept only if every region holds >= ``min_region_events`` events (authors: 100);
* contamination δ_R = S_R / B_R; the estimate is robust if |r| = |(δ_B + δ_C − δ_D)/δ_A| ≪ 1 (ABCDisCo
  eq. 2.8–2.10);
* local significance: ``z_abcd`` = (N_obs − N_pred)/sqrt(N_obs + σ_pred²) (our choice, includes the
  prediction's stat. error), ``z_paper`` = max(N_obs − N_pred, 0)/sqrt(N_obs) (the authors'), ``z_truth``
  = S_A/sqrt(B_A) with the true background;
* SIC = TPR/sqrt(FPR).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from l1ad.background.abcd import closure, region_counts, thresholds_for_efficiency, thresholds_per_axis
from l1ad.background.config import EvalSection
from l1ad.background.dcorr import dcorr_sq_numpy

__all__ = ["PairScores", "closure_scan", "evaluate_pair", "inject", "sic_curve", "summarize"]


@dataclass
class PairScores:
    """Scores (s1, s2) of held-out background and of each signal."""

    background: tuple[np.ndarray, np.ndarray]
    signals: dict[str, tuple[np.ndarray, np.ndarray]]


def closure_scan(s1: np.ndarray, s2: np.ndarray, ev: EvalSection) -> list[dict[str, Any]]:
    """Closure on background-only scores for every (ε, split) of the grid."""
    rows = []
    for split in ev.splits:
        for eff in ev.efficiencies:
            try:
                x, y = thresholds_for_efficiency(s1, s2, eff, split)
            except ValueError as e:
                rows.append({"eff": eff, "split": split, "valid": False, "reason": str(e)})
                continue
            c = closure(s1, s2, x, y, tolerance=ev.closure_tolerance, n_sigma=ev.closure_sigmas)
            cnt = c.counts
            low = min(cnt.a, cnt.b, cnt.c, cnt.d) < ev.min_region_events
            row = {"eff": eff, "split": split, "valid": not low, **c.as_dict()}
            if low:
                row["reason"] = f"a region has < {ev.min_region_events} events"
            rows.append(row)
    extra = [("per_axis", e, thresholds_per_axis(s1, s2, *e)) for e in ev.per_axis]
    extra += [("explicit", xy, xy) for xy in ev.explicit]
    for mode, spec, (x, y) in extra:
        c = closure(s1, s2, x, y, tolerance=ev.closure_tolerance, n_sigma=ev.closure_sigmas)
        cnt = c.counts
        low = min(cnt.a, cnt.b, cnt.c, cnt.d) < ev.min_region_events
        rows.append({"eff": cnt.a / cnt.total if cnt.total else math.nan, "split": mode, "spec": list(spec),
                     "valid": not low, **c.as_dict()})
    return rows


def inject(bkg: tuple[np.ndarray, np.ndarray], sig: tuple[np.ndarray, np.ndarray], x: float, y: float,
           fraction: float, rng: np.random.Generator) -> dict[str, Any]:
    """Add ``fraction`` × N_bkg signal events to the background and redo the ABCD estimate at (x, y)."""
    n_b = len(bkg[0])
    n_s = min(int(round(fraction * n_b)), len(sig[0]))
    idx = rng.choice(len(sig[0]), n_s, replace=False)
    s1s, s2s = sig[0][idx], sig[1][idx]
    b = region_counts(bkg[0], bkg[1], x, y)
    s = region_counts(s1s, s2s, x, y)
    c = closure(np.concatenate([bkg[0], s1s]), np.concatenate([bkg[1], s2s]), x, y)
    delta = {r: (getattr(s, r) / getattr(b, r) if getattr(b, r) > 0 else math.nan) for r in "abcd"}
    r_ratio = (delta["b"] + delta["c"] - delta["d"]) / delta["a"] if delta["a"] > 0 else math.nan
    excess = c.n_obs - c.n_pred
    return {
        "fraction": fraction,
        "n_signal": n_s,
        "signal_counts": {r: getattr(s, r) for r in "abcd"},
        "contamination": delta,
        "r": r_ratio,
        "n_obs": c.n_obs,
        "n_pred": c.n_pred,
        "n_pred_err": c.n_pred_err,
        "true_background_a": b.a,
        "bias": c.n_pred / b.a - 1.0 if b.a > 0 else math.nan,
        "signal_absorbed": (c.n_pred - b.b * b.c / b.d) / s.a if s.a > 0 and b.d > 0 else math.nan,
        "z_abcd": excess / math.sqrt(c.n_obs + c.n_pred_err**2) if c.n_obs > 0 else math.nan,
        "z_paper": max(excess, 0.0) / math.sqrt(c.n_obs) if c.n_obs > 0 else math.nan,
        "z_truth": s.a / math.sqrt(b.a) if b.a > 0 else math.nan,
    }


def sic_curve(bkg: np.ndarray, sig: np.ndarray, n_points: int = 40, min_bkg: int = 10) -> dict[str, list[float]]:
    """SIC = TPR/sqrt(FPR) for a cut on one score, at log-spaced FPR down to ``min_bkg`` background events."""
    fpr_min = max(min_bkg / len(bkg), 1e-6)
    fprs = np.geomspace(fpr_min, 1.0, n_points)
    thr = np.quantile(bkg, 1.0 - fprs)
    fpr = np.array([(bkg > t).mean() for t in thr])
    tpr = np.array([(sig > t).mean() for t in thr])
    sic = np.where(fpr > 0, tpr / np.sqrt(np.maximum(fpr, 1e-300)), np.nan)
    return {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "sic": sic.tolist()}


def evaluate_pair(scores: PairScores, ev: EvalSection, seed: int = 0) -> dict[str, Any]:
    """Everything the report holds for one trained pair."""
    s1, s2 = scores.background
    rng = np.random.default_rng(seed)
    scan = closure_scan(s1, s2, ev)
    split0 = ev.splits[0]
    injections: dict[str, list[dict[str, Any]]] = {}
    sic: dict[str, Any] = {}
    for name, (t1, t2) in scores.signals.items():
        injections[name] = []
        region_a = []
        for row in scan:
            if row["split"] != split0 or "x" not in row:
                continue
            for f in ev.injection_fractions:
                injections[name].append({"eff": row["eff"], **inject(scores.background, (t1, t2),
                                                                     row["x"], row["y"], f, rng)})
            tpr = float(((t1 > row["x"]) & (t2 > row["y"])).mean())
            region_a.append({"eff": row["eff"], "tpr": tpr, "sic": tpr / math.sqrt(row["eff"])})
        at = [r for r in region_a if math.isclose(r["eff"], ev.sic_efficiency)]
        sic[name] = {"s1": sic_curve(s1, t1), "s2": sic_curve(s2, t2), "region_a": region_a,
                     "sic_at_eff": at[0]["sic"] if at else _sic_at(s1, s2, t1, t2, ev.sic_efficiency, split0)}
    return {
        "dcorr2_heldout": dcorr_sq_numpy(s1, s2),
        "pearson_heldout": float(np.corrcoef(s1, s2)[0, 1]),
        "n_heldout": len(s1),
        "closure": scan,
        "injection": injections,
        "sic": sic,
    }


def _sic_at(s1: np.ndarray, s2: np.ndarray, t1: np.ndarray, t2: np.ndarray, eff: float, split: float) -> float:
    x, y = thresholds_for_efficiency(s1, s2, eff, split)
    return float(((t1 > x) & (t2 > y)).mean()) / math.sqrt(eff)


def summarize(result: dict[str, Any], ev: EvalSection) -> dict[str, Any]:
    """Headline numbers of one pair: worst closure on the grid down to the smallest ε, SIC per signal."""
    grid = [r for r in result["closure"] if not isinstance(r["split"], str)]  # the ε grid (no extra points)
    valid = [r for r in grid if r.get("valid")]
    finite = [r for r in grid if math.isfinite(r.get("ratio", math.nan))]
    worst = max(finite, key=lambda r: r["nonclosure"], default=None)
    at_min = [r for r in finite if math.isclose(r["eff"], min(ev.efficiencies)) and r["split"] == ev.splits[0]]
    return {
        "dcorr2_heldout": result["dcorr2_heldout"],
        "grid_points": len(grid),
        "grid_points_valid": len(valid),  # every region >= min_region_events
        "grid_points_closing": sum(bool(r["closes"]) for r in valid),
        "all_close": bool(grid) and len(valid) == len(grid) and all(r["closes"] for r in valid),
        "max_nonclosure": worst["nonclosure"] if worst else math.nan,
        "max_nonclosure_eff": worst["eff"] if worst else math.nan,
        "ratio_at_min_eff": at_min[0]["ratio"] if at_min else math.nan,
        "ratio_err_at_min_eff": at_min[0]["ratio_err"] if at_min else math.nan,
        "sic_at_eff": {k: v["sic_at_eff"] for k, v in result["sic"].items()},
    }
