"""Typed schemas of ``configs/generation.yaml`` and ``configs/l1_emulation.yaml`` (validated by pydantic)."""

from __future__ import annotations

import hashlib
import json

from pydantic import Field, model_validator

from l1ad.config import StrictModel, load_config

__all__ = [
    "BtagConfig",
    "HardStratum",
    "MuonEnrichment",
    "ZeroBiasConfig",
    "GenerationConfig",
    "L1EmulationConfig",
    "config_hash",
    "load_emulation_config",
    "load_generation_config",
]

Positive = Field(gt=0)


class Resolution(StrictModel):
    """sigma(E)/E = stochastic/sqrt(E) (+) noise/E (+) constant, added in quadrature (E in GeV)."""

    stochastic: float = Field(ge=0)
    noise_gev: float = Field(0.0, ge=0)
    constant: float = Field(ge=0)


class Towers(StrictModel):
    eta_max: float = Field(gt=0, le=6)
    deta: float = Field(gt=0)
    n_phi: int = Field(gt=0)
    et_lsb_gev: float = Field(gt=0)
    #: charged particles below this pT curl up before reaching the calorimeter (|eta| < curl_eta_max)
    curl_pt_gev: float = Field(ge=0)
    curl_eta_max: float = Field(ge=0)
    hf_eta_min: float = Field(gt=0)

    @property
    def n_eta(self) -> int:
        return int(round(2 * self.eta_max / self.deta))


class HadronEmFraction(StrictModel):
    """Share of a hadronic deposit that showers in the ECAL, drawn per deposit and crossing: clip(N(mean, sd), 0, 1)."""

    mean: float = Field(ge=0, le=1)
    sd: float = Field(ge=0)


class Calorimetry(StrictModel):
    ecal: Resolution
    hcal: Resolution
    hf: Resolution
    hadron_em_fraction: HadronEmFraction


class Isolation(StrictModel):
    """Isolated if (E_T in the isolation window - cluster E_T - rho x window area) < max(abs_gev, rel x E_T)."""

    abs_gev: float = Field(ge=0)
    rel: float = Field(ge=0)


class EGamma(StrictModel):
    """e/gamma candidates from calorimeter clusters (EM and hadronic tower energies kept separately)."""

    eta_max: float = Field(gt=0)
    seed_et_gev: float = Field(ge=0, description="EM E_T of the seed tower (a local maximum of EM E_T)")
    pt_min_gev: float = Field(ge=0, description="lowest candidate E_T kept")
    cluster_towers: tuple[int, int] = Field(description="cluster window (eta, phi) in towers, odd sizes")
    h_over_e_max: float = Field(gt=0, description="hadronic / electromagnetic E_T of the cluster")
    h_over_e_max_et_gev: float = Field(gt=0, description="the H/E requirement applies below this cluster E_T")
    iso_towers: tuple[int, int] = Field(description="isolation window (eta, phi) in towers, odd sizes")
    loose: Isolation
    tight: Isolation

    @model_validator(mode="after")
    def _odd(self) -> EGamma:
        for name in ("cluster_towers", "iso_towers"):
            if any(v < 1 or v % 2 == 0 for v in getattr(self, name)):
                raise ValueError(f"{name} must be odd positive sizes, got {list(getattr(self, name))}")
        return self


class MuonResolution(StrictModel):
    """Relative resolution of q/pT: a Gaussian core plus a wider Gaussian tail (non-Gaussian mismeasurement)."""

    core: float = Field(ge=0)
    tail: float = Field(ge=0)
    tail_fraction: float = Field(ge=0, le=1)


class Muon(StrictModel):
    eta_max: float = Field(gt=0)
    reach_p_min_gev: float = Field(ge=0, description="true momentum a muon needs to reach the muon stations")
    pt_min_gev: float = Field(ge=0, description="lowest measured pT of a candidate")
    efficiency: float = Field(gt=0, le=1)
    resolution: MuonResolution
    duplicate_eta: tuple[float, float] = Field(description="|eta| range where two track finders overlap")
    duplicate_fraction: float = Field(ge=0, le=1, description="muons there that yield a second candidate")


