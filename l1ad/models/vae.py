"""AXOL1TL-style VAE: encoder 57 -> 32 -> 16 -> mu (8) [+ log sigma^2], float decoder for training only.

Trigger score = sum(mu^2), the mu-term of the KL divergence (CMS AXOL1TL v1-v3, arXiv:2108.03986 Sec. 3).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from l1ad import _compat
from l1ad.config import StrictModel
from l1ad.data.layout import N_INPUTS
from l1ad.models import layers
from l1ad.models.base import BuiltModel
from l1ad.models.quantizers import BitsQuantizer, QuantConfig, activation, dense, input_quantizer

__all__ = ["VaeConfig", "build_vae"]


class VaeConfig(StrictModel):
    kind: Literal["vae"] = "vae"
    encoder: list[int] = Field(default_factory=lambda: [32, 16], min_length=1)
    latent: int = Field(8, ge=1)
    decoder: list[int] = Field(default_factory=lambda: [16, 32])
    beta: float = Field(0.5, gt=0)


def build_vae(cfg: VaeConfig, q: QuantConfig | None, name: str = "vae", n_inputs: int = N_INPUTS,
              input_q: BitsQuantizer | None = None) -> BuiltModel:
    keras = _compat.keras()
    inp = keras.Input((n_inputs,), name="inputs")
    xq = input_quantizer(q, input_q=input_q)(inp)
    h = xq
    for i, units in enumerate(cfg.encoder):
        h = dense(units, q, f"enc_dense{i + 1}")(h)
        h = activation(q, f"enc_relu{i + 1}")(h)
    mu = dense(cfg.latent, q, "z_mean")(h)
    logvar = keras.layers.Dense(cfg.latent, name="z_log_var", kernel_initializer="zeros")(h)
    mu_kl = layers.kl_divergence(cfg.beta, "kl")([mu, logvar])
    z = layers.sampling("sampling")([mu_kl, logvar])
    d = z
    for i, units in enumerate(cfg.decoder):
        d = keras.layers.Dense(units, activation="relu", name=f"dec_dense{i + 1}")(d)
    out = keras.layers.Dense(n_inputs, name="reconstruction")(d)
    model = keras.Model(inp, out, name=name)
    return BuiltModel("vae", model, trigger_output="z_mean", score="sum_squares", loss=layers.sum_squared_error)
