"""``l1ad build``: artifact -> fixed-point description -> hls4ml project + da4ml Verilog trigger design.

Everything is checked against everything else on the same events (QKeras, NumPy emulator, hls4ml C-sim,
da4ml's Verilator emulator). Outputs are written with :func:`l1ad.io.atomic_dir`: a failing build leaves the
previous ``firmware/<model>-<board>/`` and ``hls_projects/<model>-<board>/`` untouched.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from l1ad.errors import BuildError, CheckFailed, DataError
from l1ad.firmware import rtl
from l1ad.firmware import synth as synth_mod
from l1ad.firmware.boards import get_board
from l1ad.firmware.design import PORTS, Design
from l1ad.firmware.report import compare_pairs, render_text, tool_versions
from l1ad.firmware.wrapper import wrapper_verilog
from l1ad.fixedpoint import FixedPointModel
from l1ad.io import atomic_dir, write_json

__all__ = ["BUDGET_NS", "build", "load_words"]

log = logging.getLogger(__name__)
BUDGET_NS = 50.0  # deployed AXOL1TL budget: 2 bunch crossings at 40 MHz (l1-anchors.md)


def _ident(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return s if s[:1].isalpha() else f"m_{s}"


def load_words(
    fp: FixedPointModel, data: str | Path | Sequence[str | Path] | None, n: int, seed: int = 0
) -> tuple[np.ndarray, str]:
    """Reference events as input words: up to ``n`` events of each ADC2021 file, encoded with
    :mod:`l1ad.data.encoding` (e.g. zero bias and signals), else ``n`` random valid words."""
    if data is None or (not isinstance(data, str | Path) and not data):
        return fp.random_words(n, seed), f"{n} random valid input words (seed {seed})"
    from l1ad.data.encoding import load_encoding, read_words

    files = [Path(data)] if isinstance(data, str | Path) else [Path(d) for d in data]
    enc = load_encoding()
    parts, desc = [], []
    for f in files:
        words = read_words(f, 0, n, enc)
        if words.shape[1] != fp.n_inputs:
            raise DataError(f"{f}: encodes to {words.shape[1]} words per event, model expects {fp.n_inputs}")
        parts.append(words)
        desc.append(f"{len(words)} of {f.name}")
    return np.concatenate(parts), f"{sum(len(w) for w in parts)} events ({', '.join(desc)})"


def _qkeras_scores(fp: FixedPointModel, model: Any, words: np.ndarray) -> tuple[np.ndarray, float]:
    from l1ad.firmware.hls import score_from_outputs

    x = fp.preprocess_float(words).astype(np.float32)
    t = time.perf_counter()
    out = np.asarray(model.predict(x, batch_size=16384, verbose=0), dtype=np.float64)
    dt = time.perf_counter() - t
    xq = None
    if fp.score.type == "squared_error":
        xq = np.asarray(model.layers[1](x), dtype=np.float64) if len(model.layers) > 1 else x
    return score_from_outputs(fp, out, xq), len(words) / max(dt, 1e-9)


def build(
    model_dir: str | Path,
    board_name: str,
    clock_mhz: float | None = None,
    out_root: str | Path = "firmware",
    hls_root: str | Path = "hls_projects",
    events: int = 100_000,
    data: str | Path | Sequence[str | Path] | None = None,
    hls: bool = True,
    emulate_rtl: bool = True,
    command: list[str] | None = None,
    synth: str = "auto",
) -> dict[str, Any]:
    """Run the whole flow; returns the report dict (also written as report.json/report.txt)."""
    timings: dict[str, float] = {}
    t_all = time.perf_counter()

    def lap(name: str, t0: float) -> float:
        timings[name] = round(time.perf_counter() - t0, 3)
        return time.perf_counter()

    board = get_board(board_name)
    synth_mod.check_mode(synth)  # --synth yosys without yosys: usage error before any work
    clock = float(clock_mhz or board.clock_mhz)
    if clock <= 0:
        raise BuildError(f"--clock-mhz: field 'clock_mhz': must be positive (value {clock})")
    period = 1000.0 / clock
    t = time.perf_counter()
    from l1ad.models import load_artifact

    art = load_artifact(model_dir)
    fp = FixedPointModel.from_artifact(model_dir)  # UnsupportedLayerError here: nothing written yet
    keras_model = art.trigger_model
    name = f"{_ident(fp.name)}"
    design_name = f"{fp.name}-{board_name}"
    top, net_mod = f"{name}_trigger", f"{name}_net"
    t = lap("describe", t)

    words, words_desc = load_words(fp, data, events)
    t = lap("load_events", t)
    fp.predict(words[:1])  # build the fast path once, outside the timing
    t0 = time.perf_counter()
    emu = fp.predict(words)
    emu_rate = len(words) / max(time.perf_counter() - t0, 1e-9)
    overflow = fp.overflow_counts(words)
    qk, qk_rate = _qkeras_scores(fp, keras_model, words)
    results: dict[str, np.ndarray] = {"qkeras": qk, "emulator": emu}
    t = lap("emulate_qkeras", t)

    hls_info: dict[str, Any] = {"enabled": hls}
    if hls:
        from l1ad.firmware.hls import build_hls

        hr = build_hls(fp, keras_model, words, Path(hls_root) / design_name, board.part, period, design_name)
        results["hls4ml_csim"] = hr.scores
        hls_info.update(project=str(hr.project_dir), note=hr.note, csynth=hr.csynth, events_per_s=hr.events_per_s,
                        compile_s=round(hr.compile_s, 1), precisions=hr.precisions)
        t = lap("hls4ml", t)

    comb, n_chunks = rtl.trace_model(fp)
    cutoff = rtl.latency_cutoff_for(period, board.adder_delay_ns)
    t = lap("da4ml_trace", t)

    out_dir = Path(out_root) / design_name
    with atomic_dir(out_dir) as tmp:
        (tmp / "rtl").mkdir()
        fp.save(tmp / "fixedpoint.json")
        net = rtl.write_net(comb, n_chunks, net_mod, tmp / "rtl", board.part, period, cutoff)
        sp = fp.score.output
        (tmp / "rtl" / f"{top}.v").write_text(
            wrapper_verilog(top, net_mod, fp.inputs, net.in_kifs, net.out_kifs, rtl.CHUNK, sp, net.latency_cycles)
        )
        t = lap("verilog", t)
        emu_cached = None
        if emulate_rtl:
            remu, emu_cached = rtl.compile_emulator(comb, n_chunks, net_mod, board.part, period, cutoff)
            results["verilator"] = remu.predict(words, sp.signed)
            t = lap("verilator_emulator", t)
        latency_cycles = net.latency_cycles + 1
        sources = [f"rtl/{p.name}" for p in net.files] + [f"rtl/{top}.v"]
        design = Design(
            dir=out_dir,
            top=top,
            sources=sources,
            latency_cycles=latency_cycles,
            clock_period_ns=round(period, 6),
            ii=1,
            inputs=[{"name": f.name, "width": f.width, "signed": f.signed} for f in fp.inputs],
            score={"width": sp.width, "signed": sp.signed, "frac": sp.frac},
            ports=dict(PORTS),
            fixedpoint="fixedpoint.json",
            budget_ns=BUDGET_NS,
        )
        write_json(tmp / "design.json", design.to_json())
        n_mult = sum(len(re.findall(r"multiplier #\(\d", p.read_text())) for p in net.files)
        wrapper_ffs = latency_cycles + sp.width + 2
        ffs = net.reg_bits + wrapper_ffs
        # Yosys synthesis of the shipped RTL: mapped counts vs the estimate, per-stage depth and timing estimate
        synthesis = synth_mod.for_build(synth, tmp, top, sources, board, period, estimate_luts=net.cost_luts,
                                        estimate_ffs=ffs, n_stages=net.stages)
        if synthesis.get("enabled"):
            t = lap("synthesis", t)
        pairs = compare_pairs(results, words)
        report: dict[str, Any] = {
            "model": fp.name,
            "artifact": str(model_dir),
            "board": board_name,
            "part": board.part,
            "clock_mhz": clock,
            "clock_period_ns": round(period, 6),
            "latency_cycles": latency_cycles,
            "latency_ns": round(latency_cycles * period, 3),
            "ii": 1,
            "budget_ns": BUDGET_NS,
            "meets_budget": latency_cycles * period <= BUDGET_NS,
            "resources": {
                "source": "da4ml cost model (LUT estimate) + pipeline register bits; not a vendor synthesis",
                "luts": round(net.cost_luts, 1),
                "ffs": ffs,
                "dsps": 0,
                "multipliers_in_luts": n_mult,
                "luts_pct": 100.0 * net.cost_luts / board.luts,
                "ffs_pct": 100.0 * ffs / board.ffs,
                "dsps_pct": 0.0,
                "board": {"luts": board.luts, "ffs": board.ffs, "dsps": board.dsps, "brams": board.brams},
            },
            "da4ml": {"pipeline_stages": net.stages, "adder_levels_per_stage": net.latency_cutoff,
                      "adder_levels": net.comb_latency, "score_chunks": n_chunks,
                      "emulator_cached": emu_cached},
            "score": {"type": fp.score.type, "precision": sp.ap_type(), "width": sp.width, "signed": sp.signed, "frac": sp.frac},
            "layers": fp.summary(),
            "events": words_desc,
            "bitexact": pairs,
            "all_bitexact": all(p["mismatches"] == 0 for p in pairs),
            "overflow": overflow,
            "benchmark": {
                "events": len(words),
                "emulator_events_per_s": emu_rate,
                "qkeras_events_per_s": qk_rate,
                "hls4ml_events_per_s": hls_info.get("events_per_s", 0.0),
                "speedup": emu_rate / hls_info["events_per_s"] if hls_info.get("events_per_s") else 0.0,
            },
            "hls": hls_info,
            "synthesis": synthesis,
            "command": command or ["l1ad", "build", "--board", board_name, "--model", str(model_dir)],
            "versions": tool_versions(),
            "timings_s": timings,
        }
        timings["total"] = round(time.perf_counter() - t_all, 3)
        write_json(tmp / "report.json", report)
        (tmp / "report.txt").write_text(render_text(report))
    if not report["all_bitexact"]:
        bad = next(p for p in pairs if p["mismatches"])
        raise BuildError(f"{out_dir / 'report.json'}: bit-exactness failed: {bad['a']} vs {bad['b']} {bad['mismatches']} mismatches of {bad['events']}")
    synth_bad = synth_mod.verdict(report["synthesis"])
    if synth_bad:
        raise CheckFailed(f"{out_dir / 'report.json'}: {synth_bad}")
    return report
