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

__all__ = ["SoftPools", "Stratum", "muon_split", "stratum_pieces", "stratum_probabilities", "zero_truncated_poisson"]

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
    #: index of the hard class this stratum's crossings top out at (0: none, the min-bias stratum)
    hard: int = 0
    #: soft muon interactions in its crossings: 0, 1, 2 (= at least 2), or None (not split)
    n_muon: int | None = None

    @property
    def weight(self) -> float:
        """Fraction of all crossings each generated crossing of this stratum stands for."""
        return self.probability / self.crossings


@dataclass
class SoftPools:
    """The soft (below the boundary) interactions; with muon enrichment split into those without and those with
    a muon of true pT >= the enrichment threshold (``q_muon``: that fraction of all inelastic interactions)."""

    all: SparseEvents
    plain: SparseEvents | None = None
    muon: SparseEvents | None = None
    q_muon: float = 0.0


def stratum_probabilities(mu: float, q: list[float]) -> list[float]:
    """[P_0, P_1, ..., P_K] for hard-class probabilities ``q = [q_1, ..., q_K]`` per interaction (ordered)."""
    out = []
    above = 0.0  # mu * sum_{j>k} q_j
    for qk in reversed(q):
        out.append(-math.expm1(-mu * qk) * math.exp(-above))
        above += mu * qk
    out.append(math.exp(-above))
    return out[::-1]


def zero_truncated_poisson(lam: float, size: int, rng: np.random.Generator, kmin: int = 1) -> np.ndarray:
    """``size`` draws of Poisson(lam) conditioned on >= ``kmin`` (inverse CDF; exact for any lam > 0)."""
    if size == 0:
        return np.zeros(0, np.int64)
    kmax = int(lam + 12 * math.sqrt(lam) + 20 + kmin)
    k = np.arange(kmin, kmax + 1)
    logp = k * math.log(lam) - lam - np.array([math.lgamma(x + 1) for x in k])
    cdf = np.cumsum(np.exp(logp - logp.max()))
    cdf /= cdf[-1]
    return kmin + np.searchsorted(cdf, rng.random(size), side="right").clip(0, kmax - kmin)


def muon_split(lam: float) -> list[float]:
    """[P(m = 0), P(m = 1), P(m >= 2)] of a Poisson(lam) count."""
    p0 = math.exp(-lam)
    p1 = lam * p0
    return [p0, p1, max(0.0, 1.0 - p0 - p1)]


def stratum_pieces(strata: list[Stratum], k: int, first: int, n: int, pools: SoftPools | SparseEvents, mu: float,
                   n_phi: int, rng: np.random.Generator) -> list[Piece]:
    """The interactions of crossings ``first .. first + n - 1`` of stratum ``strata[k]``.

    Soft interactions: Poisson(mu q_0) from the pool, or, for a muon-split stratum, Poisson(mu (q_0 - q_mu)) from
    the muon-free pool plus exactly m (m >= 2: Poisson conditioned on >= 2) from the muon pool. Lower hard
    classes j: Poisson(mu q_j) events drawn from their samples. The stratum's own hard class (if any): one or
    more (zero-truncated Poisson), the first its own event ``(first + i) mod N_events`` (each event used in
    turn), the others drawn at random. ``strata`` lists every stratum; the hard classes are found by ``hard``.
    """
    if isinstance(pools, SparseEvents):
        pools = SoftPools(pools)
    s = strata[k]
    classes = _classes(strata)
    q0 = classes[0].q
    if s.n_muon is None:
        pieces = [random_pieces(pools.all, rng.poisson(mu * q0, size=n), n_phi, rng)]
    else:
        assert pools.plain is not None and pools.muon is not None
        lam = mu * pools.q_muon
        m = (np.full(n, s.n_muon, np.int64) if s.n_muon < 2 else zero_truncated_poisson(lam, n, rng, kmin=2))
        pieces = [random_pieces(pools.plain, rng.poisson(mu * (q0 - pools.q_muon), size=n), n_phi, rng),
                  random_pieces(pools.muon, m, n_phi, rng)]
    for j in range(1, s.hard):
        c = classes[j]
        assert c.sample is not None
        pieces.append(random_pieces(c.sample, rng.poisson(mu * c.q, size=n), n_phi, rng))
    if s.hard > 0:
        c = classes[s.hard]
        assert c.sample is not None
        idx = (first + np.arange(n)) % c.sample.n_events
        pieces.append(Piece(c.sample, idx, np.arange(n), rng.integers(0, n_phi, size=n), rng.random(n) < 0.5))
        extra = zero_truncated_poisson(mu * c.q, n, rng) - 1
        if extra.any():
            pieces.append(random_pieces(c.sample, extra, n_phi, rng))
    return pieces


def _classes(strata: list[Stratum]) -> list[Stratum]:
    """The interaction classes (soft first, then the hard ones in order): one stratum per ``hard`` index."""
    seen: dict[int, Stratum] = {}
    for s in strata:
        seen.setdefault(s.hard, s)
    return [seen[i] for i in sorted(seen)]
