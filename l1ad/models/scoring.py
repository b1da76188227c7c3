"""The trigger score, defined once: what the firmware computes from the network's outputs.

* ``identity``: the single network output (a logit, a tag score);
* ``sum_squares``: Σ y² (the VAE's μ-term of the KL divergence, CMS AXOL1TL, arXiv:2108.03986);
* ``squared_error``: Σ (y - x_q)² with x_q the network's quantized input (the AE reconstruction error).

:func:`score_terms` + :func:`combine` are the formula over any value type (NumPy rows, da4ml traced variables);
:func:`score_array` is the same formula on arrays (float64 QKeras outputs or exact integers). The fixed-point
emulator, the da4ml trace, the hls4ml/QKeras cross-checks, training and evaluation all call these.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum
from typing import Any, TypeVar

import numpy as np

from l1ad.errors import ModelError

__all__ = [
    "ScoreKind",
    "combine",
    "default_score",
    "input_quantizer_layer",
    "model_outputs",
    "reference_inputs",
    "score_array",
    "score_terms",
    "trigger_scores",
]

T = TypeVar("T")


class ScoreKind(StrEnum):
    IDENTITY = "identity"
    SUM_SQUARES = "sum_squares"
    SQUARED_ERROR = "squared_error"


def parse_score(value: str | ScoreKind, what: str = "score") -> ScoreKind:
    try:
        return ScoreKind(value)
    except ValueError:
        raise ModelError(f"{what}: unknown score type (value {value!r}; use "
                         f"{', '.join(k.value for k in ScoreKind)})") from None


def default_score(n_outputs: int) -> ScoreKind:
    """identity for one network output, Σ of squares otherwise."""
    return ScoreKind.IDENTITY if n_outputs == 1 else ScoreKind.SUM_SQUARES


def score_terms(kind: ScoreKind, outputs: Sequence[T], reference: Sequence[T] | None = None) -> Iterable[T]:
    """The values the score is built from: the outputs, or (squared_error) output - reference, lazily in order."""
    if kind == ScoreKind.SQUARED_ERROR:
        if reference is None or len(reference) != len(outputs):
            raise ModelError(f"score 'squared_error': output size {len(outputs)} differs from the input size "
                             f"{None if reference is None else len(reference)}")
        return (a - b for a, b in zip(outputs, reference, strict=True))  # type: ignore[operator]
    return iter(outputs)


def combine(kind: ScoreKind, terms: Iterable[T], square: Callable[[T], list[T]], total: Callable[[list[T]], T]) -> T:
    """identity: the first term; otherwise ``total`` of every ``square`` part of every term (in order)."""
    if kind == ScoreKind.IDENTITY:
        return next(iter(terms))
    return total([part for t in terms for part in square(t)])


def score_array(kind: ScoreKind, y: np.ndarray, reference: np.ndarray | None = None, *,
                exact: bool = False) -> np.ndarray:
    """The score of each row of ``y`` (N, ...) — exact for integers, and for float64 dyadic values with few bits.

    ``exact=True``: the caller guarantees every sum is exact (integers below 2**53), so the order of the additions
    cannot matter and the faster ``einsum`` is used; otherwise NumPy's (pairwise) row sum."""
    y = np.asarray(y).reshape(len(y), -1)
    if kind == ScoreKind.IDENTITY:
        if y.shape[1] != 1:
            raise ModelError(f"score 'identity' needs one network output, got {y.shape[1]}")
        return y[:, 0]
    if kind == ScoreKind.SQUARED_ERROR:
        if reference is None:
            raise ModelError("squared_error score needs the quantized inputs")
        y = y - np.asarray(reference).reshape(y.shape)
    return np.einsum("ij,ij->i", y, y) if exact else (y * y).sum(axis=1)


# ------------------------------------------------------------------------------------------------ Keras side
def model_outputs(model: Any, x: np.ndarray, batch_size: int = 8192) -> np.ndarray:
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64)


def input_quantizer_layer(model: Any) -> Any | None:
    """The model's input quantizer: its first layer after the input when that is a ``QActivation``."""
    layers = [lay for lay in model.layers if type(lay).__name__ != "InputLayer"]
    return layers[0] if layers and type(layers[0]).__name__ == "QActivation" else None


def reference_inputs(model: Any, x: np.ndarray) -> np.ndarray:
    """x_q for ``squared_error``: the input quantizer's output, or the inputs themselves without one."""
    q = input_quantizer_layer(model)
    return np.asarray(q(np.asarray(x, np.float32)), dtype=np.float64) if q is not None else np.asarray(x, np.float64)


def trigger_scores(model: Any, score_type: str | ScoreKind, x: np.ndarray, batch_size: int = 8192) -> np.ndarray:
    """Score of each row of preprocessed inputs ``x`` through ``model`` (trigger or float-twin model)."""
    kind = parse_score(score_type)
    out = model_outputs(model, x, batch_size)
    ref = reference_inputs(model, x) if kind == ScoreKind.SQUARED_ERROR else None
    return score_array(kind, out, ref)
