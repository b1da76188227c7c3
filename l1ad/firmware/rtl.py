"""Verilog for the network + score, traced with da4ml from the fixed-point description (nothing re-derived).

The traced function maps the raw input words to the raw integer score: word unpacking is wiring,
``(word - offset) * 2**-shift`` is one constant add and a free shift, every Quantize uses the description's
rounding (RND_CONV is built from TRN with the round-half-even bit trick) and saturation, dense layers become
da4ml constant-matrix adder graphs, and the score is an adder tree of squares. A score wider than 31 bits leaves
the network as 30-bit chunks (da4ml's Verilator emulator passes int32 words); the wrapper concatenates them.
"""

from __future__ import annotations

import logging
import math
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from l1ad.errors import BuildError
from l1ad.fixedpoint import FixedPointModel
from l1ad.fixedpoint.layers.base import object_array
from l1ad.models.scoring import ScoreKind

__all__ = ["NetRTL", "instantiated_modules", "latency_cutoff_for", "trace_model", "write_net"]

log = logging.getLogger(__name__)
CHUNK = 30


# ------------------------------------------------------------------------------------------------ tracing
def trace_model(fp: FixedPointModel) -> tuple[Any, int]:
    """Trace ``fp`` with da4ml: returns (CombLogic words -> score chunks, number of chunks).

    The inputs are unpacked and preprocessed here; every layer traces itself
    (:meth:`l1ad.fixedpoint.layers.base.Node.trace`), then the score (:meth:`l1ad.fixedpoint.score.Score.trace`)."""
    from da4ml.trace import FixedVariableArrayInput, HWConfig, comb_trace

    inp = FixedVariableArrayInput((fp.n_inputs,), hwconf=HWConfig(1, -1, -1))
    xs = []
    for j, fld in enumerate(fp.inputs):
        v = inp._vars[j].quantize(int(fld.signed), fld.width - int(fld.signed), 0)
        if fp.offset[j]:
            v = v - float(fp.offset[j])
        if fp.shift[j]:
            v = v * 2.0 ** -int(fp.shift[j])
        xs.append(v)
    x = object_array(xs, fp.input_shape)
    outs: dict[str | None, np.ndarray] = {None: x}
    for layer in fp.layers:
        x = layer.trace(x)
        outs[layer.name] = x
        log.debug("da4ml trace: after %s max latency %.1f", layer.name, max(float(v.latency) for v in np.ravel(x)))
    sc = fp.score
    ref = list(np.ravel(outs[sc.reference])) if sc.type == ScoreKind.SQUARED_ERROR else None
    s = sc.trace(list(np.ravel(x)), ref)  # integer-valued raw score
    p = sc.output
    n_chunks = max(1, math.ceil((p.width - 1) / CHUNK))
    chunks = []
    for c in range(n_chunks):
        part = s * 2.0 ** -(CHUNK * c) if c else s
        if c < n_chunks - 1:
            chunks.append(part.quantize(0, CHUNK, 0, "WRAP", "TRN"))
        else:
            k = int(p.signed)
            chunks.append(part.quantize(k, p.width - CHUNK * c - k, 0, "WRAP", "TRN"))
    return comb_trace(inp, chunks), n_chunks


# ------------------------------------------------------------------------------------------------ writing
def latency_cutoff_for(clock_period_ns: float, adder_delay_ns: float) -> int:
    """Adder levels per pipeline stage (da4ml latency unit with HWConfig(1,-1,-1) is one adder level)."""
    return max(1, int(clock_period_ns * 0.85 / adder_delay_ns))


@dataclass
class NetRTL:
    module: str
    files: list[Path]  # written Verilog files (network + its static modules)
    stages: int  # da4ml pipeline stages
    latency_cycles: int  # clock edges from model_inp to model_out (= stages, +1 with an input register)
    in_kifs: list[tuple[int, int, int]]
    out_kifs: list[tuple[int, int, int]]
    n_chunks: int
    cost_luts: float
    reg_bits: int
    latency_cutoff: int
    comb_latency: float