class Jets(StrictModel):
    radius: float = Field(gt=0, le=1.5)
    eta_max: float = Field(gt=0)
    pt_min_gev: float = Field(ge=0)
    tower_threshold_gev: float = Field(ge=0, description="towers below this ET are not clustered")
    pileup_subtraction: bool = True
    calibration: float = Field(1.0, gt=0, description="jet E_T scale after pileup subtraction")
    rho_patch_towers: int = Field(gt=0)
    rho_eta_bands: list[float] = Field(min_length=1, description="upper |eta| edges of the rho bands")


class EtaThreshold(StrictModel):
    eta_max: float = Field(gt=0, description="upper |eta| edge of the band")
    tower_et_min_gev: float = Field(ge=0)


class Met(StrictModel):
    """Missing E_T from towers with |eta| < eta_max, each band of |eta| with its own tower E_T threshold."""

    eta_max: float = Field(gt=0)
    thresholds: list[EtaThreshold] = Field(min_length=1)
    hf_tower_block: tuple[int, int] = Field((1, 1), description="(eta, phi) trigger towers summed into one HF tower "
                                            "before its threshold applies")

    @model_validator(mode="after")
    def _ordered(self) -> Met:
        edges = [t.eta_max for t in self.thresholds]
        if edges != sorted(edges) or edges[-1] < self.eta_max:
            raise ValueError(f"thresholds must be ordered by eta_max and reach eta_max {self.eta_max}, got {edges}")
        return self


class L1EmulationConfig(StrictModel):
    towers: Towers
    calorimetry: Calorimetry
    egamma: EGamma
    muon: Muon
    jets: Jets
    met: Met


class PileupConfig(StrictModel):
    mean: float = Field(ge=0, description="average number of pp interactions per crossing (Poisson mean)")
    pool_events: int = Field(gt=0)


class Tracking(StrictModel):
    pt_min_gev: float = Field(gt=0)
    eta_max: float = Field(gt=0)
    efficiency: float = Field(gt=0, le=1)
    max_production_radius_mm: float = Field(gt=0)
    d0_resolution_mm: float = Field(gt=0, description="sigma(d0) at high pT")
    d0_resolution_ms_mm_gev: float = Field(ge=0, description="multiple-scattering term, divided by pT")
    z0_resolution_mm: float = Field(gt=0)
    z0_resolution_ms_mm_gev: float = Field(ge=0)


class BtagConfig(StrictModel):
    jets: int = Field(gt=0, description="total jets written (half b, half light when available)")
    jet_pt_min_gev: float = Field(gt=0)
    jet_eta_max: float = Field(gt=0)
    jet_radius: float = Field(gt=0)
    match_dr: float = Field(gt=0)
    hadron_pt_min_gev: float = Field(ge=0)
    max_tracks: int = Field(gt=0)
    sort_by: str = Field(pattern="^(d0_significance|pt)$")
    tracking: Tracking


