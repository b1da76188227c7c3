"""Events -> hardware words -> the preprocessed inputs both autoencoders see, split train/val/held-out.

Words come from ``l1ad.data.encoding`` (the GT integer words); the scaling is ``l1ad.models.preprocessing``'s
integer ``(word - offset) >> shift`` fitted on the training part of the zero-bias sample only, so the
exported networks take exactly the firmware's inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from l1ad.background.config import DataSection
from l1ad.errors import DataError
from l1ad.io import sha256_file
from l1ad.models.preprocessing import Preprocessing, fit_word_preprocessing
from l1ad.models.quantizers import BitsQuantizer

__all__ = ["Inputs", "load_words", "prepare_inputs"]


@dataclass
class Inputs:
    x_train: np.ndarray
    x_val: np.ndarray
    x_test: np.ndarray  # held-out background: closure, dCorr², injection
    signals: dict[str, np.ndarray]
    preprocessing: Preprocessing
    files: dict[str, dict[str, Any]] = field(default_factory=dict)


def load_words(path: Path, max_events: int, encoding: Any) -> np.ndarray:
    """The first ``max_events`` events of an ADC2021 file as int64 words (N, 57)."""
    from l1ad.data.adc2021 import count_events
    from l1ad.data.encoding import read_words

    if not path.is_file():
        raise DataError(f"{path}: file not found (generate it with `l1ad data generate` or pass --data-dir)")
    n = min(count_events(path), max_events)
    if n == 0:
        raise DataError(f"{path}: no events")
    return read_words(path, 0, n, encoding)


def prepare_inputs(cfg: DataSection, data_dir: Path | None, input_q: BitsQuantizer,
                   encoding: Any = None) -> Inputs:
    """Read background + signals, fit the word scaling on the training split, return float inputs."""
    if encoding is None:
        from l1ad.data.encoding import load_encoding

        encoding = load_encoding()
    bkg_path = cfg.path(cfg.background, data_dir)
    sig_paths = {Path(s).stem: cfg.path(s, data_dir) for s in cfg.signals}
    for p in [bkg_path, *sig_paths.values()]:  # check every input before any work
        if not p.is_file():
            raise DataError(f"{p}: file not found (generate it with `l1ad data generate` or pass --data-dir)")
    words = load_words(bkg_path, cfg.max_events, encoding)
    n = len(words)
    n_train, n_val = int(cfg.train_fraction * n), int(cfg.val_fraction * n)
    if n - n_train - n_val < 1000:
        raise DataError(f"{bkg_path}: {n} events leave fewer than 1000 held-out events for the ABCD test")
    perm = np.random.default_rng(cfg.seed).permutation(n)
    w_train, w_val, w_test = (words[perm[:n_train]], words[perm[n_train:n_train + n_val]],
                              words[perm[n_train + n_val:]])
    prep = fit_word_preprocessing(w_train, input_q, coverage=cfg.coverage)
    signals = {name: prep.apply(load_words(p, cfg.max_signal_events, encoding)) for name, p in sig_paths.items()}
    files = {"background": {"path": str(bkg_path), "events_used": n, "sha256": sha256_file(bkg_path)}}
    for name, p in sig_paths.items():
        files[name] = {"path": str(p), "events_used": len(signals[name]), "sha256": sha256_file(p)}
    return Inputs(prep.apply(w_train), prep.apply(w_val), prep.apply(w_test), signals, prep, files)
