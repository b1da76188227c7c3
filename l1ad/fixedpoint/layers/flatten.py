"""Flatten: the tensor as one vector (row-major, as Keras flattens) — pure wiring in hardware."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from l1ad.fixedpoint.layers.base import Bounds, FastContext, Node
from l1ad.fixedpoint.layers.quantize import requant
from l1ad.fixedpoint.precision import Precision, requantize

__all__ = ["KERAS", "NODES", "Flatten", "Regroup"]


@dataclass(frozen=True, eq=False)
class Flatten(Node):
    kind: ClassVar[str] = "flatten"

    def propagate(self, b: Bounds) -> Bounds:
        return b.reshape((int(np.prod(b.shape)),))

    def emulate(self, x: np.ndarray, frac: np.ndarray | int, in_prec: Precision | None) -> tuple[np.ndarray, int]:
        y = x.reshape(x.shape[0], -1)
        f = np.asarray(frac)
        if f.ndim and np.any(f != self.output.frac):  # inputs at different binary points: align them
            return requantize(y, f.reshape(-1), self.output)
        return y, 0

    def trace(self, x: np.ndarray) -> np.ndarray:
        return x.reshape(-1)

    def fast(self, ctx: FastContext) -> bool:
        ctx.add(Regroup(ctx.raw.shape))
        return requant(ctx, ctx.raw, self.output)


class Regroup:
    """Fast-path step: the same values as a (*shape, n) tensor (row-major, as Keras flattens and reshapes)."""

    def __init__(self, shape: tuple[int, ...]):
        self.shape = tuple(shape)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return x.reshape(*self.shape, x.shape[-1])


def _flatten(layer: Any) -> list[Node]:
    return [Flatten(layer.name)]


NODES: tuple[type[Node], ...] = (Flatten,)
KERAS = {"Flatten": _flatten}
