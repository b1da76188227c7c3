"""What the emulator and encoding benchmarks run on: the default trained models and event files of ``make demo``
when they exist (``out/demo/models/*``, ``data/*.h5``), else stand-ins of the same shapes (random weights,
synthetic events) - the speed of the integer arithmetic does not depend on the weight values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "out" / "demo" / "models"
DATA = REPO / "data"


def zero_bias(n: int, path: Path | None = None) -> tuple[np.ndarray, str]:
    """``n`` ADC2021 events (n, 19, 4) float32: the zero-bias file, repeated to ``n`` if shorter, else synthetic."""
    path = path or DATA / "zero_bias.h5"
    if path.is_file():
        from l1ad.data.adc2021 import read_events

        ev = read_events(path, 0, n)
        reps = -(-n // len(ev))
        return (np.concatenate([ev] * reps)[:n] if reps > 1 else ev), f"{path} ({len(ev):,} events, repeated to {n:,})"
    from benchmarks.bench_rates import toy_zero_bias

    return toy_zero_bias(n), f"synthetic zero bias ({n:,} events; {path} not found)"


def vae_model(words: np.ndarray, artifact: Path | None = None) -> tuple[Any, str]:
    """The default VAE (``out/demo/models/axol1tl_vae``) as a FixedPointModel, else the same shape with random
    weights (preprocessing fitted to ``words``)."""
    from l1ad.fixedpoint import FixedPointModel

    artifact = artifact or MODELS / "axol1tl_vae"
    if (artifact / "model.json").is_file():
        return FixedPointModel.from_artifact(artifact), str(artifact)
    from benchmarks.bench_rates import default_model

    return default_model(words), f"random-weight VAE ({artifact} not found)"


def btag(artifact: Path | None = None, jets: Path | None = None, n_random: int = 20_000) -> tuple[Any, Any, np.ndarray, str]:
    """(FixedPointModel, its QKeras model, input words, description) of the b-tag CNN on b-tag jets.

    The words are what the firmware receives: the input quantizer's codes of the preprocessed track features
    (``clip(rint(x * 2**frac))``, round half to even as QKeras). Default ``out/demo/models/btag_cnn`` on
    ``data/btag.h5``; without them the ``configs/models/btag_cnn.yaml`` network with random weights on random
    words."""
    from l1ad.fixedpoint import FixedPointModel

    artifact = artifact or MODELS / "btag_cnn"
    jets = jets or DATA / "btag.h5"
    if (artifact / "model.json").is_file():
        from l1ad.models import load_artifact
        from l1ad.training.data import load_jets

        art = load_artifact(artifact)
        fp = FixedPointModel.from_artifact(artifact)
        if jets.is_file():
            tracks, _, _ = load_jets(jets)
            p = fp.input_quantizer.output
            x = np.ldexp(np.asarray(art.preprocess(tracks), np.float64), p.frac).reshape(len(tracks), -1)
            words = np.clip(np.rint(x), p.min_int, p.max_int).astype(np.int64)
            return fp, art.trigger_model, words, f"{artifact} on {len(words):,} jets of {jets}"
        return fp, art.trigger_model, fp.random_words(n_random), f"{artifact} on {n_random:,} random words"
    from l1ad import _compat
    from l1ad.config import config_path
    from l1ad.models.btag import build_cnn
    from l1ad.training.config import load_train_config

    _compat.keras().utils.set_random_seed(0)
    cfg = load_train_config(config_path("models/btag_cnn.yaml"))
    model = build_cnn(cfg.model, cfg.quantizers, 8).trigger_model()  # type: ignore[arg-type]
    fp = FixedPointModel.from_keras(model, name="btag_random")
    return fp, model, fp.random_words(n_random), f"random-weight b-tag CNN ({artifact} not found), random words"
