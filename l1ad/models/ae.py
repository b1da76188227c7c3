"""Plain autoencoder 57 -> 32 -> 16 -> 3 -> 16 -> 32 -> 57 with MSE score: the ADC2021 reference
(Govorkova et al., arXiv:2107.02157 / arXiv:2108.03986 "DNN AE")."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from l1ad import _compat
from l1ad.config import StrictModel
from l1ad.data.layout import N_INPUTS
from l1ad.models.base import BuiltModel
from l1ad.models.quantizers import BitsQuantizer, QuantConfig, activation, dense, input_quantizer
from l1ad.models.scoring import ScoreKind

__all__ = ["AeConfig", "build_ae"]


class AeConfig(StrictModel):
    kind: Literal["ae"] = "ae"
    hidden: list[int] = Field(default_factory=lambda: [32, 16, 3, 16, 32], min_length=1)


def build_ae(cfg: AeConfig, q: QuantConfig | None, name: str = "ae", n_inputs: int = N_INPUTS,
             input_q: BitsQuantizer | None = None) -> BuiltModel:
    keras = _compat.keras()
    inp = keras.Input((n_inputs,), name="inputs")
    h = input_quantizer(q, input_q=input_q)(inp)
    for i, units in enumerate(cfg.hidden):
        h = dense(units, q, f"dense{i + 1}")(h)
        h = activation(q, f"relu{i + 1}")(h)
    out = dense(n_inputs, q, "reconstruction")(h)
    model = keras.Model(inp, out, name=name)
    return BuiltModel("ae", model, trigger_output="reconstruction", score=ScoreKind.SQUARED_ERROR, loss="mse")
