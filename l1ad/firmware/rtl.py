"""Verilog for the network + score, traced with da4ml from the fixed-point description (nothing re-derived).

The traced function maps the raw input words to the raw integer score: word unpacking is wiring,
``(word - offset) * 2**-shift`` is one constant add and a free shift, every Quantize uses the description's
rounding (RND_CONV is built from TRN with the round-half-even bit trick) and saturation, dense layers become
da4ml constant-matrix adder graphs, and the score is an adder tree of squares. A score wider than 31 bits leaves
the network as 30-bit chunks (da4ml's Verilator emulator passes int32 words); the wrapper concatenates them.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from l1ad.errors import BuildError
from l1ad.fixedpoint import FixedPointModel
from l1ad.fixedpoint.layers.base import object_array
from l1ad.io import atomic_dir
from l1ad.models.scoring import ScoreKind

__all__ = ["NetRTL", "cache_dir", "compile_emulator", "latency_cutoff_for", "trace_model", "write_net"]

log = logging.getLogger(__name__)
CHUNK = 30


def cache_dir() -> Path:
    base = os.environ.get("L1AD_CACHE_DIR")
    return Path(base) if base else Path(__file__).resolve().parents[2] / ".cache" / "l1ad"


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
    latency_cycles: int  # clock edges from model_inp to model_out
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


def write_net(comb: Any, n_chunks: int, module: str, out_dir: Path, part: str, clock_period_ns: float, cutoff: int) -> NetRTL:
    """Write the pipelined network Verilog into ``out_dir`` (flat); return its interface."""
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
    for src in sorted((scratch / "src/static").glob("*.v")):
        text = src.read_text()
        if src.stem == "multiplier":  # squares in LUTs: the budget is 0 DSPs
            text = text.replace("module multiplier", '(* use_dsp = "no" *)\nmodule multiplier', 1)
        dst = out_dir / src.name
        dst.write_text(text)
        files.append(dst)
    shutil.rmtree(scratch)
    stages = len(pipe.solutions)
    return NetRTL(
        module=module,
        files=files,
        stages=stages,
        latency_cycles=stages + 1,
        in_kifs=_kifs(comb.inp_qint),
        out_kifs=_kifs(comb.out_qint),
        n_chunks=n_chunks,
        cost_luts=float(comb.cost),
        reg_bits=int(pipe.reg_bits),
        latency_cutoff=int(m._latency_cutoff),
        comb_latency=float(max(comb.out_latency) if hasattr(comb, "out_latency") else 0.0),
    )


# ------------------------------------------------------------------------------------------------ emulator
class NetEmulator:
    """da4ml's Verilator-built emulator of the traced network, returning the raw integer score."""

    def __init__(self, model: Any, n_chunks: int, out_kifs: list[tuple[int, int, int]]):
        self.model, self.n_chunks = model, n_chunks

    def predict(self, words: np.ndarray, signed: bool) -> np.ndarray:
        out = np.asarray(self.model.predict(np.asarray(words, np.float64)), dtype=np.float64).reshape(len(words), -1)
        vals = np.rint(out).astype(np.int64)
        score = np.zeros(len(words), dtype=object) if self.n_chunks > 2 else np.zeros(len(words), np.int64)
        for c in range(self.n_chunks):
            score = score + (vals[:, c].astype(score.dtype) << (CHUNK * c))
        return np.asarray(score, dtype=np.int64)


def _hash_tree(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix in (".v", ".cc", ".hh", ".mk", ".json", ".mem"):
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:24]


def compile_emulator(comb: Any, n_chunks: int, module: str, part: str, clock_period_ns: float, cutoff: int) -> tuple[NetEmulator, bool]:
    """Build (or reuse from ``.cache/l1ad/da4ml/<hash>``) the Verilator emulator; returns (emulator, cached?)."""
    from da4ml.codegen import RTLModel

    from l1ad.firmware.verilator_env import verilator_env

    root = cache_dir() / "da4ml"
    root.mkdir(parents=True, exist_ok=True)
    probe = root / f".probe.{os.getpid()}"
    shutil.rmtree(probe, ignore_errors=True)
    RTLModel(comb, module, probe, flavor="verilog", latency_cutoff=cutoff, part_name=part, clock_period=clock_period_ns).write()
    (probe / "metadata.json").unlink(missing_ok=True)
    key = _hash_tree(probe) + f"-O{EMULATOR_OPT}"
    shutil.rmtree(probe, ignore_errors=True)
    target = root / key
    cached = any(target.glob("sim/lib*.so"))
    if not cached:
        level = f"-O{EMULATOR_OPT}"  # verilated.mk compiles hot files with OPT_FAST (-Os) unless told
        with atomic_dir(target) as tmp, verilator_env({"OPT_FAST": level, "OPT_SLOW": level}):
            m = RTLModel(comb, module, tmp, flavor="verilog", latency_cutoff=cutoff, part_name=part, clock_period=clock_period_ns)
            try:
                m.write()
                _set_opt_level(tmp / "sim" / "build_binder.mk", EMULATOR_OPT)
                m._compile(openmp=False, nproc=2)
            except RuntimeError as e:
                raise BuildError(f"da4ml emulator: Verilator build failed in {tmp}: {e}") from None
            _fix_lib_name(tmp)
    m = RTLModel(comb, module, target, flavor="verilog", latency_cutoff=cutoff, part_name=part, clock_period=clock_period_ns)
    m._load_lib()
    return NetEmulator(m, n_chunks, []), cached


#: g++ optimisation of the Verilator emulator. da4ml's default "-O" spends minutes compiling the large
#: generated C++ of a 57-input network; -O0 compiles it in seconds and still emulates ~50-100k events/s.
EMULATOR_OPT = int(os.environ.get("L1AD_EMULATOR_OPT", "0"))


def _set_opt_level(makefile: Path, level: int) -> None:
    text = makefile.read_text()
    patched = text.replace("slow: CFLAGS += -O\n", f"slow: CFLAGS += -O{level}\n")
    if patched == text:
        raise BuildError(f"{makefile}: da4ml build file changed; cannot set the optimisation level")
    makefile.write_text(patched)


def _fix_lib_name(d: Path) -> None:
    # keep exactly one shared library so _load_lib() finds it after the directory is renamed
    libs = sorted((d / "sim").glob("lib*.so"))
    for extra in libs[1:]:
        extra.unlink()
