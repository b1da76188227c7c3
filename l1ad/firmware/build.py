"""``l1ad build``: artifact -> fixed-point description -> hls4ml project + da4ml Verilog trigger design.

Everything is checked against everything else on the same events (QKeras, NumPy emulator, hls4ml C-sim and the
shipped Verilog itself, compiled with Verilator from ``rtl/`` including the trigger wrapper), plus the latency
against the budget. Both outputs are staged in temporary directories and committed only when every check
passed; a failed check leaves ``firmware/<model>-<board>/`` and ``hls_projects/<model>-<board>/`` as they
were and writes the evidence (report.json naming the pair and the first offending event) to
``firmware/<model>-<board>.failed/`` instead (exit code 1).
"""

from __future__ import annotations

import logging
import re
import shutil
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
from l1ad.fixedpoint.source import ImportOptions, load_model_source
from l1ad.io import StagedDir, write_json

__all__ = ["FAILED_SUFFIX", "build", "default_budget_ns", "load_words", "write_design"]

log = logging.getLogger(__name__)
#: a build whose checks fail is written beside the good one under this suffix
FAILED_SUFFIX = ".failed"


def default_budget_ns() -> float:
    """The latency budget of ``configs/sim.yaml`` (50 ns: AXOL1TL's fixed 2 x 25 ns in the Global Trigger)."""
    from l1ad.verification.config import load_sim_config

    b = load_sim_config().budget_ns
    return float(b) if b is not None else 50.0


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
        if len(words) == 0:
            raise DataError(f"{f}: --data: the file holds no events (value 0 events)")
        if words.shape[1] != fp.n_inputs:
            raise DataError(f"{f}: encodes to {words.shape[1]} words per event, model expects {fp.n_inputs}")
        parts.append(words)
        desc.append(f"{len(words)} of {f.name}")
    return np.concatenate(parts), f"{sum(len(w) for w in parts)} events ({', '.join(desc)})"


def _qkeras_scores(fp: FixedPointModel, model: Any, words: np.ndarray) -> tuple[np.ndarray, float]:
    t = time.perf_counter()
    raw = fp.keras_scores(model, words)
    return raw, len(words) / max(time.perf_counter() - t, 1e-9)


