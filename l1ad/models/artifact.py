"""The model artifact directory written by ``l1ad train`` / ``l1ad import`` and read by every later stage.

Layout (team contract): ``model.h5`` (full QKeras model incl. decoder), ``trigger.h5`` (deployable sub-model:
preprocessed inputs -> [input quantizer] -> ... -> mu / reconstruction / logit), ``float.h5`` (float twin's
trigger model, trained artifacts only), ``model.json`` (:class:`ArtifactMeta`, the one schema of that file:
unknown keys are errors), ``history.json``, ``metrics.json`` (trained artifacts).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from l1ad import _compat
from l1ad.config import StrictModel, parse_config
from l1ad.errors import ModelError
from l1ad.io import atomic_dir, write_json
from l1ad.models import layers
from l1ad.models.preprocessing import Preprocessing
from l1ad.models.quantizers import custom_objects
from l1ad.models.scoring import ScoreKind

__all__ = ["ARTIFACT_FILES", "Artifact", "ArtifactMeta", "load_artifact", "load_qkeras_model", "write_imported"]

ARTIFACT_FILES = ("model.h5", "trigger.h5", "float.h5", "model.json", "history.json", "metrics.json")


# ------------------------------------------------------------------------------------------------ model.json
class FieldRecord(StrictModel):
    """One input: a GT word (width/signed, plus the encoding's description) or a named float feature."""

    name: str
    width: int | None = Field(None, ge=1, le=62)
    signed: bool | None = None
    lsb: float | None = None
    unit: str | None = None
    group: str | None = None
    feature: str | None = None
    periodic_bins: int | None = None


class InputRecord(StrictModel):
    shape: list[int] = Field(min_length=1)
    fields: list[FieldRecord | str] = Field(min_length=1)


class PreprocessingRecord(StrictModel):
    """``(x - offset) * 2**-shift`` per input (or per feature of a multi-dimensional input)."""

    offset: list[int]
    shift: list[int]

    @model_validator(mode="after")
    def _same_length(self) -> PreprocessingRecord:
        if len(self.offset) != len(self.shift):
            raise ValueError(f"offset has {len(self.offset)} values, shift {len(self.shift)}")
        return self


class QuantizerRecord(StrictModel):
    bits: int = Field(ge=1, le=62)
    integer: int
    signed: bool


class ScoreRecord(StrictModel):
    type: ScoreKind
    output_layer: str | None = None


class FileRecord(StrictModel):
    path: str
    sha256: str
    bytes: int | None = None
    events_used: int | None = None


class BackgroundRecord(FileRecord):
    """The zero-bias file a model trained on: first ``train`` then ``validation`` events, ``test`` at the end."""

    events_in_file: int | None = None
    train: tuple[int, int] | None = None
    validation: tuple[int, int] | None = None
    test: tuple[int, int] | None = None
    drop_lsbs: dict[str, int] | None = None
    #: a stitched zero bias (datasets Weights/Stratum): training and thresholds used the crossing weights
    weighted: bool = False


class JetsRecord(FileRecord):
    shuffle_seed: int
    train: int
    validation: int
    test: int


class DataRecord(StrictModel):
    background: BackgroundRecord | None = None
    jets: JetsRecord | None = None
    signals: dict[str, FileRecord] = Field(default_factory=dict)


class SourceRecord(StrictModel):
    """Where an imported model came from (``l1ad import``)."""

    path: str | None = None
    sha256: str | None = None
    format: Literal["h5", "savedmodel", "keras"]
    inputs: str  # how the input words were chosen
    options: dict[str, Any] = Field(default_factory=dict)


class ArtifactMeta(StrictModel):
    """``model.json``: what a trigger model takes, how its score is formed and where it came from."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    kind: Literal["vae", "ae", "cnn", "imported"]
    input: InputRecord
    preprocessing: PreprocessingRecord
    input_quantizer: QuantizerRecord | None = None
    score: ScoreRecord
    quantizers: dict[str, Any] | None = None
    pruning: dict[str, Any] | None = None
    architecture: dict[str, Any] | None = None
    data: DataRecord | None = None
    training: dict[str, Any] | None = None
    files: dict[str, str | None] | None = None
    versions: dict[str, str] | None = None
    source: SourceRecord | None = None

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_unset=True)

    def firmware_inputs(self, source: Path) -> tuple[list[tuple[str, int, bool]], dict[str, list[int]]]:
        """The firmware's input words (name, width, signed) and their preprocessing {"offset", "shift"}.

        GT words carry width/signed (or are looked up by name in the encoding). A CNN on float features takes
        the input quantizer's codes (features already scaled upstream by the power-of-two preprocessing):
        word = code, v = code * 2**-frac exactly."""
        shape, fields = self.input.shape, self.input.fields
        names = [f if isinstance(f, str) else f.name for f in fields]
        explicit = [f for f in fields if not isinstance(f, str) and f.width is not None and f.signed is not None]
        if len(shape) > 1 and len(explicit) != len(fields):
            iq = self.input_quantizer
            if iq is None:
                raise ModelError(f"{source}: field 'input_quantizer': a model on float features needs one (value null)")
            frac = iq.bits - int(iq.signed) - iq.integer
            words = [(f"{names[c]}_{p}", iq.bits, iq.signed) for p in range(int(np.prod(shape[:-1])))
                     for c in range(len(names))]
            return words, {"offset": [0] * len(words), "shift": [frac] * len(words)}
        out: list[tuple[str, int, bool]] = []
        enc_fields = None
        for i, f in enumerate(fields):
            if not isinstance(f, str) and f.width is not None and f.signed is not None:
                out.append((f.name, f.width, f.signed))
                continue
            if enc_fields is None:
                from l1ad.data.encoding import load_encoding

                enc_fields = {x.name: x for x in load_encoding().fields}
            if names[i] not in enc_fields:
                raise ModelError(f"{source}: field 'input.fields[{i}]': unknown input field (value {names[i]!r})")
            e = enc_fields[names[i]]
            out.append((e.name, int(e.width), bool(e.signed)))
        return out, {"offset": list(self.preprocessing.offset), "shift": list(self.preprocessing.shift)}


def read_meta(path: str | os.PathLike[str]) -> ArtifactMeta:
    """Parse an artifact's ``model.json`` (one line naming the file, field and value on any problem)."""
    p = Path(path)
    f = p / "model.json" if p.is_dir() else p
    try:
        raw = json.loads(f.read_text())
    except OSError as e:
        raise ModelError(f"{f}: cannot read ({e.strerror})") from None
    except json.JSONDecodeError as e:
        raise ModelError(f"{f}: invalid JSON: {e.msg} (line {e.lineno})") from None
    return parse_config(ArtifactMeta, raw, f)


# ------------------------------------------------------------------------------------------------ the directory
def load_qkeras_model(path: str | os.PathLike[str], compile: bool = False) -> Any:
    """Load any Keras-2/QKeras model: a ``.h5`` file or a SavedModel directory (QKeras layers and quantizers,
    plus l1ad's VAE training layers)."""
    p = Path(path)
    if not (p.is_file() or (p.is_dir() and (p / "saved_model.pb").is_file())):
        raise ModelError(f"{p}: model file not found (a .h5 file or a SavedModel directory)")
    keras = _compat.keras()
    objs = {**custom_objects(), **layers.custom_objects()}
    try:
        return keras.models.load_model(str(p), custom_objects=objs, compile=compile)
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        unknown = re.match(r"Unknown (?:layer|object|activation)[^']*'([^']+)'", msg)
        if unknown:
            from l1ad.errors import UnsupportedLayerError

            cls = unknown.group(1)
            name = _layer_named(p, cls)
            what = f"layer '{name}' ({cls})" if name else f"'{cls}'"
            raise UnsupportedLayerError(f"{p}: {what}: not a Keras/QKeras layer or quantizer l1ad knows (custom "
                                        "layers have no fixed-point lowering)") from None
        raise ModelError(f"{p}: cannot load as a QKeras model: {msg}") from None


def _layer_named(path: Path, class_name: str) -> str | None:
    """The name of the first layer of class ``class_name`` in a .h5 model's config (for error messages)."""
    try:
        import h5py

        with h5py.File(path, "r") as f:
            cfg = json.loads(f.attrs["model_config"])
    except (OSError, KeyError, ValueError, TypeError):
        return None
    for layer in (cfg.get("config") or {}).get("layers") or []:
        if layer.get("class_name") == class_name:
            return str((layer.get("config") or {}).get("name"))
    return None


@dataclass
class Artifact:
    path: Path
    meta: ArtifactMeta
    _models: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def kind(self) -> str:
        return self.meta.kind

    @property
    def score_type(self) -> ScoreKind:
        return self.meta.score.type

    @cached_property
    def preprocessing(self) -> Preprocessing:
        return Preprocessing.from_json(self.meta.preprocessing.model_dump())

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
    return Artifact(p, read_meta(p))


def write_imported(out: str | os.PathLike[str], model: Any, meta: ArtifactMeta) -> Path:
    """Write an imported model as an artifact: ``trigger.h5`` = ``model.h5`` = the user's model, ``model.json``
    (atomically: nothing is left behind on failure)."""
    out = Path(out)
    with atomic_dir(out) as tmp:
        model.save(str(tmp / "trigger.h5"), save_format="h5", include_optimizer=False)
        model.save(str(tmp / "model.h5"), save_format="h5", include_optimizer=False)
        write_json(tmp / "model.json", meta.to_json())
    return out
