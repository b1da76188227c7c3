"""Target FPGA boards (``configs/boards.yaml``)."""

from __future__ import annotations

from l1ad.config import StrictModel, config_path, load_config
from l1ad.errors import ConfigError

__all__ = ["Board", "get_board", "load_boards"]


class Board(StrictModel):
    description: str = ""
    part: str
    luts: int
    ffs: int
    dsps: int
    brams: int
    clock_mhz: float
    adder_delay_ns: float = 0.8


class BoardsFile(StrictModel):
    boards: dict[str, Board]


def load_boards(path: str = "boards.yaml") -> dict[str, Board]:
    return load_config(BoardsFile, path).boards


def get_board(name: str, path: str = "boards.yaml") -> Board:
    boards = load_boards(path)
    if name not in boards:
        raise ConfigError(f"{config_path(path)}: field 'board': unknown board (value {name!r}); known: {', '.join(sorted(boards))}")
    return boards[name]
