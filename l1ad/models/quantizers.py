"""Quantizer configuration -> QKeras quantizers and layers (the only place that picks Q* vs float layers).

Defaults follow the deployed CMS AXOL1TL v1/v2 networks (github.com/cms-hls4ml/AXOL1TL): 6-bit weights
``ap_fixed<6,3>`` = ``quantized_bits(6, 2, alpha=1)``, 8-bit inputs, ReLU outputs ``ap_ufixed<10,6>`` =
``quantized_relu(10, 6)``. ``alpha=1`` keeps power-of-two-free scales so the weights are plain fixed point.
Passing ``q=None`` to the layer helpers builds the float twin with the same architecture.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field, model_validator

from l1ad import _compat
from l1ad.config import StrictModel

__all__ = [
    "BitsQuantizer",
    "QuantConfig",
    "ReluQuantizer",
    "activation",
    "conv1d",
    "custom_objects",
    "dense",
    "input_quantizer",
    "snap_kernels_to_grid",
]


class BitsQuantizer(StrictModel):
    """``quantized_bits(bits, integer, keep_negative=signed, alpha=1)``: ap_fixed<bits, integer + signed>."""

    bits: int = Field(6, ge=2, le=32)
    integer: int = Field(2, ge=0, le=31)
    signed: bool = True

    @model_validator(mode="after")
    def _fits(self) -> BitsQuantizer:
        if self.integer + int(self.signed) > self.bits:
            raise ValueError(f"integer bits {self.integer} (+sign) exceed total bits {self.bits}")
        return self

    @property
    def frac_bits(self) -> int:
        return self.bits - self.integer - int(self.signed)

    @property
    def max_value(self) -> float:
        """Largest representable value, ``2**integer - 2**-frac_bits``."""
        return 2.0**self.integer - 2.0**-self.frac_bits

    def qkeras(self) -> Any:
        qk = _compat.qkeras()
        return qk.quantized_bits(self.bits, self.integer, keep_negative=self.signed, alpha=1)

    def describe(self) -> dict[str, Any]:
        return {"bits": self.bits, "integer": self.integer, "signed": self.signed,
                "qkeras": f"quantized_bits({self.bits},{self.integer},keep_negative={int(self.signed)},alpha=1)"}


class ReluQuantizer(StrictModel):
    """``quantized_relu(bits, integer)``: ap_ufixed<bits, integer>."""

    bits: int = Field(10, ge=2, le=32)
    integer: int = Field(6, ge=0, le=31)

    def qkeras(self) -> Any:
        return _compat.qkeras().quantized_relu(self.bits, self.integer)

    def describe(self) -> dict[str, Any]:
        return {"bits": self.bits, "integer": self.integer,
                "qkeras": f"quantized_relu({self.bits},{self.integer})"}


class QuantConfig(StrictModel):
    input: BitsQuantizer = BitsQuantizer(bits=8, integer=3)
    weight: BitsQuantizer = BitsQuantizer(bits=6, integer=2)
    bias: BitsQuantizer = BitsQuantizer(bits=6, integer=2)
    activation: ReluQuantizer = ReluQuantizer()

    def describe(self) -> dict[str, Any]:
        return {k: getattr(self, k).describe() for k in ("input", "weight", "bias", "activation")}


def input_quantizer(q: QuantConfig | None, name: str = "input_quant", input_q: BitsQuantizer | None = None) -> Any:
    """First layer of every trigger model: ``QActivation(quantized_bits(...))``.

    The float twin (``q=None``) gets ``input_q`` if given - the same integer inputs as the firmware (the
    preprocessed words are on the quantizer's grid, so this is only the input range) - else identity."""
    keras = _compat.keras()
    if q is not None:
        input_q = q.input
    if input_q is None:
        return keras.layers.Activation("linear", name=name)
    return _compat.qkeras().QActivation(input_q.qkeras(), name=name)


def dense(units: int, q: QuantConfig | None, name: str) -> Any:
    keras = _compat.keras()
    if q is None:
        return keras.layers.Dense(units, name=name)
    return _compat.qkeras().QDense(units, kernel_quantizer=q.weight.qkeras(), bias_quantizer=q.bias.qkeras(),
                                   name=name)


def conv1d(filters: int, kernel_size: int, q: QuantConfig | None, name: str) -> Any:
    keras = _compat.keras()
    if q is None:
        return keras.layers.Conv1D(filters, kernel_size, name=name)
    return _compat.qkeras().QConv1D(filters, kernel_size, kernel_quantizer=q.weight.qkeras(),
                                    bias_quantizer=q.bias.qkeras(), name=name)


def activation(q: QuantConfig | None, name: str) -> Any:
    keras = _compat.keras()
    if q is None:
        return keras.layers.Activation("relu", name=name)
    return _compat.qkeras().QActivation(q.activation.qkeras(), name=name)


def snap_kernels_to_grid(model: Any, layer_names: list[str], frac_bits: int) -> None:
    """Round the (initial) kernels of ``layer_names`` in place to multiples of ``2**-frac_bits``.

    Used on freshly built models with the weight quantizer's ``frac_bits``: a weight that zero bias never
    updates (the input is 0 in every training event, e.g. a third muon) keeps its random initial value
    through training, and signals that fill that input see it. Starting on the grid, such a weight is
    exactly representable, so quantization cannot move it (power-of-two rebalancing by a factor >= 1 keeps
    it on the grid)."""
    step = 2.0**-frac_bits
    for name in layer_names:
        layer = model.get_layer(name)
        w = layer.get_weights()
        layer.set_weights([(np.round(w[0] / step) * step).astype(w[0].dtype), *w[1:]])


def custom_objects() -> dict[str, Any]:
    """QKeras custom objects (layers + quantizers) needed to load any QKeras ``.h5``."""
    qk = _compat.qkeras()
    from qkeras.utils import _add_supported_quantized_objects

    objs: dict[str, Any] = {}
    _add_supported_quantized_objects(objs)
    objs.setdefault("QActivation", qk.QActivation)
    return objs
