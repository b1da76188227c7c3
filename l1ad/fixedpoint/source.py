"""Where a model comes from: an l1ad artifact, a bare Keras/QKeras file (``.h5`` or SavedModel) or a Keras model
in memory — all turned into the fixed-point description plus the Keras model the cross-checks run.

:func:`load_model_source` is what ``l1ad build``, ``l1ad import`` and the Python API call. For a bare model the
input words and the score come from :class:`ImportOptions` (:mod:`l1ad.fixedpoint.inputs` for the rules); an
artifact's ``model.json`` already records them, so options are refused there.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from l1ad.errors import ConfigError, ModelError
from l1ad.fixedpoint.inputs import ENCODINGS, InputSpec, resolve_inputs
from l1ad.fixedpoint.model import FixedPointModel
from l1ad.fixedpoint.precision import parse_hls_type
from l1ad.models.scoring import ScoreKind, default_score, parse_score

__all__ = ["ImportOptions", "ModelSource", "load_model_source"]


@dataclass(frozen=True)
class ImportOptions:
    """How to read a bare model: input words (``input_precision`` | ``encoding`` + ``shift``), score, name."""

    input_precision: str | None = None
    encoding: str | None = None
    shift: tuple[int, ...] | None = None
    score: ScoreKind | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if self.input_precision is not None:
            parse_hls_type(self.input_precision)
        if self.encoding is not None and self.encoding not in ENCODINGS:
            raise ConfigError(f"--encoding: unknown encoding (value {self.encoding!r}; known: {', '.join(ENCODINGS)})")
        if self.encoding is not None and self.input_precision is not None:
            raise ConfigError(f"--input-precision: not with --encoding {self.encoding} (value {self.input_precision!r})")
        if self.shift is not None and self.encoding is None:
            raise ConfigError(f"--shift: only with --encoding gt; otherwise the input type fixes the binary point "
                              f"(value {','.join(map(str, self.shift))})")
        if self.score is not None:
            object.__setattr__(self, "score", parse_score(self.score, "--score"))
        if self.name is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+", self.name):
            raise ConfigError(f"--name: letters, digits, '_', '.', '-' only (value {self.name!r})")

    @classmethod
    def from_cli(cls, input_precision: str | None, encoding: str | None, shift: str | None, score: str | None,
                 name: str | None = None) -> ImportOptions:
        sh = None
        if shift is not None:
            try:
                sh = tuple(int(v) for v in shift.split(",") if v.strip())
            except ValueError:
                raise ConfigError(f"--shift: one integer or comma-separated integers (value {shift!r})") from None
            if not sh:
                raise ConfigError(f"--shift: no value (value {shift!r})")
        return cls(input_precision, encoding, sh, parse_score(score, "--score") if score else None, name)

    @property
    def given(self) -> list[str]:
        opts = {"--input-precision": self.input_precision, "--encoding": self.encoding, "--shift": self.shift,
                "--score": self.score}
        return [k for k, v in opts.items() if v is not None]

    def to_json(self) -> dict[str, Any]:
        d = {"input_precision": self.input_precision, "encoding": self.encoding,
             "shift": list(self.shift) if self.shift is not None else None,
             "score": str(self.score) if self.score is not None else None, "name": self.name}
        return {k: v for k, v in d.items() if v is not None}


@dataclass
class ModelSource:
    """The description, the Keras model the cross-checks run, and where both came from."""

    fp: FixedPointModel
    keras_model: Any
    provenance: dict[str, Any]
    meta: Any = None  # ArtifactMeta for a bare model (what `l1ad import` writes)
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return str(self.provenance.get("path") or "<Keras model in memory>")


def _safe_name(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return s if s[:1].isalnum() else f"m{s}"


def load_model_source(model: str | os.PathLike[str] | Any, options: ImportOptions | None = None) -> ModelSource:
    """An artifact directory, a ``.h5`` file, a SavedModel directory or an in-memory Keras model -> ModelSource.

    Refusals (an unsupported layer, a bad option) raise before anything is written."""
    from l1ad.io import sha256_file
    from l1ad.models.artifact import load_artifact, load_qkeras_model

    opts = options or ImportOptions()
    if isinstance(model, str | os.PathLike):
        p = Path(model)
        if p.is_dir() and (p / "model.json").is_file():
            if opts.given:
                raise ConfigError(f"{opts.given[0]}: only for a bare model file; artifact {p} records its inputs "
                                  "and score in model.json")
            art = load_artifact(p)
            fp = FixedPointModel.from_artifact(p)
            return ModelSource(fp, art.trigger_model, {"kind": "artifact", "path": str(p)}, art.meta, list(fp.notes))
        if p.is_file() and p.suffix.lower() in (".h5", ".hdf5"):
            fmt, sha = "h5", sha256_file(p)
        elif p.is_dir() and (p / "saved_model.pb").is_file():
            fmt, sha = "savedmodel", sha256_file(p / "saved_model.pb")
        elif p.exists():
            raise ModelError(f"{p}: --model is neither an artifact directory (model.json), a .h5 file nor a "
                             "SavedModel directory")
        else:
            raise ModelError(f"{p}: --model not found (an artifact directory, a .h5 file or a SavedModel directory)")
        keras_model, path = load_qkeras_model(p), str(p)
    else:
        if not hasattr(model, "layers") or not hasattr(model, "input_shape"):
            raise ModelError(f"model: expected a path or a Keras model (value {type(model).__name__})")
        keras_model, path, fmt, sha = model, None, "keras", None
    return _from_keras(keras_model, opts, path, fmt, sha)


def _from_keras(keras_model: Any, opts: ImportOptions, path: str | None, fmt: str, sha: str | None) -> ModelSource:
    from l1ad.fixedpoint.layers.quantize import is_quantizer, quantizer_precision
    from l1ad.models.artifact import ArtifactMeta
    from l1ad.models.scoring import input_quantizer_layer

    spec: InputSpec = resolve_inputs(keras_model, input_precision=opts.input_precision, encoding=opts.encoding,
                                     shift=list(opts.shift) if opts.shift is not None else None)
    n_out = int(np.prod(keras_model.output_shape[1:]))
    score = opts.score or default_score(n_out)
    name = opts.name or _safe_name(keras_model.name)
    fp = FixedPointModel.from_keras(keras_model, {"offset": spec.offset.tolist(), "shift": spec.shift.tolist()},
                                    score, list(spec.fields), name=name)
    iq = input_quantizer_layer(keras_model)
    iq_rec = None
    if iq is not None and is_quantizer(iq.quantizer):
        p = quantizer_precision(iq.quantizer, iq.name, "QActivation")
        iq_rec = {"bits": p.width, "integer": p.width - p.frac - int(p.signed), "signed": p.signed}
    fields = [{"name": f.name, "width": f.width, "signed": f.signed} for f in spec.fields]
    if opts.encoding == "gt":
        import dataclasses

        from l1ad.data.encoding import load_encoding

        fields = [dataclasses.asdict(f) for f in load_encoding().fields]
    provenance = {"kind": fmt, "path": path, "sha256": sha, "inputs": spec.source, "options": opts.to_json()}
    meta = ArtifactMeta.model_validate({
        "name": name,
        "kind": "imported",
        "input": {"shape": list(fp.input_shape), "fields": fields},
        "preprocessing": {"offset": spec.offset.tolist(), "shift": spec.shift.tolist()},
        "input_quantizer": iq_rec,
        "score": {"type": str(score), "output_layer": keras_model.layers[-1].name},
        "source": {"path": path, "sha256": sha, "format": fmt, "inputs": spec.source, "options": opts.to_json()},
        "versions": _versions(),
    })
    return ModelSource(fp, keras_model, provenance, meta, list(fp.notes))


def _versions() -> dict[str, str]:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    from l1ad import __version__

    out = {"l1ad": __version__, "python": platform.python_version()}
    for pkg in ("tensorflow", "qkeras"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:  # pragma: no cover
            pass
    return out
