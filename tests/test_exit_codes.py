"""Exit codes are verdicts, through the real ``l1ad`` entry point (a subprocess, as a user's script runs it).

0 = done and every check passed; 1 = a check failed; 2 = bad input or usage (one line on stderr, no traceback,
nothing written); 130 = interrupted (``interrupted`` on stderr, nothing left behind). One test per code per
command family; each failing case is a fault injected on purpose.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from fw_helpers import qmodel, write_artifact

L1AD = str(Path(sys.executable).with_name("l1ad"))


def run(*args: object, cwd: Path | None = None, env: dict[str, str] | None = None,
        timeout: float = 900) -> tuple[int, str, str]:
    e = {**os.environ, **(env or {})}
    e.pop("L1AD_DEBUG", None)
    p = subprocess.run([L1AD, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=e, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def interrupt(*args: object, after: float, marker: str | None = None, env: dict[str, str] | None = None,
              cwd: Path | None = None) -> tuple[int, str, str]:
    """Start ``l1ad ARGS``, send SIGINT (as Ctrl-C does) ``after`` seconds after ``marker`` appeared on stdout
    (or after the start)."""
    import selectors

    e = {**os.environ, **(env or {}), "L1AD_PROGRESS_INTERVAL": "0", "PYTHONUNBUFFERED": "1"}
    p = subprocess.Popen([L1AD, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e, cwd=cwd,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = b""
    if marker is not None:
        sel = selectors.DefaultSelector()
        sel.register(p.stdout, selectors.EVENT_READ)
        t0 = time.monotonic()
        while marker.encode() not in seen and p.poll() is None and time.monotonic() - t0 < 300:
            if sel.select(timeout=0.1):
                seen += os.read(p.stdout.fileno(), 65536)
    time.sleep(after)
    assert p.poll() is None, f"finished before it could be interrupted: {p.communicate()}"
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    return p.returncode, (seen + out).decode(errors="replace"), err.decode(errors="replace")


def one_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def leftovers(*dirs: Path) -> list[str]:
    """Temporary or half-written entries (hidden temp dirs/files of l1ad.io) under ``dirs``."""
    out = []
    for d in dirs:
        if d.is_dir():
            out += [str(p) for p in d.rglob(".*") if p.suffix in (".tmp", ".json", ".h5", ".npz") or ".old." in p.name]
    return out


# ------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    """A tiny artifact (12 GT-like inputs), tiny ADC2021 files, an empty file."""
    from l1ad.data.adc2021 import write_events

    d = tmp_path_factory.mktemp("exit")
    art = write_artifact(d / "toy", qmodel(n_in=12, hidden=(6,), n_out=3, name="toy"))
    rng = np.random.default_rng(0)
    ev = np.zeros((3000, 19, 4), np.float32)
    ev[:, :, 0] = rng.exponential(10, (3000, 19))
    ev[:, 0, 1] = 0
    ev[:, 1:, 1] = rng.uniform(-2, 2, (3000, 18))
    ev[:, :, 2] = rng.uniform(-3, 3, (3000, 19))
    ev[:, :, 3] = [1] + [2] * 4 + [3] * 4 + [4] * 10
    write_events(d / "events.h5", ev)
    write_events(d / "empty.h5", np.zeros((0, 19, 4), np.float32))
    # a 57-input model on the GT words of configs/l1_objects.yaml (what `l1ad rates` feeds)
    from l1ad.data.encoding import load_encoding

    gt = write_artifact(d / "gt", qmodel(n_in=57, hidden=(4,), n_out=2, name="gt"))
    meta = json.loads((gt / "model.json").read_text())
    meta["input"]["fields"] = [f.name for f in load_encoding().fields]
    (gt / "model.json").write_text(json.dumps(meta))
    return {"dir": d, "artifact": art, "gt": gt, "events": d / "events.h5", "empty": d / "empty.h5"}


@pytest.fixture(scope="module")
def gt_design(tiny) -> Path:
    from l1ad.firmware.build import build

    build(tiny["gt"], "vu13p", out_root=tiny["dir"] / "fw", hls_root=tiny["dir"] / "hls", events=500, hls=False)
    return tiny["dir"] / "fw" / "gt-vu13p"


@pytest.fixture(scope="module")
def design(tiny) -> Path:
    """The tiny artifact built by `l1ad build` (no hls4ml project): a real design with fixedpoint.json."""
    from l1ad.firmware.build import build

    build(tiny["artifact"], "vu13p", out_root=tiny["dir"] / "fw", hls_root=tiny["dir"] / "hls", events=500, hls=False)
    return tiny["dir"] / "fw" / "toy-vu13p"


# ------------------------------------------------------------------------------------------- code 2
@pytest.mark.parametrize("args, needle", [
    (["--bogus"], "--bogus"),
    (["data", "generate", "--events", "0"], "--events"),
    (["train", "x.yaml", "--epochs", "0"], "--epochs"),
    (["build", "--board", "vu13p"], "--model"),
    (["build", "--board", "vu13p", "--model", "m", "--clock-mhz", "fast"], "--clock-mhz"),
    (["sim"], "design_dir"),
    (["rates", "--zero-bias"], "--zero-bias"),
    (["abcd", "--epochs", "many"], "--epochs"),
    (["demo", "--only", "nope"], "nope"),
    (["demo", "--jobs", "-1"], "--jobs"),
    (["evaluate"], "artifact"),
])
def test_usage_error_is_one_line_and_exit_2(args, needle, tmp_path):
    code, out, err = run(*args, cwd=tmp_path)
    assert code == 2 and needle in one_line(err)
    assert not list(tmp_path.iterdir())


def _bad_shift_artifact(tiny: dict[str, Path], tmp: Path) -> Path:
    art = tmp / "badshift"
    shutil.copytree(tiny["artifact"], art)
    meta = json.loads((art / "model.json").read_text())
    meta["preprocessing"]["shift"][0] = "two"
    (art / "model.json").write_text(json.dumps(meta))
    return art


@pytest.mark.parametrize("case", ["encode_empty", "encode_unwritable", "inspect_onto_file", "build_clock_0",
                                  "build_empty_data", "build_bad_shift", "rates_bad_scheduler", "sim_missing",
                                  "generate_bad_process", "abcd_missing_data"])
def test_bad_input_is_one_line_exit_2_nothing_written(case, tiny, tmp_path):
    out = tmp_path / "out"
    art, ev, empty = tiny["artifact"], tiny["events"], tiny["empty"]
    args, needle = {
        "encode_empty": (["data", "encode", empty, "-o", out / "w.h5"], "no events"),
        "encode_unwritable": (["data", "encode", ev, "-o", "/dev/null/x.h5"], "/dev/null"),
        "inspect_onto_file": (["data", "inspect", ev, "-o", ev], str(ev)),
        "build_clock_0": (["build", "--board", "vu13p", "--model", art, "--clock-mhz", "0", "--out", out], "clock"),
        "build_empty_data": (["build", "--board", "vu13p", "--model", art, "--data", empty, "--out", out,
                              "--hls-dir", out / "hls"], "empty.h5"),
        "build_bad_shift": (["build", "--board", "vu13p", "--model", _bad_shift_artifact(tiny, tmp_path),
                             "--out", out], "shift"),
        "rates_bad_scheduler": (["rates", "--model", tiny["gt"], "--zero-bias", ev, "--scheduler", "notaurl", "--all-events",
                                 "--out", out], "notaurl"),
        "sim_missing": (["sim", tmp_path / "nope"], "nope"),
        "generate_bad_process": (["data", "generate", "--processes", "zero_bias,higgs", "--out", out], "higgs"),
        "abcd_missing_data": (["abcd", "--data-dir", tmp_path / "nodata", "--out", out], "nodata"),
    }[case]
    code, _, err = run(*args, cwd=tmp_path)
    assert code == 2, err
    assert needle in one_line(err)
    assert not out.exists() and not leftovers(tmp_path)
    if case == "inspect_onto_file":
        assert ev.stat().st_size > 0  # the input was not overwritten


# ------------------------------------------------------------------------------------------- code 0 / 1
def test_build_exit_0_then_1_over_budget_keeps_the_good_design(tiny, tmp_path):
    fw, hls = tmp_path / "fw", tmp_path / "hls"
    common = ["build", "--board", "vu13p", "--model", tiny["artifact"], "--out", fw, "--hls-dir", hls,
              "--events", "2000", "--no-hls"]
    code, out, err = run(*common)
    assert code == 0 and err == "", err
    good = {p: p.read_bytes() for p in sorted((fw / "toy-vu13p").rglob("*")) if p.is_file()}
    code, out, err = run(*common, "--budget-ns", "4")
    assert code == 1 and "budget 4 ns" in one_line(err)
    assert {p: p.read_bytes() for p in sorted((fw / "toy-vu13p").rglob("*")) if p.is_file()} == good
    assert json.loads((fw / "toy-vu13p.failed" / "report.json").read_text())["passed"] is False


def test_sim_exit_0_then_1_over_budget(design, tmp_path):
    d = tmp_path / "toy"
    shutil.copytree(design, d)
    code, out, err = run("sim", d, "--events", "300")
    n_tests = len(__import__("l1ad.verification", fromlist=["TESTS"]).TESTS)
    assert code == 0 and err == "" and f"PASS: {n_tests}/{n_tests} tests passed" in out, out + err
    code, out, err = run("sim", d, "--events", "300", "--budget-ns", "1")
    line = one_line(err)
    assert code == 1 and "latency" in line and "budget 1 ns" in line
    assert json.loads((d / "sim_report.json").read_text())["passed"] is False


def test_abcd_exit_1_when_acceptance_not_met(tmp_path):
    """Fault injection: a decorrelation weight of ~0 cannot reduce dCorr² 5x over the λ=0 baseline."""
    import yaml
    from test_background import _tiny_config, _write_samples

    data = tmp_path / "data"
    _write_samples(data)
    cfg = yaml.safe_load(_tiny_config(tmp_path).read_text())
    cfg["training"]["lam"] = 1e-9
    (tmp_path / "abcd.yaml").write_text(yaml.safe_dump(cfg))
    code, out, err = run("abcd", tmp_path / "abcd.yaml", "--data-dir", data, "--out", tmp_path / "o", "--epochs", "1")
    assert code == 1 and "acceptance not met" in one_line(err) and "dcorr2_ok" in err
    rep = json.loads((tmp_path / "o" / "report.json").read_text())
    assert rep["acceptance"]["passed"] is False and rep["acceptance"]["dcorr2_ok"] is False


def test_demo_passes_on_the_stage_exit_code(tmp_path):
    """A failing stage's code is the demo's (here 2: the artifact the train stage would write is missing)."""
    code, out, err = run("demo", "--only", "evaluate", "--out", tmp_path / "o", "--data", tmp_path / "d",
                         cwd=tmp_path)
    assert code == 2 and "stage 'evaluate' failed with exit code 2" in err.strip().splitlines()[-1]
    assert "Traceback" not in err


# ------------------------------------------------------------------------------------------- code 130
def test_generate_interrupted_exit_130_nothing_left(tmp_path):
    cache = tmp_path / "cache"
    out = tmp_path / "gen"
    code, _, err = interrupt("data", "generate", "--fast", "--out", out, after=3.0, env={"L1AD_CACHE_DIR": str(cache)})
    assert code == 130 and one_line(err) == "interrupted"
    assert not out.exists()
    assert not [p for p in cache.rglob("*") if p.name.endswith(".tmp")]


def test_build_interrupted_exit_130_nothing_left(tiny, tmp_path):
    fw, hls = tmp_path / "fw", tmp_path / "hls"
    code, _, err = interrupt("build", "--board", "vu13p", "--model", tiny["artifact"], "--out", fw, "--hls-dir", hls,
                             "--events", "2000", after=1.0, marker="hls4ml project")
    assert code == 130 and one_line(err) == "interrupted"
    assert not (fw / "toy-vu13p").exists() and not (hls / "toy-vu13p").exists()
    assert not leftovers(fw, hls) and not [p for p in (list(fw.glob("*")) + list(hls.glob("*")))]


def test_sim_interrupted_exit_130_no_report(design, tmp_path):
    d = tmp_path / "toy"
    shutil.copytree(design, d)
    code, _, err = interrupt("sim", d, "--events", "200000", after=2.0, marker="compiling",
                             env={"L1AD_CACHE_DIR": str(tmp_path / "cache")})
    assert code == 130 and one_line(err) == "interrupted"
    assert not (d / "sim_report.json").exists()
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.name.endswith(".tmp")]


def test_data_encode_and_rates_exit_0(tiny, tmp_path):
    code, out, err = run("data", "encode", tiny["events"], "-o", tmp_path / "w.h5")
    assert code == 0 and err == "" and (tmp_path / "w.h5").is_file()
    code, out, err = run("rates", "--model", tiny["gt"], "--zero-bias", tiny["events"], "--all-events",
                         "--menu", "none", "--targets", "1000,5000", "--out", tmp_path / "r")
    assert code == 0 and err == "", err
    assert json.loads((tmp_path / "r" / "rates.json").read_text())["thresholds"]


def test_rates_exit_1_when_the_shipped_rtl_disagrees(gt_design, tiny, tmp_path):
    """Fault injection: the design's score register inverted in its shipped Verilog."""
    bad = tmp_path / "bad"
    shutil.copytree(gt_design, bad)
    top = bad / "rtl" / "gt_trigger.v"
    assert "? score_w :" in top.read_text()
    top.write_text(top.read_text().replace("? score_w :", "? ~score_w :"))
    code, out, err = run("rates", "--design", bad, "--zero-bias", tiny["events"], "--menu", "none",
                         "--targets", "1000,5000", "--out", tmp_path / "r")
    assert code == 1 and "trigger bit differs" in one_line(err)
    assert json.loads((tmp_path / "r" / "rates.json").read_text())["rtl_check"]["passed"] is False


def test_train_interrupted_exit_130_nothing_left(tmp_path):
    from test_sim import _SIGNALS, _synthetic_events

    from l1ad.data.adc2021 import write_events

    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    write_events(data / "zero_bias.h5", _synthetic_events(20_000, rng, False))
    for s in _SIGNALS:
        write_events(data / s, _synthetic_events(300, rng, True))
    out = tmp_path / "art"
    code, _, err = interrupt("train", "models/axol1tl_vae.yaml", "--data-dir", data, "--out", out, "--epochs", "50",
                             after=0.5, marker="epoch 1/")
    assert code == 130 and one_line(err) == "interrupted"
    assert not out.exists() and not leftovers(tmp_path)
