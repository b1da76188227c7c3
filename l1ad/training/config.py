"""Training config schema (``configs/models/*.yaml``); unknown keys are errors naming their path."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from l1ad.config import StrictModel, load_config
from l1ad.models.ae import AeConfig
from l1ad.models.btag import CnnConfig
from l1ad.models.pruning import PruningConfig
from l1ad.models.quantizers import QuantConfig
from l1ad.models.vae import VaeConfig

__all__ = ["DataConfig", "EarlyStopping", "TrainConfig", "TrainingParams", "load_train_config"]

ModelConfig = Annotated[VaeConfig | AeConfig | CnnConfig, Field(discriminator="kind")]


class DataConfig(StrictModel):
    """Files are relative to ``--data-dir`` (default ``data/``) unless absolute."""

    background: str | None = Field(None, description="zero-bias events (AD models train on these only)")
    signals: list[str] = Field(default_factory=list, description="signal files for end-of-training metrics")
    jets: str | None = Field(None, description="b-tag jets file (CNN)")
    max_events: int | None = Field(None, ge=10)
    validation_fraction: float = Field(0.1, gt=0.0, lt=0.5)
    test_fraction: float = Field(0.3, ge=0.0, lt=0.8)
    coverage: float = Field(0.999, gt=0.5, le=1.0, description="fraction of zero bias the input scaling covers")
    drop_lsbs: dict[Literal["met", "egamma", "muon", "jet"], Annotated[int, Field(ge=0, le=6)]] = Field(
        default_factory=dict, description="AD models: low bits of the GT words dropped per object group before the "
        "8-bit input quantizer (which rounds them half to even); each bit doubles the input's LSB and its range")


class EarlyStopping(StrictModel):
    patience: int = Field(4, ge=1)
    min_delta: float = Field(0.0, ge=0.0)


class TrainingParams(StrictModel):
    epochs: int = Field(20, ge=1)
    batch_size: int = Field(1024, ge=1)
    learning_rate: float = Field(1e-3, gt=0)
    optimizer: str = Field("adam", pattern="^(adam|sgd|rmsprop)$")
    early_stopping: EarlyStopping | None = EarlyStopping()
    seed: int = 42
    float_twin: bool = True
    float_twin_input: Literal["quantized", "float"] = Field(
        "quantized", description="'quantized': the twin sees the same 8-bit integer inputs as the firmware "
        "(isolates weight/activation quantization); 'float': unbounded float inputs")
    init_quantized_from_float: bool = Field(True, description="start QAT from the trained float twin's weights")
    finetune_lr_factor: float = Field(0.1, gt=0, le=1, description="QAT fine-tuning learning rate / learning_rate")
    finetune_epochs: int | None = Field(None, ge=1, description="epochs of the quantized (QAT) stage when it "
                                        "fine-tunes the float twin (default: epochs)")
    init_on_weight_grid: bool = Field(False, description="round the trigger path's initial kernels (float "
                                      "twin and QAT model) to the weight quantizer's grid, so weights zero bias "
                                      "never updates survive quantization exactly (l1ad.models.quantizers)")
    clip_float_weights: bool = Field(False, description="float twin: clip the trigger path's kernels to the "
                                     "weight quantizer's range (+-(2**integer - LSB)) after every step, so float "
                                     "and quantized networks share the weight range and differ only by the grid")
    rebalance_before_qat: bool = Field(False, description="VAE: power-of-two rebalance of the copied float "
                                       "encoder onto the 6-bit grids before QAT (l1ad.models.rebalance); with "
                                       "model.latent_scale > 1 the kernels use most of their range")
    qat_weight_averaging: bool = Field(False, description="QAT stage: run all finetune_epochs without early "
                                       "stopping and keep the mean of the per-epoch weights (stochastic weight "
                                       "averaging); needs pruning.sparsity 0")


class TrainConfig(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    model: ModelConfig
    quantizers: QuantConfig = QuantConfig()
    pruning: PruningConfig = PruningConfig()
    data: DataConfig
    training: TrainingParams = TrainingParams()
    output: str | None = Field(None, description="artifact directory (default out/models/<name>)")

    @model_validator(mode="after")
    def _data_matches_model(self) -> TrainConfig:
        if self.model.kind == "cnn" and not self.data.jets:
            raise ValueError("a cnn model needs data.jets")
        if self.model.kind != "cnn" and not self.data.background:
            raise ValueError(f"a {self.model.kind} model needs data.background (zero bias)")
        for option, why in (("clip_float_weights", "the pruning wrappers hide the kernels it clips"),
                            ("qat_weight_averaging", "averaging would blur the pruning masks")):
            if getattr(self.training, option) and self.pruning.sparsity > 0:
                raise ValueError(f"training.{option} cannot be combined with pruning.sparsity > 0 "
                                 f"(value {self.pruning.sparsity}): {why}")
        return self

    def output_dir(self) -> Path:
        return Path(self.output) if self.output else Path("out/models") / self.name


def load_train_config(path: str | Path) -> TrainConfig:
    return load_config(TrainConfig, path)
