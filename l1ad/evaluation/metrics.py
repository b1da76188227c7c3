"""Physics figures of merit for trigger scores.

Rate <-> false-positive rate: the trigger sees zero-bias collisions at ~28.6 MHz (LHC Run 3: 40.08 MHz
bunch clock x ~2544 of 3564 slots filled; /work/shared/reference/l1-anchors.md "Rates"), so a rate R
corresponds to FPR = R / 28.6 MHz: 1 kHz -> 3.5e-5, 5 kHz -> 1.75e-4, 10 kHz -> 3.5e-4. The ADC2021 working
point is FPR = 1e-5 (Govorkova et al., arXiv:2107.02157) ~ 0.29 kHz.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

__all__ = ["WORKING_POINTS", "ZERO_BIAS_RATE_HZ", "ad_metrics", "btag_metrics", "efficiency_at_fpr",
           "rate_to_fpr", "roc"]

ZERO_BIAS_RATE_HZ = 28.6e6


def rate_to_fpr(rate_hz: float) -> float:
    """FPR = rate / 28.6 MHz."""
    return rate_hz / ZERO_BIAS_RATE_HZ


#: name -> background FPR
WORKING_POINTS: dict[str, float] = {
    "fpr_1e-5": 1e-5,
    "1kHz": rate_to_fpr(1e3),
    "5kHz": rate_to_fpr(5e3),
    "10kHz": rate_to_fpr(10e3),
}


def efficiency_at_fpr(bkg: np.ndarray, sig: np.ndarray, fpr: float) -> dict[str, float]:
    """Trigger = score > threshold; threshold = the lowest background score value with at most
    ``fpr * N_bkg`` background events above it (ties can only lower the achieved FPR)."""
    b = np.sort(np.asarray(bkg, np.float64))[::-1]
    k = int(np.floor(fpr * len(b)))
    thr = float(b[min(k, len(b) - 1)])
    n_above = int(np.sum(b > thr))
    return {"fpr_target": fpr, "threshold": thr, "fpr": n_above / len(b), "n_bkg_above": n_above,
            "efficiency": float(np.mean(np.asarray(sig) > thr)),
            "limited_by_statistics": bool(k < 10)}


def roc(bkg: np.ndarray, sig: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    y = np.concatenate([np.zeros(len(bkg)), np.ones(len(sig))])
    s = np.concatenate([bkg, sig])
    fpr, tpr, _ = roc_curve(y, s)
    return fpr, tpr, float(roc_auc_score(y, s))


def ad_metrics(bkg: np.ndarray, sig: np.ndarray) -> dict[str, Any]:
    _, _, auc = roc(bkg, sig)
    return {"auc": auc, "n_signal": int(len(sig)), "n_background": int(len(bkg)),
            "working_points": {name: efficiency_at_fpr(bkg, sig, f) for name, f in WORKING_POINTS.items()}}


def btag_metrics(labels: np.ndarray, scores: np.ndarray, b_efficiency: float = 0.7) -> dict[str, Any]:
    """AUC (b vs light) and the light-jet mistag rate at ``b_efficiency``."""
    labels = np.asarray(labels)
    scores = np.asarray(scores, np.float64)
    sb, sl = scores[labels == 1], scores[labels == 0]
    thr = float(np.quantile(sb, 1.0 - b_efficiency))
    return {"auc": float(roc_auc_score(labels, scores)), "b_efficiency": float(np.mean(sb > thr)),
            "threshold": thr, "mistag_at_70": float(np.mean(sl > thr)),
            "n_b": int(len(sb)), "n_light": int(len(sl))}
