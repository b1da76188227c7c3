"""cocotb + Verilator verification (`l1ad sim`, l1ad.verification, sim/test_trigger.py).

Two kinds of designs: a hand-made toy wrapper with the design.json port contract (score = saturated
weighted sum; proves each check can fail), and a real design written by `l1ad build` for a small trained
model (session fixture; the Verilator build is cached under .cache/l1ad/sim by content hash).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from l1ad.verification import TESTS, run_suite
from l1ad.verification.runner import build_key, load_design_dict
from l1ad.verification.toy import write_toy_design


@pytest.fixture(scope="session")
def toy(tmp_path_factory):
    d = tmp_path_factory.mktemp("toy") / "toy-design"
    ref = write_toy_design(d)
    return d, ref


def _verdicts(report) -> dict[str, bool]:
    return {t["test"]: bool(t["passed"]) for t in report.tests}


def test_toy_design_passes_every_check_and_reuses_the_build(toy):
    d, ref = toy
    (d / "report.json").write_text(json.dumps({"board": "toy"}))
    rep = run_suite(d, events=3000, reference=ref.predict)
    assert _verdicts(rep) == dict.fromkeys(TESTS, True), [t["message"] for t in rep.tests]
    s = rep.test("streaming")
    assert s["events_checked"] == 3000 and s["mismatches"] == 0 and s["ii1"]
    assert rep.test("latency")["latency_cycles_measured"] == 3
    th = rep.test("threshold")
    assert th["equality_cases"] > 0 and th["at_max_threshold"] > 0 and th["at_min_threshold"] > 0
    assert rep.test("corners")["events_checked"] == 3 + 57 + 38 + 64  # zero/max/min, per-field max/min, random
    # report written atomically into the design dir and linked from the build report
    saved = json.loads((d / "sim_report.json").read_text())
    assert saved["passed"] is True and [t["test"] for t in saved["tests"]] == list(TESTS)
    assert json.loads((d / "report.json").read_text())["sim_report"] == "sim_report.json"
    # same sources + flags -> no recompilation
    again = run_suite(d, events=200, reference=ref.predict, tests=("streaming",))
    assert again.build.cached and again.build.key == rep.build.key and again.passed


def test_flipped_weight_fails_streaming_and_names_first_bad_event(tmp_path, toy):
    _, good = toy
    bad_dir = tmp_path / "bad"
    write_toy_design(bad_dir, corrupt_weight=4)
    rep = run_suite(bad_dir, events=500, reference=good.predict, tests=("streaming", "corners"))
    s = rep.test("streaming")
    assert not rep.passed and not s["passed"]
    # independently: the first event whose score changes when weight 4 is off by one (before saturation)
    words = _stimulus_words(bad_dir, good, 500)
    w = np.asarray(good.weights, dtype=np.int64)
    w[4] += 1
    lo, hi = -(1 << 15), (1 << 15) - 1
    differs = np.clip(words @ w, lo, hi) != good.predict(words)
    first = int(np.flatnonzero(differs)[0])
    m = s["first_mismatches"][0]
    assert m["event"] == first and f"first at event {first}" in s["message"]
    assert m["inputs"] == words[first].tolist() and m["expected_score"] == int(good.predict(words)[first])
    assert s["mismatches"] == int(differs.sum())
    assert not rep.test("corners")["passed"]


def _stimulus_words(design_dir: Path, ref, n: int) -> np.ndarray:
    from l1ad.verification.runner import make_stimulus

    return make_stimulus(load_design_dict(design_dir), ref.predict, n_events=n, seed=0).words


def test_trigger_at_equality_is_caught(tmp_path, toy):
    _, good = toy
    d = tmp_path / "ge"
    write_toy_design(d, compare=">=")
    rep = run_suite(d, events=200, reference=good.predict, tests=("threshold", "streaming"))
    th = rep.test("threshold")
    assert not th["passed"] and th["mismatches"] > 0
    m = th["block_phase"]["first_mismatches"][0]
    assert m["expected_score"] == m["threshold"] and m["got_trigger"] == 1 and m["expected_trigger"] == 0


def test_wrong_latency_in_design_json_fails(tmp_path, toy):
    d0, ref = toy
    d = tmp_path / "lat"
    shutil.copytree(d0, d)
    (d / "sim_report.json").unlink(missing_ok=True)
    meta = json.loads((d / "design.json").read_text())
    meta["latency_cycles"] = 4
    (d / "design.json").write_text(json.dumps(meta))
    rep = run_suite(d, events=100, reference=ref.predict, tests=("latency",), write_report=False)
    lat = rep.test("latency")
    assert rep.build.cached  # design.json is not compiled: same sources, same build
    assert not lat["passed"] and lat["latency_cycles_measured"] == 3 and lat["latency_cycles_design"] == 4
    assert not (d / "sim_report.json").exists()


def test_tight_budget_fails_latency(toy):
    d, ref = toy
    rep = run_suite(d, events=50, reference=ref.predict, tests=("latency",), budget_ns=11.0, write_report=False)
    lat = rep.test("latency")
    assert not lat["passed"] and lat["latency_ns_measured"] == pytest.approx(12.0)


def test_build_key_depends_on_source_content(tmp_path, toy):
    d0, _ = toy
    d = tmp_path / "k"
    shutil.copytree(d0, d)
    k0 = build_key(d, load_design_dict(d), waves=False)
    assert k0 == build_key(d0, load_design_dict(d0), waves=False)
    assert k0 != build_key(d, load_design_dict(d), waves=True)
    src = d / "rtl" / "toy_trigger.v"
    src.write_text(src.read_text().replace("(3) * x0", "(2) * x0", 1))
    assert build_key(d, load_design_dict(d), waves=False) != k0


def test_cli_bad_design_dir_is_one_line_error(cli, tmp_path):
    code, out, err = cli("sim", tmp_path / "nope")
    assert code == 2 and err.strip().count("\n") == 0 and "design directory not found" in err
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "design.json").write_text(json.dumps({"top": "x"}))
    code, out, err = cli("sim", tmp_path / "d")
    assert code == 2 and "field 'sources': missing" in err
