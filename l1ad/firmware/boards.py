"""Target FPGA boards (``configs/boards.yaml``): resources, clock, synthesis family and delay model."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from l1ad.config import StrictModel, config_path, load_config
from l1ad.errors import ConfigError

__all__ = ["Board", "TimingModel", "get_board", "load_boards"]


class TimingModel(StrictModel):
    """Per-element delays (ns) of the stage-delay estimate after synthesis (:mod:`l1ad.firmware.timing`)."""

    speed_grade: str
    source: str
    clk_to_q: float = Field(ge=0)
    setup: float = Field(ge=0)
    clock_uncertainty: float = Field(ge=0)
    lut: float = Field(gt=0)
    net: float = Field(ge=0)
    carry_entry: float = Field(gt=0)
    carry4: float = Field(gt=0)
    carry_exit: float = Field(gt=0)
    muxf: float = Field(gt=0)

    def delays(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.model_dump().items() if k not in ("speed_grade", "source")}

    def adder_level_ns(self, carry4_segments: int = 1) -> float:
        """One da4ml adder level as synthesized: a routed net, the LUT in front of the carry chain, the chain."""
        return self.net + self.lut + self.carry_entry + max(0, carry4_segments - 1) * self.carry4 + self.carry_exit


class Board(StrictModel):
    description: str = ""
    part: str
    luts: int
    ffs: int
    dsps: int
    brams: int
    clock_mhz: float = Field(gt=0)
    adder_delay_ns: float = Field(default=0.8, gt=0)
    synth_family: Literal["xcup", "xcu", "xc7"]
    timing: TimingModel


class BoardsFile(StrictModel):
    timing_models: dict[str, TimingModel] = Field(default_factory=dict)
    boards: dict[str, Board]


def load_boards(path: str = "boards.yaml") -> dict[str, Board]:
    return load_config(BoardsFile, path).boards


def get_board(name: str, path: str = "boards.yaml") -> Board:
    boards = load_boards(path)
    if name not in boards:
        raise ConfigError(f"{config_path(path)}: field 'board': unknown board (value {name!r}); known: {', '.join(sorted(boards))}")
    return boards[name]
