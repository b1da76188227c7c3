"""b-jet tagger: a QKeras Conv1D stack over the up-to-16 tracks x F features of a jet.

Pointwise (k=1) convolution, a k=3 convolution, max-pooling, flatten, dense, linear logit (sigmoid is left
to the loss / the threshold). Small enough for a few-cycle io_parallel implementation.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from l1ad import _compat
from l1ad.config import StrictModel
from l1ad.models.base import BuiltModel
from l1ad.models.quantizers import BitsQuantizer, QuantConfig, activation, conv1d, dense, input_quantizer
from l1ad.models.scoring import ScoreKind

__all__ = ["CnnConfig", "build_cnn"]


class CnnConfig(StrictModel):
    kind: Literal["cnn"] = "cnn"
    n_tracks: int = Field(16, ge=3)
    pointwise_filters: int = Field(16, ge=1)
    conv_filters: int = Field(8, ge=1)
    kernel_size: int = Field(3, ge=1)
    pool_size: int = Field(2, ge=1)
    dense: list[int] = Field(default_factory=lambda: [16])


def build_cnn(cfg: CnnConfig, q: QuantConfig | None, n_features: int, name: str = "btag_cnn",
              input_q: BitsQuantizer | None = None) -> BuiltModel:
    keras = _compat.keras()
    inp = keras.Input((cfg.n_tracks, n_features), name="inputs")
    h = input_quantizer(q, input_q=input_q)(inp)
    h = conv1d(cfg.pointwise_filters, 1, q, "conv_pointwise")(h)
    h = activation(q, "relu_pointwise")(h)
    h = conv1d(cfg.conv_filters, cfg.kernel_size, q, "conv_k3")(h)
    h = activation(q, "relu_k3")(h)
    if cfg.pool_size > 1:
        h = keras.layers.MaxPooling1D(cfg.pool_size, name="pool")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    for i, units in enumerate(cfg.dense):
        h = dense(units, q, f"dense{i + 1}")(h)
        h = activation(q, f"relu_dense{i + 1}")(h)
    out = dense(1, q, "logit")(h)
    model = keras.Model(inp, out, name=name)
    loss = keras.losses.BinaryCrossentropy(from_logits=True)
    return BuiltModel("cnn", model, trigger_output="logit", score=ScoreKind.IDENTITY, loss=loss)
