"""The physics processes of ``l1ad data generate``: Pythia settings per process at sqrt(s) = 13.6 TeV.

Names of the four BSM signals follow the ADC2021 challenge files (Govorkova et al., arXiv:2107.02157):
``ato4l``, ``leptoquark``, ``hToTauTau``, ``hChToTauNu``. Settings use the Pythia 8.3 manual's keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from l1ad.errors import ConfigError

__all__ = ["BTAG_SOURCES", "DECAYS_IN_FLIGHT", "DEFAULT_PROCESSES", "MINBIAS", "NO_MPI", "PROCESSES", "Kind", "Process", "get_process", "stratum_process"]


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


#: charged pions and kaons decay in flight inside the tracker volume (before the ECAL at r = 1.29 m, |z| = 3.0 m
#: [JINST 3 S08004]); Pythia keeps them stable by default. Their muons (K -> mu nu: ~5 % of 5 GeV kaons decay in
#: that volume) reach the muon system and, mismeasured, are a large part of the L1 single-muon rate; the
#: decayed hadron deposits nothing in the calorimeters. Applied to every collision process (not the b-tag jets).
DECAYS_IN_FLIGHT = ("ParticleDecays:limitCylinder = on", "ParticleDecays:xyMax = 1290.",
                    "ParticleDecays:zMax = 3000.", "211:mayDecay = on", "321:mayDecay = on")

#: inelastic pp (non-diffractive + diffractive): the pileup / zero-bias source
MINBIAS = Process("minbias", Kind.ZERO_BIAS, "inelastic pp (SoftQCD:inelastic)",
                  ("SoftQCD:inelastic = on", *DECAYS_IN_FLIGHT))

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
PROCESSES = {n: p if p.kind == Kind.ZERO_BIAS else Process(p.name, p.kind, p.description, (*p.settings,
                                                                                          *DECAYS_IN_FLIGHT))
             for n, p in PROCESSES.items()}

#: what ``l1ad data generate`` writes without ``--processes``: zero bias, every SM and signal sample, the b-tag jets
DEFAULT_PROCESSES = ("zero_bias", *[p for p in PROCESSES if p != "zero_bias"], "btag")

#: jet sources of the b-tagging sample: b-rich (bb-bar) and light-flavour (u, d, s, g) QCD, pTHat > 30 GeV.
#: Multiparton interactions are off for this jet-level sample: they cost ~85 % of the generation time
#: (measured 7.8 vs 0.9 ms/event) and add mostly soft prompt tracks below the 1 GeV track threshold.
_NO_MPI = ("PartonLevel:MPI = off",)
NO_MPI = _NO_MPI
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


def stratum_process(name: str, process: str, pthat_gev: tuple[float, float] | None, mpi: bool) -> Process:
    """The Pythia process of a zero-bias hard stratum: hard QCD in a pT-hat window, or an SM process.

    Multiparton interactions are off unless ``mpi``: they cost ~10x the generation time of a hard event
    (measured 117 vs 1305 events/s for pT-hat 20-30 GeV, 93 vs 712 for 80-120 GeV on one core) and add an
    underlying event of about one extra minimum-bias interaction, small beside the crossing's 60 pileup ones.
    """
    extra = () if mpi else _NO_MPI
    if process == "qcd":
        assert pthat_gev is not None
        lo, hi = pthat_gev
        return Process(f"zb_{name}", Kind.ZERO_BIAS, f"QCD 2->2, {lo:g} <= pT-hat < {hi:g} GeV",
                       ("HardQCD:all = on", f"PhaseSpace:pTHatMin = {lo:g}", f"PhaseSpace:pTHatMax = {hi:g}",
                        *DECAYS_IN_FLIGHT, *extra))
    base = PROCESSES[process]
    return Process(f"zb_{name}", Kind.ZERO_BIAS, base.description, (*base.settings, *extra))