def _kifs(qints: Any) -> list[tuple[int, int, int]]:
    from da4ml.types import minimal_kif

    return [tuple(int(v) for v in minimal_kif(q)) for q in qints]  # type: ignore[misc]


def instantiated_modules(generated: dict[str, str], library: dict[str, Path]) -> set[str]:
    """Modules of ``library`` (name -> file) reachable by instantiation from the ``generated`` Verilog texts."""
    texts = dict(generated)
    seen: set[str] = set()
    todo = list(texts.values())
    while todo:
        text = todo.pop()
        for name in library:
            if name not in seen and re.search(rf"(?<![\w$.]){name}\s*(?:#\s*\(|[A-Za-z_]\w*\s*\()", text):
                seen.add(name)
                todo.append(library[name].read_text())
    return seen


def _unregister_inputs(top: Path) -> None:
    """Drop the register da4ml puts on the network's inputs: stage 0's logic starts at the input words, which
    come from registers upstream (the L1 framework's object registers), as in an hls4ml latency design. The
    register held no logic -- an empty pipeline cycle (``synthesis.timing`` stage ``input``)."""
    text = top.read_text()
    new, n_decl = re.subn(r"reg (\[\d+:0\]) stage0_inp;", r"wire \1 stage0_inp = model_inp;", text, count=1)
    new, n_seq = re.subn(r"\n\s*stage0_inp <= model_inp;", "", new, count=1)
    if n_decl != 1 or n_seq != 1:
        raise BuildError(f"{top}: da4ml pipeline top changed; cannot drop its input register")
    top.write_text(new)


def write_net(comb: Any, n_chunks: int, module: str, out_dir: Path, part: str, clock_period_ns: float, cutoff: int,
              register_inputs: bool = False) -> NetRTL:
    """Write the pipelined network Verilog into ``out_dir`` (flat); return its interface. Without
    ``register_inputs`` the network has one register per da4ml stage boundary and on its output, none on its
    inputs (see :func:`_unregister_inputs`)."""
    from da4ml.codegen import RTLModel

    scratch = out_dir / f".{module}_da4ml"
    m = RTLModel(comb, module, scratch, flavor="verilog", latency_cutoff=cutoff, part_name=part, clock_period=clock_period_ns)
    m.write()
    pipe = m._pipe
    files: list[Path] = []
    for src in sorted((scratch / "src").glob(f"{module}*.v")):
        if src.name == f"{module}_wrapper.v":
            continue
        dst = out_dir / src.name
        shutil.copyfile(src, dst)
        files.append(dst)
    statics = {src.stem: src for src in sorted((scratch / "src/static").glob("*.v"))}
    used = instantiated_modules({p.stem: p.read_text() for p in files}, statics)
    if "lookup_table" in used:
        raise BuildError(f"{module}: the network uses da4ml lookup tables ($readmemh .mem files), which the RTL writer "
                         "does not ship yet")
    for name in sorted(used & set(statics)):  # only what the network instantiates: no dead RTL is shipped
        text = statics[name].read_text()
        if name == "multiplier":  # squares in LUTs: the budget is 0 DSPs
            text = text.replace("module multiplier", '(* use_dsp = "no" *)\nmodule multiplier', 1)
        dst = out_dir / statics[name].name
        dst.write_text(text)
        files.append(dst)
    shutil.rmtree(scratch)
    stages = len(pipe.solutions)
    in_kifs = _kifs(comb.inp_qint)
    in_bits = sum(max(k + i + f, 0) for k, i, f in in_kifs)
    if not register_inputs:
        _unregister_inputs(out_dir / f"{module}.v")
    return NetRTL(
        module=module,
        files=files,
        stages=stages,
        latency_cycles=stages + 1 if register_inputs else stages,
        in_kifs=in_kifs,
        out_kifs=_kifs(comb.out_qint),
        n_chunks=n_chunks,
        cost_luts=float(comb.cost),
        reg_bits=int(pipe.reg_bits) - (0 if register_inputs else in_bits),
        latency_cutoff=int(m._latency_cutoff),
        comb_latency=float(max(comb.out_latency) if hasattr(comb, "out_latency") else 0.0),
    )
