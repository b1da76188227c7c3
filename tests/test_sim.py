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

from l1ad.errors import SimulationError
from l1ad.verification import TESTS, run_suite
from l1ad.verification.runner import build_key, load_design_dict
from l1ad.verification.toy import write_toy_design

needs_icarus = pytest.mark.skipif(shutil.which("iverilog") is None or shutil.which("vvp") is None,
                                  reason="iverilog not on PATH (apt-get install -y iverilog; `make test` does it as root)")


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


def test_waves_on_request(toy):
    d, ref = toy
    rep = run_suite(d, events=20, reference=ref.predict, tests=("latency",), waves=True, write_report=False)
    assert rep.passed and rep.waves is not None and rep.waves.stat().st_size > 1000
    assert rep.waves.parent == d / "waves" and rep.waves.suffix in (".fst", ".vcd")
    head = rep.waves.read_bytes()[:2000]
    assert rep.waves.suffix == ".fst" or (b"$var" in head and b"out_valid" in head)


@needs_icarus
def test_toy_on_icarus_passes_and_streams_like_verilator(toy):
    d, ref = toy
    ica = run_suite(d, events=1500, reference=ref.predict, simulator="icarus", write_report=False)
    assert _verdicts(ica) == dict.fromkeys(TESTS, True), [t["message"] for t in ica.tests]
    ver = run_suite(d, events=1500, reference=ref.predict, tests=("streaming",), write_report=False)
    assert ica.build.key != ver.build.key and ica.to_dict()["versions"]["icarus"].startswith("Icarus Verilog")
    assert ica.test("streaming")["outputs_sha256"] == ver.test("streaming")["outputs_sha256"]
    x = ica.test("x_reset")
    assert x["xz_cycles"] == 0 and x["events_checked"] > 100 and x["x_bubbles"] > 0


@needs_icarus
def test_output_going_x_after_reset_fails_on_icarus_only(tmp_path, toy):
    """Fault injection: a toy whose score register is loaded every cycle (not gated by the valid bit) lets the X
    of the unreset pipeline registers out after a reset. Icarus (four-state) names the first X cycle and port;
    Verilator (two-state) cannot see it."""
    _, ref = toy
    d = tmp_path / "xleak"
    write_toy_design(d, gate_score=False)
    ica = run_suite(d, events=300, reference=ref.predict, simulator="icarus", tests=("x_reset", "streaming"))
    x = ica.test("x_reset")
    assert not ica.passed and not x["passed"] and x["xz_cycles"] > 0
    assert "score" in x["first_xz"]["ports"] and f"first at cycle {x['first_xz']['cycle']}" in x["message"]
    st = ica.test("streaming")  # an ordinary reset (idle zeros) leaves the pipeline's power-up X in place too
    assert not st["passed"] and st["xz_cycles"] > 0 and st["mismatches"] == 0
    assert json.loads((d / "sim_report.icarus.json").read_text())["simulator"] == "icarus"
    ver = run_suite(d, events=300, reference=ref.predict, tests=("x_reset",), write_report=False)
    assert ver.passed


def test_unknown_simulator_is_a_usage_error(toy, cli, monkeypatch):
    d, _ = toy
    with pytest.raises(SimulationError, match="--simulator: must be one of verilator, icarus"):
        run_suite(d, events=10, simulator="modelsim")
    code, out, err = cli("sim", d, "--simulator", "modelsim")
    assert code == 2 and err.strip().count("\n") == 0 and "--simulator" in err
    monkeypatch.setenv("PATH", "/nonexistent")
    code, out, err = cli("sim", d, "--simulator", "icarus")
    assert code == 2 and "iverilog" in err


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


# ---------------------------------------------------------------------------------------------------------
# real designs written by `l1ad build`
# ---------------------------------------------------------------------------------------------------------
REPO = Path(__file__).resolve().parent.parent
_SIGNALS = ("ato4l.h5", "leptoquark.h5", "hToTauTau.h5", "hChToTauNu.h5")
_DATA = {"seed": 11, "zero_bias": 6000, "signal": 300}


def _synthetic_events(n: int, rng: np.random.Generator, signal: bool) -> np.ndarray:
    """(n, 19, 4) L1-like events (MET, 4 e/gamma, 4 mu, 10 jets); 'signal' has hard leptons."""
    p = np.zeros((n, 19, 4), np.float32)
    for row in range(19):
        cls = 1 if row == 0 else 2 if row < 5 else 3 if row < 9 else 4
        frac = 1.0 if row == 0 else (0.9 if signal and row in (1, 5) else 0.15 / (row % 4 + 1))
        on = rng.random(n) < frac
        p[:, row, 0] = np.where(on, rng.exponential(45.0 if signal and cls in (2, 3) else 12.0, n), 0)
        p[:, row, 1] = np.where(on & (row > 0), rng.uniform(-2.4, 2.4, n), 0)
        p[:, row, 2] = np.where(on, rng.uniform(-3.1, 3.1, n), 0)
        p[:, row, 3] = np.where(on, cls, 0)
    return p


