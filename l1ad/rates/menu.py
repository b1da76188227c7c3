"""A small emulated L1 menu of conventional seeds, to measure the anomaly trigger's *pure* rate.

Seeds act on the 19-object event (MET row 0, e/gamma rows 1-4, muons rows 5-8, jets rows 9-18; see
:mod:`l1ad.data.layout`), either the float (N, 19, 4) array or the hardware words decoded by
:mod:`l1ad.data.encoding`. Conditions follow uGT conventions: pT/ET thresholds are ``>=`` and ``erX`` means
``|eta| <= X``. Multi-object seeds require the k-th highest-pT object (among those passing the eta cut) to
pass the k-th threshold. Quality and isolation bits are not in the 57-input event, so seeds that use them
are emulated without (noted per seed in ``configs/menu.yaml``).

Pure rate = events the anomaly trigger fires on and no menu seed fires on.
"""

from __future__ import annotations

import os
from enum import StrEnum
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, model_validator

from l1ad.config import StrictModel, load_config
from l1ad.data.layout import GROUPS, N_OBJECTS, ObjectClass

__all__ = [
    "DEFAULT_MENU",
    "HTSeed",
    "METSeed",
    "Menu",
    "MenuConfig",
    "ObjectKind",
    "ObjectSeed",
    "load_menu",
]

DEFAULT_MENU = "menu.yaml"


class ObjectKind(StrEnum):
    EGAMMA = "egamma"
    MUON = "muon"
    JET = "jet"

    @property
    def object_class(self) -> ObjectClass:
        return {"egamma": ObjectClass.EGAMMA, "muon": ObjectClass.MUON, "jet": ObjectClass.JET}[self.value]


class _SeedBase(StrictModel):
    name: str = Field(min_length=1)
    #: where the thresholds come from (menu name + seed), or "assumption: ..."
    source: str = Field(min_length=1)
    #: what the emulation leaves out relative to the real seed (quality, isolation, HF, ...)
    notes: str | None = None


class ObjectSeed(_SeedBase):
    """>= len(pt_min) objects of one kind; the k-th highest pT >= pt_min[k] (GeV), |eta| <= eta_max."""

    kind: Literal["objects"]
    object: ObjectKind
    pt_min: list[Annotated[float, Field(ge=0)]] = Field(min_length=1, max_length=4)
    eta_max: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _descending(self) -> ObjectSeed:
        if any(a < b for a, b in zip(self.pt_min, self.pt_min[1:], strict=False)):
            raise ValueError(f"pt_min must be in descending order, got {self.pt_min}")
        return self


class HTSeed(_SeedBase):
    """Scalar sum of jet pT (jets with pT >= jet_pt_min, |eta| <= jet_eta_max) >= ht_min (GeV)."""

    kind: Literal["ht"]
    ht_min: float = Field(gt=0)
    jet_pt_min: float = Field(ge=0)
    jet_eta_max: float | None = Field(None, gt=0)


class METSeed(_SeedBase):
    """Missing transverse energy (row 0) >= met_min (GeV)."""

    kind: Literal["met"]
    met_min: float = Field(gt=0)


Seed = Annotated[ObjectSeed | HTSeed | METSeed, Field(discriminator="kind")]


class MenuConfig(StrictModel):
    name: str
    #: the public menu the seeds are taken from
    source: str
    seeds: list[Seed] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> MenuConfig:
        names = [s.name for s in self.seeds]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"duplicate seed names {dup}")
        return self


def _group_rows(cls: ObjectClass) -> slice:
    for c, first, n in GROUPS:
        if c == cls:
            return slice(first, first + n)
    raise KeyError(cls)


class Menu:
    """Evaluate the seeds of a :class:`MenuConfig` on events; vectorised NumPy."""

    def __init__(self, config: MenuConfig) -> None:
        self.config = config

    @property
    def seed_names(self) -> list[str]:
        return [s.name for s in self.config.seeds]

    def evaluate(self, particles: np.ndarray) -> np.ndarray:
        """Per-seed decisions, bool (N, n_seeds), on float events (N, 19, 4) = (pT, eta, phi, class)."""
        p = np.asarray(particles)
        if p.ndim != 3 or p.shape[1:] != (N_OBJECTS, 4):
            raise ValueError(f"menu needs events of shape (N, {N_OBJECTS}, 4), got {p.shape}")
        out = np.zeros((p.shape[0], len(self.config.seeds)), dtype=bool)
        cache: dict[tuple[ObjectClass, float | None], np.ndarray] = {}
        for j, seed in enumerate(self.config.seeds):
            out[:, j] = self._seed(seed, p, cache)
        return out

    def fires(self, particles: np.ndarray) -> np.ndarray:
        """Menu OR: bool (N,)."""
        return self.evaluate(particles).any(axis=1)

    def evaluate_words(self, words: np.ndarray, encoding: object) -> np.ndarray:
        """Per-seed decisions on hardware words (N, 57): decoded to physics units by ``encoding.decode``."""
        return self.evaluate(encoding.decode(words))  # type: ignore[attr-defined]

    @staticmethod
    def _objects(
        p: np.ndarray,
        cls: ObjectClass,
        eta_max: float | None,
        cache: dict[tuple[ObjectClass, float | None], np.ndarray],
    ) -> np.ndarray:
        """pT of the group's objects (0 for empty slots or |eta| > eta_max), shared between seeds."""
        key = (cls, eta_max)
        if key not in cache:
            rows = p[:, _group_rows(cls), :]
            ok = rows[:, :, 3] == int(cls)
            if eta_max is not None:
                ok &= np.abs(rows[:, :, 1]) <= eta_max
            cache[key] = np.where(ok, rows[:, :, 0], 0.0)
        return cache[key]

    def _seed(
        self,
        seed: ObjectSeed | HTSeed | METSeed,
        p: np.ndarray,
        cache: dict[tuple[ObjectClass, float | None], np.ndarray],
    ) -> np.ndarray:
        if isinstance(seed, ObjectSeed):
            pt = self._objects(p, seed.object.object_class, seed.eta_max, cache)
            # thresholds descend, so "the j-th highest pT >= pt_min[j] for all j" <=> "at least j + 1 objects
            # have pT >= pt_min[j] for all j" (counting, no sort); empty slots (pT 0) never count
            ok = np.ones(pt.shape[0], dtype=bool)
            for j, thr in enumerate(seed.pt_min):
                passing = pt >= thr if thr > 0 else pt > 0
                ok &= passing.any(axis=1) if j == 0 else np.count_nonzero(passing, axis=1) > j
            return ok
        if isinstance(seed, HTSeed):
            pt = self._objects(p, ObjectClass.JET, seed.jet_eta_max, cache)
            ht = np.where(pt >= seed.jet_pt_min, pt, 0.0).sum(axis=1)
            return ht >= seed.ht_min
        met = np.where(p[:, 0, 3] == int(ObjectClass.MET), p[:, 0, 0], 0.0)
        return met >= seed.met_min


def load_menu(path: str | os.PathLike[str] = DEFAULT_MENU) -> Menu:
    """Load ``configs/menu.yaml`` (or the given file) into a :class:`Menu`."""
    return Menu(load_config(MenuConfig, path))
