"""Reshape: Keras ``Reshape(target_shape)`` — the same values in a new (row-major) shape; wiring in hardware.

E.g. the 57 GT words as ``(19, 3)`` objects × (pT, η, φ) for a ``QConv1D`` over objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from l1ad.fixedpoint.layers.base import Bounds, FastContext, Node, refuse, refuse_node
from l1ad.fixedpoint.layers.flatten import Regroup
from l1ad.fixedpoint.layers.quantize import requant
from l1ad.fixedpoint.precision import Precision, requantize

__all__ = ["KERAS", "NODES", "Reshape"]


@dataclass(frozen=True, eq=False)
class Reshape(Node):
    kind: ClassVar[str] = "reshape"
    shape: tuple[int, ...] = ()

    def propagate(self, b: Bounds) -> Bounds:
        if int(np.prod(b.shape)) != int(np.prod(self.shape)):
            raise refuse_node(self, f"cannot reshape {b.shape} to {self.shape}")
        return b.reshape(self.shape)

    def emulate(self, x: np.ndarray, frac: np.ndarray | int, in_prec: Precision | None) -> tuple[np.ndarray, int]:
        y = x.reshape((len(x), *self.shape))
        f = np.asarray(frac)
        if f.ndim and np.any(f != self.output.frac):  # inputs at different binary points: align them
            return requantize(y, f.reshape(self.shape), self.output)
        return y, 0

    def trace(self, x: np.ndarray) -> np.ndarray:
        return x.reshape(self.shape)

    def fast(self, ctx: FastContext) -> bool:
        ctx.add(Regroup(self.shape))
        return requant(ctx, ctx.raw, self.output)


def _reshape(layer: Any) -> list[Node]:
    shape = tuple(int(d) for d in layer.target_shape)
    if any(d < 0 for d in shape):
        raise refuse(layer, "give every dimension of target_shape (no -1)")
    return [Reshape(layer.name, shape=shape)]


NODES: tuple[type[Node], ...] = (Reshape,)
KERAS = {"Reshape": _reshape}