def build(
    model_dir: str | Path | Any,
    board_name: str,
    clock_mhz: float | None = None,
    out_root: str | Path = "firmware",
    hls_root: str | Path = "hls_projects",
    events: int = 100_000,
    data: str | Path | Sequence[str | Path] | None = None,
    hls: bool = True,
    emulate_rtl: bool = True,
    command: list[str] | None = None,
    options: ImportOptions | None = None,
    budget_ns: float | None = None,
    synth: str = "auto",
) -> dict[str, Any]:
    """Run the whole flow; returns the report dict (also written as report.json/report.txt).

    ``model_dir``: an artifact directory, a bare ``.h5``/SavedModel or a Keras model in memory (``options``: how
    to read a bare model, :class:`l1ad.fixedpoint.source.ImportOptions`).

    Raises :class:`CheckFailed` (exit 1) when a bit-exactness pair disagrees, the shipped RTL's latency differs
    from the design's, or the latency exceeds ``budget_ns`` (default: configs/sim.yaml); the report then goes
    to ``<out_root>/<model>-<board>.failed/`` and the previous good outputs stay untouched."""
    timings: dict[str, float] = {}
    t_all = time.perf_counter()

    def lap(name: str, t0: float) -> float:
        timings[name] = round(time.perf_counter() - t0, 3)
        log.info("build: %-18s %6.1f s", name, timings[name])
        return time.perf_counter()

    board = get_board(board_name)
    if clock_mhz is not None and not clock_mhz > 0:
        raise BuildError(f"--clock-mhz: field 'clock_mhz': must be positive (value {clock_mhz})")
    if events < 1:
        raise BuildError(f"--events: must be >= 1 (value {events})")
    budget = float(budget_ns) if budget_ns is not None else default_budget_ns()
    if not budget > 0:
        raise BuildError(f"--budget-ns: must be positive (value {budget_ns})")
    clock = float(clock_mhz) if clock_mhz is not None else float(board.clock_mhz)
    synth_mod.check_mode(synth)  # --synth yosys without yosys: usage error before any work
    period = 1000.0 / clock
    t = time.perf_counter()
    src = load_model_source(model_dir, options)  # UnsupportedLayerError here: nothing written yet
    fp, keras_model = src.fp, src.keras_model
    name = f"{_ident(fp.name)}"
    design_name = f"{fp.name}-{board_name}"
    top, net_mod = f"{name}_trigger", f"{name}_net"
    out_dir = Path(out_root) / design_name
    hls_dir = Path(hls_root) / design_name
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

    with StagedDir(out_dir) as fw_stage, StagedDir(hls_dir) as hls_stage:
        hls_info: dict[str, Any] = {"enabled": hls}
        if hls:
            from l1ad.firmware.hls import build_hls

            log.info("build: hls4ml project + C simulation of %d events ...", len(words))
            hr = build_hls(fp, keras_model, words, hls_stage.path, board.part, period, design_name, final_dir=hls_dir)
            results["hls4ml_csim"] = hr.scores
            hls_info.update(project=str(hls_dir), note=hr.note, csynth=hr.csynth, events_per_s=hr.events_per_s,
                            compile_s=round(hr.compile_s, 1), precisions=hr.precisions)
            t = lap("hls4ml", t)

        tmp = fw_stage.path
        design, net, n_chunks = write_design(fp, tmp, out_dir, top, net_mod, board.part, period,
                                             rtl.latency_cutoff_for(period, board.adder_delay_ns), budget)
        latency_cycles, sources, sp = design.latency_cycles, design.sources, fp.score.output
        t = lap("verilog", t)

        rtl_info: dict[str, Any] = {}
        if emulate_rtl:
            from l1ad.verification.rtl_emulator import compile_rtl_emulator

            remu = compile_rtl_emulator(tmp, design.to_json())
            run = remu.run(words)
            results["verilator"] = run.scores
            rtl_info = {"sources": remu.sources, "top": top, "emulator_cached": remu.cached,
                        "build_s": round(remu.build_seconds, 1), "events": run.n_out,
                        "latency_cycles_measured": run.latency_cycles, "protocol_errors": run.protocol_errors,
                        "events_per_s": run.n_out / max(run.seconds, 1e-9)}
            t = lap("verilator_rtl", t)
        else:
            from l1ad.verification.rtl_emulator import sources_digest

            rtl_info = {"sources": sources_digest(tmp, sources), "top": top}

        n_mult = sum(len(re.findall(r"multiplier #\(\d", p.read_text())) for p in net.files)
        wrapper_ffs = latency_cycles + sp.width + 2
        ffs = net.reg_bits + wrapper_ffs
        # Yosys synthesis of the shipped RTL: mapped counts vs the estimate, per-stage depth and timing estimate
        synthesis = synth_mod.for_build(synth, tmp, top, sources, board, period, estimate_luts=net.cost_luts,
                                        estimate_ffs=ffs, n_stages=net.stages)
        if synthesis.get("enabled"):
            t = lap("synthesis", t)
        pairs = compare_pairs(results, words)
        checks = _checks(pairs, rtl_info, latency_cycles, period, budget, emulate_rtl)
        if synthesis.get("enabled"):
            bad_synth = synth_mod.verdict(synthesis)
            checks.append({"check": "synthesis", "passed": bad_synth is None,
                           "message": bad_synth or "Yosys synthesis of the shipped RTL; every stage meets the clock "
                                                   "by the timing estimate"})
        report: dict[str, Any] = {
            "model": fp.name,
            "artifact": src.label,
            "source": src.provenance,
            "notes": src.notes,
            "board": board_name,
            "part": board.part,
            "clock_mhz": clock,
            "clock_period_ns": round(period, 6),
            "latency_cycles": latency_cycles,
            "latency_ns": round(latency_cycles * period, 3),
            "ii": 1,
            "budget_ns": budget,
            "meets_budget": latency_cycles * period <= budget + 1e-6,
            "passed": all(c["passed"] for c in checks),
            "checks": checks,
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
                      "adder_levels": net.comb_latency, "score_chunks": n_chunks},
            "rtl": rtl_info,
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
            "command": command or ["l1ad", "build", "--board", board_name, "--model", src.label],
            "versions": tool_versions(),
            "timings_s": timings,
        }
        timings["total"] = round(time.perf_counter() - t_all, 3)
        if report["passed"]:
            write_json(tmp / "report.json", report)
            (tmp / "report.txt").write_text(render_text(report))
            if hls:
                hls_stage.commit()
            fw_stage.commit()
            for stale in (_failed(out_dir), _failed(hls_dir)):
                shutil.rmtree(stale, ignore_errors=True)
            return report
        failed_dir = _failed(out_dir)
        report["design_dir"] = str(failed_dir)
        report["previous_design_kept"] = str(out_dir) if out_dir.exists() else None
        if hls:
            report["hls"]["project"] = str(_failed(hls_dir))
        write_json(tmp / "report.json", report)
        (tmp / "report.txt").write_text(render_text(report))
        if hls:
            hls_stage.commit(_failed(hls_dir))
        fw_stage.commit(failed_dir)
    bad = next(c for c in checks if not c["passed"])
    raise CheckFailed(f"{failed_dir / 'report.json'}: {bad['message']}"
                      + (f" ({out_dir} left as it was)" if out_dir.exists() else ""))


