"""The whole ``l1ad abcd`` study: train the pair with λ>0 and the λ=0 baseline, evaluate, report, export."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from l1ad.background.config import AbcdConfig
from l1ad.background.evaluate import PairScores, evaluate_pair, summarize
from l1ad.background.inputs import Inputs, prepare_inputs
from l1ad.background.model import TrainResult, reconstruction_error, train_pair
from l1ad.io import atomic_dir, write_json

__all__ = ["acceptance", "print_table", "run_abcd", "run_study", "write_outputs"]

log = logging.getLogger(__name__)

#: the issue's acceptance: held-out dCorr² with λ>0 at least this factor below λ=0
DCORR_FACTOR = 5.0


def _scores(tr: TrainResult, inputs: Inputs) -> PairScores:
    ae1, ae2 = tr.pair.ae1, tr.pair.ae2
    return PairScores(
        (reconstruction_error(ae1, inputs.x_test), reconstruction_error(ae2, inputs.x_test)),
        {k: (reconstruction_error(ae1, x), reconstruction_error(ae2, x)) for k, x in inputs.signals.items()},
    )


def acceptance(summaries: dict[str, dict[str, Any]], decorrelated: str, baseline: str) -> dict[str, Any]:
    d, b = summaries[decorrelated], summaries[baseline]
    factor = b["dcorr2_heldout"] / d["dcorr2_heldout"] if d["dcorr2_heldout"] > 0 else math.inf
    return {
        "dcorr2_reduction": factor,
        "dcorr2_ok": bool(factor >= DCORR_FACTOR),
        "closure_ok": bool(d["all_close"]),
        "baseline_closure_ok": bool(b["all_close"]),
        "passed": bool(factor >= DCORR_FACTOR and d["all_close"]),
    }


def run_study(cfg: AbcdConfig, inputs: Inputs, epochs: int | None = None) -> dict[str, Any]:
    """Train both pairs on ``inputs`` and evaluate them. Returns labels -> (TrainResult, PairScores, eval)."""
    lam = cfg.training.lam
    labels = {f"lambda={lam:g}": lam, "lambda=0": 0.0}
    out: dict[str, Any] = {}
    for label, lv in labels.items():
        tr = train_pair(inputs.x_train, inputs.x_val, cfg.model, cfg.training, lam=lv, epochs=epochs, label=label)
        log.info("%s: %d epochs in %.1f s", label, tr.epochs_run, tr.seconds)
        sc = _scores(tr, inputs)
        res = evaluate_pair(sc, cfg.evaluation, seed=cfg.data.seed)
        out[label] = (tr, sc, res)
    return out


def write_outputs(out: Path, cfg: AbcdConfig, inputs: Inputs, study: dict[str, Any], report: dict[str, Any],
                  fields: list[dict[str, Any]] | None = None) -> Path:
    """report.json, plots/ and the λ>0 autoencoders as artifacts models/<name>_ae{1,2}, all atomically."""
    from l1ad.background.export import export_ae
    from l1ad.background.plots import plot_all

    with atomic_dir(out) as tmp:
        write_json(tmp / "report.json", report)
        results = {k: v[2] for k, v in study.items()}
        scores = {k: v[1] for k, v in study.items()}
        plot_all(tmp / "plots", results, scores, min(cfg.evaluation.efficiencies), cfg.evaluation.closure_tolerance)
        label = next(iter(study))
        tr: TrainResult = study[label][0]
        for k, built in enumerate(tr.pair.built_models, start=1):
            name = f"{cfg.name}_ae{k}"
            export_ae(tmp / "models" / name, built, name=name, preprocessing=inputs.preprocessing.to_json(),
                      quantizers=cfg.model.quantizers, architecture={"kind": "ae", "hidden": cfg.model.hidden},
                      data=inputs.files, training={**tr.config, "seconds": round(tr.seconds, 1),
                                                   "partner": f"{cfg.name}_ae{3 - k}", "method": "double DisCo AE"},
                      history=tr.history, metrics={"abcd": report["summary"][label]}, fields=fields)
    return out


def build_report(cfg: AbcdConfig, inputs: Inputs, study: dict[str, Any], seconds: float) -> dict[str, Any]:
    labels = list(study)
    summaries = {k: summarize(v[2], cfg.evaluation) for k, v in study.items()}
    return {
        "method": "decorrelated double autoencoder + ABCD (Mikuni, Nachman, Shih, arXiv:2111.06417)",
        "config": cfg.model_dump(mode="json"),
        "data": {**inputs.files, "n_train": len(inputs.x_train), "n_val": len(inputs.x_val),
                 "n_heldout": len(inputs.x_test)},
        "training": {k: {**v[0].config, "seconds": round(v[0].seconds, 1), "epochs_run": v[0].epochs_run,
                         "best_epoch": v[0].best_epoch,
                         "final": {m: h[-1] for m, h in v[0].history.items()}} for k, v in study.items()},
        "summary": summaries,
        "acceptance": acceptance(summaries, labels[0], labels[1]),
        "results": {k: v[2] for k, v in study.items()},
        "seconds": round(seconds, 1),
    }


def run_abcd(cfg: AbcdConfig, out: Path, data_dir: Path | None = None, epochs: int | None = None,
             encoding: Any = None, console: Any = None) -> dict[str, Any]:
    """Library entry point of ``l1ad abcd``."""
    t0 = time.monotonic()
    if encoding is None:
        from l1ad.data.encoding import load_encoding

        encoding = load_encoding()
    inputs = prepare_inputs(cfg.data, data_dir, cfg.model.quantizers.input, encoding)
    log.info("inputs: %d train, %d val, %d held-out background; signals %s", len(inputs.x_train),
             len(inputs.x_val), len(inputs.x_test), ", ".join(f"{k} {len(v)}" for k, v in inputs.signals.items()))
    study = run_study(cfg, inputs, epochs)
    report = build_report(cfg, inputs, study, time.monotonic() - t0)
    import dataclasses

    fields = [dataclasses.asdict(f) for f in encoding.fields]
    write_outputs(out, cfg, inputs, study, report, fields)
    if console is not False:
        print_table(report, console)
    return report


def _fmt(v: float, spec: str = ".3g") -> str:
    return "nan" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def print_table(report: dict[str, Any], console: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    summ = report["summary"]
    signals = sorted({s for v in summ.values() for s in v["sic_at_eff"]})
    eff = min(report["config"]["evaluation"]["efficiencies"])
    t = Table(title=f"ABCD on held-out background ({report['data']['n_heldout']} events); SIC at ε={eff:g}")
    for col in ["pair", "dCorr²", "closing", "max|r-1|", f"r @ ε={eff:g}", *signals]:
        t.add_column(col)
    for label, s in summ.items():
        sparse = "" if s["grid_points_valid"] == s["grid_points"] else " (sparse)"
        t.add_row(label, _fmt(s["dcorr2_heldout"]), f"{s['grid_points_closing']}/{s['grid_points']}{sparse}",
                  _fmt(s["max_nonclosure"], ".3f"),
                  f"{_fmt(s['ratio_at_min_eff'], '.3f')}±{_fmt(s['ratio_err_at_min_eff'], '.3f')}",
                  *[_fmt(s["sic_at_eff"].get(x, np.nan), ".2f") for x in signals])
    console.print(t)
    a = report["acceptance"]
    console.print(f"dCorr² reduction λ>0 vs λ=0: {a['dcorr2_reduction']:.3g}x (need >= {DCORR_FACTOR:g}); "
                  f"closure within tolerance on the grid: {'yes' if a['closure_ok'] else 'NO'} "
                  f"(baseline: {'yes' if a['baseline_closure_ok'] else 'no'})")
