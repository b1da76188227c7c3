"""Differentiable (weighted) squared distance correlation, dCorr², in TensorFlow.

This is the DisCo regulariser (Kasieczka & Shih, arXiv:2001.05310; reference code ``gkasieczka/DisCo``)
as used by the double-autoencoder ABCD method (Mikuni, Nachman, Shih, arXiv:2111.06417; code
``ViniciusMikuni/DoubleAE``): the biased (V-statistic) estimator with double-centred |difference| matrices,

    dCorr²(x, y) = <A·B>_w / sqrt(<A·A>_w · <B·B>_w),

where ``<M>_w = Σ_ij w_i w_j M_ij / n²`` with weights normalised to mean 1. With unit weights it equals
``dcor.distance_correlation_sqr`` (checked in ``tests/test_background.py``).

Cost: it builds n×n matrices, so memory and time are O(n²) in the batch size n (a 4,096-event batch holds
a few 64 MiB float32 matrices; the paper's 10,000-event batch ~0.4 GiB each). The batch size in
``configs/abcd.yaml`` is chosen with that in mind. For large held-out samples use :func:`dcorr_sq_numpy`
(O(n log n) via the ``dcor`` package's merge-sort algorithm for 1-d variables).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from l1ad import _compat

__all__ = ["dcorr_sq", "dcorr_sq_numpy"]

_EPS = 1e-12


def dcorr_sq(x: Any, y: Any, weights: Any = None) -> Any:
    """dCorr²(x, y) of two 1-d tensors of equal length n (weights optional, normalised to mean 1).

    Differentiable in ``x`` and ``y``; O(n²) memory and time. Returns a float32 scalar tensor in [0, 1].
    """
    tf = _compat.tensorflow()
    x = tf.reshape(tf.cast(x, tf.float32), [-1])
    y = tf.reshape(tf.cast(y, tf.float32), [-1])
    n = tf.cast(tf.shape(x)[0], tf.float32)
    if weights is None:
        w = tf.ones_like(x)
    else:
        w = tf.reshape(tf.cast(weights, tf.float32), [-1])
        w = w * n / tf.reduce_sum(w)

    def centred(v: Any) -> Any:
        d = tf.abs(v[:, None] - v[None, :])
        row = tf.reduce_mean(d * w[None, :], axis=1)  # weighted mean over j, one per i
        grand = tf.reduce_mean(row * w)
        return d - row[:, None] - row[None, :] + grand

    a = centred(x)
    b = centred(y)

    def wmean(m: Any) -> Any:
        return tf.reduce_mean(tf.reduce_mean(m * w[None, :], axis=1) * w)

    ab = wmean(a * b)
    aa = wmean(a * a)
    bb = wmean(b * b)
    return ab / tf.sqrt(aa * bb + _EPS)


def dcorr_sq_numpy(x: np.ndarray, y: np.ndarray, max_events: int | None = None, seed: int = 0) -> float:
    """dCorr² (V-statistic, unweighted) of two 1-d arrays for evaluation on large samples.

    Uses ``dcor``'s O(n log n) merge-sort algorithm when the package is installed; otherwise falls back to
    :func:`dcorr_sq` on a random subsample of at most 8,192 events (noisier: floor ~3/n).
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if max_events is not None and len(x) > max_events:
        idx = np.random.default_rng(seed).choice(len(x), max_events, replace=False)
        x, y = x[idx], y[idx]
    try:
        import dcor
    except ImportError:  # pragma: no cover - dcor is installed with the test extra
        n = min(len(x), 8192)
        idx = np.random.default_rng(seed).choice(len(x), n, replace=False)
        return float(dcorr_sq(x[idx], y[idx]).numpy())
    return float(dcor.distance_correlation_sqr(x, y, method="mergesort"))