def _source_hash(*paths: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    for root in paths:
        for p in sorted([root] if root.is_file() else root.rglob("*.py")):
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _text_hash(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:8]


@pytest.fixture(scope="session")
def sim_data(tmp_path_factory) -> Path:
    from l1ad.data.adc2021 import write_events

    d = tmp_path_factory.mktemp("simdata")
    rng = np.random.default_rng(_DATA["seed"])
    write_events(d / "zero_bias.h5", _synthetic_events(_DATA["zero_bias"], rng, False))
    for s in _SIGNALS:
        write_events(d / s, _synthetic_events(_DATA["signal"], rng, True))
    return d


@pytest.fixture(scope="session")
def default_design(sim_data, tmp_path_factory) -> Path:
    """The default AXOL1TL-style VAE (configs/models/axol1tl_vae.yaml: 57-32-16-8) trained for one epoch on
    synthetic events and built for vu13p by the firmware flow (`l1ad build`'s library call). The trained
    artifact is kept under .cache keyed by the config, the model/training sources and the synthetic data, so
    re-runs reuse the Verilator build cache."""
    import inspect

    from l1ad.cli import main

    cfg = REPO / "configs" / "models" / "axol1tl_vae.yaml"
    key = _source_hash(cfg, REPO / "l1ad" / "models", REPO / "l1ad" / "training")
    key += _text_hash(inspect.getsource(_synthetic_events) + repr(_DATA))
    art = REPO / ".cache" / "l1ad" / "test-artifacts" / f"axol1tl_vae-{key}"
    if not (art / "model.json").is_file():
        assert main(["train", str(cfg), "--data-dir", str(sim_data), "--out", str(art), "--epochs", "1"]) == 0
    from l1ad.firmware.build import build

    root = tmp_path_factory.mktemp("fw")
    # the RTL is checked bit for bit by the cocotb streaming test itself, so the build's own da4ml emulator
    # check (a second Verilator compile) and the hls4ml project are skipped here
    build(art, "vu13p", out_root=root / "firmware", hls_root=root / "hls", events=2000, hls=False, emulate_rtl=False,
          synth="none")  # synthesis is tested on a small design (tests/test_synth.py)
    found = sorted(p.parent for p in (root / "firmware").glob("*/design.json"))
    assert len(found) == 1, f"expected one design under {root / 'firmware'}"
    return found[0]


def test_default_design_passes_the_suite_through_the_cli(default_design, sim_data, cli):
    code, out, err = cli("sim", default_design, "--events", "10000", "--data", sim_data / "zero_bias.h5")
    rep = json.loads((default_design / "sim_report.json").read_text())
    assert code == 0, out + err
    assert rep["passed"] and {t["test"] for t in rep["tests"]} == set(TESTS)
    s = next(t for t in rep["tests"] if t["test"] == "streaming")
    assert s["events_checked"] == 10_000 and s["mismatches"] == 0 and s["ii1"]
    design = load_design_dict(default_design)
    assert rep["latency_cycles_measured"] == design["latency_cycles"]
    lat = next(t for t in rep["tests"] if t["test"] == "latency")
    assert lat["latency_cycles_report"] == json.loads((default_design / "report.json").read_text())["latency_cycles"]
    assert rep["latency_cycles_measured"] * design["clock_period_ns"] <= rep["budget_ns"]
    assert "zero_bias.h5" in rep["stimulus"]
    assert "PASS" in out and "streaming" in out and "10,000" in out
    build_report = default_design / "report.json"
    if build_report.is_file():
        assert json.loads(build_report.read_text())["sim_report"] == "sim_report.json"
    # unchanged design: the Verilator model is not rebuilt
    again = run_suite(default_design, events=100, tests=("latency",), write_report=False)
    assert again.build.cached and again.passed


@needs_icarus
def test_default_design_on_icarus_streams_like_verilator(default_design, sim_data, cli):
    """The default VAE on Icarus through the CLI: the full suite passes (no X/Z after reset, X on the inputs
    during reset included) and the streamed scores and trigger bits are identical to Verilator's."""
    n = 2000
    code, out, err = cli("sim", default_design, "--simulator", "icarus", "--events", n, "--data",
                         sim_data / "zero_bias.h5")
    assert code == 0, out + err
    rep = json.loads((default_design / "sim_report.icarus.json").read_text())
    assert rep["passed"] and rep["simulator"] == "icarus" and {t["test"] for t in rep["tests"]} == set(TESTS)
    ica = next(t for t in rep["tests"] if t["test"] == "streaming")
    assert ica["events_checked"] == n and ica["xz_cycles"] == 0
    ver = run_suite(default_design, events=n, data=sim_data / "zero_bias.h5", tests=("streaming",), write_report=False)
    assert ver.test("streaming")["outputs_sha256"] == ica["outputs_sha256"]
    build_report = json.loads((default_design / "report.json").read_text())
    assert build_report["sim_report_icarus"] == "sim_report.icarus.json" and build_report["sim_icarus"]["passed"]


@pytest.mark.slow
@needs_icarus
def test_default_design_full_suite_on_icarus_10k(default_design, sim_data):
    """10,000 zero-bias events through the whole suite on Icarus (~6 min): identical to Verilator's."""
    data = sim_data / "zero_bias.h5"
    ica = run_suite(default_design, events=10_000, data=data, simulator="icarus", write_report=False)
    assert ica.passed, [t["message"] for t in ica.tests if not t["passed"]]
    ver = run_suite(default_design, events=10_000, data=data, tests=("streaming",), write_report=False)
    assert ica.test("streaming")["outputs_sha256"] == ver.test("streaming")["outputs_sha256"]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not on PATH (apt-get install -y yosys)")
def test_default_design_synthesizes_within_the_estimate_and_meets_the_clock(default_design):
    """The full-size default VAE through Yosys (~2 min): counts within 15 % of da4ml's estimate (FFs counted
    without duplicate register slices), every stage within 240 MHz by the vu13p delay model."""
    _assert_synthesis(default_design)


def _assert_synthesis(design_dir: Path) -> dict:
    from l1ad.firmware.boards import get_board
    from l1ad.firmware.synth import synthesize

    design = load_design_dict(design_dir)
    rep = json.loads((design_dir / "report.json").read_text())
    sec = synthesize(design_dir, design["top"], design["sources"], get_board(rep["board"]), design["clock_period_ns"],
                     estimate_luts=rep["resources"]["luts"], estimate_ffs=rep["resources"]["ffs"],
                     n_stages=rep["da4ml"]["pipeline_stages"], keep=False)
    assert sec["within_tolerance"]["luts"] and sec["within_tolerance"]["ffs_distinct"], sec["vs_estimate"]
    t = sec["timing"]
    assert t["meets_clock"], (t["critical_stage"], t["critical_delay_ns"])
    assert len(t["stages"]) == rep["da4ml"]["pipeline_stages"] + 1  # stages + the output register
    return sec


def _flip_weight_digit(design_dir: Path) -> tuple[str, str]:
    """Flip one weight digit of the da4ml network: in distributed arithmetic a constant weight is a graph of
    shift-adders, one per signed digit, so toggling one adder's IS_SUB parameter flips the sign of one digit
    of a weight (a corrupted weight bit). Picks the middle two-signal adder of the first pipeline stage."""
    import re

    design = load_design_dict(design_dir)
    pat = re.compile(r"shift_adder #\(([^)]*)\) (op_\d+) \(v\d+\[[^]]*\], v\d+\[")
    stages = [s for s in design["sources"] if "_stage" in s] or design["sources"]
    p = design_dir / sorted(stages)[0]
    text = p.read_text()
    hits = list(pat.finditer(text))
    assert hits, f"no shift_adder instance in {p}"
    m = hits[len(hits) // 2]
    params = [x.strip() for x in m.group(1).split(",")]
    params[-1] = "0" if params[-1] == "1" else "1"
    p.write_text(text[: m.start(1)] + ", ".join(params) + text[m.end(1) :])
    return p.name, m.group(2)


def test_corrupted_weight_fails_sim_naming_first_bad_event(default_design, sim_data, tmp_path, cli):
    """Fault injection (b): one weight digit flipped in the shipped Verilog -> `l1ad sim` exits 1 and names the
    first bad event; checked against an independent expectation: the same corrupted files compiled into the
    RTL harness (another Verilator build, another driver) against the fixed-point emulator."""
    from l1ad.fixedpoint import FixedPointModel
    from l1ad.verification.rtl_emulator import compile_rtl_emulator
    from l1ad.verification.runner import design_reference, make_stimulus

    bad = tmp_path / "corrupt"
    shutil.copytree(default_design, bad)
    (bad / "sim_report.json").unlink(missing_ok=True)
    rel, op = _flip_weight_digit(bad)
    zb = sim_data / "zero_bias.h5"
    code, out, err = cli("sim", bad, "--events", "3000", "--seed", "5", "--data", zb)
    rep = json.loads((bad / "sim_report.json").read_text())
    s = next(t for t in rep["tests"] if t["test"] == "streaming")
    assert code == 1 and not rep["passed"] and not s["passed"], f"flipping {op} in {rel} went unnoticed"
    assert len(err.strip().splitlines()) == 1 and "mismatches; first at event" in err
    assert rep["rtl"]["sources_match_build"] is False  # the simulated files are not those the build checked
    # independent expectation
    design = load_design_dict(bad)
    stim = make_stimulus(design, design_reference(bad, design), n_events=3000, data=zb, seed=5)
    rtl = compile_rtl_emulator(bad).run(stim.words)
    ref = FixedPointModel.load(bad / "fixedpoint.json").predict(stim.words)
    differs = np.flatnonzero(rtl.scores != ref)
    assert len(differs) > 0
    m = s["first_mismatches"][0]
    assert m["event"] == int(differs[0]) and f"first at event {m['event']}" in s["message"]
    assert m["got_score"] == int(rtl.scores[m["event"]]) and m["expected_score"] == int(ref[m["event"]])
    assert m["inputs"] == stim.words[m["event"]].tolist()
    assert s["mismatches"] >= len(differs)  # every score difference is counted (trigger-only ones on top)


def test_removed_latency_register_fails_the_latency_test(default_design, tmp_path):
    """Fault injection (c): one register stage taken out of the wrapper's valid pipeline -> out_valid arrives a
    cycle early; the latency test measures it and fails against design.json."""
    bad = tmp_path / "short"
    shutil.copytree(default_design, bad)
    design = load_design_dict(bad)
    top = bad / "rtl" / f"{design['top']}.v"
    L = design["latency_cycles"]
    text = top.read_text()
    old = f"out_valid  <= valid_pipe[{L - 2}];"
    assert old in text
    top.write_text(text.replace(old, f"out_valid  <= valid_pipe[{L - 3}];"))
    rep = run_suite(bad, events=200, tests=("latency",), write_report=False)
    lat = rep.test("latency")
    assert not rep.passed and lat["latency_cycles_measured"] == L - 1 and lat["latency_cycles_design"] == L


@pytest.mark.slow
def test_btag_cnn_design_passes_streaming_and_latency(tmp_path):
    """The b-jet CNN (configs/models/btag_cnn.yaml, 16 tracks x 4 features) trained 1 epoch and built for vu13p."""
    import h5py

    from l1ad.cli import main
    from l1ad.firmware.build import build

    rng = np.random.default_rng(3)
    n = 3000
    label = (np.arange(n) % 2).astype(np.int8)
    tracks = rng.normal(0, 1, (n, 16, 4)).astype(np.float32)
    tracks[:, :, 0] = np.abs(rng.exponential(5, (n, 16)))
    tracks[label == 1, :4, 2] += rng.normal(4, 1, (int(label.sum()), 4))
    with h5py.File(tmp_path / "btag.h5", "w") as f:
        f.create_dataset("Tracks", data=tracks).attrs["Track_Features"] = ["pt", "eta_rel", "d0_sig", "z0_sig"]
        f.create_dataset("Label", data=label)
    cfg = REPO / "configs" / "models" / "btag_cnn.yaml"
    art = tmp_path / "art"
    assert main(["train", str(cfg), "--data-dir", str(tmp_path), "--out", str(art), "--epochs", "1"]) == 0
    build(art, "vu13p", out_root=tmp_path / "fw", hls_root=tmp_path / "hls", events=2000, hls=False, emulate_rtl=False,
          synth="none")
    (design,) = [p.parent for p in (tmp_path / "fw").glob("*/design.json")]
    rep = run_suite(design, events=10_000)
    assert rep.passed, [t["message"] for t in rep.tests if not t["passed"]]
    s = rep.test("streaming")
    assert s["events_checked"] == 10_000 and s["mismatches"] == 0 and s["ii1"]
    assert rep.latency_cycles_measured == load_design_dict(design)["latency_cycles"]
    if shutil.which("iverilog"):  # the same suite, four-state: no X after reset, identical streaming outputs
        # Icarus re-evaluates every part-select of the CNN's ~15k-bit stage registers each cycle (~1-2 cycles/s):
        # the whole suite, on a short stream
        n = 60
        ica = run_suite(design, events=n, simulator="icarus")
        assert ica.passed, [t["message"] for t in ica.tests if not t["passed"]]
        ver = run_suite(design, events=n, tests=("streaming",), write_report=False)
        assert ica.test("streaming")["outputs_sha256"] == ver.test("streaming")["outputs_sha256"]
    if shutil.which("yosys"):  # ~10 min for the b-tag's ~100k LUTs
        _assert_synthesis(design)
