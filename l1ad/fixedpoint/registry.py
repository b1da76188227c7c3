"""The layer kinds l1ad knows, listed explicitly (no import-time registration).

Adding a layer kind = one new module under :mod:`l1ad.fixedpoint.layers` (its node, Keras handler, bounds,
emulator op, trace and hls4ml settings) + its line in ``LAYER_MODULES`` below + its test.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from l1ad.fixedpoint.layers import batchnorm, conv, dense, flatten, pooling, quantize, relu, reshape
from l1ad.fixedpoint.layers.base import Bounds, Node

__all__ = ["KERAS_HANDLERS", "LAYER_MODULES", "NODE_TYPES", "PASSES", "SKIPPED_KERAS"]

LAYER_MODULES: tuple[ModuleType, ...] = (quantize, dense, conv, relu, flatten, reshape, pooling, batchnorm)

#: Keras layers that compute nothing at inference
SKIPPED_KERAS = ("InputLayer", "Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise", "ActivityRegularization")


def _collect() -> tuple[dict[str, type[Node]], dict[str, Callable[[Any], list[Node]]]]:
    nodes: dict[str, type[Node]] = {}
    handlers: dict[str, Callable[[Any], list[Node]]] = {}
    for mod in LAYER_MODULES:
        for cls in mod.NODES:
            assert cls.kind and cls.kind not in nodes, f"node kind {cls.kind!r} defined twice"
            nodes[cls.kind] = cls
        for name, fn in mod.KERAS.items():
            assert name not in handlers, f"Keras class {name!r} handled twice"
            handlers[name] = fn
    return nodes, handlers


NODE_TYPES, KERAS_HANDLERS = _collect()

#: rewrite passes, in order, each ``(nodes, input bounds) -> (nodes, notes)``; precision inference runs after
PASSES: tuple[Callable[[list[Node], Bounds], tuple[list[Node], list[str]]], ...] = (*batchnorm.PASSES,)
