"""Fast path of the emulator for dense networks: in-place float32/float64 arithmetic on exact integers.

Every intermediate is an integer far below 2**24 (float32) or 2**53 (float64), so BLAS matrix products,
power-of-two scalings, ``floor``/``rint`` (round half to even) and ``clip`` are exact. Overflow counting is
left to the generic path (``FixedPointModel.overflow_counts``); results are identical (tested).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from l1ad.bits import int_range
from l1ad.fixedpoint.types import Dense, Flatten, Precision, Quantize, Relu

if TYPE_CHECKING:
    from l1ad.fixedpoint.model import FixedPointModel

__all__ = ["compile_fast"]

Step = Callable[[np.ndarray], np.ndarray]


def _requant_step(shift: np.ndarray | int, prec: Precision, may_overflow: bool, dt: type) -> Step:
    s = np.asarray(shift)
    scale = np.ldexp(1.0, -s).astype(dt) if s.ndim else dt(2.0 ** -int(s))
    need_scale = bool(np.any(s != 0))
    need_round = bool(np.any(s > 0))
    lo, hi = dt(prec.min_int), dt(prec.max_int)
    rnd = prec.rounding
    sat = prec.saturation != "WRAP"
    m = dt(2.0**prec.width)

    def step(x: np.ndarray) -> np.ndarray:
        if need_scale:
            np.multiply(x, scale, out=x)
        if need_round:
            if rnd == "RND_CONV":
                np.rint(x, out=x)
            elif rnd == "RND":
                x += dt(0.5)
                np.floor(x, out=x)
            else:
                np.floor(x, out=x)
        if may_overflow:
            if sat:
                np.clip(x, lo, hi, out=x)
            else:
                x -= lo
                np.mod(x, m, out=x)
                x += lo
        return x

    return step


def compile_fast(fp: FixedPointModel) -> Callable[[np.ndarray], np.ndarray] | None:
    """A function words (N, n) int64 -> raw scores int64, or None if the model needs the generic path."""
    if not all(isinstance(layer, (Quantize, Dense, Relu, Flatten)) for layer in fp.layers):
        return None
    if not isinstance(fp.layers[0], Quantize) or not fp.float_exact:
        return None
    widths = [layer.output.width for layer in fp.layers] + [f.width + 1 for f in fp.inputs]
    for layer in fp.layers:
        if isinstance(layer, Dense):
            widths.append(layer.output.width + int(np.abs(layer.weights).sum(axis=0).max()).bit_length())
    dt: type = np.float32 if max(widths) <= 23 else np.float64

    # integer range of the current tensor, to skip saturation that can never trigger
    lo_in, hi_in = (np.array(r, dtype=np.float64) - fp.offset for r in zip(*(int_range(f.width, f.signed) for f in fp.inputs), strict=True))
    offset = fp.offset.astype(dt)
    frac: np.ndarray | int = fp.shift
    lo, hi = lo_in, hi_in
    steps: list[Step] = [lambda x: np.subtract(x, offset, out=x)] if np.any(fp.offset) else [lambda x: x]
    ref_index, ref_step = None, -1
    for idx, layer in enumerate(fp.layers):
        p = layer.output
        if isinstance(layer, Quantize):
            s = np.asarray(frac) - p.frac
            slo, shi = lo * np.ldexp(1.0, -s), hi * np.ldexp(1.0, -s)
            may = bool(np.min(slo) < p.min_int or np.max(shi) > p.max_int) or bool(np.any(s > 0))
            steps.append(_requant_step(s, p, may, dt))
            lo, hi = np.maximum(np.floor(slo), p.min_int), np.minimum(np.ceil(shi), p.max_int)
        elif isinstance(layer, Dense):
            w = layer.weights.astype(dt)
            acc_frac = int(frac) + layer.weight_frac
            f = max(acc_frac, layer.bias_frac)
            pre = dt(2.0 ** (f - acc_frac))
            bias = (layer.bias.astype(np.float64) * 2.0 ** (f - layer.bias_frac)).astype(dt)
            wpos, wneg = np.maximum(layer.weights, 0), np.minimum(layer.weights, 0)
            alo = (lo @ wpos + hi @ wneg) * 2.0 ** (f - acc_frac) + bias
            ahi = (hi @ wpos + lo @ wneg) * 2.0 ** (f - acc_frac) + bias

            def dense(x: np.ndarray, w: np.ndarray = w, b: np.ndarray = bias, pre: np.floating = pre) -> np.ndarray:
                y = x @ w
                if pre != 1:
                    y *= pre
                y += b
                return y

            steps.append(dense)
            s = f - p.frac
            may = bool(alo.min() < p.min_int or ahi.max() > p.max_int) or s > 0
            if may or s != 0:
                steps.append(_requant_step(s, p, may, dt))
            lo, hi = np.clip(alo, p.min_int, p.max_int), np.clip(ahi, p.min_int, p.max_int)
        elif isinstance(layer, Relu):
            steps.append(lambda x: np.maximum(x, 0, out=x))
            lo, hi = np.maximum(lo, 0), np.maximum(hi, 0)
        else:  # Flatten of a 1-d tensor
            pass
        frac = p.frac
        if fp.score.reference == layer.name:
            ref_index, ref_step = idx, len(steps) - 1
    sc = fp.score
    y_frac = int(frac)
    ref_frac = fp.layers[ref_index].output.frac if ref_index is not None else 0
    out_prec = sc.output

    def run(words: np.ndarray) -> np.ndarray:
        x = words.astype(dt)
        ref = None
        for i, st in enumerate(steps):
            x = st(x)
            if i == ref_step:
                ref = x.astype(np.float64)
        y = x.astype(np.float64)
        if sc.type == "identity":
            s, f = y[:, 0], y_frac
        elif sc.type == "sum_squares":
            s, f = np.einsum("ij,ij->i", y, y), 2 * y_frac
        else:
            g = max(y_frac, ref_frac)
            d = y * 2.0 ** (g - y_frac) - ref * 2.0 ** (g - ref_frac)  # type: ignore[operator]
            s, f = np.einsum("ij,ij->i", d, d), 2 * g
        from l1ad.fixedpoint.emulator import requantize

        return requantize(s, f, out_prec)[0].astype(np.int64)

    return run
