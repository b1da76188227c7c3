"""The bring-your-own-model suite (slow): every zoo model, saved as a bare .h5, built for vu13p with
0 mismatches across QKeras / emulator / hls4ml C-sim / Verilator on 10k events, then `l1ad sim` on the design.

Run with ``pytest -m slow tests/test_zoo.py``; the refusals and the emulator checks of the same models run in the
default suite (``test_import.py``). Set ``L1AD_ZOO_SUMMARY=path.json`` to collect each build's latency and LUTs.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import zoo

OPTION_FLAGS = {"input_precision": "--input-precision", "encoding": "--encoding", "shift": "--shift",
                "score": "--score", "clock_mhz": "--clock-mhz", "budget_ns": "--budget-ns"}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(zoo.BUILT))
def test_zoo_model_builds_bit_exact_and_passes_sim(name, cli, tmp_path):
    build, opts = zoo.BUILT[name]
    path = tmp_path / f"{name}.h5"
    build().save(path)
    flags = [a for k, v in opts.items() for a in (OPTION_FLAGS[k], v)]
    code, out, err = cli("build", "--board", "vu13p", "--model", path, "--out", tmp_path / "fw",
                         "--hls-dir", tmp_path / "hls", "--events", "10000", *flags)
    assert code == 0, err
    d = tmp_path / "fw" / f"{name}-vu13p"
    rep = json.loads((d / "report.json").read_text())
    assert {p["b"] for p in rep["bitexact"]} >= {"emulator", "hls4ml_csim", "verilator"}
    assert all(p["mismatches"] == 0 and p["events"] == 10_000 for p in rep["bitexact"]), rep["bitexact"]
    code, out, err = cli("sim", d, "--events", "5000", *(("--budget-ns", opts["budget_ns"]) if "budget_ns" in opts else ()))
    assert code == 0, err
    assert re.search(r"PASS: (\d+)/\1 tests passed", out + err)
    summary = os.environ.get("L1AD_ZOO_SUMMARY")
    if summary:
        p = Path(summary)
        rows = json.loads(p.read_text()) if p.is_file() else {}
        rows[name] = {"latency_ns": rep["latency_ns"], "luts": rep["resources"]["luts"], "ffs": rep["resources"]["ffs"],
                      "layers": [row["kind"] for row in rep["layers"]], "score": rep["score"]["precision"],
                      "notes": rep["notes"]}
        p.write_text(json.dumps(rows, indent=1))
