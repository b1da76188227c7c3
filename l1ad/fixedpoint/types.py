"""The one fixed-point description of a trigger model: dataclasses and their JSON form.

Every value is an integer ``q`` standing for ``q * 2**-frac``. A :class:`Precision` is an ap_fixed-like type:
``width`` bits (two's complement when ``signed``), ``frac`` fraction bits, and how a wider value is brought into
it: ``rounding`` TRN (floor), RND (round half up) or RND_CONV (round half to even, what ``tf.round`` and hence
QKeras quantizers do) and ``saturation`` WRAP, SAT or SAT_SYM (QKeras ``symmetric=1``: the most negative code
is excluded).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from l1ad.errors import ModelError
from l1ad.io import atomic_file

__all__ = [
    "FORMAT",
    "Conv1D",
    "Dense",
    "Flatten",
    "GlobalAvgPool1D",
    "GlobalMaxPool1D",
    "InputField",
    "Layer",
    "MaxPool1D",
    "Precision",
    "Quantize",
    "Relu",
    "Score",
    "load_description",
    "save_description",
]

FORMAT = "l1ad-fixedpoint/1"
ROUNDING = ("TRN", "RND", "RND_CONV")
SATURATION = ("WRAP", "SAT", "SAT_SYM")


@dataclass(frozen=True)
class Precision:
    width: int
    frac: int
    signed: bool
    rounding: str = "TRN"
    saturation: str = "WRAP"

    def __post_init__(self) -> None:
        if self.rounding not in ROUNDING or self.saturation not in SATURATION or self.width < 1:
            raise ModelError(f"invalid precision {self}")

    @property
    def integer(self) -> int:
        """Integer bits including the sign bit (the ap_fixed ``I``)."""
        return self.width - self.frac

    @property
    def min_int(self) -> int:
        """Smallest code the value can take (SAT_SYM: symmetric, -max)."""
        if not self.signed:
            return 0
        return -(1 << (self.width - 1)) + (self.saturation == "SAT_SYM")

    @property
    def max_int(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    def ap_type(self) -> str:
        base = "ap_fixed" if self.signed else "ap_ufixed"
        return f"{base}<{self.width},{self.integer},AP_{self.rounding},AP_{self.saturation}>"

    @staticmethod
    def covering(lo: int, hi: int, frac: int, **modes: str) -> Precision:
        """Smallest precision holding every integer in [lo, hi] at ``frac`` fraction bits."""
        lo, hi = int(lo), int(hi)
        signed = lo < 0
        if signed:
            width = max(int(hi).bit_length(), int(-lo - 1).bit_length()) + 1
        else:
            width = max(int(hi).bit_length(), 1)
        return Precision(width, frac, signed, **modes)


@dataclass(frozen=True)
class InputField:
    name: str
    width: int
    signed: bool


@dataclass
class Layer:
    name: str
    output: Precision

    kind: str = field(default="", init=False)


@dataclass
class Quantize(Layer):
    """Requantise to ``output`` (with its rounding and saturation). quantized_relu = unsigned SAT."""

    source: str = ""  # the Keras quantizer it came from, for the report

    def __post_init__(self) -> None:
        self.kind = "quantize"


@dataclass
class Dense(Layer):
    """acc = x @ weights * 2**-weight_frac + bias * 2**-bias_frac, held exactly in ``output``."""

    weights: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))  # (n_in, n_out)
    weight_frac: int = 0
    bias: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    bias_frac: int = 0

    def __post_init__(self) -> None:
        self.kind = "dense"


@dataclass
class Conv1D(Layer):
    """Valid 1-D convolution; kernel (k, c_in, c_out) applied as an im2col matrix product."""

    weights: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0), np.int64))
    weight_frac: int = 0
    bias: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    bias_frac: int = 0
    stride: int = 1

    def __post_init__(self) -> None:
        self.kind = "conv1d"


@dataclass
class Relu(Layer):
    def __post_init__(self) -> None:
        self.kind = "relu"


@dataclass
class Flatten(Layer):
    def __post_init__(self) -> None:
        self.kind = "flatten"


@dataclass
class MaxPool1D(Layer):
    pool: int = 2
    stride: int = 2

    def __post_init__(self) -> None:
        self.kind = "maxpool1d"


@dataclass
class GlobalMaxPool1D(Layer):
    def __post_init__(self) -> None:
        self.kind = "globalmaxpool1d"


@dataclass
class GlobalAvgPool1D(Layer):
    """Sum over the length (a power of two) then a free shift: exact, like the float mean."""

    def __post_init__(self) -> None:
        self.kind = "globalavgpool1d"


@dataclass
class Score:
    """sum_squares: Σ y²; squared_error: Σ (y - x_q)² with x_q the quantised input; identity: y (one value)."""

    type: str
    output: Precision
    reference: str | None = None  # layer whose output is subtracted (squared_error)


LAYER_TYPES: dict[str, type[Layer]] = {
    "quantize": Quantize,
    "dense": Dense,
    "conv1d": Conv1D,
    "relu": Relu,
    "flatten": Flatten,
    "maxpool1d": MaxPool1D,
    "globalmaxpool1d": GlobalMaxPool1D,
    "globalavgpool1d": GlobalAvgPool1D,
}
_ARRAYS = ("weights", "bias")


def _layer_to_dict(layer: Layer) -> dict[str, Any]:
    d: dict[str, Any] = {"kind": layer.kind}
    for k, v in asdict(layer).items():
        if k == "kind":
            continue
        d[k] = np.asarray(v).tolist() if k in _ARRAYS else v
    return d


def _layer_from_dict(d: dict[str, Any]) -> Layer:
    d = dict(d)
    cls = LAYER_TYPES[d.pop("kind")]
    d["output"] = Precision(**d["output"])
    for k in _ARRAYS:
        if k in d:
            d[k] = np.asarray(d[k], dtype=np.int64)
    return cls(**d)


def save_description(model: Any, path: str | os.PathLike[str]) -> Path:
    """Write the description as JSON (one canonical form: same model → same bytes)."""
    doc = {
        "format": FORMAT,
        "name": model.name,
        "input_shape": list(model.input_shape),
        "inputs": [asdict(f) for f in model.inputs],
        "preprocessing": {"offset": [int(v) for v in model.offset], "shift": [int(v) for v in model.shift]},
        "layers": [_layer_to_dict(layer) for layer in model.layers],
        "score": asdict(model.score),
    }
    path = Path(path)
    with atomic_file(path, suffix=".json") as tmp:
        tmp.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    return path


def load_description(path: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ModelError(f"{path}: cannot read fixed-point description: {e}") from None
    if doc.get("format") != FORMAT:
        raise ModelError(f"{path}: field 'format': expected {FORMAT} (value {doc.get('format')!r})")
    try:
        score = dict(doc["score"])
        score["output"] = Precision(**score["output"])
        return {
            "name": doc["name"],
            "input_shape": tuple(doc["input_shape"]),
            "inputs": [InputField(**f) for f in doc["inputs"]],
            "offset": np.asarray(doc["preprocessing"]["offset"], np.int64),
            "shift": np.asarray(doc["preprocessing"]["shift"], np.int64),
            "layers": [_layer_from_dict(x) for x in doc["layers"]],
            "score": Score(**score),
        }
    except (KeyError, TypeError) as e:
        raise ModelError(f"{path}: field {e}: missing or invalid in fixed-point description") from None
