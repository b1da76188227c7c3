"""Benchmark the verification path of one built design, against the NumPy emulator measured in the same run.

    .venv/bin/python -m benchmarks.bench_sim [DESIGN_DIR] [--events 20000] [--emulator-events 1000000]

Measures (targets from the verification issue):
  * NumPy fixed-point emulator events/s (baseline, ``fixedpoint.json``);
  * Verilator build time of the cocotb model (cold, in a scratch cache) and a cache hit;
  * cocotb + Verilator streaming events/s at II=1 (target >= 2,000 ev/s), bit-exact against the emulator;
  * the da4ml Verilator emulator (compiled C++ of the same RTL) events/s on 1M events (target < 60 s),
    checked equal to the NumPy emulator.
Without DESIGN_DIR the default design firmware/<default model>-vu13p is used if built, else the toy design.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _numpy_reference(design_dir: Path, design: dict[str, Any]) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    if (design_dir / "fixedpoint.json").is_file():
        from l1ad.verification.runner import design_reference

        return design_reference(design_dir, design), "NumPy fixed-point emulator"
    from l1ad.verification.toy import write_toy_design

    ref = write_toy_design(Path(tempfile.mkdtemp()) / "toy")  # same default weights as the toy design
    return ref.predict, "NumPy toy reference"


def _rate(fn: Callable[[], Any], n: int) -> tuple[float, float, Any]:
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    return n / dt, dt, out


def _da4ml_emulator(design_dir: Path) -> tuple[Any, bool] | None:
    """da4ml's compiled Verilator emulator of the design's network (the firmware flow's cached build)."""
    rep_path = design_dir / "report.json"
    if not (design_dir / "fixedpoint.json").is_file() or not rep_path.is_file():
        return None
    from l1ad.firmware import rtl
    from l1ad.fixedpoint import FixedPointModel

    rep = json.loads(rep_path.read_text())
    design = json.loads((design_dir / "design.json").read_text())
    fp = FixedPointModel.load(design_dir / "fixedpoint.json")
    comb, n_chunks = rtl.trace_model(fp)
    net_module = design["top"].removesuffix("_trigger") + "_net"
    emu, cached = rtl.compile_emulator(comb, n_chunks, net_module, rep["part"], float(rep["clock_period_ns"]),
                                      int(rep["da4ml"]["adder_levels_per_stage"]))
    signed = bool(design["score"]["signed"])

    class _Emu:
        def predict(self, words: np.ndarray) -> np.ndarray:
            return emu.predict(words, signed)

    return _Emu(), cached


def default_design() -> Path:
    fw = REPO / "firmware"
    cands = sorted(p.parent for p in fw.glob("*-vu13p/design.json")) if fw.is_dir() else []
    if cands:
        return cands[0]
    from l1ad.verification.toy import write_toy_design

    d = Path(tempfile.mkdtemp()) / "toy"
    write_toy_design(d)
    return d


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("design", nargs="?", type=Path)
    ap.add_argument("--events", type=int, default=20_000, help="events streamed through cocotb")
    ap.add_argument("--emulator-events", type=int, default=1_000_000, help="events through the emulators")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args(argv)

    from l1ad.verification import build_simulator, load_design_dict, run_suite
    from l1ad.verification.runner import random_words

    design_dir = (args.design or default_design()).resolve()
    design = load_design_dict(design_dir)
    ref, ref_name = _numpy_reference(design_dir, design)
    rng = np.random.default_rng(1)
    words = random_words(design, args.emulator_events, rng)
    res: dict[str, Any] = {"design": str(design_dir), "n_emulator_events": len(words), "n_cocotb_events": args.events}

    # baseline: the NumPy integer emulator
    np_rate, np_s, np_scores = _rate(lambda: ref(words), len(words))
    res.update(numpy_events_per_s=np_rate, numpy_seconds=np_s)

    # Verilator build of the cocotb model: cold (scratch cache), then a cache hit in the real cache
    old = os.environ.get("L1AD_CACHE_DIR")
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["L1AD_CACHE_DIR"] = scratch
        try:
            cold = build_simulator(design_dir, design)
        finally:
            if old is None:
                os.environ.pop("L1AD_CACHE_DIR", None)
            else:
                os.environ["L1AD_CACHE_DIR"] = old
    build_simulator(design_dir, design)  # make sure the real cache has it
    t0 = time.perf_counter()
    hit = build_simulator(design_dir, design)
    res.update(verilator_build_s=cold.seconds, cache_hit_s=time.perf_counter() - t0, cache_hit=hit.cached)

    # cocotb streaming (bit-exact check inside the testbench)
    t0 = time.perf_counter()
    rep = run_suite(design_dir, events=args.events, reference=ref, tests=("streaming",), write_report=False)
    wall = time.perf_counter() - t0
    s = rep.test("streaming")
    res.update(cocotb_events_per_s=s.get("events_per_s"), cocotb_wall_s=wall, cocotb_mismatches=s["mismatches"],
               cocotb_passed=s["passed"])

    # da4ml compiled Verilator emulator
    t0 = time.perf_counter()
    got = _da4ml_emulator(design_dir)
    if got is not None:
        emu, emu_cached = got
        res.update(emulator_build_s=time.perf_counter() - t0, emulator_build_cached=emu_cached)
        rate, sec, out = _rate(lambda: emu.predict(words), len(words))
        out = np.asarray(out).reshape(-1)
        res.update(emulator_events_per_s=rate, emulator_seconds=sec,
                   emulator_bit_exact=bool(np.array_equal(out.astype(np.int64), np_scores)))
    else:
        res.update(emulator_events_per_s=None, emulator_seconds=None, emulator_bit_exact=None)

    _print(res, ref_name)
    if args.json:
        args.json.write_text(json.dumps(res, indent=2, default=float) + "\n")
    ok = res["cocotb_passed"] and (res["cocotb_events_per_s"] or 0) >= 2000
    if res["emulator_seconds"] is not None:
        ok = ok and res["emulator_bit_exact"] and res["emulator_seconds"] * 1e6 / len(words) < 60
    return 0 if ok else 1


def _print(r: dict[str, Any], ref_name: str) -> None:
    base = r["numpy_events_per_s"]

    def row(name: str, rate: float | None, extra: str = "") -> None:
        if rate is None:
            print(f"  {name:<38} {'n/a':>14}  {extra}")
        else:
            print(f"  {name:<38} {rate:>12,.0f}/s  x{rate / base:8.4f} vs NumPy  {extra}")

    print(f"design: {r['design']}")
    print(f"baseline: {ref_name}: {base:,.0f} events/s ({r['n_emulator_events']:,} events in {r['numpy_seconds']:.2f} s)")
    row("cocotb + Verilator streaming (II=1)", r["cocotb_events_per_s"],
        f"target >= 2,000/s; {r['n_cocotb_events']:,} events, {r['cocotb_mismatches']} mismatches, "
        f"wall {r['cocotb_wall_s']:.1f} s")
    if r["emulator_events_per_s"] is not None:
        per_m = r["emulator_seconds"] * 1e6 / r["n_emulator_events"]
        row("da4ml Verilator emulator", r["emulator_events_per_s"],
            f"1M events in {per_m:.1f} s (target < 60 s); bit-exact {r['emulator_bit_exact']}; "
            f"build {r['emulator_build_s']:.1f} s (cached={r['emulator_build_cached']})")
    else:
        row("da4ml Verilator emulator", None, "(the firmware package offers no emulator for this design)")
    print(f"  Verilator build (cocotb model, cold): {r['verilator_build_s']:.1f} s; cache hit: "
          f"{r['cache_hit_s'] * 1e3:.0f} ms (cached={r['cache_hit']})")


if __name__ == "__main__":
    sys.exit(main())
