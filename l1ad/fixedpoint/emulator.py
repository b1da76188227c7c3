"""Vectorised NumPy integer emulation of a fixed-point description (int64 throughout).

Matrix products run through float64 BLAS when every partial sum is provably below 2**53 (then the float
result is the exact integer), otherwise through int64 ``matmul``.
"""

from __future__ import annotations

import numpy as np

from l1ad.fixedpoint.types import (
    Conv1D,
    Dense,
    Flatten,
    GlobalAvgPool1D,
    GlobalMaxPool1D,
    Layer,
    MaxPool1D,
    Precision,
    Quantize,
    Relu,
    Score,
)

__all__ = ["requantize", "run_layer", "run_score"]

_EXACT_F64 = 2**53


def requantize(q: np.ndarray, frac: np.ndarray | int, prec: Precision) -> tuple[np.ndarray, int]:
    """Bring integers ``q`` (LSB 2**-frac, frac scalar or broadcastable) into ``prec``; return (values, overflows)."""
    if isinstance(q, np.ndarray) and q.dtype == np.float64:
        return _requantize_f(q, frac, prec)
    q = np.asarray(q, dtype=np.int64)
    s = np.broadcast_to(np.asarray(frac, dtype=np.int64) - prec.frac, q.shape)
    if np.any(s > 0):
        sp = np.maximum(s, 1)
        fl = q >> sp
        if prec.rounding == "TRN":
            down = fl
        elif prec.rounding == "RND":
            down = (q + (np.int64(1) << (sp - 1))) >> sp
        else:  # RND_CONV: half to even
            rem = q - (fl << sp)
            half = np.int64(1) << (sp - 1)
            down = fl + ((rem > half) | ((rem == half) & ((fl & 1) == 1)))
        q = np.where(s > 0, down, q << np.maximum(-s, 0))
    elif np.any(s < 0):
        q = q << (-s)
    lo, hi = prec.min_int, prec.max_int
    over = (q < lo) | (q > hi)
    n_over = int(np.count_nonzero(over))
    if n_over:
        if prec.saturation in ("SAT", "SAT_SYM"):
            q = np.clip(q, lo, hi)
        else:
            m = np.int64(1) << prec.width
            q = ((q - lo) & (m - 1)) + lo
    return q, n_over


def _requantize_f(q: np.ndarray, frac: np.ndarray | int, prec: Precision) -> tuple[np.ndarray, int]:
    """Same as the int64 path on float64 arrays holding exact integers (< 2**53): scaling by 2**-s is exact,
    floor/rint are exact, and np.rint rounds half to even like RND_CONV."""
    s = np.asarray(frac, dtype=np.int64) - prec.frac
    if np.any(s != 0):
        y = q * np.ldexp(1.0, -s) if s.ndim else q * 2.0 ** -int(s)
        if np.any(s > 0):
            if prec.rounding == "TRN":
                y = np.floor(y)
            elif prec.rounding == "RND":
                y = np.floor(y + 0.5)
            else:
                y = np.rint(y)
        q = y
    lo, hi = float(prec.min_int), float(prec.max_int)
    mn, mx = q.min(initial=lo), q.max(initial=hi)
    if mn >= lo and mx <= hi:
        return q, 0
    n_over = int(np.count_nonzero((q < lo) | (q > hi)))
    if prec.saturation in ("SAT", "SAT_SYM"):
        q = np.clip(q, lo, hi)
    else:
        q = np.mod(q - lo, 2.0**prec.width) + lo
    return q, n_over


def _matmul(x: np.ndarray, w: np.ndarray, x_bound: int) -> np.ndarray:
    """Exact integer x @ w (x: (..., n), w: (n, m))."""
    col = int(np.abs(w).sum(axis=0).max()) if w.size else 0
    if x.dtype == np.float64:  # float pipeline: caller guarantees exactness below 2**53
        if x_bound * col < 2**24:
            return (x.astype(np.float32) @ w.astype(np.float32)).astype(np.float64)
        return x @ w.astype(np.float64)
    if x_bound * col < _EXACT_F64:
        return np.rint(x.astype(np.float64) @ w.astype(np.float64)).astype(np.int64)
    return x @ w


def _bound(prec: Precision) -> int:
    return max(abs(prec.min_int), abs(prec.max_int))


def run_layer(layer: Layer, x: np.ndarray, frac: np.ndarray | int, in_prec: Precision | None) -> tuple[np.ndarray, int]:
    """Apply one layer to integer tensor ``x`` (N, ...); return (output integers in layer.output, overflows)."""
    if isinstance(layer, Quantize):
        return requantize(x, frac, layer.output)
    if isinstance(layer, (Dense, Conv1D)):
        bound = _bound(in_prec) if in_prec is not None else int(np.abs(x).max(initial=0))
        if isinstance(layer, Dense):
            acc = _matmul(x, layer.weights, bound)
        else:
            k = layer.weights.shape[0]
            n_out = (x.shape[1] - k) // layer.stride + 1
            idx = np.arange(n_out)[:, None] * layer.stride + np.arange(k)[None, :]
            patches = x[:, idx, :].reshape(x.shape[0], n_out, -1)  # (N, L_out, k*c_in)
            acc = _matmul(patches, layer.weights.reshape(-1, layer.weights.shape[2]), bound)
        acc_frac = int(frac) + layer.weight_frac
        bias = layer.bias.astype(np.int64)
        f = max(acc_frac, layer.bias_frac)
        acc = _shl(acc, f - acc_frac) + _shl(bias, f - layer.bias_frac).astype(acc.dtype)
        return requantize(acc, f, layer.output)
    if isinstance(layer, Relu):
        return requantize(np.maximum(x, 0), frac, layer.output)
    if isinstance(layer, Flatten):
        return x.reshape(x.shape[0], -1), 0
    if isinstance(layer, MaxPool1D):
        n_out = (x.shape[1] - layer.pool) // layer.stride + 1
        idx = np.arange(n_out)[:, None] * layer.stride + np.arange(layer.pool)[None, :]
        return x[:, idx, :].max(axis=2), 0
    if isinstance(layer, GlobalMaxPool1D):
        return x.max(axis=1), 0
    if isinstance(layer, GlobalAvgPool1D):
        return requantize(x.sum(axis=1), int(frac) + int(np.log2(x.shape[1])), layer.output)
    raise TypeError(f"no emulation for {type(layer).__name__}")


def _shl(x: np.ndarray, n: int) -> np.ndarray:
    if n == 0:
        return x
    return x * float(2**n) if x.dtype == np.float64 else x << n


def run_score(score: Score, y: np.ndarray, y_frac: int, ref: np.ndarray | None, ref_frac: int | None) -> tuple[np.ndarray, int]:
    y = y.reshape(y.shape[0], -1)
    if score.type == "identity":
        return requantize(y[:, 0], y_frac, score.output)
    if score.type == "sum_squares":
        return requantize((y * y).sum(axis=1), 2 * y_frac, score.output)
    assert ref is not None and ref_frac is not None
    f = max(y_frac, ref_frac)
    d = _shl(y, f - y_frac) - _shl(ref.reshape(ref.shape[0], -1), f - ref_frac)
    return requantize((d * d).sum(axis=1), 2 * f, score.output)
