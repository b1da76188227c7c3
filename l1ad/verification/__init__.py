"""Cycle-accurate verification of built trigger designs: cocotb testbenches (``sim/``) on Verilator.

``run_suite(design_dir)`` builds the design's wrapper (cached by content hash), streams events, checks
latency, threshold, reset/bubbles and corner inputs bit for bit against the NumPy emulator, and writes
``sim_report.json``. The cocotb components themselves live in :mod:`l1ad.verification.tb` (imported only
inside the simulator).
"""

from __future__ import annotations

from l1ad.verification.runner import (
    TESTS,
    BuildInfo,
    SimReport,
    build_simulator,
    cache_root,
    load_design_dict,
    make_stimulus,
    run_suite,
    verilator_env,
)

__all__ = [
    "TESTS",
    "BuildInfo",
    "SimReport",
    "build_simulator",
    "cache_root",
    "load_design_dict",
    "make_stimulus",
    "run_suite",
    "verilator_env",
]
