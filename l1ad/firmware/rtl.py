"""Verilog for the network + score, traced with da4ml from the fixed-point description (nothing re-derived).

The traced function maps the raw input words to the raw integer score: word unpacking is wiring,
``(word - offset) * 2**-shift`` is one constant add and a free shift, every Quantize uses the description's
rounding (RND_CONV is built from TRN with the round-half-even bit trick) and saturation, dense layers become
da4ml constant-matrix adder graphs, and the score is an adder tree of squares. A score wider than 31 bits leaves
the network as 30-bit chunks (da4ml's Verilator emulator passes int32 words); the wrapper concatenates them.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from l1ad.errors import BuildError
from l1ad.fixedpoint import FixedPointModel
from l1ad.fixedpoint.types import (
    Conv1D,
    Dense,
    Flatten,
    GlobalAvgPool1D,
    GlobalMaxPool1D,
    MaxPool1D,
    Precision,
    Quantize,
    Relu,
)
from l1ad.io import atomic_dir

__all__ = ["NetRTL", "cache_dir", "compile_emulator", "instantiated_modules", "latency_cutoff_for", "trace_model", "write_net"]

log = logging.getLogger(__name__)
CHUNK = 30


def cache_dir() -> Path:
    base = os.environ.get("L1AD_CACHE_DIR")
    return Path(base) if base else Path(__file__).resolve().parents[2] / ".cache" / "l1ad"


# ------------------------------------------------------------------------------------------------ tracing
def _quantize(v: Any, prec: Precision) -> Any:
    k = int(prec.signed)
    i = prec.width - prec.frac - k
    f = prec.frac
    rnd = prec.rounding
    _k, _i, _f = v.kif
    if rnd == "RND_CONV":
        rnd = "TRN"
        if _f > f and v.low != v.high:
            # round half to even: add (half - ulp) + (kept LSB) * ulp, then truncate
            bit = v.quantize(0, 1 - f, f, "WRAP", "TRN")
            v = v + (2.0 ** (-f - 1) - 2.0 ** (-_f)) + bit * 2.0 ** (f - _f)
        elif _f > f:  # constant
            val = float(v.low) * 2.0**f
            return v.from_const(float(np.rint(val)) * 2.0**-f, hwconf=v.hwconf).quantize(k, i, f, prec.saturation, "TRN")
    return v.quantize(k, i, f, prec.saturation, rnd)


def _tree_sum(vals: list[Any]) -> Any:
    vals = list(vals)
    while len(vals) > 1:
        nxt = [vals[j] + vals[j + 1] for j in range(0, len(vals) - 1, 2)]
        if len(vals) % 2:
            nxt.append(vals[-1])
        vals = nxt
    return vals[0]


def _square_terms(x: Any) -> list[Any]:
    """Partial products of x*x (one mux per bit of x): summed in one balanced tree with the other squares,
    this is shallower than da4ml's ripple multiplier model and uses LUTs only."""
    if x.low == x.high:
        return [x * x]
    k, i, f = x.kif
    n = int(k + i + f)
    terms = []
    for j in range(n):
        sign_bit = bool(k) and j == n - 1
        key = x if sign_bit else x.quantize(1, j - f, f, "WRAP", "TRN")
        weight = 2.0 ** (j - f)
        terms.append(key.msb_mux(x * (-weight if sign_bit else weight), 0.0))
    return terms


def _matmul(x: np.ndarray, w: np.ndarray, frac: int, solver_options: dict[str, Any] | None = None) -> np.ndarray:
    from da4ml.trace import FixedVariableArray

    r = FixedVariableArray(x, solver_options if solver_options is not None else {"hard_dc": 0}) @ (w.astype(np.float64) * 2.0**-frac)
    return np.asarray(r._vars)


def trace_model(fp: FixedPointModel) -> tuple[Any, int]:
    """Trace ``fp`` with da4ml: returns (CombLogic words -> score chunks, number of chunks)."""
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
    x = np.empty(fp.n_inputs, dtype=object)
    x[:] = xs
    x = x.reshape(fp.input_shape)
    outs: dict[str, np.ndarray] = {}
    for layer in fp.layers:
        if isinstance(layer, Quantize):
            x = np.vectorize(lambda v, p=layer.output: _quantize(v, p), otypes=[object])(x)
        elif isinstance(layer, Dense):
            acc = _matmul(x, layer.weights, layer.weight_frac)
            bias = layer.bias.astype(np.float64) * 2.0**-layer.bias_frac
            x = np.array([_quantize(a + float(b), layer.output) if b else _quantize(a, layer.output) for a, b in zip(acc, bias, strict=False)], dtype=object)
        elif isinstance(layer, Conv1D):
            k, _, c_out = layer.weights.shape
            n_out = (x.shape[0] - k) // layer.stride + 1
            w2 = layer.weights.reshape(-1, c_out)
            bias = layer.bias.astype(np.float64) * 2.0**-layer.bias_frac
            rows = []
            for p in range(n_out):
                acc = _matmul(x[p * layer.stride : p * layer.stride + k].reshape(-1), w2, layer.weight_frac)
                rows.append([_quantize(a + float(b), layer.output) if b else _quantize(a, layer.output) for a, b in zip(acc, bias, strict=False)])
            x = np.empty((n_out, c_out), dtype=object)
            x[:, :] = rows
        elif isinstance(layer, Relu):
            x = np.vectorize(lambda v, p=layer.output: _quantize(v.relu(), p), otypes=[object])(x)
        elif isinstance(layer, Flatten):
            x = x.reshape(-1)
        elif isinstance(layer, MaxPool1D):
            n_out = (x.shape[0] - layer.pool) // layer.stride + 1
            y = np.empty((n_out, x.shape[1]), dtype=object)
            for p in range(n_out):
                for c in range(x.shape[1]):
                    win = list(x[p * layer.stride : p * layer.stride + layer.pool, c])
                    y[p, c] = functools.reduce(lambda a, b: a.max_of(b), win)
            x = y
        elif isinstance(layer, GlobalMaxPool1D):
            x = np.array([functools.reduce(lambda a, b: a.max_of(b), list(x[:, c])) for c in range(x.shape[1])], dtype=object)
        elif isinstance(layer, GlobalAvgPool1D):
            n = x.shape[0]
            x = np.array([_quantize(_tree_sum(list(x[:, c])) * 2.0 ** -int(math.log2(n)), layer.output) for c in range(x.shape[1])], dtype=object)
        else:
            raise BuildError(f"layer '{layer.name}' ({layer.kind}): no RTL lowering")
        outs[layer.name] = x
        log.debug("da4ml trace: after %s max latency %.1f", layer.name, max(float(v.latency) for v in np.ravel(x)))
    y = list(np.ravel(x))
    sc = fp.score
    if sc.type == "identity":
        s = y[0]
    elif sc.type == "sum_squares":
        s = _tree_sum([t for v in y for t in _square_terms(v)])
    else:
        ref = list(np.ravel(outs[sc.reference]))
        s = _tree_sum([t for a, b in zip(y, ref, strict=False) for t in _square_terms(a - b)])
    p = sc.output
    s = _quantize(s, p) * 2.0**p.frac  # integer-valued raw score
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
