"""Detector-level events in a compact sparse form: tower deposits plus e/gamma and muon candidates.

One :class:`SparseEvents` holds many events (a min-bias pool, or a batch of hard-process events) as flat
arrays with offsets, so overlaying pileup is a vectorised gather + ``bincount``. Saved as a single ``.npz``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from l1ad.errors import DataError
from l1ad.io import atomic_file

__all__ = ["Candidates", "SparseEvents", "gather_ranges"]


def gather_ranges(offsets: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat positions of the entries of events ``idx`` (with repeats) and, per position, its index in ``idx``."""
    starts = offsets[idx]
    lens = offsets[idx + 1] - starts
    owner = np.repeat(np.arange(len(idx)), lens)
    first = np.cumsum(lens) - lens
    pos = np.arange(int(lens.sum()), dtype=np.int64) - first[owner] + starts[owner]
    return pos, owner


@dataclass
class Candidates:
    """Reconstructed e/gamma or muon candidates of many events (after efficiency and smearing)."""

    offsets: np.ndarray  # (n+1,)
    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray

    @classmethod
    def from_flat(cls, n_events: int, event: np.ndarray, pt: np.ndarray, eta: np.ndarray, phi: np.ndarray
                  ) -> Candidates:
        order = np.argsort(event, kind="stable")
        counts = np.bincount(event, minlength=n_events)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cls(offsets, pt[order].astype(np.float32), eta[order].astype(np.float32),
                   phi[order].astype(np.float32))


@dataclass
class SparseEvents:
    """Tower deposits (index ieta * n_phi + iphi, ET in GeV, not yet quantised) and candidates per event."""

    n_events: int
    tower_offsets: np.ndarray
    tower_index: np.ndarray  # int32
    tower_et: np.ndarray  # float32
    egamma: Candidates
    muons: Candidates

    def save(self, path: str | os.PathLike[str], **meta: str) -> Path:
        arrays = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("egamma", "muons")}
        for name in ("egamma", "muons"):
            c = getattr(self, name)
            arrays.update({f"{name}_{f.name}": getattr(c, f.name) for f in fields(c)})
        arrays.update({f"meta_{k}": np.array(v) for k, v in meta.items()})
        path = Path(path)
        with atomic_file(path, suffix=".npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> tuple[SparseEvents, dict[str, str]]:
        try:
            with np.load(path) as z:
                d = {k: z[k] for k in z.files}
            cands = {
                name: Candidates(*(d.pop(f"{name}_{f}") for f in ("offsets", "pt", "eta", "phi")))
                for name in ("egamma", "muons")
            }
            meta = {k[5:]: str(d.pop(k)) for k in list(d) if k.startswith("meta_")}
            return cls(n_events=int(d["n_events"]), tower_offsets=d["tower_offsets"],
                       tower_index=d["tower_index"], tower_et=d["tower_et"], **cands), meta
        except (OSError, KeyError, ValueError) as e:
            raise DataError(f"{path}: not a valid min-bias pool file ({type(e).__name__}: {e})") from None
