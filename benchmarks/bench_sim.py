"""Benchmark the verification path of one built design, against the NumPy emulator measured in the same run.

    .venv/bin/python -m benchmarks.bench_sim [DESIGN_DIR] [--events 20000] [--emulator-events 1000000]

Measures (targets from the verification issue):
  * NumPy fixed-point emulator events/s (baseline, ``fixedpoint.json``);
  * Verilator build time of the cocotb model (cold, in a scratch cache) and a cache hit;
  * cocotb + Verilator streaming events/s at II=1 (target >= 2,000 ev/s), bit-exact against the emulator;
  * the shipped rtl/ (trigger wrapper included) compiled with l1ad's Verilator C++ streaming harness, events/s
    on 1M events (target < 60 s), checked equal to the NumPy emulator.
Median of 5 timed runs after a warm-up (the cocotb run and the cold build: once).
Without DESIGN_DIR the default design firmware/<default model>-vu13p is used if built, else the toy design.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import Bench

REPO = Path(__file__).resolve().parents[1]


def _numpy_reference(design_dir: Path, design: dict[str, Any]) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    if (design_dir / "fixedpoint.json").is_file():
        from l1ad.verification.runner import design_reference

        return design_reference(design_dir, design), "NumPy fixed-point emulator"
    from l1ad.verification.toy import write_toy_design

    ref = write_toy_design(Path(tempfile.mkdtemp()) / "toy")  # same default weights as the toy design
    return ref.predict, "NumPy toy reference"


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
    ap.add_argument("--emulator-events", type=int, default=1_000_000, help="events through the RTL harness")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args(argv)

    from l1ad.verification import build_simulator, load_design_dict, run_suite
    from l1ad.verification.rtl_emulator import compile_rtl_emulator
    from l1ad.verification.runner import random_words

    design_dir = (args.design or default_design()).resolve()
    design = load_design_dict(design_dir)
    ref, ref_name = _numpy_reference(design_dir, design)
    words = random_words(design, args.emulator_events, np.random.default_rng(1))
    bench = Bench("sim")
    bench.info.update(design=str(design_dir), emulator_events=len(words), cocotb_events=args.events)
    scores = ref(words)
    bench.time("numpy", f"baseline: {ref_name}", lambda: ref(words), len(words), clock="wall")

    # Verilator build of the cocotb model: cold (scratch cache, timed once: minutes), then a cache hit
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
    bench.time("cache_hit", "cocotb model build, cache hit", lambda: build_simulator(design_dir, design), 1,
               unit="builds", clock="wall")
    bench.info["verilator_build_cold_s"] = cold.seconds

    # cocotb streaming at II=1, bit-exact inside the testbench (one run: it is the slow path)
    rep = run_suite(design_dir, events=args.events, reference=ref, tests=("streaming",), write_report=False)
    s = rep.test("streaming")
    cocotb_rate = float(s.get("events_per_s") or 0.0)
    bench.info.update(cocotb_events_per_s=cocotb_rate, cocotb_mismatches=s["mismatches"])

    # the shipped rtl/ compiled with the C++ streaming harness (what build and rates check)
    emu = compile_rtl_emulator(design_dir, design)
    out: dict[str, np.ndarray] = {}

    def harness() -> None:
        out["scores"] = emu.predict(words)

    bench.time("rtl", "shipped RTL, Verilator C++ harness (II=1)", harness, len(words), baseline="numpy",
               clock="wall")
    print(f"design {design_dir}; cocotb streaming {cocotb_rate:,.0f} events/s ({args.events:,} events, "
          f"{s['mismatches']} mismatches); Verilator build (cocotb model, cold) {cold.seconds:.1f} s")
    bench.require("cocotb", bool(s["passed"]) and cocotb_rate >= 2000,
                  f"cocotb streaming bit-exact and >= 2,000 events/s ({cocotb_rate:,.0f})")
    bench.target("rtl", "<=", 60.0 * len(words) / 1e6, "seconds", note="1M events through the shipped RTL in < 60 s")
    bench.require("rtl_bitexact", bool(np.array_equal(out["scores"], scores)), "shipped RTL = NumPy emulator")
    return bench.finish(args.json)


if __name__ == "__main__":
    sys.exit(main())
