"""Firmware generation: boards, hls4ml project, da4ml Verilog + trigger wrapper, build report.

``build(model_dir, board)`` runs the flow (``l1ad build``); ``load_design(dir)`` reads a built design.
"""

from l1ad.firmware.boards import Board, get_board, load_boards
from l1ad.firmware.design import Design, load_design

__all__ = ["Board", "Design", "build", "get_board", "load_boards", "load_design"]


def build(*args, **kwargs):  # type: ignore[no-untyped-def]
    """See :func:`l1ad.firmware.build.build` (imported lazily: it pulls in TensorFlow)."""
    from l1ad.firmware.build import build as _build

    return _build(*args, **kwargs)
