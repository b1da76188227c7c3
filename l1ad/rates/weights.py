"""Weighted zero bias: per-stratum counts -> rates (fraction of LHC crossings) with honest uncertainties.

A stitched zero-bias sample (see :mod:`l1ad.data.generation.zerobias`) is a set of strata: stratum k stands for
the fraction ``P_k`` of all crossings and holds ``n_k`` of the events used, each with weight ``w_k = P_k / n_k``.
Everything the rate emulation counts is an exact integer *per stratum* (events passing a cut, ``c_k``); the
fraction of crossings passing is ``p = sum_k w_k c_k``. Counting per stratum keeps every merge exact and
order-independent (local and Dask runs agree bit for bit) and lets the weights follow the events actually
used: skipping the events a model trained on simply lowers ``n_k``.

Uncertainty (68 % central interval by default):

* all weights equal (an unweighted sample): the Clopper-Pearson interval of ``sum c_k / sum n_k``;
* one stratum contributes: the Clopper-Pearson interval of ``c_k / n_k`` scaled by ``P_k`` (exact coverage);
* several contribute: Clopper-Pearson no longer applies to a weighted sum, so a parametric bootstrap resamples
  every stratum's count, ``c_k* ~ Binomial(n_k, c_k / n_k)``, and takes the central quantiles of
  ``sum_k w_k c_k*`` (seeded: the same inputs give the same interval);
* nothing passes: the upper limit is the largest ``P_k x CP_hi(0, n_k)``.

The effective number of events, ``n_eff = p^2 / var(p)`` with ``var(p) = sum_k w_k^2 c_k (1 - c_k / n_k)``, is
reported beside every weighted rate: it is what the rate's precision rests on (``sqrt(n_eff)`` relative).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from l1ad.rates.thresholds import ONE_SIGMA_CL, clopper_pearson

__all__ = ["BOOTSTRAP_REPLICAS", "Interval", "StratumWeights"]

BOOTSTRAP_REPLICAS = 2000
_SEED = 20240611


@dataclass(frozen=True)
class Interval:
    """A fraction of crossings with its interval and effective event count (arrays over thresholds or scalars)."""

    value: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    n_eff: np.ndarray
    method: str  # "clopper-pearson" or "bootstrap" (per call: the method of the first weighted point)


@dataclass(frozen=True)
class StratumWeights:
    """Per stratum: a label, the fraction of crossings it stands for and the events of it that were used."""

    names: tuple[str, ...]
    probability: np.ndarray  # (K,)
    n_events: np.ndarray  # (K,) int

    def __post_init__(self) -> None:
        if not (len(self.names) == len(self.probability) == len(self.n_events)):
            raise ValueError("names, probability and n_events need one entry per stratum")

    @classmethod
    def unweighted(cls, n_events: int) -> StratumWeights:
        return cls(("all",), np.ones(1), np.array([n_events], np.int64))

    def __len__(self) -> int:
        return len(self.names)

    @property
    def weighted(self) -> bool:
        return int(np.count_nonzero(self.n_events)) > 1

    @property
    def weights(self) -> np.ndarray:
        """w_k = P_k / n_k (0 for a stratum without events: it cannot be estimated and adds nothing)."""
        n = self.n_events.astype(np.float64)
        return np.divide(self.probability, n, out=np.zeros_like(n), where=n > 0)

    @property
    def covered_probability(self) -> float:
        """Sum of P_k over strata with events (1 unless a stratum lost all its events)."""
        return float(self.probability[self.n_events > 0].sum())

    def fraction(self, counts: np.ndarray) -> np.ndarray:
        """sum_k w_k c_k for counts of shape (K, ...)."""
        c = np.asarray(counts, np.float64)
        return np.tensordot(self.weights, c, axes=(0, 0))

    def interval(self, counts: np.ndarray, cl: float = ONE_SIGMA_CL, replicas: int = BOOTSTRAP_REPLICAS) -> Interval:
        """The fraction of crossings passing, for per-stratum passing counts ``counts`` (K,) or (K, T)."""
        c = np.asarray(counts, np.int64)
        scalar = c.ndim == 1
        c2 = c.reshape(len(self), -1)
        n = self.n_events.astype(np.int64)
        w = self.weights
        p = self.fraction(c2)
        frac = np.divide(c2, n[:, None], out=np.zeros(c2.shape), where=n[:, None] > 0)
        var = (w[:, None] ** 2 * c2 * (1.0 - frac)).sum(axis=0)
        n_eff = np.divide(p**2, var, out=np.where(p > 0, np.inf, 0.0), where=var > 0)
        lo, hi = np.zeros_like(p), np.zeros_like(p)
        live = n > 0
        if live.any() and np.allclose(w[live], w[live][0], rtol=1e-12, atol=0.0):
            # equal weights (an unweighted sample, or several): Clopper-Pearson on the summed counts
            tot = int(n[live].sum())
            k_all = c2[live].sum(axis=0)
            lo_, hi_ = clopper_pearson(k_all, np.full(k_all.shape, tot), cl)
            scale = self.covered_probability
            out = (p, scale * np.asarray(lo_, float), scale * np.asarray(hi_, float), n_eff)
            if scalar:
                out = tuple(np.asarray(x).reshape(-1)[0] for x in out)
            return Interval(*out, method="clopper-pearson")
        contributing = (c2 > 0).sum(axis=0)
        # none passes: the loosest single-stratum upper limit
        none = contributing == 0
        if none.any():
            ok = n > 0
            ul = self.probability[ok] * clopper_pearson(np.zeros(int(ok.sum())), n[ok], cl)[1]
            hi[none] = float(ul.max()) if ul.size else 0.0
        # one stratum: scaled Clopper-Pearson
        one = contributing == 1
        if one.any():
            k = np.argmax(c2[:, one] > 0, axis=0)
            cl_lo, cl_hi = clopper_pearson(c2[k, np.flatnonzero(one)], n[k], cl)
            lo[one], hi[one] = self.probability[k] * cl_lo, self.probability[k] * cl_hi
        many = contributing > 1
        method = "clopper-pearson"
        if many.any():
            method = "bootstrap"
            rng = np.random.default_rng(_SEED)
            idx = np.flatnonzero(many)
            boot = np.zeros((replicas, len(idx)))
            for k in range(len(self)):
                if n[k] == 0 or not (c2[k, idx] > 0).any():
                    continue
                boot += w[k] * rng.binomial(n[k], frac[k, idx], size=(replicas, len(idx)))
            a = (1.0 - cl) / 2
            lo[many], hi[many] = np.quantile(boot, [a, 1 - a], axis=0)
        out = (p, lo, hi, n_eff)
        if scalar:
            out = tuple(np.asarray(x).reshape(-1)[0] for x in out)
        return Interval(*out, method=method)

    def to_dict(self) -> list[dict[str, object]]:
        return [{"name": nm, "probability": float(pk), "events_used": int(nk), "weight": float(wk)}
                for nm, pk, nk, wk in zip(self.names, self.probability, self.n_events, self.weights, strict=True)]
