"""The model artifact directory written by ``l1ad train`` and read by every later stage.

Layout (team contract): ``model.h5`` (full QKeras model incl. decoder), ``trigger.h5`` (deployable sub-model:
preprocessed inputs -> input quantizer -> ... -> mu / reconstruction / logit), ``float.h5`` (float twin's
trigger model), ``model.json``, ``history.json``, ``metrics.json``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from l1ad import _compat
from l1ad.errors import ModelError
from l1ad.models import layers
from l1ad.models.preprocessing import Preprocessing
from l1ad.models.quantizers import custom_objects

__all__ = ["ARTIFACT_FILES", "Artifact", "load_artifact", "load_qkeras_model"]

ARTIFACT_FILES = ("model.h5", "trigger.h5", "float.h5", "model.json", "history.json", "metrics.json")


def load_qkeras_model(path: str | os.PathLike[str], compile: bool = False) -> Any:
    """Load any Keras-2/QKeras ``.h5`` (QKeras layers and quantizers, plus l1ad's VAE training layers)."""
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"{p}: model file not found")
    keras = _compat.keras()
    objs = {**custom_objects(), **layers.custom_objects()}
    try:
        return keras.models.load_model(str(p), custom_objects=objs, compile=compile)
    except (OSError, ValueError, TypeError, KeyError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ModelError(f"{p}: cannot load as a QKeras model: {msg}") from None


@dataclass
class Artifact:
    path: Path
    meta: dict[str, Any]
    _models: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return str(self.meta["name"])

    @property
    def kind(self) -> str:
        return str(self.meta["kind"])

    @property
    def score_type(self) -> str:
        return str(self.meta["score"]["type"])

    @cached_property
    def preprocessing(self) -> Preprocessing:
        return Preprocessing.from_json(self.meta["preprocessing"])

    def preprocess(self, x: np.ndarray) -> np.ndarray:
        """GT words (N, 57) int64 (or CNN features (N, 16, F)) -> the float inputs of ``trigger_model``."""
        return self.preprocessing.apply(x)

    def _load(self, fname: str) -> Any:
        if fname not in self._models:
            self._models[fname] = load_qkeras_model(self.path / fname)
        return self._models[fname]

    @property
    def trigger_model(self) -> Any:
        return self._load("trigger.h5")

    @property
    def float_model(self) -> Any:
        return self._load("float.h5")

    @property
    def model(self) -> Any:
        return self._load("model.h5")

    def read_json(self, fname: str) -> Any:
        return json.loads((self.path / fname).read_text())


def load_artifact(path: str | os.PathLike[str]) -> Artifact:
    p = Path(path)
    if not p.is_dir():
        raise ModelError(f"{p}: artifact directory not found")
    missing = [f for f in ("trigger.h5", "model.json") if not (p / f).is_file()]
    if missing:
        raise ModelError(f"{p}: not a model artifact (missing {', '.join(missing)})")
    try:
        meta = json.loads((p / "model.json").read_text())
    except json.JSONDecodeError as e:
        raise ModelError(f"{p / 'model.json'}: invalid JSON: {e.msg} (line {e.lineno})") from None
    for key in ("name", "kind", "preprocessing", "score", "input_quantizer"):
        if key not in meta:
            raise ModelError(f"{p / 'model.json'}: field '{key}': missing")
    for key in ("offset", "shift"):
        vals = meta["preprocessing"].get(key) if isinstance(meta["preprocessing"], dict) else None
        if not isinstance(vals, list):
            raise ModelError(f"{p / 'model.json'}: field 'preprocessing.{key}': missing or not a list (value {vals!r})")
        bad = next((i for i, v in enumerate(vals) if isinstance(v, bool) or not isinstance(v, int)), None)
        if bad is not None:
            raise ModelError(f"{p / 'model.json'}: field 'preprocessing.{key}[{bad}]': not an integer (value {vals[bad]!r})")
    return Artifact(p, meta)