def write_design(fp: FixedPointModel, directory: Path, final_dir: Path, top: str, net_module: str, part: str,
                 period: float, cutoff: int, budget_ns: float) -> tuple[Design, rtl.NetRTL, int]:
    """Write a trigger design into ``directory``: ``fixedpoint.json``, the da4ml network and the trigger wrapper
    under ``rtl/``, and ``design.json`` (which names ``final_dir``, where the caller will commit it)."""
    comb, n_chunks = rtl.trace_model(fp)
    (directory / "rtl").mkdir(exist_ok=True)
    fp.save(directory / "fixedpoint.json")
    net = rtl.write_net(comb, n_chunks, net_module, directory / "rtl", part, period, cutoff)
    sp = fp.score.output
    (directory / "rtl" / f"{top}.v").write_text(
        wrapper_verilog(top, net_module, fp.inputs, net.in_kifs, net.out_kifs, rtl.CHUNK, sp, net.latency_cycles)
    )
    design = Design(
        dir=final_dir,
        top=top,
        sources=[f"rtl/{p.name}" for p in net.files] + [f"rtl/{top}.v"],
        latency_cycles=net.latency_cycles + 1,
        clock_period_ns=period,
        ii=1,
        inputs=[{"name": f.name, "width": f.width, "signed": f.signed} for f in fp.inputs],
        score={"width": sp.width, "signed": sp.signed, "frac": sp.frac},
        ports=dict(PORTS),
        fixedpoint="fixedpoint.json",
        budget_ns=budget_ns,
    )
    write_json(directory / "design.json", design.to_json())
    return design, net, n_chunks


def _failed(path: Path) -> Path:
    return path.with_name(path.name + FAILED_SUFFIX)


def _checks(pairs: list[dict[str, Any]], rtl_info: dict[str, Any], latency_cycles: int, period: float,
            budget: float, emulate_rtl: bool) -> list[dict[str, Any]]:
    """The build's verdicts, each with a one-line message: bit-exactness per pair, RTL latency, budget."""
    out = []
    for p in pairs:
        ok = p["mismatches"] == 0
        msg = f"{p['a']} = {p['b']} on {p['events']} events"
        if not ok:
            fm = p["first_mismatch"]
            msg = (f"bit-exactness failed: {p['a']} vs {p['b']} {p['mismatches']} mismatches of {p['events']} events; "
                   f"first at event {fm['event']}: {p['a']}={fm[p['a']]} {p['b']}={fm[p['b']]}")
        out.append({"check": f"bitexact:{p['a']}:{p['b']}", "passed": ok, "message": msg})
    if emulate_rtl:
        m = rtl_info.get("latency_cycles_measured")
        ok = m == latency_cycles and rtl_info.get("protocol_errors", 0) == 0
        msg = (f"shipped RTL: latency {m} cycles measured, design {latency_cycles}; "
               f"{rtl_info.get('protocol_errors', 0)} out_valid/trigger protocol errors")
        out.append({"check": "rtl_latency", "passed": ok, "message": msg})
    ns = latency_cycles * period
    ok = ns <= budget + 1e-6  # 1 fs: the period is a float (240 MHz: 12 x 4.1666... ns = 50 ns)
    out.append({"check": "latency_budget", "passed": ok,
                "message": f"latency {latency_cycles} cycles = {ns:.1f} ns {'<=' if ok else '>'} budget {budget:g} ns"})
    return out
