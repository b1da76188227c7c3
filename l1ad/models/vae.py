"""AXOL1TL-style VAE: encoder 57 -> 32 -> 16 -> mu (8) [+ log sigma^2], float decoder for training only.

Trigger score = sum(mu^2), the mu-term of the KL divergence (CMS AXOL1TL v1-v3, arXiv:2108.03986 Sec. 3).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, field_validator

from l1ad import _compat
from l1ad.config import StrictModel
from l1ad.data.layout import N_INPUTS
from l1ad.models import layers
from l1ad.models.base import BuiltModel
from l1ad.models.quantizers import BitsQuantizer, QuantConfig, activation, dense, input_quantizer
from l1ad.models.scoring import ScoreKind

__all__ = ["VaeConfig", "build_vae"]


class VaeConfig(StrictModel):
    kind: Literal["vae"] = "vae"
    encoder: list[int] = Field(default_factory=lambda: [32, 16], min_length=1)
    latent: int = Field(8, ge=1)
    decoder: list[int] = Field(default_factory=lambda: [16, 32])
    beta: float = Field(0.5, gt=0)
    latent_scale: float = Field(1.0, description="power of two: the trigger's mu (z_mean) is latent_scale x "
                                "the VAE mean (a fixed training-only rescale sits between z_mean and the KL "
                                "term), so the quantized last layer uses more of its weight grid; the score "
                                "sum(mu^2) only gains a constant factor")

    @field_validator("latent_scale")
    @classmethod
    def _power_of_two(cls, v: float) -> float:
        k = np.log2(v) if v > 0 else 0.5
        if k != round(k) or not -8 <= k <= 8:
            raise ValueError(f"must be a power of two between 2**-8 and 2**8 (value {v})")
        return v


def build_vae(cfg: VaeConfig, q: QuantConfig | None, name: str = "vae", n_inputs: int = N_INPUTS,
              input_q: BitsQuantizer | None = None, latent_scale: float | None = None) -> BuiltModel:
    """``latent_scale`` overrides ``cfg.latent_scale`` (the float twin is built with 1)."""
    keras = _compat.keras()
    inp = keras.Input((n_inputs,), name="inputs")
    xq = input_quantizer(q, input_q=input_q)(inp)
    h = xq
    for i, units in enumerate(cfg.encoder):
        h = dense(units, q, f"enc_dense{i + 1}")(h)
        h = activation(q, f"enc_relu{i + 1}")(h)
    mu = dense(cfg.latent, q, "z_mean")(h)
    scale = cfg.latent_scale if latent_scale is None else latent_scale
    mean = mu if scale == 1 else keras.layers.Rescaling(1.0 / scale, name="latent_unscale")(mu)
    logvar = keras.layers.Dense(cfg.latent, name="z_log_var", kernel_initializer="zeros")(h)
    mu_kl = layers.kl_divergence(cfg.beta, "kl")([mean, logvar])
    z = layers.sampling("sampling")([mu_kl, logvar])
    d = z
    for i, units in enumerate(cfg.decoder):
        d = keras.layers.Dense(units, activation="relu", name=f"dec_dense{i + 1}")(d)
    out = keras.layers.Dense(n_inputs, name="reconstruction")(d)
    model = keras.Model(inp, out, name=name)
    return BuiltModel("vae", model, trigger_output="z_mean", score=ScoreKind.SUM_SQUARES, loss=layers.sum_squared_error)
