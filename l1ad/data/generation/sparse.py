"""Interactions at truth-deposit level in a compact sparse form: tower deposits plus muon candidates.

One :class:`SparseEvents` holds many interactions (a min-bias pool, or a batch of hard-process events) as flat
arrays with offsets, so building a bunch crossing is a vectorised gather + ``bincount``. What is stored is what
the particles *deposit* (electromagnetic and hadronic transverse energy per trigger tower, muons at the muon
system) before any detector resolution: the response (resolution, hadronic shower sharing, efficiencies) is
drawn per bunch crossing by :meth:`l1ad.data.generation.l1emu.L1Emulator.assemble`, so an interaction reused
in many crossings is measured afresh every time. Saved as a single ``.npz``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from l1ad.errors import DataError
from l1ad.io import atomic_file

__all__ = ["Candidates", "SparseEvents", "concat_sparse", "gather_ranges"]

#: bump when the stored layout changes (an old pool file is then rebuilt, never misread)
FORMAT = 2


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
    """Truth muons of many events that reach the muon system (acceptance only; measured per crossing)."""

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
    """Per interaction: tower deposits (index ieta * n_phi + iphi; electromagnetic and hadronic true E_T in GeV),
    muons reaching the muon system, and the hard-scattering scale pT-hat (GeV) of the interaction."""

    n_events: int
    tower_offsets: np.ndarray
    tower_index: np.ndarray  # int32
    tower_em: np.ndarray  # float32: e, gamma (incl. pi0 photons)
    tower_had: np.ndarray  # float32: hadrons (shared between ECAL and HCAL per crossing)
    muons: Candidates
    pthat: np.ndarray  # float32 (n_events,)

    def subset(self, keep: np.ndarray) -> SparseEvents:
        """The events where ``keep`` (bool, n_events) is true, in order."""
        idx = np.flatnonzero(keep)
        pos, owner = gather_ranges(self.tower_offsets, idx)
        counts = np.bincount(owner, minlength=len(idx))
        mpos, mown = gather_ranges(self.muons.offsets, idx)
        mcounts = np.bincount(mown, minlength=len(idx))
        return SparseEvents(
            n_events=len(idx),
            tower_offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            tower_index=self.tower_index[pos], tower_em=self.tower_em[pos], tower_had=self.tower_had[pos],
            muons=Candidates(np.concatenate([[0], np.cumsum(mcounts)]).astype(np.int64),
                             self.muons.pt[mpos], self.muons.eta[mpos], self.muons.phi[mpos]),
            pthat=self.pthat[idx],
        )

    def save(self, path: str | os.PathLike[str], **meta: str) -> Path:
        arrays = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "muons"}
        arrays.update({f"muons_{f.name}": getattr(self.muons, f.name) for f in fields(self.muons)})
        arrays.update({f"meta_{k}": np.array(v) for k, v in meta.items()})
        arrays["format"] = np.array(FORMAT)
        path = Path(path)
        with atomic_file(path, suffix=".npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> tuple[SparseEvents, dict[str, str]]:
        """The events of ``path``; a file of another layout version raises :class:`DataError`."""
        try:
            with np.load(path) as z:
                d = {k: z[k] for k in z.files}
            if int(d.pop("format", 0)) != FORMAT:
                raise DataError(f"{path}: pool file of an older l1ad layout (rebuild it)")
            muons = Candidates(*(d.pop(f"muons_{f}") for f in ("offsets", "pt", "eta", "phi")))
            meta = {k[5:]: str(d.pop(k)) for k in list(d) if k.startswith("meta_")}
            return cls(n_events=int(d["n_events"]), tower_offsets=d["tower_offsets"],
                       tower_index=d["tower_index"], tower_em=d["tower_em"], tower_had=d["tower_had"],
                       muons=muons, pthat=d["pthat"]), meta
        except (OSError, KeyError, ValueError) as e:
            raise DataError(f"{path}: not a valid min-bias pool file ({type(e).__name__}: {e})") from None


def concat_sparse(batches: list[SparseEvents]) -> SparseEvents:
    """Concatenate batches of interactions (offsets renumbered)."""

    def cat_offsets(offs: list[np.ndarray]) -> np.ndarray:
        out, base = [np.zeros(1, np.int64)], 0
        for o in offs:
            out.append(o[1:] + base)
            base += int(o[-1])
        return np.concatenate(out)

    return SparseEvents(
        n_events=sum(b.n_events for b in batches),
        tower_offsets=cat_offsets([b.tower_offsets for b in batches]),
        tower_index=np.concatenate([b.tower_index for b in batches]),
        tower_em=np.concatenate([b.tower_em for b in batches]),
        tower_had=np.concatenate([b.tower_had for b in batches]),
        muons=Candidates(cat_offsets([b.muons.offsets for b in batches]),
                         *(np.concatenate([getattr(b.muons, f) for b in batches]) for f in ("pt", "eta", "phi"))),
        pthat=np.concatenate([b.pthat for b in batches]),
    )
