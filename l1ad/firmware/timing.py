"""Per-pipeline-stage logic depth and estimated delay of a Yosys-mapped Xilinx netlist (``write_json``).

A static walk of the mapped netlist, not a place-and-route timing sign-off. Every timing path starts at a
flip-flop (or an input port, taken as driven by a register outside the design) and ends at a flip-flop input
(or an output port). Along the path the delay model of the board (``configs/boards.yaml`` ``timing``) adds:

* ``clk_to_q`` at the launching flip-flop, ``setup`` at the capturing one, ``clock_uncertainty`` off the period;
* per LUT (and INV) level ``lut`` plus one routed net ``net`` in front of it;
* per carry chain: ``carry_entry`` from the LUT in front of it into the chain (the S pins are driven by the
  LUTs of the chain's own slice, duplicated by the placer when one feeds several chains: no net between them;
  a carry input not driven by a LUT gets a net, and for S a route-through LUT), ``carry4`` per further 4 bits
  of chain (dedicated carry routing, no net), ``carry_exit`` from the chain to a sum output;
* per MUXF7/8/9 ``muxf`` (fed by dedicated wires from the LUTs or muxes before it);
* an INV cell behind a LUT costs nothing (Vivado folds inverters into the LUT that drives them); any other INV
  (behind a flip-flop or a carry chain) is a LUT level, as the LUT1 it becomes.

A path is attributed to the pipeline stage of the register that *captures* it: paths into da4ml's
``stage<k>_inp`` registers belong to stage ``k-1`` (stage ``0`` registers capture the design inputs:
``input``), paths into the network's output register to its last stage, and paths into the wrapper's
``score``/``trigger``/``out_valid``/``valid_pipe`` registers to ``output`` (the threshold comparison).
Registers of other designs are grouped by their own name.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DelayModel", "StageTiming", "analyse", "stage_of_register"]

_LUT = re.compile(r"^(LUT[1-6]|INV|BUF)$")
_CARRY = ("CARRY4", "CARRY8")
_MUXF = ("MUXF7", "MUXF8", "MUXF9")
_CONST = ("GND", "VCC")
#: clock pins of sequential primitives (never timing endpoints)
_CLOCK_PINS = {"C", "CLK", "CLKARDCLK", "CLKBWRCLK", "CLKA", "CLKB", "WCLK"}


@dataclass(frozen=True)
class DelayModel:
    """Delays in ns (see the module docstring and ``configs/boards.yaml`` for their sources)."""

    clk_to_q: float
    setup: float
    clock_uncertainty: float
    lut: float
    net: float
    carry_entry: float
    carry4: float
    carry_exit: float
    muxf: float
    macro_clk_to_out: float = 1.5  # DSP/BRAM/SRL outputs: none in l1ad designs (0 DSPs, no memories)

    def path_delay(self, lut_levels: int, carry_chains: int, carry4_segments: int, muxf: int = 0) -> float:
        """Register-to-register delay of a path with these elements, by the same rules as :func:`analyse`
        (every carry chain entered from a LUT of the same slice)."""
        return (self.clk_to_q + lut_levels * (self.net + self.lut) + carry_chains * (self.carry_entry + self.carry_exit)
                + max(0, carry4_segments - carry_chains) * self.carry4 + muxf * self.muxf + self.net + self.setup)


@dataclass
class StageTiming:
    stage: str
    endpoints: int  # register / port bits captured by this stage
    delay_ns: float  # worst estimated path delay incl. clk-to-q and setup
    lut_levels: int  # LUT levels on the worst-delay path
    carry4: int  # 4-bit carry segments on the worst-delay path
    max_lut_levels: int  # deepest path in LUT levels (may differ from the worst-delay path)
    max_carry4: int  # longest path in 4-bit carry segments
    path: list[tuple[str, float]] = field(default_factory=list)  # worst path: (cell type, arrival ns), start to end
    endpoint: str = ""  # the register bit it ends at

    def to_json(self, required_ns: float) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "endpoints": self.endpoints,
            "delay_ns": round(self.delay_ns, 3),
            "slack_ns": round(required_ns - self.delay_ns, 3),
            "lut_levels": self.lut_levels,
            "carry4_segments": self.carry4,
            "max_lut_levels": self.max_lut_levels,
            "max_carry4_segments": self.max_carry4,
            "worst_path": _compress_path([t for t, _ in self.path]),
            "worst_path_arrivals_ns": [t for _, t in self.path],
            "endpoint": self.endpoint,
        }


def _compress_path(path: list[str]) -> str:
    out: list[str] = []
    for t in path:
        if out and out[-1].split(" x")[0] == t:
            head, _, n = out[-1].partition(" x")
            out[-1] = f"{head} x{int(n or 1) + 1}"
        else:
            out.append(t)
    return " -> ".join(out)


_STAGE_REG = re.compile(r"(?:^|\.)stage(\d+)(?:_inp(?:_copy\d+)?|\.model_inp)$")
_NET_OUT = re.compile(r"(?:^|\.)(?:model_out|net_out)$")
_WRAPPER = re.compile(r"^(?:score|trigger|out_valid|valid_pipe)$")


def stage_of_register(names: list[str], n_stages: int | None) -> str:
    """The stage label of a register, from its (flattened) names; see the module docstring."""
    for n in names:
        m = _STAGE_REG.search(n)
        if m:
            k = int(m.group(1))
            return "input" if k == 0 else f"stage {k - 1}"
    for n in names:
        if _NET_OUT.search(n):
            return f"stage {n_stages - 1}" if n_stages else "net output"
    for n in names:
        if _WRAPPER.match(n):
            return "output"
    return names[0] if names else "unnamed"


def _bit_names(module: dict[str, Any]) -> dict[int, list[tuple[str, int]]]:
    """Public (named) wires of each bit: (wire name, bit index), e.g. ("u_net.stage3_inp", 7)."""
    out: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for name, v in module["netnames"].items():
        if v.get("hide_name"):
            continue
        for i, b in enumerate(v["bits"]):
            if isinstance(b, int):
                out[b].append((name, i))
    return out


def _is_seq(ctype: str) -> bool:
    return ctype.startswith(("FD", "LD", "SRL", "RAMB", "DSP", "URAM", "RAM32", "RAM64", "RAM128", "RAM256"))


def analyse(netlist: dict[str, Any], top: str, model: DelayModel, n_stages: int | None = None) -> list[StageTiming]:
    """Per-stage worst path of the mapped ``top`` module of a Yosys JSON netlist, ordered input -> output."""
    mod = netlist["modules"][top]
    cells = mod["cells"]
    names = _bit_names(mod)
    driver: dict[int, tuple[str, str]] = {}  # bit -> (cell name, output port)
    fanout: dict[int, int] = defaultdict(int)
    for cname, c in cells.items():
        for port, bits in c["connections"].items():
            d = c["port_directions"].get(port, "input")
            for b in bits:
                if not isinstance(b, int):
                    continue
                if d == "output":
                    driver[b] = (cname, port)
                else:
                    fanout[b] += 1
    for pname, p in mod["ports"].items():
        if p["direction"] != "input":
            for b in p["bits"]:
                if isinstance(b, int):
                    fanout[b] += 1
    in_ports = {b for p in mod["ports"].values() if p["direction"] == "input" for b in p["bits"] if isinstance(b, int)}

    # arrival per bit: (delay, luts, carry4, pred bit | None, cell type of the element ending here)
    arr: dict[int, tuple[float, int, int, int | None, str]] = {}
    deep: dict[int, tuple[int, int]] = {}  # bit -> (max LUT levels, max carry4) over all paths

    def launch(b: int, ctype: str) -> None:
        t = model.clk_to_q if ctype.startswith("FD") else model.macro_clk_to_out
        arr[b] = (t, 0, 0, None, ctype)
        deep[b] = (0, 0)

    for b in in_ports:
        launch(b, "FDRE(in)")  # an input port is driven by a register outside the design

    def seen(b: Any) -> bool:
        return not isinstance(b, int) or b in arr

    def inputs(c: dict[str, Any]) -> list[tuple[str, Any]]:
        return [(p, b) for p, bits in c["connections"].items() if c["port_directions"].get(p) == "input" for b in bits]

    def at_pin(b: Any, dedicated: bool) -> tuple[float, int, int, int | None] | None:
        if not isinstance(b, int) or b not in arr:
            return None  # constant
        t, lut, cy, _, _ = arr[b]
        return (t if dedicated else t + model.net, lut, cy, b)

    def dedicated_from(b: Any, kinds: tuple[str, ...]) -> bool:
        """Driven through a dedicated (unrouted) wire by a cell of ``kinds``."""
        if not isinstance(b, int) or b not in driver:
            return False
        src = cells[driver[b][0]]["type"]
        return any(src.startswith(k) for k in kinds)

    def carry_pin(p: str, b: Any) -> tuple[float, int, int, int | None] | None:
        """A carry S/DI pin is fed by a LUT of its own slice (duplicated by the placer when it feeds several
        chains): no net after a LUT; any other driver goes through a routed net and, for S, a route-through LUT."""
        if dedicated_from(b, ("LUT", "INV")):
            return at_pin(b, True)
        x = at_pin(b, False)
        if x is None or p != "S":
            return x
        return (x[0] + model.lut, x[1], x[2], x[3])

    def evaluate(cname: str) -> None:
        c = cells[cname]
        ctype = c["type"]
        ins = inputs(c)
        best: tuple[float, int, int, int | None] = (float("-inf"), 0, 0, None)
        d_lut, d_cy = 0, 0
        outs = [b for p, bits in c["connections"].items() if c["port_directions"].get(p) == "output" for b in bits
                if isinstance(b, int)]
        if ctype in _CONST:
            return
        if ctype.startswith(_CARRY):
            seg = 2 if ctype == "CARRY8" else 1
            local = [carry_pin(p, b) for p, b in ins if p in ("S", "DI")]
            chain = [at_pin(b, True) for p, b in ins if p in ("CI", "CI_TOP")]
            other = [at_pin(b, False) for p, b in ins if p == "CYINIT"]
            for p, b in ins:
                if isinstance(b, int) and b in deep:
                    dl, dc = deep[b]
                    d_lut, d_cy = max(d_lut, dl), max(d_cy, dc + seg)
            loc = max((x for x in local + other if x), default=None, key=_t)
            ci = max((x for x in chain if x), default=None, key=_t)
            co_best = best
            o_best = best
            if loc is not None:
                co_best = max(co_best, (loc[0] + model.carry_entry, loc[1], loc[2] + seg, loc[3]), key=_t)
                o_best = max(o_best, (loc[0] + model.carry_entry, loc[1], loc[2] + seg, loc[3]), key=_t)
            if ci is not None:
                co_best = max(co_best, (ci[0] + model.carry4 * seg, ci[1], ci[2] + seg, ci[3]), key=_t)
                o_best = max(o_best, (ci[0] + model.carry_exit, ci[1], ci[2] + seg, ci[3]), key=_t)
            for p, bits in c["connections"].items():
                if c["port_directions"].get(p) != "output":
                    continue
                src = co_best if p == "CO" else o_best
                for b in bits:
                    if isinstance(b, int):
                        t = src[0] if src[0] != float("-inf") else 0.0
                        arr[b] = (t, src[1], src[2], src[3], ctype)
                        deep[b] = (d_lut, d_cy)
            return
        if ctype.startswith(_MUXF):  # fed by the LUTs / muxes of its slice, selected through a routed net
            one_level(ctype, ins, outs, model.muxf, 0, lambda p, b: p != "S" and dedicated_from(b, ("LUT", "MUXF")))
            return
        if ctype == "INV" and all(dedicated_from(b, ("LUT",)) for _p, b in ins):
            # an inverter behind a LUT is folded into it (Vivado's opt_design pushes inverters into LUTs,
            # duplicating the LUT when it has other loads): no level, no delay
            (_p, b0), = ins
            if isinstance(b0, int) and b0 in arr:
                t0, lut0, cy0, pred0, _ = arr[b0]
                for b in outs:
                    arr[b] = (t0, lut0, cy0, pred0, arr[b0][4])
                    deep[b] = deep.get(b0, (0, 0))
                return
        # LUTs, inverters (as LUT1) and anything unknown: one logic level
        one_level(ctype, ins, outs, model.lut, 1, lambda p, b: False)

    def one_level(ctype: str, ins: list[tuple[str, Any]], outs: list[int], delay: float, luts: int,
                  dedicated: Any) -> None:
        """Outputs = latest input (+ net unless ``dedicated(pin, bit)``) + ``delay``; ``luts`` LUT levels more."""
        best: tuple[float, int, int, int | None] = (float("-inf"), 0, 0, None)
        d_lut, d_cy = 0, 0
        for p, b in ins:
            x = at_pin(b, dedicated(p, b))
            if x:
                best = max(best, x, key=_t)
            if isinstance(b, int) and b in deep:
                d_lut, d_cy = max(d_lut, deep[b][0]), max(d_cy, deep[b][1])
        t = (best[0] if best[0] != float("-inf") else 0.0) + delay
        for b in outs:
            arr[b] = (t, best[1] + luts, best[2], best[3], ctype)
            deep[b] = (d_lut + luts, d_cy)

    # sequential outputs launch paths
    for cname, c in cells.items():
        if _is_seq(c["type"]):
            for p, bits in c["connections"].items():
                if c["port_directions"].get(p) == "output":
                    for b in bits:
                        if isinstance(b, int):
                            launch(b, c["type"])

    def resolve(b0: int) -> None:
        """Arrival of b0 (iterative depth-first over combinational drivers)."""
        stack = [b0]
        on_stack: set[str] = set()
        while stack:
            b = stack[-1]
            if seen(b) or b not in driver:
                stack.pop()
                if isinstance(b, int) and b not in arr:
                    arr[b] = (0.0, 0, 0, None, "undriven")
                    deep[b] = (0, 0)
                continue
            cname = driver[b][0]
            pending = [x for _, x in inputs(cells[cname]) if not seen(x)]
            if pending and cname not in on_stack:
                on_stack.add(cname)
                stack.extend(pending)
                continue
            if pending:  # combinational loop: break it here
                for x in pending:
                    arr.setdefault(x, (0.0, 0, 0, None, "loop"))
                    deep.setdefault(x, (0, 0))
            evaluate(cname)
            on_stack.discard(cname)
            stack.pop()

    # endpoints: sequential inputs (but clocks) and output ports
    ends: list[tuple[int, str, str]] = []  # (bit, endpoint name, stage)
    for cname, c in cells.items():
        if not _is_seq(c["type"]):
            continue
        qbits = [b for p, bits in c["connections"].items() if c["port_directions"].get(p) == "output" for b in bits
                 if isinstance(b, int)]
        reg_names = sorted({n for q in qbits for n, _ in names.get(q, [])}, key=len)
        label = stage_of_register(reg_names, n_stages)
        shown = _bit_label(qbits[0], names) if qbits else cname
        for p, bits in c["connections"].items():
            if c["port_directions"].get(p) == "input" and p not in _CLOCK_PINS:
                for b in bits:
                    if isinstance(b, int):
                        ends.append((b, shown, label))
    for pname, p in mod["ports"].items():
        if p["direction"] == "output":
            for i, b in enumerate(p["bits"]):
                if isinstance(b, int):
                    ends.append((b, f"{pname}[{i}] (port)", "output" if pname in ("score", "trigger", "out_valid")
                                 else pname))
    stages: dict[str, StageTiming] = {}
    for b, shown, label in ends:
        resolve(b)
        t, lut, cy, _, _ = arr[b]
        delay = t + model.net + model.setup
        st = stages.get(label)
        dl, dc = deep.get(b, (0, 0))
        if st is None:
            st = stages[label] = StageTiming(label, 0, float("-inf"), 0, 0, 0, 0)
        st.endpoints += 1
        st.max_lut_levels = max(st.max_lut_levels, dl)
        st.max_carry4 = max(st.max_carry4, dc)
        if delay > st.delay_ns:
            st.delay_ns, st.lut_levels, st.carry4, st.endpoint = delay, lut, cy, shown
            st.path = _trace(b, arr)
    return sorted(stages.values(), key=lambda s: _order(s.stage))


def _t(x: tuple[Any, ...]) -> float:
    return float(x[0])


def _trace(b: int, arr: dict[int, tuple[float, int, int, int | None, str]]) -> list[tuple[str, float]]:
    """(cell type, arrival ns at its output) along the worst path into ``b``, start to end."""
    path: list[tuple[str, float]] = []
    cur: int | None = b
    guard = 0
    while cur is not None and guard < 10_000:
        t, _, _, pred, ctype = arr[cur]
        path.append((ctype, round(t, 3)))
        cur = pred
        guard += 1
    return list(reversed(path))


def _bit_label(b: int, names: dict[int, list[tuple[str, int]]]) -> str:
    if not names.get(b):
        return f"bit {b}"
    n, i = min(names[b], key=lambda x: len(x[0]))
    return f"{n}[{i}]"


def _order(stage: str) -> tuple[int, int, str]:
    if stage == "input":
        return (0, 0, "")
    m = re.fullmatch(r"stage (\d+)", stage)
    if m:
        return (1, int(m.group(1)), "")
    if stage == "output":
        return (3, 0, "")
    return (2, 0, stage)
