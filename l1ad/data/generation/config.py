"""Typed schemas of ``configs/generation.yaml`` and ``configs/l1_emulation.yaml`` (validated by pydantic)."""

from __future__ import annotations

import hashlib
import json

from pydantic import Field, model_validator

from l1ad.config import StrictModel, load_config

__all__ = [
    "BtagConfig",
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


class Calorimetry(StrictModel):
    ecal: Resolution
    hcal: Resolution
    hf: Resolution


class Lepton(StrictModel):
    eta_max: float = Field(gt=0)
    pt_min_gev: float = Field(ge=0)
    efficiency: float = Field(gt=0, le=1)
    resolution: float = Field(ge=0, description="relative pT resolution (Gaussian sigma / pT)")
    iso_cone: float = Field(gt=0)
    iso_max: float = Field(gt=0, description="max (sum pT in cone excluding the object) / pT")


class Jets(StrictModel):
    radius: float = Field(gt=0, le=1.5)
    eta_max: float = Field(gt=0)
    pt_min_gev: float = Field(ge=0)
    tower_threshold_gev: float = Field(ge=0, description="towers below this ET are not clustered")
    pileup_subtraction: bool = True
    rho_patch_towers: int = Field(gt=0)
    rho_eta_bands: list[float] = Field(min_length=1, description="upper |eta| edges of the rho bands")


class Met(StrictModel):
    eta_max: float = Field(gt=0)
    tower_threshold_gev: float = Field(default=0.0, ge=0, description="towers below this ET are left out")


class L1EmulationConfig(StrictModel):
    towers: Towers
    calorimetry: Calorimetry
    egamma: Lepton
    muon: Lepton
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


class GenerationConfig(StrictModel):
    sqrt_s_gev: float = Field(gt=0)
    seed: int = Field(ge=0)
    pileup: PileupConfig
    zero_bias_events: int = Field(gt=0)
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
