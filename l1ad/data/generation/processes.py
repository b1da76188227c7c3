"""The physics processes of ``l1ad data generate``: Pythia settings per process at sqrt(s) = 13.6 TeV.

Names of the four BSM signals follow the ADC2021 challenge files (Govorkova et al., arXiv:2107.02157):
``ato4l``, ``leptoquark``, ``hToTauTau``, ``hChToTauNu``. Settings use the Pythia 8.3 manual's keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from l1ad.errors import ConfigError

__all__ = ["BTAG_SOURCES", "MINBIAS", "PROCESSES", "Kind", "Process", "get_process"]


class Kind(StrEnum):
    ZERO_BIAS = "zero_bias"
    SM = "sm"
    SIGNAL = "signal"
    BTAG = "btag"


@dataclass(frozen=True)
class Process:
    name: str
    kind: Kind
    description: str
    settings: tuple[str, ...]


#: inelastic pp (non-diffractive + diffractive): the pileup / zero-bias source
MINBIAS = Process("minbias", Kind.ZERO_BIAS, "inelastic pp (SoftQCD:inelastic)", ("SoftQCD:inelastic = on",))

_LEPTONS_Z = ("23:onMode = off", "23:onIfAny = 11 13 15")

PROCESSES: dict[str, Process] = {
    p.name: p
    for p in (
        Process("zero_bias", Kind.ZERO_BIAS, "pileup-only crossings from the min-bias pool", MINBIAS.settings),
        Process(
            "wlnu", Kind.SM, "W -> l nu (l = e, mu, tau)",
            ("WeakSingleBoson:ffbar2W = on", "24:onMode = off", "24:onIfAny = 11 13 15"),
        ),
        Process(
            "zll", Kind.SM, "Z -> l l (l = e, mu, tau), Z only",
            ("WeakSingleBoson:ffbar2gmZ = on", "WeakZ0:gmZmode = 2", *_LEPTONS_Z),
        ),
        Process("ttbar", Kind.SM, "top pair production, inclusive decays",
                ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on")),
        # QCD multijet: pTHatMin 30 GeV is an assumption (a generator-level cut close to the L1 jet thresholds)
        Process("qcd", Kind.SM, "QCD 2->2, pTHat > 30 GeV", ("HardQCD:all = on", "PhaseSpace:pTHatMin = 30.")),
        # ADC2021 A(50 GeV) -> Z* Z* -> 4 leptons. Pythia's dedicated A3 cannot decay below the ZZ threshold,
        # so the scalar is modelled with the gg -> H machinery at m = 50 GeV forced to Z* Z* (same final state)
        Process(
            "ato4l", Kind.SIGNAL, "neutral scalar A (50 GeV) -> Z* Z* -> 4 l",
            ("HiggsSM:gg2H = on", "25:m0 = 50.", "25:onMode = off", "25:onIfMatch = 23 23",
             "23:onMode = off", "23:onIfAny = 11 13", "23:mMin = 1."),
        ),
        # ADC2021 leptoquark (80 GeV) -> b tau; Pythia's scalar LQ (id 42) with its coupling moved to (b, tau)
        Process(
            "leptoquark", Kind.SIGNAL, "scalar leptoquark (80 GeV) -> b tau",
            ("LeptoQuark:all = on", "42:m0 = 80.", "42:0:products = 5 15"),
        ),
        Process(
            "hToTauTau", Kind.SIGNAL, "neutral scalar h0 (60 GeV) -> tau tau",
            ("HiggsSM:gg2H = on", "25:m0 = 60.", "25:onMode = off", "25:onIfMatch = 15 -15"),
        ),
        Process(
            "hChToTauNu", Kind.SIGNAL, "charged scalar h+- (60 GeV) -> tau nu",
            ("Higgs:useBSM = on", "HiggsBSM:ffbar2H+- = on", "37:m0 = 60.", "37:onMode = off",
             "37:onIfMatch = 15 16"),
        ),
    )
}

#: jet sources of the b-tagging sample: b-rich (bb-bar) and light-flavour (u, d, s, g) QCD, pTHat > 30 GeV.
#: Multiparton interactions are off for this jet-level sample: they cost ~85 % of the generation time
#: (measured 7.8 vs 0.9 ms/event) and add mostly soft prompt tracks below the 1 GeV track threshold.
_NO_MPI = ("PartonLevel:MPI = off",)
BTAG_SOURCES: dict[str, Process] = {
    "bbbar": Process("bbbar", Kind.BTAG, "QCD b b-bar",
                     ("HardQCD:hardbbbar = on", "PhaseSpace:pTHatMin = 30.", *_NO_MPI)),
    "light": Process(
        "light", Kind.BTAG, "QCD light-flavour 2->2",
        ("HardQCD:gg2gg = on", "HardQCD:qg2qg = on", "HardQCD:qq2qq = on", "HardQCD:qqbar2gg = on",
         "HardQCD:gg2qqbar = on", "HardQCD:qqbar2qqbarNew = on", "HardQCD:nQuarkNew = 3",
         "PhaseSpace:pTHatMin = 30.", *_NO_MPI),
    ),
}


def get_process(name: str, source: str = "--processes") -> Process:
    try:
        return PROCESSES[name]
    except KeyError:
        if name == "btag":
            return Process("btag", Kind.BTAG, "b-tagging jets with tracks", ())
        known = ", ".join([*PROCESSES, "btag"])
        raise ConfigError(f"{source}: unknown process {name!r}; known: {known}") from None
