"""The canonical L1 event: 19 objects x (pT, eta, phi) = 57 inputs, plus an object-class id.

Layout of the ADC2021 LHC anomaly-detection challenge (arXiv:2107.02157, Sec. 2) and of CMS's AXOL1TL:
row 0 MET, rows 1-4 e/gamma, rows 5-8 muons, rows 9-18 jets; each group pT-ordered (descending) and
zero-padded. Float events are arrays of shape (N, 19, 4) = (pT [GeV], eta, phi [rad], class id).
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "FEATURES",
    "GROUPS",
    "N_FEATURES",
    "N_INPUTS",
    "N_OBJECTS",
    "PARTICLE_NAMES",
    "ObjectClass",
    "group_slice",
]


class ObjectClass(IntEnum):
    """Object-type id stored in column 3 of ``Particles`` (ADC2021 convention)."""

    EMPTY = 0
    MET = 1
    EGAMMA = 2
    MUON = 3
    JET = 4


#: (class, first row, number of rows) in the 19-row event
GROUPS: tuple[tuple[ObjectClass, int, int], ...] = (
    (ObjectClass.MET, 0, 1),
    (ObjectClass.EGAMMA, 1, 4),
    (ObjectClass.MUON, 5, 4),
    (ObjectClass.JET, 9, 10),
)
N_OBJECTS = 19
FEATURES = ("pT", "eta", "phi")
N_FEATURES = len(FEATURES)
N_INPUTS = N_OBJECTS * N_FEATURES  # 57

#: ADC2021 ``Particles_Names`` (column names of the last axis)
PARTICLE_NAMES = ("Pt", "Eta", "Phi", "Class")


def group_slice(cls: ObjectClass) -> slice:
    """Rows of the 19-row event holding objects of class ``cls``."""
    for c, first, n in GROUPS:
        if c == cls:
            return slice(first, first + n)
    raise ValueError(f"no group for {cls!r}")