class HardStratum(StrictModel):
    """Crossings whose hardest interaction is one of this process (ordered: a later stratum outranks an earlier)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_]+$")
    process: str = Field(description="'qcd' (Pythia HardQCD:all in the pT-hat window) or an SM process name")
    pthat_gev: tuple[float, float] | None = Field(None, description="qcd: pT-hat window [lo, hi) in GeV")
    events: int = Field(gt=0, description="Pythia events generated for this stratum")
    crossings: int = Field(gt=0, description="crossings built (> events: each event is reused, rotated and "
                           "re-measured)")


class MuonEnrichment(StrictModel):
    """Split listed strata by the number of soft pileup interactions with a muon of true pT >= pt_min_gev."""

    pt_min_gev: float = Field(gt=0)
    strata: list[str] = Field(min_length=1, description="strata to split ('minbias' or hard strata names)")
    split: tuple[float, float, float] = Field(description="shares of each listed stratum's crossings with 0, 1, "
                                              ">= 2 soft muon interactions")

    @model_validator(mode="after")
    def _shares(self) -> MuonEnrichment:
        if any(x <= 0 for x in self.split) or abs(sum(self.split) - 1) > 1e-9:
            raise ValueError(f"split must be three positive shares summing to 1, got {list(self.split)}")
        return self


class ZeroBiasConfig(StrictModel):
    """Zero bias = Poisson pileup of inelastic interactions. ``stitch``: min-bias crossings (the pool, cut at the
    pT-hat boundary) plus weighted crossings per hard stratum; else every crossing from the uncut pool, unweighted."""

    stitch: bool = True
    crossings: int = Field(gt=0, description="crossings without a hard interaction (all crossings if not stitched)")
    pthat_boundary_gev: float = Field(gt=0, description="pool keeps interactions below, QCD strata start here")
    hard_mpi: bool = Field(False, description="Pythia multiparton interactions in the hard strata")
    strata: list[HardStratum] = Field(default_factory=list)
    muon_enrichment: MuonEnrichment | None = None

    @model_validator(mode="after")
    def _strata(self) -> ZeroBiasConfig:
        from l1ad.data.generation.processes import PROCESSES, Kind

        names = [s.name for s in self.strata]
        if len(set(names)) != len(names) or "minbias" in names:
            raise ValueError(f"strata names must be unique and not 'minbias', got {names}")
        edge = self.pthat_boundary_gev
        for s in self.strata:
            if s.process == "qcd":
                if s.pthat_gev is None:
                    raise ValueError(f"stratum {s.name}: process qcd needs pthat_gev")
                lo, hi = s.pthat_gev
                if lo != edge or hi <= lo:
                    raise ValueError(f"stratum {s.name}: pT-hat windows must be contiguous from the boundary "
                                     f"{self.pthat_boundary_gev} (expected [{edge}, hi > {edge}), got [{lo}, {hi}))")
                edge = hi
            elif s.process not in PROCESSES or PROCESSES[s.process].kind != Kind.SM:
                raise ValueError(f"stratum {s.name}: unknown process {s.process!r} (qcd or an SM process)")
            elif s.pthat_gev is not None:
                raise ValueError(f"stratum {s.name}: pthat_gev only applies to process qcd")
        if self.muon_enrichment is not None:
            unknown = [n for n in self.muon_enrichment.strata if n not in ["minbias", *names]]
            if unknown:
                raise ValueError(f"muon_enrichment.strata: unknown strata {unknown} (known: minbias, {', '.join(names)})")
        return self

    @property
    def total_crossings(self) -> int:
        return self.crossings + (sum(s.crossings for s in self.strata) if self.stitch else 0)

    def scaled_to(self, total: int) -> ZeroBiasConfig:
        """The same strata with every crossing and event count scaled so the crossings add up to ~``total``."""
        f = total / self.total_crossings
        strata = [s.model_copy(update={"crossings": max(1, round(s.crossings * f)),
                                       "events": max(1, round(s.events * f))}) for s in self.strata]
        return self.model_copy(update={"crossings": max(1, round(self.crossings * f)), "strata": strata})


class GenerationConfig(StrictModel):
    sqrt_s_gev: float = Field(gt=0)
    seed: int = Field(ge=0)
    pileup: PileupConfig
    zero_bias: ZeroBiasConfig
    events: dict[str, int] = Field(description="events per process (SM references and signals)")
    btag: BtagConfig
    chunk_events: int = Field(gt=0, description="events per worker task")

    @model_validator(mode="after")
    def _known_processes(self) -> GenerationConfig:
        from l1ad.data.generation.processes import PROCESSES

        for name, n in self.events.items():
            if name not in PROCESSES or name == "zero_bias":
                raise ValueError(f"unknown process {name!r} in events")
            if n <= 0:
                raise ValueError(f"events.{name} must be > 0")
        return self


def config_hash(*configs: StrictModel) -> str:
    """Short sha256 of the configs' canonical JSON (provenance and pool-cache key)."""
    blob = json.dumps([c.model_dump(mode="json") for c in configs], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def load_generation_config(path: str = "generation.yaml") -> GenerationConfig:
    return load_config(GenerationConfig, path)


def load_emulation_config(path: str = "l1_emulation.yaml") -> L1EmulationConfig:
    return load_config(L1EmulationConfig, path)
