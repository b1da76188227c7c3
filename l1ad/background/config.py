"""Typed schema of ``configs/abcd.yaml`` (validated once at the edge; unknown keys are errors)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from l1ad.config import StrictModel, load_config
from l1ad.models.quantizers import QuantConfig

__all__ = ["AbcdConfig", "DataSection", "EvalSection", "ModelSection", "TrainSection", "load_abcd_config"]


class DataSection(StrictModel):
    """Files are relative to ``data_dir`` (overridden by ``--data-dir``) unless absolute."""

    data_dir: Path = Path("data")
    background: str = "zero_bias.h5"
    signals: list[str] = Field(default_factory=lambda: ["ato4l.h5", "leptoquark.h5", "hToTauTau.h5",
                                                        "hChToTauNu.h5"])
    max_events: int = Field(200_000, ge=1000)
    train_fraction: float = Field(0.5, gt=0, lt=1)
    val_fraction: float = Field(0.1, gt=0, lt=1)
    max_signal_events: int = Field(50_000, gt=0)
    coverage: float = Field(0.999, gt=0.5, le=1.0)
    seed: int = 0

    @model_validator(mode="after")
    def _split(self) -> DataSection:
        if self.train_fraction + self.val_fraction >= 0.95:
            raise ValueError("train_fraction + val_fraction must leave >= 5% held out")
        return self

    def path(self, name: str, data_dir: Path | None = None) -> Path:
        p = Path(name)
        return p if p.is_absolute() else (data_dir or self.data_dir) / p


class ModelSection(StrictModel):
    """Each of the two autoencoders: 57 -> hidden... -> 57 with ReLU (``l1ad.models.ae``)."""

    hidden: list[int] = Field(default_factory=lambda: [32, 16, 4, 16, 32], min_length=1)
    quantizers: QuantConfig = QuantConfig()

    @field_validator("hidden")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if any(h <= 0 for h in v):
            raise ValueError("layer widths must be positive")
        return v


class TrainSection(StrictModel):
    lam: float = Field(10.0, ge=0, description="paper default 10 (configs/abcd.yaml explains its value)")
    dcorr_on: Literal["score", "log_score"] = "score"
    epochs: int = Field(30, gt=0)
    batch_size: int = Field(4096, ge=16, le=20_000)
    learning_rate: float = Field(1e-3, gt=0)
    patience: int = Field(8, ge=1)
    seed: int = 0


class EvalSection(StrictModel):
    efficiencies: list[float] = Field(default_factory=lambda: [0.1, 0.05, 0.03, 0.02, 0.01])
    splits: list[float] = Field(default_factory=lambda: [1.0])
    per_axis: list[tuple[float, float]] = Field(default_factory=list,
                                                description="extra points: (eff on s1, eff on s2)")
    explicit: list[tuple[float, float]] = Field(default_factory=list, description="extra points: (x, y)")
    min_region_events: int = Field(100, ge=0)
    closure_tolerance: float = Field(0.10, gt=0)
    closure_sigmas: float = Field(2.0, gt=0)
    injection_fractions: list[float] = Field(default_factory=lambda: [1e-3, 3e-3, 1e-2])
    sic_efficiency: float = Field(0.01, gt=0, lt=1)

    @field_validator("efficiencies", "injection_fractions")
    @classmethod
    def _fractions(cls, v: list[float]) -> list[float]:
        if not v or any(not 0 < e < 1 for e in v):
            raise ValueError("must be a non-empty list of fractions in (0, 1)")
        return v


class ReferenceSection(StrictModel):
    """What this config gave on the default sample, as quoted in configs/abcd.yaml: measured by ``make demo``
    (its abcd stage) and reproduced by ``tests/test_background.py`` (``-m slow``, ``make test-all``)."""

    grid_points_closing: int = Field(ge=0)
    max_nonclosure: float = Field(ge=0)
    ratio_at_min_eff: float = Field(gt=0)
    dcorr2_heldout: float = Field(ge=0)
    dcorr2_heldout_baseline: float = Field(ge=0)


class AbcdConfig(StrictModel):
    name: str = "double_ae"
    data: DataSection = Field(default_factory=DataSection)
    model: ModelSection = Field(default_factory=ModelSection)
    training: TrainSection = Field(default_factory=TrainSection)
    evaluation: EvalSection = Field(default_factory=EvalSection)
    reference: ReferenceSection | None = None


def load_abcd_config(path: str | Path = "abcd.yaml") -> AbcdConfig:
    return load_config(AbcdConfig, path)
