"""Zero bias with the LHC's tail: weighted hard strata stitched onto the minimum-bias pileup.

A bunch crossing holds ``N ~ Poisson(mu)`` inelastic interactions. Split the interactions into classes: the
*soft* ones (pT-hat below the boundary ``p0``: the min-bias pool, whose harder interactions are removed) and
the hard classes ``k = 1..K`` (Pythia hard QCD in pT-hat windows ``[p0, p1), [p1, p2), ...``, then W, Z, tt-bar),
with probabilities per interaction ``q_k = sigma_k / sigma_inel`` and ``q_0 = 1 - sum_k q_k``. The numbers per
class, ``n_k ~ Poisson(mu q_k)``, are independent. Every crossing falls into exactly one *stratum*: the highest
class ``k`` with ``n_k >= 1`` (0 if none), with probability

    P_0 = exp(-mu sum_{j>=1} q_j),    P_k = (1 - exp(-mu q_k)) exp(-mu sum_{j>k} q_j)      (sum_k P_k = 1).

Given stratum k, ``n_k`` is Poisson(mu q_k) conditioned on >= 1, the lower classes keep their Poisson numbers
and the higher ones are empty. :func:`stratum_pieces` builds crossings exactly so (the first class-k interaction
of crossing i is event ``i mod N_events`` of the stratum's sample, any others are drawn at random), and every
crossing of stratum k carries the weight ``P_k / N_k`` (N_k crossings generated): the fraction of all LHC
crossings it stands for. Weights sum to 1, so a trigger's rate is ``f_collisions x sum(weights of crossings it
fires on)``: the rate of a 200 GeV jet trigger comes from thousands of weighted QCD crossings instead of a
handful of reused min-bias events. Without stitching (``stitch: false``) every crossing draws Poisson(mu) pool
interactions from the uncut pool and all weights are equal: the same physics, unweighted (the closure test).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from l1ad.data.generation.l1emu import Piece
from l1ad.data.generation.pileup import random_pieces
from l1ad.data.generation.sparse import SparseEvents

__all__ = ["Stratum", "stratum_pieces", "stratum_probabilities", "zero_truncated_poisson"]

MINBIAS = "minbias"


@dataclass
class Stratum:
    """One class of interactions and the crossings whose hardest interaction is of that class."""

    name: str
    q: float  # probability per inelastic interaction (sigma / sigma_inel)
    crossings: int
    sample: SparseEvents | None = None  # None for the min-bias stratum (its interactions come from the pool)
    sigma_mb: float = 0.0
    probability: float = 0.0  # P_k: fraction of all crossings in this stratum

    @property
    def weight(self) -> float:
        """Fraction of all crossings each generated crossing of this stratum stands for."""
        return self.probability / self.crossings


def stratum_probabilities(mu: float, q: list[float]) -> list[float]:
    """[P_0, P_1, ..., P_K] for hard-class probabilities ``q = [q_1, ..., q_K]`` per interaction (ordered)."""
    out = []
    above = 0.0  # mu * sum_{j>k} q_j
    for qk in reversed(q):
        out.append(-math.expm1(-mu * qk) * math.exp(-above))
        above += mu * qk
    out.append(math.exp(-above))
    return out[::-1]


def zero_truncated_poisson(lam: float, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` draws of Poisson(lam) conditioned on >= 1 (inverse CDF; exact for any lam > 0)."""
    if size == 0:
        return np.zeros(0, np.int64)
    kmax = int(lam + 12 * math.sqrt(lam) + 20)
    k = np.arange(1, kmax + 1)
    logp = k * math.log(lam) - lam - np.array([math.lgamma(x + 1) for x in k]) - math.log(-math.expm1(-lam))
    cdf = np.cumsum(np.exp(logp))
    cdf /= cdf[-1]
    return 1 + np.searchsorted(cdf, rng.random(size), side="right").clip(0, kmax - 1)


def stratum_pieces(strata: list[Stratum], k: int, first: int, n: int, pool: SparseEvents, mu: float, n_phi: int,
                   rng: np.random.Generator) -> list[Piece]:
    """The interactions of crossings ``first .. first + n - 1`` of stratum ``k`` (0 = min-bias; else a hard class).

    Soft interactions: Poisson(mu q_0) from the pool. Lower hard classes j < k: Poisson(mu q_j) events drawn from
    their samples. Class k: one or more (zero-truncated Poisson), the first the stratum's own event
    ``(first + i) mod N_events`` (each event used in turn), the others drawn at random.
    """
    q0 = strata[0].q
    pieces = [random_pieces(pool, rng.poisson(mu * q0, size=n), n_phi, rng)]
    for j in range(1, k):
        s = strata[j]
        assert s.sample is not None
        pieces.append(random_pieces(s.sample, rng.poisson(mu * s.q, size=n), n_phi, rng))
    if k > 0:
        s = strata[k]
        assert s.sample is not None
        idx = (first + np.arange(n)) % s.sample.n_events
        pieces.append(Piece(s.sample, idx, np.arange(n), rng.integers(0, n_phi, size=n), rng.random(n) < 0.5))
        extra = zero_truncated_poisson(mu * s.q, n, rng) - 1
        if extra.any():
            pieces.append(random_pieces(s.sample, extra, n_phi, rng))
    return pieces
