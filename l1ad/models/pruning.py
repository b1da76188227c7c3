"""Magnitude pruning of the trigger path (the deployed AXOL1TL v1 first layer was ~77 % zeros).

Uses TensorFlow Model Optimization (a QKeras dependency): ``prune_low_magnitude`` with a polynomial
sparsity schedule during training, ``strip_pruning`` before saving, so the saved weights contain the zeros.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field, model_validator

from l1ad import _compat
from l1ad.config import StrictModel

__all__ = ["PruningConfig", "apply_pruning", "pruning_callbacks", "sparsity", "strip_pruning"]

_PRUNABLE = ("QDense", "QConv1D", "Dense", "Conv1D")


class PruningConfig(StrictModel):
    """``sparsity`` = final fraction of zero kernel weights in each pruned layer (0 disables pruning)."""

    sparsity: float = Field(0.0, ge=0.0, lt=1.0)
    layers: list[str] = Field(default_factory=list, description="layer names; empty = all trigger-path kernels")
    begin_fraction: float = Field(0.1, ge=0.0, le=1.0)
    end_fraction: float = Field(0.6, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _order(self) -> PruningConfig:
        if self.end_fraction < self.begin_fraction:
            raise ValueError("end_fraction must be >= begin_fraction")
        return self


def _tfmot() -> Any:
    _compat.keras()
    import tensorflow_model_optimization as tfmot

    return tfmot


def apply_pruning(model: Any, cfg: PruningConfig, trigger_layers: set[str], total_steps: int) -> Any:
    """Wrap the chosen layers of ``model`` in ``prune_low_magnitude``; returns a new (uncompiled) model."""
    if cfg.sparsity <= 0:
        return model
    keras = _compat.keras()
    tfmot = _tfmot()
    names = set(cfg.layers) if cfg.layers else trigger_layers
    schedule = tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=0.0, final_sparsity=cfg.sparsity,
        begin_step=int(cfg.begin_fraction * total_steps), end_step=max(1, int(cfg.end_fraction * total_steps)),
        frequency=max(1, total_steps // 100))

    def wrap(layer: Any) -> Any:
        clone = layer.__class__.from_config(layer.get_config())
        if layer.name in names and type(layer).__name__ in _PRUNABLE:
            return tfmot.sparsity.keras.prune_low_magnitude(clone, pruning_schedule=schedule)
        return clone

    pruned = keras.models.clone_model(model, clone_function=wrap)
    return pruned


def pruning_callbacks(cfg: PruningConfig) -> list[Any]:
    return [_tfmot().sparsity.keras.UpdatePruningStep()] if cfg.sparsity > 0 else []


def strip_pruning(model: Any) -> Any:
    return _tfmot().sparsity.keras.strip_pruning(model)


def sparsity(model: Any) -> dict[str, float]:
    """Fraction of exactly-zero kernel weights per dense/conv layer."""
    out = {}
    for layer in model.layers:
        if type(layer).__name__ in _PRUNABLE and layer.get_weights():
            k = layer.get_weights()[0]
            out[layer.name] = float(np.mean(k == 0))
    return out
