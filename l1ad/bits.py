"""Two's-complement integer ranges: the one definition shared by the encoding, fixed point, RTL checks and rates."""

from __future__ import annotations

__all__ = ["int_range"]


def int_range(width: int, signed: bool) -> tuple[int, int]:
    """Smallest and largest integer (both inclusive) a ``width``-bit word holds."""
    if signed:
        return -(1 << (width - 1)), (1 << (width - 1)) - 1
    return 0, (1 << width) - 1
