"""Read CMS L1 ntuples (``L1Upgrade`` tree of L1Trigger/L1TNtuples) into the 19-object layout via uproot.

The branch mapping and the object selection live in ``configs/root_branches.yaml`` (documented there).
Each group is filtered (bunch crossing, pT > 0, muon quality), sorted by pT and capped/zero-padded to the
ADC2021 layout; MET is the ``sumType == met_type`` energy sum with eta := 0. Reading is chunked.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
from pydantic import Field

from l1ad.config import StrictModel, config_path, load_config
from l1ad.data.adc2021 import validate_events
from l1ad.data.layout import GROUPS, N_OBJECTS, ObjectClass
from l1ad.errors import DataError

__all__ = ["RootBranches", "iter_root", "load_root_branches", "read_root", "root_count"]

DEFAULT_CONFIG = "root_branches.yaml"


class ObjectBranches(StrictModel):
    pt: str
    eta: str
    phi: str
    bx: str | None = None
    quality: str | None = None
    min_quality: int = 0


class MetBranches(StrictModel):
    et: str
    phi: str
    type: str
    bx: str | None = None
    met_type: int = Field(default=2, ge=0)


class RootBranches(StrictModel):
    tree: str = "l1UpgradeTree/L1UpgradeTree"
    bx: int = 0
    egamma: ObjectBranches
    muon: ObjectBranches
    jet: ObjectBranches
    met: MetBranches


def load_root_branches(path: str | os.PathLike[str] | None = None) -> RootBranches:
    return load_config(RootBranches, config_path(path if path is not None else DEFAULT_CONFIG))


class _Tree:
    def __init__(self, path: str | os.PathLike[str], cfg: RootBranches) -> None:
        import uproot

        self.path = Path(path)
        self.cfg = cfg
        if not self.path.exists():
            raise DataError(f"{self.path}: no such file")
        try:
            self.file = uproot.open(self.path)
        except Exception as e:  # uproot raises assorted errors on non-ROOT / truncated files
            raise DataError(f"{self.path}: not a readable ROOT file: {_short(e)}") from None
        try:
            self.tree = self.file[cfg.tree]
        except Exception:
            self.file.close()
            raise DataError(f"{self.path}: tree '{cfg.tree}': not found (keys: {', '.join(self.file.keys()[:8])})") from None
        self.keys = list(self.tree.keys(recursive=True))

    def resolve(self, name: str | None, required: bool = True) -> str | None:
        if name is None:
            return None
        if name in self.keys:
            return name
        found = [k for k in self.keys if k.rsplit("/", 1)[-1] == name or k.rsplit(".", 1)[-1] == name]
        found = [k for k in found if not any(k == "n" + o for o in found)]  # drop uproot-style counters
        if len(found) > 1:
            raise DataError(f"{self.path}: tree '{self.cfg.tree}': branch '{name}': ambiguous ({', '.join(found)})")
        if found:
            return found[0]
        if required:
            raise DataError(f"{self.path}: tree '{self.cfg.tree}': branch '{name}': missing")
        return None

    @property
    def n(self) -> int:
        return int(self.tree.num_entries)

    def array(self, key: str, start: int, stop: int) -> ak.Array:
        try:
            return self.tree[key].array(entry_start=start, entry_stop=stop, library="ak")
        except Exception as e:
            raise DataError(f"{self.path}: branch '{key}': cannot read entries {start}..{stop - 1}: {_short(e)}") from None

    def close(self) -> None:
        self.file.close()


def _short(e: BaseException) -> str:
    s = str(e).strip()
    return s.splitlines()[0] if s else type(e).__name__


def _group_rows(t: _Tree, spec: ObjectBranches, start: int, stop: int, n_keep: int) -> np.ndarray:
    """(n, n_keep, 3) pT-sorted, zero-padded (pT, eta, phi) of one object group."""
    keys = {f: t.resolve(getattr(spec, f)) for f in ("pt", "eta", "phi")}
    pt = t.array(keys["pt"], start, stop)  # type: ignore[arg-type]
    eta = t.array(keys["eta"], start, stop)  # type: ignore[arg-type]
    phi = t.array(keys["phi"], start, stop)  # type: ignore[arg-type]
    mask = pt > 0
    bx = t.resolve(spec.bx, required=False)
    if bx is not None:
        mask = mask & (t.array(bx, start, stop) == t.cfg.bx)
    q = t.resolve(spec.quality, required=False)
    if q is not None and spec.min_quality > 0:
        mask = mask & (t.array(q, start, stop) >= spec.min_quality)
    pt, eta, phi = pt[mask], eta[mask], phi[mask]
    order = ak.argsort(pt, axis=1, ascending=False, stable=True)
    out = np.zeros((stop - start, n_keep, 3), dtype=np.float32)
    for i, a in enumerate((pt, eta, phi)):
        a = ak.pad_none(a[order], n_keep, axis=1, clip=True)
        out[:, :, i] = ak.to_numpy(ak.fill_none(a, 0.0)).astype(np.float32)
    return out


def _met(t: _Tree, spec: MetBranches, start: int, stop: int) -> np.ndarray:
    et = t.array(t.resolve(spec.et), start, stop)  # type: ignore[arg-type]
    phi = t.array(t.resolve(spec.phi), start, stop)  # type: ignore[arg-type]
    mask = t.array(t.resolve(spec.type), start, stop) == spec.met_type  # type: ignore[arg-type]
    bx = t.resolve(spec.bx, required=False)
    if bx is not None:
        mask = mask & (t.array(bx, start, stop) == t.cfg.bx)
    out = np.zeros((stop - start, 3), dtype=np.float32)
    out[:, 0] = ak.to_numpy(ak.fill_none(ak.firsts(et[mask], axis=1), 0.0))
    out[:, 2] = ak.to_numpy(ak.fill_none(ak.firsts(phi[mask], axis=1), 0.0))
    return out


def _read(t: _Tree, start: int, stop: int) -> np.ndarray:
    p = np.zeros((stop - start, N_OBJECTS, 4), dtype=np.float32)
    p[:, 0, :3] = _met(t, t.cfg.met, start, stop)
    specs: dict[ObjectClass, Any] = {
        ObjectClass.EGAMMA: t.cfg.egamma,
        ObjectClass.MUON: t.cfg.muon,
        ObjectClass.JET: t.cfg.jet,
    }
    for cls, first, n in GROUPS:
        if cls in specs:
            p[:, first : first + n, :3] = _group_rows(t, specs[cls], start, stop, n)
        p[:, first : first + n, 3] = np.where(p[:, first : first + n, 0] > 0, float(cls), 0.0)
    validate_events(p, t.path, offset=start)
    return p


def root_count(path: str | os.PathLike[str], config: RootBranches | None = None) -> int:
    t = _Tree(path, config or load_root_branches())
    try:
        return t.n
    finally:
        t.close()


def read_root(
    path: str | os.PathLike[str], config: RootBranches | None = None, start: int = 0, stop: int | None = None
) -> np.ndarray:
    """Events ``start:stop`` of an L1 ntuple as float32 (n, 19, 4) in the ADC2021 layout."""
    return np.concatenate(list(iter_root(path, config=config, start=start, stop=stop, chunk_size=1 << 62)) or [
        np.zeros((0, N_OBJECTS, 4), np.float32)
    ])


def iter_root(
    path: str | os.PathLike[str],
    chunk_size: int = 100_000,
    config: RootBranches | None = None,
    start: int = 0,
    stop: int | None = None,
) -> Iterator[np.ndarray]:
    """Stream an L1 ntuple as (n, 19, 4) float32 blocks of at most ``chunk_size`` events."""
    t = _Tree(path, config or load_root_branches())
    # fail early on missing required branches
    for spec in (t.cfg.egamma, t.cfg.muon, t.cfg.jet):
        for f in ("pt", "eta", "phi"):
            t.resolve(getattr(spec, f))
    for name in (t.cfg.met.et, t.cfg.met.phi, t.cfg.met.type):
        t.resolve(name)

    def gen() -> Iterator[np.ndarray]:
        try:
            end = t.n if stop is None else min(stop, t.n)
            for lo in range(max(start, 0), end, chunk_size):
                yield _read(t, lo, min(lo + chunk_size, end))
        finally:
            t.close()

    return gen()
