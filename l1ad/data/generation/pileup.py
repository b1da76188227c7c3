"""Reusable minimum-bias pool and Poisson pileup overlay.

The pool is a few thousand inelastic pp events passed once through Pythia and the detector response
(:meth:`L1Emulator.detector_response`) and saved to disk as sparse towers + candidates. A crossing with
pileup ``<mu>`` takes ``k ~ Poisson(<mu>)`` pool events at random, each rotated by a random whole number of
phi towers and mirrored in eta with probability 1/2 (the detector is phi-symmetric and pp collisions are
symmetric under z -> -z), which multiplies the effective pool size by 2 * n_phi = 144. The overlay is a
gather + ``bincount``: millions of crossings cost minutes instead of re-running Pythia.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from l1ad.data.generation.l1emu import L1Emulator, Piece
from l1ad.data.generation.sparse import SparseEvents

__all__ = ["build_pool", "load_pool", "pileup_pieces", "zero_bias_pieces"]

log = logging.getLogger(__name__)


def build_pool(batches: list[SparseEvents], path: str | os.PathLike[str], **meta: str) -> SparseEvents:
    """Concatenate detector-level min-bias batches into one pool and save it (atomically) to ``path``."""
    pool = concat_sparse(batches)
    pool.save(path, **meta)
    log.info("min-bias pool: %d events -> %s", pool.n_events, path)
    return pool


def load_pool(path: str | os.PathLike[str], expect_hash: str | None = None) -> SparseEvents | None:
    """The pool at ``path``; ``None`` if absent or built with other configs (its hash differs)."""
    if not Path(path).exists():
        return None
    pool, meta = SparseEvents.load(path)
    if expect_hash is not None and meta.get("config_hash") != expect_hash:
        return None
    return pool


def concat_sparse(batches: list[SparseEvents]) -> SparseEvents:
    from l1ad.data.generation.sparse import Candidates

    def cat_offsets(offs: list[np.ndarray]) -> np.ndarray:
        out, base = [np.zeros(1, np.int64)], 0
        for o in offs:
            out.append(o[1:] + base)
            base += int(o[-1])
        return np.concatenate(out)

    def cat_cands(cs: list[Candidates]) -> Candidates:
        return Candidates(cat_offsets([c.offsets for c in cs]), *(np.concatenate([getattr(c, f) for c in cs])
                                                                   for f in ("pt", "eta", "phi")))

    return SparseEvents(
        n_events=sum(b.n_events for b in batches),
        tower_offsets=cat_offsets([b.tower_offsets for b in batches]),
        tower_index=np.concatenate([b.tower_index for b in batches]),
        tower_et=np.concatenate([b.tower_et for b in batches]),
        egamma=cat_cands([b.egamma for b in batches]),
        muons=cat_cands([b.muons for b in batches]),
    )


def pileup_pieces(pool: SparseEvents, n_crossings: int, mean: float, emu: L1Emulator,
                  rng: np.random.Generator) -> Piece:
    """Poisson(``mean``) pool events per crossing, randomly rotated in phi and mirrored in eta."""
    k = rng.poisson(mean, size=n_crossings)
    total = int(k.sum())
    return Piece(
        source=pool,
        index=rng.integers(0, pool.n_events, size=total),
        crossing=np.repeat(np.arange(n_crossings), k),
        phi_shift=rng.integers(0, emu.n_phi, size=total),
        flip=rng.random(total) < 0.5,
    )


def zero_bias_pieces(pool: SparseEvents, n_crossings: int, mean: float, emu: L1Emulator,
                     rng: np.random.Generator) -> list[Piece]:
    """A zero-bias crossing is pileup only: every interaction comes from the pool."""
    return [pileup_pieces(pool, n_crossings, mean, emu, rng)]
