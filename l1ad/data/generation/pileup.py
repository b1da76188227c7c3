"""Reusable minimum-bias pool and Poisson pileup overlay.

The pool is many inelastic pp interactions passed once through Pythia and
:meth:`~l1ad.data.generation.l1emu.L1Emulator.detector_response` (true tower deposits, muons, pT-hat) and saved
to disk. A crossing with pileup ``<mu>`` takes ``k ~ Poisson(<mu>)`` pool interactions at random, each rotated
by a random whole number of phi towers and mirrored in eta with probability 1/2 (the detector is phi-symmetric
and pp collisions are symmetric under z -> -z); every use is measured afresh (resolution, hadronic shower
sharing, muon efficiency and pT resolution are drawn per crossing by ``L1Emulator.assemble``). The overlay is a
gather + ``bincount``: millions of crossings cost minutes instead of re-running Pythia.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from l1ad.data.generation.l1emu import Piece
from l1ad.data.generation.sparse import SparseEvents, concat_sparse
from l1ad.errors import DataError

__all__ = ["build_pool", "load_pool", "pileup_pieces", "random_pieces"]

log = logging.getLogger(__name__)


def build_pool(batches: list[SparseEvents], path: str | os.PathLike[str], **meta: str) -> SparseEvents:
    """Concatenate detector-level min-bias batches into one pool and save it (atomically) to ``path``."""
    pool = concat_sparse(batches)
    pool.save(path, **meta)
    log.info("min-bias pool: %d events -> %s", pool.n_events, path)
    return pool


def load_pool(path: str | os.PathLike[str], expect_hash: str | None = None) -> SparseEvents | None:
    """The pool at ``path``; ``None`` if absent, of an older layout, or built with other configs."""
    if not Path(path).exists():
        return None
    try:
        pool, meta = SparseEvents.load(path)
    except DataError:
        return None
    if expect_hash is not None and meta.get("config_hash") != expect_hash:
        return None
    return pool


def random_pieces(source: SparseEvents, counts: np.ndarray, n_phi: int, rng: np.random.Generator) -> Piece:
    """``counts[c]`` random interactions of ``source`` into crossing c, randomly rotated in phi / mirrored in eta."""
    total = int(counts.sum())
    return Piece(
        source=source,
        index=rng.integers(0, source.n_events, size=total) if total else np.zeros(0, np.int64),
        crossing=np.repeat(np.arange(len(counts)), counts),
        phi_shift=rng.integers(0, n_phi, size=total),
        flip=rng.random(total) < 0.5,
    )


def pileup_pieces(pool: SparseEvents, n_crossings: int, mean: float, n_phi: int, rng: np.random.Generator) -> Piece:
    """Poisson(``mean``) pool interactions per crossing, randomly rotated in phi and mirrored in eta."""
    return random_pieces(pool, rng.poisson(mean, size=n_crossings), n_phi, rng)
