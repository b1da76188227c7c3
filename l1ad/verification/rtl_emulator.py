"""The shipped Verilog as an offline emulator: Verilator compiles a design's own ``rtl/`` files (the trigger
wrapper included) with a small C++ harness that streams events at II = 1.

This is what ``l1ad build`` compares with QKeras, the NumPy emulator and hls4ml (its "verilator" column), and
what ``l1ad rates --design`` uses to check the trigger bit at the chosen thresholds: the files Verilator reads
are exactly those listed in ``design.json`` and hashed into ``report.json`` / ``sim_report.json``
(:func:`sources_digest`), so a green verdict is about the Verilog that ships.

The compiled harness is cached under ``.cache/l1ad/rtlemu/<key>``, the key being a hash of the sources, the
harness, the flags and the Verilator version.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from l1ad.errors import SimulationError
from l1ad.io import atomic_dir

__all__ = ["RtlEmulator", "RtlRun", "compile_rtl_emulator", "pack_words_u32", "sources_digest"]

log = logging.getLogger(__name__)

#: Verilator flags of the harness build (part of the cache key)
VERILATOR_ARGS = ("-Wno-fatal", "-Wno-lint", "-Wno-style", "--x-assign", "fast", "--x-initial", "fast")
#: C++ optimisation of the harness. Measured on the default VAE (2 busy cores): -O0 compiles in 38 s and
#: streams 52k event-passes/s, -O1 in 87 s and 94k/s: -O0 wins for builds (one pass over 140k events) and
#: ties for the rates check (1M events x 5 thresholds, split over the cores)
CXX_OPT = os.environ.get("L1AD_RTLEMU_OPT", "-O0")
MAX_THRESHOLDS = 64


def sources_digest(design_dir: str | os.PathLike[str], sources: Sequence[str]) -> dict[str, Any]:
    """sha256 of every source file (by its path relative to the design) and of them all, in order."""
    d = Path(design_dir)
    total = hashlib.sha256()
    files = {}
    for s in sources:
        data = (d / s).read_bytes()
        files[s] = hashlib.sha256(data).hexdigest()
        total.update(s.encode() + b"\0" + data + b"\0")
    return {"sha256": total.hexdigest(), "files": files}


def pack_words_u32(words: np.ndarray, widths: Sequence[int]) -> np.ndarray:
    """Concatenate each event's words (word 0 at the LSBs, two's complement in its width) into 32-bit limbs:
    (N, ceil(sum(widths) / 32)) uint32, the layout of a Verilator ``VlWide`` (or scalar) input port."""
    w = np.asarray(words, dtype=np.int64)
    if any(int(b) > 32 or int(b) < 1 for b in widths):
        raise SimulationError(f"rtl emulator: input words must be 1-32 bits wide (widths {sorted(set(widths))})")
    n_u32 = max(1, -(-int(sum(widths)) // 32))
    out = np.zeros((len(w), n_u32), dtype=np.uint64)
    off = 0
    for i, width in enumerate(int(b) for b in widths):
        v = w[:, i].astype(np.uint64) & np.uint64((1 << width) - 1)
        for k in range(off // 32, (off + width - 1) // 32 + 1):
            sh = off - 32 * k
            out[:, k] |= ((v << np.uint64(sh)) if sh >= 0 else (v >> np.uint64(-sh))) & np.uint64(0xFFFFFFFF)
        off += width
    return out.astype(np.uint32)


@dataclass(frozen=True)
class RtlRun:
    """What the harness saw: per-event scores (out_valid order), trigger bits per threshold, the latency."""

    scores: np.ndarray  # (n_out,) int64
    triggers: np.ndarray  # (n_out, n_thresholds) bool
    thresholds: tuple[int, ...]
    latency_cycles: int | None
    n_out: int
    protocol_errors: int
    seconds: float

    def trigger_counts(self) -> list[int]:
        return [int(c) for c in self.triggers.sum(axis=0)]


class RtlEmulator:
    """A compiled harness of one design; :meth:`run` streams words through it."""

    def __init__(self, exe: Path, top: str, widths: list[int], score_width: int, score_signed: bool,
                 sources: dict[str, Any], cached: bool, build_seconds: float) -> None:
        self.exe, self.top, self.widths = exe, top, widths
        self.score_width, self.score_signed = score_width, score_signed
        self.sources, self.cached, self.build_seconds = sources, cached, build_seconds

    def predict(self, words: np.ndarray) -> np.ndarray:
        """Raw integer scores of the shipped Verilog, in event order (length = events seen on out_valid)."""
        return self.run(words).scores

    def run(self, words: np.ndarray, thresholds: Sequence[int] = (), chunk: int = 2_000_000,
            workers: int | None = None) -> RtlRun:
        """Stream ``words`` (one pass per threshold); large inputs are split into chunks run in parallel
        harness processes (each starts from reset: a chunk's events are independent)."""
        thr = tuple(int(t) for t in thresholds)
        if len(thr) > MAX_THRESHOLDS:
            raise SimulationError(f"rtl emulator: at most {MAX_THRESHOLDS} thresholds per run (got {len(thr)})")
        lo, hi = _int_range(self.score_width, self.score_signed)
        for t in thr:
            if not lo <= t <= hi:
                raise SimulationError(f"rtl emulator: threshold {t} does not fit the {self.score_width}-bit score port")
        w = np.asarray(words, dtype=np.int64)
        t0 = time.perf_counter()
        n_workers = max(1, workers if workers is not None else (os.cpu_count() or 1))
        if len(w) >= 50_000 * n_workers:
            chunk = min(chunk, -(-len(w) // n_workers))
        spans = [(i, min(i + chunk, len(w))) for i in range(0, len(w), chunk)]
        if len(spans) > 1 and n_workers > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(n_workers) as pool:  # the work is in the harness processes
                parts = list(pool.map(lambda sp: self._run_chunk(w[sp[0] : sp[1]], thr), spans))
        else:
            parts = [self._run_chunk(w[a:b], thr) for a, b in spans]
        if not parts:
            return RtlRun(np.zeros(0, np.int64), np.zeros((0, len(thr)), bool), thr, None, 0, 0, 0.0)
        scores = np.concatenate([p[0] for p in parts])
        bits = np.concatenate([p[1] for p in parts])
        trig = ((bits[:, None] >> np.arange(max(len(thr), 1), dtype=np.uint64)[None, :]) & np.uint64(1)).astype(bool)
        lat = parts[0][2]
        lats = {p[2] for p in parts}
        protocol = sum(p[3] for p in parts) + (len(lats) > 1)
        return RtlRun(scores, trig[:, : len(thr)], thr, lat, int(sum(p[4] for p in parts)), int(protocol),
                      time.perf_counter() - t0)

    def _run_chunk(self, w: np.ndarray, thr: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, int | None, int, int]:
        packed = pack_words_u32(w, self.widths)
        with tempfile.TemporaryDirectory(prefix="l1ad-rtlemu.") as tmp:
            fin, fout = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
            with open(fin, "wb") as f:
                np.asarray([len(w), packed.shape[1], len(thr)], np.int64).tofile(f)
                np.asarray(thr, np.int64).tofile(f)
                packed.tofile(f)
            res = subprocess.run([str(self.exe), str(fin), str(fout)], capture_output=True, text=True, check=False)
            if res.returncode != 0:
                raise SimulationError(f"{self.exe}: RTL harness failed (exit {res.returncode}): "
                                      f"{(res.stderr or res.stdout).strip().splitlines()[-1:]}")
            raw = np.fromfile(fout, dtype=np.int64)
        n = len(w)
        n_out, latency, protocol = (int(v) for v in raw[:3])
        scores = raw[3 : 3 + n][: min(n_out, n)].copy()
        bits = raw[3 + n : 3 + 2 * n].view(np.uint64)[: min(n_out, n)].copy()
        return scores, bits, (latency if latency >= 0 else None), protocol, n_out


def _int_range(width: int, signed: bool) -> tuple[int, int]:
    return (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)


def _template() -> str:
    return resources.files("l1ad.verification").joinpath("templates/rtl_harness.cpp.tmpl").read_text()


def cache_root() -> Path:
    base = os.environ.get("L1AD_CACHE_DIR")
    return (Path(base) if base else Path(__file__).resolve().parents[2] / ".cache" / "l1ad") / "rtlemu"


def compile_rtl_emulator(design_dir: str | os.PathLike[str], design: dict[str, Any] | None = None) -> RtlEmulator:
    """Compile (or reuse) the harness for the design in ``design_dir`` from its ``design.json`` sources."""
    from l1ad.firmware.verilator_env import verilator_env, verilator_version

    d = Path(design_dir)
    if design is None:
        from l1ad.verification.runner import load_design_dict

        design = load_design_dict(d)
    top = str(design["top"])
    widths = [int(f["width"]) for f in design["inputs"]]
    sw, ss = int(design["score"]["width"]), bool(design["score"].get("signed", False))
    if sw > 64:
        raise SimulationError(f"{d / 'design.json'}: field 'score.width': the RTL harness reads up to 64 bits (value {sw})")
    digest = sources_digest(d, design["sources"])
    cpp = (_template().replace("@TOP@", top).replace("@SCORE_WIDTH@", str(sw))
           .replace("@SCORE_SIGNED@", "true" if ss else "false"))
    key = hashlib.sha256(json_dumps({"sources": digest["sha256"], "harness": cpp, "args": VERILATOR_ARGS,
                                     "opt": CXX_OPT, "verilator": verilator_version(), "top": top}).encode()).hexdigest()[:32]
    target = cache_root() / key
    exe = target / "harness"
    if exe.is_file():
        return RtlEmulator(exe, top, widths, sw, ss, digest, True, 0.0)
    log.info("compiling the shipped RTL of %s with Verilator (cached afterwards under %s)", top, target.parent)
    t0 = time.perf_counter()
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_dir(target) as tmp, verilator_env({"OPT_FAST": CXX_OPT, "OPT_SLOW": CXX_OPT, "OPT_GLOBAL": CXX_OPT}):
        (tmp / "harness.cpp").write_text(cpp)
        cmd = ["verilator", "--cc", "--exe", "--build", "-j", "2", *VERILATOR_ARGS, "--top-module", top,
               "-Mdir", str(tmp / "obj"), "-o", str(tmp / "harness"), "-CFLAGS", CXX_OPT,
               *(str((d / s).resolve()) for s in design["sources"]), str(tmp / "harness.cpp")]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        (tmp / "build.log").write_text(res.stdout + res.stderr)
        if res.returncode != 0 or not (tmp / "harness").is_file():
            errs = [ln for ln in (res.stderr + res.stdout).splitlines() if "%Error" in ln or "error:" in ln]
            raise SimulationError(f"{d / 'design.json'}: Verilator could not build the shipped RTL: "
                                  f"{' | '.join(errs[:3]) or 'see ' + str(tmp / 'build.log')}")
        import shutil

        shutil.rmtree(tmp / "obj", ignore_errors=True)  # keep only the executable and the log
    dt = time.perf_counter() - t0
    return RtlEmulator(exe, top, widths, sw, ss, digest, False, dt)


def json_dumps(o: Any) -> str:
    import json

    return json.dumps(o, sort_keys=True, default=str)
