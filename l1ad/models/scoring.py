"""Anomaly / tag scores from a trigger model's outputs, the way the firmware forms them.

The firmware computes sum(mu^2) (VAE) or sum((recon - x_q)^2) (AE) on the quantized network's outputs. QKeras
outputs of a quantized network are dyadic numbers with few bits, so the sums below in float64 are exact; the
bit-exact integer emulation is ``l1ad.fixedpoint`` (owned by the firmware helper).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from l1ad.errors import ModelError

__all__ = ["model_outputs", "score_from_outputs", "trigger_scores"]


def model_outputs(model: Any, x: np.ndarray, batch_size: int = 8192) -> np.ndarray:
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64)


def score_from_outputs(score_type: str, out: np.ndarray, x_quantized: np.ndarray | None = None) -> np.ndarray:
    if score_type == "sum_squares":
        return np.sum(out * out, axis=-1)
    if score_type == "squared_error":
        if x_quantized is None:
            raise ModelError("squared_error score needs the quantized inputs")
        d = out - x_quantized.reshape(out.shape)
        return np.sum(d * d, axis=-1)
    if score_type == "identity":
        return out.reshape(len(out))
    raise ModelError(f"unknown score type {score_type!r}")


def trigger_scores(model: Any, score_type: str, x: np.ndarray, batch_size: int = 8192) -> np.ndarray:
    """Score of each row of preprocessed inputs ``x`` through ``model`` (trigger or float-twin model)."""
    out = model_outputs(model, x, batch_size)
    xq = None
    if score_type == "squared_error":
        first = model.layers[1] if len(model.layers) > 1 else None
        xq = np.asarray(first(x.astype(np.float32)), dtype=np.float64) if first is not None else x
    return score_from_outputs(score_type, out, xq)
