"""Figures of merit of trigger scores (shared by training and evaluation): ROC/AUC, efficiency at fixed FPR/rate,
score distributions, b-tag ROC.

Rate <-> false-positive rate: the trigger sees zero-bias collisions at ~28.6 MHz (LHC Run 3: 40.08 MHz
bunch clock x ~2544 of 3564 slots filled), so a rate R
corresponds to FPR = R / 28.6 MHz: 1 kHz -> 3.5e-5, 5 kHz -> 1.75e-4, 10 kHz -> 3.5e-4. The ADC2021 working
point is FPR = 1e-5 (Govorkova et al., arXiv:2107.02157) ~ 0.29 kHz.

Background samples may be weighted (a stitched zero bias: each event stands for a fraction of LHC crossings,
see :func:`l1ad.data.adc2021.event_weights`); every function takes optional background ``weights`` and then
measures the FPR as the weighted fraction of background above the threshold. ``None`` = unweighted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

__all__ = ["WORKING_POINTS", "ZERO_BIAS_RATE_HZ", "ad_metrics", "btag_metrics", "efficiency_at_fpr",
           "efficiency_ratio", "quantized_over_float", "rate_to_fpr", "roc"]

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


def _norm(w: np.ndarray | None, n: int) -> np.ndarray:
    if w is None:
        return np.full(n, 1.0 / n) if n else np.zeros(0)
    w = np.asarray(w, np.float64)
    if w.shape != (n,):
        raise ValueError(f"{w.shape[0]} weights for {n} background events")
    return w / w.sum()


def _threshold(bkg: np.ndarray, fpr: float, weights: np.ndarray | None = None) -> float:
    """The lowest background score value T with (weighted) fraction of background above T <= fpr: for
    unweighted events the (k+1)-th largest score, k = floor(fpr * N) (ties can only lower the achieved FPR)."""
    b = np.asarray(bkg, np.float64)
    n = len(b)
    if weights is None:
        k = min(int(np.floor(fpr * n)), n - 1)
        return float(np.partition(b, n - 1 - k)[n - 1 - k])
    w = _norm(weights, n)
    order = np.argsort(b)[::-1]
    vals, ws = b[order], w[order]
    starts = np.flatnonzero(np.concatenate([[True], vals[1:] != vals[:-1]]))
    uniq = vals[starts]  # descending distinct values
    above = np.concatenate([[0.0], np.cumsum(np.add.reduceat(ws, starts))[:-1]])  # weight strictly above uniq[i]
    ok = np.flatnonzero(above <= fpr * (1 + 1e-12))
    return float(uniq[ok[-1]])


def efficiency_at_fpr(bkg: np.ndarray, sig: np.ndarray, fpr: float,
                      weights: np.ndarray | None = None) -> dict[str, float]:
    """Trigger = score > threshold; threshold = the lowest background score value with at most ``fpr`` of the
    (weighted) background above it (ties can only lower the achieved FPR)."""
    b = np.asarray(bkg, np.float64)
    w = _norm(weights, len(b))
    thr = _threshold(b, fpr, weights)
    above = b > thr
    n_above = int(above.sum())
    n_eff = float(w[above].sum() ** 2 / (w[above] ** 2).sum()) if n_above else 0.0
    return {"fpr_target": fpr, "threshold": thr, "fpr": float(w[above].sum()), "n_bkg_above": n_above,
            "n_eff_bkg_above": n_eff, "efficiency": float(np.mean(np.asarray(sig) > thr)),
            "limited_by_statistics": bool(n_eff < 10)}


def efficiency_ratio(bkg_num: np.ndarray, sig_num: np.ndarray, bkg_den: np.ndarray, sig_den: np.ndarray,
                     fpr: float, n_boot: int = 200, seed: int = 0, weights: np.ndarray | None = None
                     ) -> dict[str, Any]:
    """Signal-efficiency ratio num/den at background ``fpr`` of two scores of the SAME events, with errors.

    ``binomial``: signal statistics at fixed thresholds, paired (both scores see the same signal events):
    var(r)/r^2 = var(N1)/N1^2 + var(N2)/N2^2 - 2 cov(N1, N2)/(N1 N2) with multinomial (co)variances.
    ``bootstrap_std``/``bootstrap_68``: resampling background (with its weights) and signal events jointly,
    so it includes the threshold's own statistical error (at 10 kHz = 3.5e-4 the threshold rests on ~35 events
    per 100k unweighted).
    """
    b1, s1, b2, s2 = (np.asarray(a, np.float64) for a in (bkg_num, sig_num, bkg_den, sig_den))
    p1, p2 = s1 > _threshold(b1, fpr, weights), s2 > _threshold(b2, fpr, weights)
    n = len(s1)
    n1, n2, n12 = int(p1.sum()), int(p2.sum()), int((p1 & p2).sum())
    out: dict[str, Any] = {"ratio": None, "binomial": None, "bootstrap_std": None, "bootstrap_68": None,
                           "n_pass_num": n1, "n_pass_den": n2, "n_pass_both": n12, "n_signal": n}
    if n2 == 0:
        return out
    r = n1 / n2
    out["ratio"] = r
    if n1 > 0:
        v1, v2, c = n1 * (1 - n1 / n), n2 * (1 - n2 / n), n12 - n1 * n2 / n
        out["binomial"] = r * float(np.sqrt(max(v1 / n1**2 + v2 / n2**2 - 2 * c / (n1 * n2), 0.0)))
    rng = np.random.default_rng(seed)
    boots = []
    w = None if weights is None else np.asarray(weights, np.float64)
    for _ in range(n_boot):
        ib, isg = rng.integers(0, len(b1), len(b1)), rng.integers(0, n, n)
        wb = None if w is None else w[ib]
        d = np.mean(s2[isg] > _threshold(b2[ib], fpr, wb))
        if d > 0:
            boots.append(np.mean(s1[isg] > _threshold(b1[ib], fpr, wb)) / d)
    if boots:
        out["bootstrap_std"] = float(np.std(boots))
        out["bootstrap_68"] = [float(np.percentile(boots, 16)), float(np.percentile(boots, 84))]
    return out


def quantized_over_float(bkg: dict[str, np.ndarray], sig: dict[str, np.ndarray],
                         bootstrap_at: tuple[str, ...] = ("10kHz",), weights: np.ndarray | None = None
                         ) -> dict[str, Any]:
    """Per working point: the q/float efficiency ratio with errors (:func:`efficiency_ratio`); the bootstrap
    (the slow part) only at ``bootstrap_at`` (the acceptance working point)."""
    return {wp: efficiency_ratio(bkg["quantized"], sig["quantized"], bkg["float"], sig["float"], f,
                                 n_boot=200 if wp in bootstrap_at else 0, weights=weights)
            for wp, f in WORKING_POINTS.items()}


def roc(bkg: np.ndarray, sig: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """ROC (background efficiency weighted when ``weights`` are given, signal events weight 1 each)."""
    y = np.concatenate([np.zeros(len(bkg)), np.ones(len(sig))])
    s = np.concatenate([bkg, sig])
    sw = None
    if weights is not None:  # background weighted to its own sum = number of events, signal 1 each
        sw = np.concatenate([_norm(weights, len(bkg)) * len(bkg), np.ones(len(sig))])
    fpr, tpr, _ = roc_curve(y, s, sample_weight=sw)
    return fpr, tpr, float(roc_auc_score(y, s, sample_weight=sw))


def ad_metrics(bkg: np.ndarray, sig: np.ndarray, weights: np.ndarray | None = None) -> dict[str, Any]:
    _, _, auc = roc(bkg, sig, weights)
    return {"auc": auc, "n_signal": int(len(sig)), "n_background": int(len(bkg)),
            "background_weighted": weights is not None,
            "working_points": {name: efficiency_at_fpr(bkg, sig, f, weights) for name, f in WORKING_POINTS.items()}}


def btag_metrics(labels: np.ndarray, scores: np.ndarray, b_efficiency: float = 0.7) -> dict[str, Any]:
    """AUC (b vs light) and the light-jet mistag rate at ``b_efficiency``."""
    labels = np.asarray(labels)
    scores = np.asarray(scores, np.float64)
    sb, sl = scores[labels == 1], scores[labels == 0]
    thr = float(np.quantile(sb, 1.0 - b_efficiency))
    return {"auc": float(roc_auc_score(labels, scores)), "b_efficiency": float(np.mean(sb > thr)),
            "threshold": thr, "mistag_at_70": float(np.mean(sl > thr)),
            "n_b": int(len(sb)), "n_light": int(len(sl))}
