"""``l1ad evaluate ARTIFACT``: physics metrics + plots of a trained artifact, quantized vs float twin.

AD models: per signal ROC/AUC, efficiency at FPR 1e-5 and at 1/5/10 kHz of 28.6 MHz zero bias (see
:mod:`l1ad.models.metrics`; a weighted zero bias is weighted to LHC crossings), score distributions. Scores are formed as the firmware forms them from the
quantized trigger model's outputs (:mod:`l1ad.models.scoring`). b-tagger: ROC, AUC, mistag at 70 % b eff.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from l1ad.evaluation import plots
from l1ad.io import atomic_dir, write_json
from l1ad.models.artifact import Artifact, load_artifact
from l1ad.models.metrics import (
    WORKING_POINTS,
    ZERO_BIAS_RATE_HZ,
    ad_metrics,
    btag_metrics,
    quantized_over_float,
)
from l1ad.models.scoring import trigger_scores
from l1ad.training import data as D

__all__ = ["evaluate_artifact"]

log = logging.getLogger("l1ad.evaluation")


def _variants(art: Artifact) -> dict[str, Any]:
    out = {"quantized": art.trigger_model}
    if (art.path / "float.h5").is_file():
        out["float"] = art.float_model
    return out


def _default_signals(data_dir: Path | None) -> list[Path]:
    d = Path(data_dir) if data_dir is not None else Path("data")
    found = []
    for name in D.DEFAULT_SIGNALS:
        try:
            found.append(D.resolve_data_file(f"{name}.h5", d))
        except Exception:  # noqa: BLE001 - a missing default signal is simply skipped
            log.warning("signal %s.h5 not found in %s; skipped", name, d)
    return found


def _evaluate_ad(art: Artifact, background: Path | None, signals: list[Path], data_dir: Path | None,
                 ) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, dict[str, np.ndarray]], np.ndarray | None]:
    bg = art.meta.data.background if art.meta.data is not None else None
    test: tuple[int, int | None] = bg.test if bg is not None and bg.test is not None else (0, None)
    if background is None:
        background = D.resolve_data_file(Path(bg.path if bg is not None else "zero_bias.h5").name, data_dir)
        start, stop = test
        if start == stop and bg is not None and bg.validation is not None:  # no test split: validation events
            start, stop = bg.validation
    else:
        background = D.resolve_data_file(background, data_dir)
        same = bg is not None and bg.sha256 == D.file_provenance(background)["sha256"]
        start, stop = test if same else (0, None)
    words = D.load_words(background, start, stop)
    from l1ad.data.adc2021 import event_weights

    w_bkg = event_weights(background, start or 0, stop)
    x_bkg = art.preprocess(words)
    models = _variants(art)
    bkg = {k: trigger_scores(m, art.score_type, x_bkg) for k, m in models.items()}
    sig: dict[str, dict[str, np.ndarray]] = {}
    result: dict[str, Any] = {
        "background": {"file": str(background), "events": [start, stop if stop is not None else start + len(words)],
                       "n": len(words), "weighted": w_bkg is not None},
        "rate_conversion": {"zero_bias_rate_hz": ZERO_BIAS_RATE_HZ, "formula": "FPR = rate / 28.6 MHz",
                            "working_points": WORKING_POINTS},
        "signals": {},
    }
    for s in signals:
        path = D.resolve_data_file(s, data_dir)
        xs = art.preprocess(D.load_words(path))
        sig[path.stem] = {k: trigger_scores(m, art.score_type, xs) for k, m in models.items()}
        per = {k: ad_metrics(bkg[k], v, w_bkg) for k, v in sig[path.stem].items()}
        if "float" in per:
            per["ratio_quantized_over_float_uncertainty"] = quantized_over_float(bkg, sig[path.stem], weights=w_bkg)
            per["ratio_quantized_over_float"] = {
                wp: per["quantized"]["working_points"][wp]["efficiency"]
                / per["float"]["working_points"][wp]["efficiency"]
                if per["float"]["working_points"][wp]["efficiency"] > 0 else None for wp in WORKING_POINTS}
        result["signals"][path.stem] = {"file": str(path), **per}
    return result, bkg, sig, w_bkg


def _evaluate_btag(art: Artifact, jets: Path | None, data_dir: Path | None) -> tuple[dict[str, Any], Any, Any]:
    jm = art.meta.data.jets if art.meta.data is not None else None
    path = D.resolve_data_file(jets if jets is not None else Path(jm.path if jm is not None else "btag.h5").name,
                               data_dir)
    tracks, labels, _ = D.load_jets(path)
    same = jm is not None and jm.sha256 == D.file_provenance(path)["sha256"]
    if jm is not None and same:  # the training's held-out test jets
        n = jm.events_used if jm.events_used is not None else len(tracks)
        perm = np.random.default_rng(jm.shuffle_seed).permutation(n)
        test = perm[n - jm.test:] if jm.test > 0 else perm[n - jm.validation:]
        tracks, labels = tracks[:n][test], labels[:n][test]
    x = art.preprocess(tracks)
    scores = {k: trigger_scores(m, "identity", x) for k, m in _variants(art).items()}
    res = {"jets": {"file": str(path), "n": len(labels), "held_out_test_split": bool(same)},
           **{k: btag_metrics(labels, s) for k, s in scores.items()}}
    if "float" in res:
        res["auc_difference_float_minus_quantized"] = res["float"]["auc"] - res["quantized"]["auc"]
    return res, labels, scores


def evaluate_artifact(artifact: str | Path, out: str | Path, data_dir: str | Path | None = None,
                      background: str | Path | None = None, signals: list[str | Path] | None = None,
                      jets: str | Path | None = None) -> dict[str, Any]:
    """Compute every number, write ``metrics.json`` and the PNGs into ``out`` (atomically); return the numbers."""
    art = load_artifact(artifact)
    dd = Path(data_dir) if data_dir is not None else None
    out = Path(out)
    if art.kind == "cnn":
        res, labels, scores = _evaluate_btag(art, Path(jets) if jets else None, dd)
        result = {"model": art.name, "kind": art.kind, "btag": res}
        with atomic_dir(out) as tmp:
            plots.plot_btag_roc(labels, scores, tmp / "btag_roc.png", art.name)
            write_json(tmp / "metrics.json", result)
        return result
    sig_paths = [Path(s) for s in signals] if signals else _default_signals(dd)
    res, bkg, sig, bkg_w = _evaluate_ad(art, Path(background) if background else None, sig_paths, dd)
    result = {"model": art.name, "kind": art.kind, "score": art.score_type, **res}
    with atomic_dir(out) as tmp:
        if sig:
            plots.plot_ad_rocs(bkg, sig, tmp / "roc.png", art.name, bkg_w)
        plots.plot_score_distributions(bkg, sig, tmp / "scores.png", art.name, bkg_w)
        write_json(tmp / "metrics.json", result)
    return result
