"""README's bring-your-own-model example, run as written (the ten lines after "From Python")."""

from __future__ import annotations

import os
import re

from conftest import REPO


def _example() -> str:
    text = (REPO / "README.md").read_text()
    section = text[text.index("From Python (a notebook)"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


def test_readme_example_runs(tmp_path):
    code = _example()
    assert len(code.strip().splitlines()) <= 12
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        ns: dict = {}
        exec(compile(code, "README.md", "exec"), ns)
    finally:
        os.chdir(cwd)
    report = ns["report"]
    assert report["all_bitexact"] and {p["b"] for p in report["bitexact"]} >= {"hls4ml_csim", "verilator"}
    assert report["latency_ns"] <= 50 and report["benchmark"]["events"] == 10_000
    assert (tmp_path / "firmware" / f"{report['model']}-vu13p" / "rtl").is_dir()
