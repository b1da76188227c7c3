"""ReLU: ``max(x, 0)`` held exactly — Keras ``Activation('relu')``, ``ReLU()`` and ``activation='relu'`` in a layer.

``linear`` activations are no node at all. Other float activations (tanh, sigmoid, softmax, leaky slopes, ReLU
with a cap or threshold) have no exact fixed-point form and are refused naming the layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from l1ad.errors import UnsupportedLayerError
from l1ad.fixedpoint.layers.base import Bounds, FastContext, Node, refuse, trace_quantize
from l1ad.fixedpoint.layers.quantize import requant
from l1ad.fixedpoint.precision import Precision, requantize

__all__ = ["KERAS", "NODES", "Linear", "Relu", "relu_nodes"]


@dataclass(frozen=True, eq=False)
class Relu(Node):
    kind: ClassVar[str] = "relu"

    def propagate(self, b: Bounds) -> Bounds:
        return Bounds(np.maximum(b.lo, 0), np.maximum(b.hi, 0), b.frac)

    def emulate(self, x: np.ndarray, frac: np.ndarray | int, in_prec: Precision | None) -> tuple[np.ndarray, int]:
        return requantize(np.maximum(x, 0), frac, self.output)

    def trace(self, x: np.ndarray) -> np.ndarray:
        return np.vectorize(lambda v: trace_quantize(v.relu(), self.output), otypes=[object])(x)

    def fast(self, ctx: FastContext) -> bool:
        if not ctx.fits(ctx.bounds):
            return False
        if min(int(v) for v in ctx.bounds.lo.ravel()) < 0:
            ctx.add(_relu)
        return requant(ctx, ctx.raw, self.output)


@dataclass(frozen=True, eq=False)
class Linear(Node):
    """A standalone ``Activation('linear')`` layer: the identity (kept so hls4ml's layer of that name gets its
    type; a ``linear`` activation inside a QDense/QConv is no node at all)."""

    kind: ClassVar[str] = "linear"

    def emulate(self, x: np.ndarray, frac: np.ndarray | int, in_prec: Precision | None) -> tuple[np.ndarray, int]:
        return requantize(x, frac, self.output)

    def trace(self, x: np.ndarray) -> np.ndarray:
        return x

    def fast(self, ctx: FastContext) -> bool:
        return requant(ctx, ctx.raw, self.output)


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0, out=x)


def relu_nodes(activation: str, name: str, layer_type: str, node_name: str, standalone: bool = False) -> list[Node]:
    """[] for 'linear' ([Linear] for a standalone layer), [Relu] for 'relu'; refuse any other activation."""
    if activation == "linear":
        return [Linear(node_name)] if standalone else []
    if activation == "relu":
        return [Relu(node_name)]
    raise UnsupportedLayerError(f"layer '{name}' ({layer_type}): activation {activation} not supported "
                                "(no exact fixed-point form; use a QKeras quantizer)")


def _activation(layer: Any) -> list[Node]:
    return relu_nodes(getattr(layer.activation, "__name__", type(layer.activation).__name__), layer.name,
                      "Activation", layer.name, standalone=True)


def _relu_layer(layer: Any) -> list[Node]:
    if layer.max_value is not None or float(layer.negative_slope) != 0.0 or float(layer.threshold) != 0.0:
        raise refuse(layer, "only the plain ReLU (no max_value, negative_slope or threshold) is supported")
    return [Relu(layer.name)]


NODES: tuple[type[Node], ...] = (Relu, Linear)
KERAS = {"Activation": _activation, "ReLU": _relu_layer}
