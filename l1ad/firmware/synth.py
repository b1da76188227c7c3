"""Open-source synthesis of the shipped RTL: Yosys ``synth_xilinx`` -> mapped resources and per-stage depth.

``l1ad build`` calls :func:`synthesize` on the files it ships in ``firmware/<design>/rtl/`` (the wrapper is the
top). Yosys (Debian's ``yosys`` 0.23; ``apt-get install yosys``) maps them for the board's family
(``configs/boards.yaml`` ``synth_family``: ``xcup`` for Virtex UltraScale+, ``xc7`` for 7 series) with::

    synth_xilinx -family <family> -top <top> -flatten -noiopad -noclkbuf -nosrl

(out of context: no I/O buffers or clock buffer; pipeline registers kept as flip-flops, ``-nosrl``, so the FF
count compares with da4ml's register bits). The mapped LUT/FF/carry/MUXF/DSP/BRAM counts go into
``report.json`` beside da4ml's estimate with their ratio, and :mod:`l1ad.firmware.timing` walks the mapped
netlist for each pipeline stage's logic depth and estimated delay under the board's delay model. The Yosys
script and log stay in ``firmware/<design>/synth/`` so the run can be repeated by hand.

Verdicts: a Yosys error (unsynthesizable RTL) or a stage whose estimated delay exceeds the clock period is a
failed check (:class:`~l1ad.errors.CheckFailed`, exit code 1), raised by the caller after the report is written.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from l1ad.errors import BuildError
from l1ad.firmware.boards import Board
from l1ad.firmware.timing import DelayModel, analyse

__all__ = [
    "SYNTH_MODES",
    "TOLERANCE",
    "check_mode",
    "for_build",
    "resource_counts",
    "run_yosys",
    "summary_lines",
    "synthesize",
    "verdict",
    "yosys_path",
    "yosys_version",
]

log = logging.getLogger(__name__)

#: ``--synth`` choices: ``auto`` runs Yosys when it is on PATH
SYNTH_MODES = ("auto", "yosys", "none")
#: Yosys vs da4ml estimate: counts within this fraction are reported as agreeing
TOLERANCE = 0.15
INSTALL_HINT = "apt-get install -y yosys (Debian/Ubuntu, as root)"


def yosys_path() -> str | None:
    """``yosys`` on PATH, or None."""
    return shutil.which("yosys")


def yosys_version(exe: str | None = None) -> str:
    exe = exe or yosys_path()
    if not exe:
        return "not installed"
    try:
        out = subprocess.run([exe, "-V"], capture_output=True, text=True, check=False, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out or "unknown"


def yosys_command(family: str, top: str) -> str:
    return f"synth_xilinx -family {family} -top {top} -flatten -noiopad -noclkbuf -nosrl"


def run_yosys(sources: list[Path], top: str, family: str, work: Path, exe: str | None = None) -> tuple[dict[str, Any], float]:
    """Synthesize ``sources`` (Verilog) for ``family``; returns (JSON netlist, seconds). Script and log in ``work``.

    Raises :class:`BuildError` naming the first Yosys error line when synthesis fails."""
    exe = exe or yosys_path()
    if not exe:
        raise BuildError(f"yosys: not on PATH ({INSTALL_HINT})")
    work.mkdir(parents=True, exist_ok=True)
    netlist = work / "netlist.json"
    script = work / "synth.ys"
    lines = [f"read_verilog {_quote(s)}" for s in sources]
    lines += [yosys_command(family, top), f"tee -q -o {_quote(work / 'stat.txt')} stat", f"write_json {_quote(netlist)}"]
    script.write_text("\n".join(lines) + "\n")
    t0 = time.perf_counter()
    proc = subprocess.run([exe, "-q", "-l", str(work / "yosys.log"), "-s", str(script)],
                          capture_output=True, text=True, check=False)
    dt = time.perf_counter() - t0
    if proc.returncode != 0 or not netlist.is_file():
        text = (proc.stderr or "") + "\n" + _read(work / "yosys.log")
        err = next((ln.strip() for ln in text.splitlines() if "ERROR" in ln), None)
        raise BuildError(f"{top}: Yosys synthesis failed: {err or f'exit code {proc.returncode}'} (log {work / 'yosys.log'})")
    with open(netlist) as f:
        return json.load(f), dt


def _quote(p: Path | str) -> str:
    s = str(p)
    return f'"{s}"' if re.search(r"\s", s) else s


def _read(p: Path) -> str:
    try:
        return p.read_text(errors="replace")
    except OSError:
        return ""


def resource_counts(netlist: dict[str, Any], top: str) -> tuple[dict[str, int], dict[str, int]]:
    """(cells by type, resource summary) of the mapped ``top``. LUTs are LUT1-LUT6; INV cells are listed apart
    (Yosys maps NOT gates in front of carry chains and flip-flop resets to INV; Vivado folds most into LUTs or the
    flip-flops' programmable inversion)."""
    cells = Counter(c["type"] for c in netlist["modules"][top]["cells"].values())
    by = dict(sorted(cells.items()))

    def n(*prefixes: str) -> int:
        return sum(v for k, v in cells.items() if k.startswith(prefixes))

    res = {
        "luts": sum(cells.get(f"LUT{i}", 0) for i in range(1, 7)),
        "inverters": cells.get("INV", 0),
        "ffs": n("FDRE", "FDSE", "FDCE", "FDPE"),
        "latches": n("LD"),
        "carry": n("CARRY4", "CARRY8"),
        "muxf": n("MUXF7", "MUXF8", "MUXF9"),
        "srls": n("SRL"),
        "lutrams": n("RAM32", "RAM64", "RAM128", "RAM256"),
        "dsps": n("DSP48", "DSP"),
        "brams_36k": n("RAMB36") + n("RAMB18") // 2,
        "urams": n("URAM"),
    }
    return by, res


_ALIAS = re.compile(r"assign v(\d+)\[(\d+):(\d+)\] = v(\d+)\[(\d+):(\d+)\];")
_CONST = re.compile(r"assign v(\d+)\[(\d+):(\d+)\] = \d*'([01]+);")
_OUT = re.compile(r"assign model_out\[(\d+):(\d+)\] = (.*);")
_OUT_SLICE = re.compile(r"v(\d+)\[(\d+):(\d+)\]$")


def distinct_stage_outputs(text: str) -> tuple[int, int]:
    """(declared, distinct) output bits of one da4ml pipeline stage module: outputs that are slices of the same
    wire bit, or constants, need no flip-flop of their own in the next stage's input register."""
    alias: dict[tuple[int, int], tuple[int, int] | None] = {}  # (wire, bit) -> source bit, None = constant
    for m in _ALIAS.finditer(text):
        v, hi, lo, src, shi, slo = (int(x) for x in m.groups())
        for k in range(hi - lo + 1):
            alias[(v, lo + k)] = (src, slo + k)
    for m in _CONST.finditer(text):
        v, hi, lo = int(m.group(1)), int(m.group(2)), int(m.group(3))
        for k in range(hi - lo + 1):
            alias[(v, lo + k)] = None

    def canon(b: tuple[int, int]) -> tuple[int, int] | None:
        seen = 0
        cur: tuple[int, int] | None = b
        while cur is not None and cur in alias and seen < 10_000:
            cur = alias[cur]
            seen += 1
        return cur

    declared, distinct = 0, set()
    for m in _OUT.finditer(text):
        hi, lo, rhs = int(m.group(1)), int(m.group(2)), m.group(3).strip()
        declared += hi - lo + 1
        sl = _OUT_SLICE.match(rhs)
        for k in range(hi - lo + 1):
            src = canon((int(sl.group(1)), int(sl.group(3)) + k)) if sl else ("expr", m.start(), k)  # type: ignore[assignment]
            if src is not None:
                distinct.add(src)
    return declared, len(distinct)


def distinct_register_bits(design_dir: Path, sources: list[str]) -> dict[str, int] | None:
    """Register bits between the da4ml stages as declared and as distinct signals (see
    :func:`distinct_stage_outputs`), from the shipped ``*_stage<k>.v`` files; None if there are none."""
    stages = sorted((s for s in sources if re.search(r"_stage\d+\.v$", s)),
                    key=lambda s: int(re.search(r"_stage(\d+)\.v$", s).group(1)))  # type: ignore[union-attr]
    if not stages:
        return None
    declared = distinct = 0
    for s in stages:
        d, n = distinct_stage_outputs((design_dir / s).read_text())
        declared += d
        distinct += n
    return {"declared": declared, "distinct": distinct, "duplicates_or_constants": declared - distinct}


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b else None


def synthesize(
    design_dir: Path,
    top: str,
    sources: list[str],
    board: Board,
    clock_period_ns: float,
    *,
    estimate_luts: float,
    estimate_ffs: int,
    n_stages: int | None,
    keep: bool = True,
) -> dict[str, Any]:
    """Run Yosys on ``design_dir/sources`` and return the ``synthesis`` section of report.json.

    Script and log are kept in ``design_dir/synth/`` (``keep``); the JSON netlist is read and dropped."""
    exe = yosys_path()
    family = board.synth_family
    tm = board.timing
    model = DelayModel(**tm.delays())
    with tempfile.TemporaryDirectory(prefix="l1ad-yosys-") as scratch:
        work = Path(scratch)
        log.info("Yosys: synthesizing %s for %s (%s); the default VAE takes about a minute", top, board.part, family)
        netlist, seconds = run_yosys([design_dir / s for s in sources], top, family, work, exe)
        cells, res = resource_counts(netlist, top)
        stages = analyse(netlist, top, model, n_stages)
        if keep:
            out = design_dir / "synth"
            out.mkdir(exist_ok=True)
            for name in ("yosys.log", "stat.txt"):
                if (work / name).is_file():
                    shutil.copyfile(work / name, out / name)
            rel = [f"../{s}" for s in sources]
            (out / "synth.ys").write_text(
                "# rerun from this directory: yosys -s synth.ys\n"
                + "\n".join(f"read_verilog {_quote(s)}" for s in rel)
                + f"\n{yosys_command(family, top)}\nstat\n")
    required = clock_period_ns - model.clock_uncertainty
    crit = max(stages, key=lambda s: s.delay_ns) if stages else None
    lut_ratio = _ratio(res["luts"], estimate_luts)
    ff_ratio = _ratio(res["ffs"], estimate_ffs)
    regs = distinct_register_bits(design_dir, sources)
    ffs_distinct = estimate_ffs - regs["duplicates_or_constants"] if regs else estimate_ffs
    ff_ratio_distinct = _ratio(res["ffs"], ffs_distinct)
    notes = []
    if regs and regs["duplicates_or_constants"]:
        notes.append(f"FF estimate {estimate_ffs} counts every register bit da4ml declares between stages; "
                     f"{regs['duplicates_or_constants']} of its {regs['declared']} stage-output bits are slices of "
                     f"another registered bit or constants, which synthesis merges or removes (Vivado too, unless "
                     f"told to keep equivalent registers): {ffs_distinct} distinct, Yosys x{ff_ratio_distinct}")
    if res["inverters"]:
        notes.append(f"{res['inverters']} INV cells not counted as LUTs (NOT gates on carry-chain inputs and flip-flop "
                     "resets; Vivado folds them into the LUT in front or the flip-flop's inversion)")
    timing: dict[str, Any] = {
        "model": {**tm.delays(), "speed_grade": tm.speed_grade, "source": tm.source},
        "clock_period_ns": round(clock_period_ns, 4),
        "required_ns": round(required, 4),
        "stages": [s.to_json(required) for s in stages],
        "critical_stage": crit.stage if crit else None,
        "critical_delay_ns": round(crit.delay_ns, 3) if crit else None,
        "slack_ns": round(required - crit.delay_ns, 3) if crit else None,
        "fmax_mhz_estimate": round(1000.0 / (crit.delay_ns + model.clock_uncertainty), 1) if crit else None,
        "meets_clock": bool(crit is None or crit.delay_ns <= required + 1e-9),
        "note": "estimate from the mapped netlist's logic depth and a per-level delay model; not a place-and-route "
                "timing sign-off",
    }
    return {
        "enabled": True,
        "tool": yosys_version(exe),
        "command": yosys_command(family, top),
        "family": family,
        "seconds": round(seconds, 1),
        "cells": cells,
        "resources": res,
        "vs_estimate": {
            "luts": {"yosys": res["luts"], "da4ml": round(float(estimate_luts), 1), "ratio": lut_ratio},
            "ffs": {"yosys": res["ffs"], "da4ml": int(estimate_ffs), "ratio": ff_ratio,
                    "da4ml_distinct": int(ffs_distinct), "ratio_distinct": ff_ratio_distinct},
        },
        "register_bits": regs,
        "within_tolerance": {k: r is not None and abs(r - 1) <= TOLERANCE
                             for k, r in (("luts", lut_ratio), ("ffs", ff_ratio), ("ffs_distinct", ff_ratio_distinct))},
        "tolerance": TOLERANCE,
        "notes": notes,
        "timing": timing,
        "files": "synth/" if keep else None,
    }


def check_mode(mode: str) -> bool:
    """Validate ``--synth``; True when Yosys is to run. ``yosys`` without Yosys on PATH is a usage error."""
    if mode not in SYNTH_MODES:
        raise BuildError(f"--synth: must be one of {', '.join(SYNTH_MODES)} (value {mode!r})")
    if mode == "yosys" and not yosys_path():
        raise BuildError(f"--synth yosys: yosys is not on PATH ({INSTALL_HINT}); use --synth auto or none")
    return mode == "yosys" or (mode == "auto" and yosys_path() is not None)


def for_build(mode: str, design_dir: Path, top: str, sources: list[str], board: Board, clock_period_ns: float,
              **kw: Any) -> dict[str, Any]:
    """The ``synthesis`` section of a build: skipped (with the reason), the result, or the Yosys error (recorded,
    not raised, so that the report is written; :func:`verdict` turns it into the failed check)."""
    if not check_mode(mode):
        why = "--synth none" if mode == "none" else f"yosys not on PATH ({INSTALL_HINT})"
        return {"enabled": False, "reason": why}
    try:
        return synthesize(design_dir, top, sources, board, clock_period_ns, **kw)
    except BuildError as e:
        return {"enabled": True, "tool": yosys_version(), "command": yosys_command(board.synth_family, top),
                "error": str(e)}


def verdict(section: dict[str, Any]) -> str | None:
    """One line when synthesis failed or a stage's estimated delay exceeds the clock period, else None."""
    if not section.get("enabled"):
        return None
    if section.get("error"):
        return section["error"]
    t = section["timing"]
    if t.get("meets_clock", True):
        return None
    return (f"timing estimate: stage '{t['critical_stage']}' needs {t['critical_delay_ns']:.3f} ns > "
            f"{t['required_ns']:.3f} ns available at {1000.0 / t['clock_period_ns']:.1f} MHz "
            f"(slack {t['slack_ns']:.3f} ns, synthesis.timing in report.json)")


def summary_lines(section: dict[str, Any]) -> list[str]:
    """Human-readable lines for report.txt and the CLI."""
    if not section.get("enabled"):
        return [f"synthesis      skipped: {section.get('reason', '')}"]
    if section.get("error"):
        return [f"synthesis      FAILED: {section['error']}"]
    v, r, t = section["vs_estimate"], section["resources"], section["timing"]
    lines = [
        f"synthesis      {section['tool'].split(' (')[0]}: {section['command']} ({section['seconds']:.0f} s)",
        f"  LUTs {r['luts']} (+{r['inverters']} INV) vs da4ml {v['luts']['da4ml']:.0f}: x{v['luts']['ratio']}; "
        f"FFs {r['ffs']} vs {v['ffs']['da4ml']}: x{v['ffs']['ratio']} ({v['ffs']['da4ml_distinct']} distinct: "
        f"x{v['ffs']['ratio_distinct']}); carry {r['carry']}, MUXF {r['muxf']}, "
        f"DSP {r['dsps']}, BRAM {r['brams_36k']}",
        f"  timing estimate ({t['model']['speed_grade']}): critical {t['critical_stage']} "
        f"{t['critical_delay_ns']:.3f} ns of {t['required_ns']:.3f} ns -> "
        f"{'meets' if t['meets_clock'] else 'MISSES'} {1000.0 / t['clock_period_ns']:.1f} MHz "
        f"(est. fmax {t['fmax_mhz_estimate']} MHz)",
    ]
    for s in t["stages"]:
        lines.append(f"    {s['stage']:<10} {s['delay_ns']:6.3f} ns  LUT levels {s['lut_levels']:>2} "
                     f"(max {s['max_lut_levels']}), carry4 {s['carry4_segments']:>2} (max {s['max_carry4_segments']})")
    lines += [f"  note: {n}" for n in section.get("notes", [])]
    return lines
