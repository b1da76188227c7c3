"""Reusable cocotb components for the trigger wrapper of ``design.json`` (protocol, not design, knowledge).

Timing convention (one trigger per clock, no races): inputs are driven and outputs sampled on the *falling*
edge. Cycle ``k`` of :meth:`TriggerTB.run` reads the outputs left by rising edge ``k`` and then drives the
inputs that rising edge ``k + 1`` samples. An event driven in cycle ``j`` therefore appears in output cycle
``j + L`` for a design of latency ``L`` (counting the sampling edge as edge 1: a single output register
has latency 1).

Four-state simulators (Icarus) can show X/Z on the outputs: :meth:`TriggerTB.run` records, per cycle, which of
``out_valid``/``score``/``trigger`` did not resolve to 0/1 (:attr:`StreamResult.xz`, bits :data:`XZ_BITS`) and
reads them as 0; every recorded cycle comes after a reset, so any X/Z there is a failure of the design.

Only imported inside a cocotb simulation (it imports :mod:`cocotb`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge
from cocotb.types import Logic, LogicArray

from l1ad.bits import int_range

__all__ = ["XZ_BITS", "StreamResult", "TriggerTB", "pack_words", "xz_summary"]

#: bit of :attr:`StreamResult.xz` per output port whose value held an X or Z
XZ_BITS = {"out_valid": 1, "score": 2, "trigger": 4}


def pack_words(words: np.ndarray, widths: Sequence[int]) -> list[int]:
    """Concatenate each event's words into one integer, word 0 at the LSBs, two's complement per width."""
    w = np.asarray(words, dtype=np.int64)
    out = [0] * len(w)
    offs = np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(int)
    masks = [(1 << int(b)) - 1 for b in widths]
    cols = [w[:, i].tolist() for i in range(w.shape[1])]
    for i, (off, m) in enumerate(zip(offs, masks, strict=True)):
        col = cols[i]
        for e in range(len(out)):
            out[e] |= (col[e] & m) << int(off)
    return out


@dataclass
class StreamResult:
    """Per-cycle outputs of :meth:`TriggerTB.run` (index = output cycle); ``xz`` flags unresolved (X/Z) outputs."""

    out_valid: np.ndarray
    score: np.ndarray
    trigger: np.ndarray
    xz: np.ndarray


def xz_summary(xz: np.ndarray) -> dict[str, object]:
    """Cycles with an X/Z on an output, and the first one with the ports concerned."""
    bad = np.flatnonzero(xz)
    first = None
    if len(bad):
        k = int(bad[0])
        first = {"cycle": k, "ports": [p for p, b in XZ_BITS.items() if int(xz[k]) & b]}
    return {"xz_cycles": int(len(bad)), "first_xz": first}


class TriggerTB:
    """Owns the clock, reset and the in/out ports of one trigger wrapper."""

    def __init__(self, dut: Any, design: dict[str, Any]) -> None:
        self.dut = dut
        self.design = design
        ports = design["ports"]
        self.clk = getattr(dut, ports["clk"])
        self.rst = getattr(dut, ports["rst"])
        self.in_valid = getattr(dut, ports["in_valid"])
        self.in_data = getattr(dut, ports["in_data"])
        self.threshold = getattr(dut, ports["threshold"])
        self.out_valid = getattr(dut, ports["out_valid"])
        self.score = getattr(dut, ports["score"])
        self.trigger = getattr(dut, ports["trigger"])
        self.widths = [int(f["width"]) for f in design["inputs"]]
        sc = design["score"]
        self.score_width = int(sc["width"])
        self.score_signed = bool(sc["signed"])
        self.latency = int(design["latency_cycles"])
        self.period_ps = max(2, round(float(design["clock_period_ns"]) * 1000 / 2) * 2)
        self._clock_started = False

    # ---- limits --------------------------------------------------------------------------------------
    @property
    def score_min(self) -> int:
        return int_range(self.score_width, self.score_signed)[0]

    @property
    def score_max(self) -> int:
        return int_range(self.score_width, self.score_signed)[1]

    # ---- clock / reset -------------------------------------------------------------------------------
    def start_clock(self) -> None:
        if not self._clock_started:
            Clock(self.clk, self.period_ps, unit="ps").start()
            self._clock_started = True

    async def reset(self, cycles: int = 3) -> None:
        """Synchronous reset with inputs idle; returns on a falling edge with rst released."""
        self.start_clock()
        self.in_valid.value = 0
        self.in_data.value = 0
        self.threshold.value = 0
        self.rst.value = 1
        for _ in range(cycles):
            await FallingEdge(self.clk)
        self.rst.value = 0

    # ---- streaming -----------------------------------------------------------------------------------
    def _read_score(self) -> int:
        v = self.score.value
        return v.to_signed() if self.score_signed else v.to_unsigned()

    def drive_x(self, valid: bool = True, threshold: bool = True) -> None:
        """Drive X on every bit of ``in_data`` (and of ``in_valid`` / ``threshold`` when asked)."""
        self.in_data.value = LogicArray("X" * len(self.in_data))
        if valid:
            self.in_valid.value = Logic("X")
        if threshold:
            self.threshold.value = LogicArray("X" * len(self.threshold))

    async def run(
        self,
        valid: Sequence[int],
        data: Sequence[int | None],
        threshold: Sequence[int] | int,
        rst: Sequence[int] | None = None,
        extra_cycles: int | None = None,
    ) -> StreamResult:
        """Drive ``valid[k], data[k], threshold[k], rst[k]`` in cycle ``k``; record outputs of every cycle.

        ``data[k] = None`` drives X on every bit of ``in_data`` (four-state simulators).

        Runs ``len(valid) + extra_cycles`` cycles (default: latency + 2 drain cycles, inputs idle) and returns
        arrays indexed by cycle; output cycle 0 is what the design shows before the first driven edge.
        """
        n = len(valid)
        extra = self.latency + 2 if extra_cycles is None else extra_cycles
        total = n + extra
        thr_const = threshold if isinstance(threshold, int) else None
        ov = np.zeros(total, dtype=np.int8)
        sc = np.zeros(total, dtype=np.int64)
        tr = np.zeros(total, dtype=np.int8)
        xz = np.zeros(total, dtype=np.int8)
        x_data = LogicArray("X" * len(self.in_data))
        clk_fall = FallingEdge(self.clk)
        in_valid, in_data, thr, rst_h = self.in_valid, self.in_data, self.threshold, self.rst
        out_valid, trigger = self.out_valid, self.trigger
        if thr_const is not None:
            thr.value = thr_const
        for k in range(total):
            await clk_fall
            try:  # fast path: every output resolved to 0/1
                ov[k] = int(out_valid.value)
                tr[k] = int(trigger.value)
                sc[k] = self._read_score()
            except ValueError:
                ov[k], tr[k], sc[k], xz[k] = self._read_xz()
            if k < n:
                in_valid.value = int(valid[k])
                in_data.value = x_data if data[k] is None else int(data[k])
                if thr_const is None:
                    thr.value = int(threshold[k])  # type: ignore[index]
                if rst is not None:
                    rst_h.value = int(rst[k])
            elif k == n:
                in_valid.value = 0
                if rst is not None:
                    rst_h.value = 0
        return StreamResult(ov, sc, tr, xz)

    def _read_xz(self) -> tuple[int, int, int, int]:
        """Outputs of a cycle with an X/Z somewhere: unresolved ports read as 0 and flagged."""
        flags, vals = 0, []
        for name, h in (("out_valid", self.out_valid), ("trigger", self.trigger), ("score", self.score)):
            v = h.value
            if v.is_resolvable:
                vals.append(self._read_score() if name == "score" else int(v))
            else:
                flags |= XZ_BITS[name]
                vals.append(0)
        return vals[0], vals[1], vals[2], flags

