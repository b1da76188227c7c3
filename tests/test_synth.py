"""Open-source synthesis of the shipped RTL (l1ad.firmware.synth, l1ad.firmware.timing, `l1ad build --synth`).

The stage-delay walk is checked on hand-made mapped netlists (exact delays by the documented model, a path that
cannot meet the clock); a small trained design is built and synthesized with Debian's Yosys (skipped, with the
reason, only where `yosys` is not installed: `apt-get install -y yosys`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from l1ad.errors import BuildError, CheckFailed
from l1ad.firmware import synth
from l1ad.firmware.boards import get_board
from l1ad.firmware.rtl import instantiated_modules
from l1ad.firmware.timing import DelayModel, analyse

needs_yosys = pytest.mark.skipif(shutil.which("yosys") is None,
                                 reason="yosys not on PATH (apt-get install -y yosys; `make test` does it as root)")

MODEL = DelayModel(clk_to_q=0.1, setup=0.02, clock_uncertainty=0.03, lut=0.12, net=0.25, carry_entry=0.19,
                   carry4=0.02, carry_exit=0.13, muxf=0.07)


# ----------------------------------------------------------------------------------------------------- netlists
class _Net:
    """A tiny Yosys-JSON-like mapped netlist: top ports, cells and named wires."""

    def __init__(self) -> None:
        self.cells: dict[str, dict] = {}
        self.names: dict[str, dict] = {}
        self.ports: dict[str, dict] = {"clk": {"direction": "input", "bits": [1]}}
        self.bit = 10

    def new(self) -> int:
        self.bit += 1
        return self.bit

    def cell(self, ctype: str, ins: dict[str, list], outs: dict[str, list]) -> None:
        conns = {**ins, **outs}
        dirs = {**dict.fromkeys(ins, "input"), **dict.fromkeys(outs, "output")}
        self.cells[f"c{len(self.cells)}"] = {"type": ctype, "connections": conns, "port_directions": dirs}

    def ff(self, d: int, name: str) -> int:
        q = self.new()
        self.cell("FDRE", {"C": [1], "CE": ["1"], "R": ["0"], "D": [d]}, {"Q": [q]})
        self.names[name] = {"hide_name": 0, "bits": [q]}
        return q

    def lut_chain(self, src: int, n: int) -> int:
        for _ in range(n):
            o = self.new()
            self.cell("LUT2", {"I0": [src], "I1": [src]}, {"O": [o]})
            src = o
        return src

    def json(self) -> dict:
        return {"modules": {"top": {"ports": self.ports, "cells": self.cells, "netnames": self.names}}}


def _pipeline(levels: list[int]) -> dict:
    """stage<k>_inp registers with ``levels[k]`` LUT levels between them, then the net output register."""
    n = _Net()
    n.ports["in"] = {"direction": "input", "bits": [2]}
    q = n.ff(2, "u_net.stage0_inp")
    for k, lv in enumerate(levels):
        d = n.lut_chain(q, lv)
        q = n.ff(d, f"u_net.stage{k + 1}_inp" if k + 1 < len(levels) else "u_net.model_out")
    return n.json()


def test_stage_delays_follow_the_documented_model():
    stages = analyse(_pipeline([3, 7, 1]), "top", MODEL, n_stages=3)
    by = {s.stage: s for s in stages}
    assert list(by) == ["input", "stage 0", "stage 1", "stage 2"]
    for name, lv in (("stage 0", 3), ("stage 1", 7), ("stage 2", 1)):
        s = by[name]
        assert s.lut_levels == s.max_lut_levels == lv and s.carry4 == 0 and s.endpoints == 1
        assert s.delay_ns == pytest.approx(MODEL.path_delay(lv, 0, 0))
        assert [t for t, _ in s.path] == ["FDRE"] + ["LUT2"] * lv
        assert s.path[-1][1] == pytest.approx(s.delay_ns - MODEL.net - MODEL.setup)
    # the input register is captured straight from the port: clk-to-q (upstream register) + net + setup
    assert by["input"].delay_ns == pytest.approx(MODEL.clk_to_q + MODEL.net + MODEL.setup)
    assert max(stages, key=lambda s: s.delay_ns).stage == "stage 1"


def test_a_netlist_too_deep_for_the_clock_misses_it():
    """Fault injection for the timing verdict: one stage with 12 LUT levels cannot meet 240 MHz."""
    period = 1000 / 240
    ok = analyse(_pipeline([4, 4]), "top", MODEL, n_stages=2)
    bad = analyse(_pipeline([4, 12]), "top", MODEL, n_stages=2)
    required = period - MODEL.clock_uncertainty
    assert max(s.delay_ns for s in ok) <= required
    worst = max(bad, key=lambda s: s.delay_ns)
    assert worst.stage == "stage 1" and worst.delay_ns > required


def test_carry_chains_and_inverters():
    """A 16-bit add (LUT -> 4 CARRY4) after a flip-flop: entry + 3 x carry4 + exit; an INV behind a LUT is folded
    into it, an INV behind a flip-flop is a LUT level."""
    n = _Net()
    q = n.ff(2, "u_net.stage0_inp")
    s_bits = []
    for _ in range(4):  # four LUTs feeding the S pins of the first CARRY4
        o = n.new()
        n.cell("LUT2", {"I0": [q], "I1": [q]}, {"O": [o]})
        s_bits.append(o)
    ci: list = ["0"]
    last_o = None
    for seg in range(4):
        co = [n.new() for _ in range(4)]
        o = [n.new() for _ in range(4)]
        s = s_bits if seg == 0 else [q] * 4
        n.cell("CARRY4", {"CI": ci, "CYINIT": ["0"], "DI": ["0"] * 4, "S": s}, {"CO": co, "O": o})
        ci, last_o = [co[3]], o[3]
    n.ff(last_o, "u_net.model_out")
    # inverter after a LUT (folded) and after a flip-flop (a level)
    lut = n.new()
    n.cell("LUT2", {"I0": [q], "I1": [q]}, {"O": [lut]})
    inv1 = n.new()
    n.cell("INV", {"I": [lut]}, {"O": [inv1]})
    n.ff(inv1, "score")
    inv2 = n.new()
    n.cell("INV", {"I": [q]}, {"O": [inv2]})
    n.ff(inv2, "trigger")
    by = {s.stage: s for s in analyse(n.json(), "top", MODEL, n_stages=1)}
    s0 = by["stage 0"]
    # S pins are driven by their own single-fanout LUT (same slice, no net between them); the later segments'
    # S pins come straight from the flip-flop, so the critical path enters there with a net
    entry_lut = MODEL.clk_to_q + MODEL.net + MODEL.lut + MODEL.carry_entry
    via_ff = MODEL.clk_to_q + MODEL.net + MODEL.carry_entry
    co0 = max(entry_lut, via_ff)
    expected = max(co0 + 2 * MODEL.carry4 + MODEL.carry_exit, via_ff) + MODEL.net + MODEL.setup
    assert s0.delay_ns == pytest.approx(expected)
    assert s0.max_carry4 == 4 and s0.max_lut_levels == 1
    out = by["output"]  # score (INV folded into its LUT) and trigger (INV behind a flip-flop): one level each
    assert out.endpoints == 2 and out.lut_levels == 1
    assert out.delay_ns == pytest.approx(MODEL.clk_to_q + MODEL.net + MODEL.lut + MODEL.net + MODEL.setup)


def test_instantiated_modules_follows_instances(tmp_path):
    lib = {}
    for name, body in {"shift_adder": "", "mux": "", "lookup_table": "", "negative": "",
                       "wrap": "  negative #(4, 4, 1) n0 (a, b);\n"}.items():
        p = tmp_path / f"{name}.v"
        p.write_text(f"module {name} (input a, output b);\n{body}endmodule\n")
        lib[name] = p
    gen = {"net_stage0": "    wire [3:0] v2; shift_adder #(3, 3, 1, 1, 4, 0, 0) op_2 (v0, v1, v2); // x\n"
                         "    wrap w0 (x, y);\n    // lookup_table is mentioned in a comment only\n"}
    assert instantiated_modules(gen, lib) == {"shift_adder", "wrap", "negative"}
    assert instantiated_modules({"x": "assign a = b;"}, lib) == set()


def test_synth_mode_usage_errors(monkeypatch):
    with pytest.raises(BuildError, match="--synth: must be one of"):
        synth.check_mode("vivado")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(BuildError, match="yosys is not on PATH"):
        synth.check_mode("yosys")
    assert synth.check_mode("auto") is False and synth.check_mode("none") is False
    board = get_board("vu13p")
    sec = synth.for_build("auto", Path("."), "top", [], board, 4.0, estimate_luts=1, estimate_ffs=1, n_stages=1)
    assert sec == {"enabled": False, "reason": f"yosys not on PATH ({synth.INSTALL_HINT})"}
    assert synth.verdict(sec) is None


def test_boards_carry_a_family_and_a_cited_delay_model():
    for name, fam in (("vu13p", "xcup"), ("vu9p", "xcup"), ("vx690t", "xc7")):
        b = get_board(name)
        assert b.synth_family == fam and b.timing.source and "-2" in b.timing.speed_grade
        assert 0 < b.timing.adder_level_ns() < 1000 / b.clock_mhz


# ----------------------------------------------------------------------------------------------------- Yosys
@pytest.fixture(scope="session")
def small_design(tmp_path_factory) -> Path:
    """A small QKeras model (12 inputs -> 6 -> 3, sum of squares) built for vu13p with Yosys synthesis."""
    from fw_helpers import qmodel, write_artifact

    from l1ad.firmware.build import build

    if shutil.which("yosys") is None:
        pytest.skip("yosys not on PATH (apt-get install -y yosys; `make test` does it as root)")
    root = tmp_path_factory.mktemp("synth")
    art = write_artifact(root / "art", qmodel(n_in=12, hidden=(6,), n_out=3, name="syn"))
    build(art, "vu13p", out_root=root / "fw", hls_root=root / "hls", events=300, hls=False, emulate_rtl=False,
          synth="yosys")
    (d,) = [p.parent for p in (root / "fw").glob("*/design.json")]
    return d


@needs_yosys
def test_small_design_synthesizes_within_the_estimate(small_design):
    rep = json.loads((small_design / "report.json").read_text())
    s = rep["synthesis"]
    assert s["enabled"] and "error" not in s and s["family"] == "xcup" and s["tool"].startswith("Yosys")
    r = s["resources"]
    assert r["luts"] > 0 and r["ffs"] > 0 and r["carry"] > 0 and r["dsps"] == 0 and r["brams_36k"] == 0
    v = s["vs_estimate"]
    assert v["luts"]["da4ml"] == pytest.approx(rep["resources"]["luts"]) and v["ffs"]["da4ml"] == rep["resources"]["ffs"]
    assert abs(r["luts"] / rep["resources"]["luts"] - 1) <= 0.15, v
    # the FF estimate counts duplicate register slices; counted apart, Yosys agrees within 15 %
    assert abs(r["ffs"] / v["ffs"]["da4ml_distinct"] - 1) <= 0.15, v
    assert s["register_bits"]["declared"] - s["register_bits"]["distinct"] == rep["resources"]["ffs"] - v["ffs"]["da4ml_distinct"]
    t = s["timing"]
    names = [x["stage"] for x in t["stages"]]
    n_stages = rep["da4ml"]["pipeline_stages"]
    # no input register (stage 0 starts at the input words): the network's stages, then the output register
    assert names == [*[f"stage {k}" for k in range(n_stages)], "output"]
    assert rep["latency_cycles"] == n_stages + 1
    crit = max(t["stages"], key=lambda x: x["delay_ns"])
    assert t["critical_stage"] == crit["stage"] and t["critical_delay_ns"] == crit["delay_ns"]
    assert t["meets_clock"] == (crit["delay_ns"] <= t["required_ns"]) and t["meets_clock"]
    assert all(x["max_lut_levels"] >= x["lut_levels"] >= 0 for x in t["stages"])
    assert any(x["lut_levels"] >= 2 and x["carry4_segments"] >= 2 for x in t["stages"])
    assert "synthesis" in (small_design / "report.txt").read_text()
    assert (small_design / "synth" / "synth.ys").is_file() and (small_design / "synth" / "yosys.log").is_file()


@needs_yosys
def test_only_instantiated_rtl_is_shipped(small_design):
    design = json.loads((small_design / "design.json").read_text())
    shipped = sorted(p.relative_to(small_design).as_posix() for p in (small_design / "rtl").glob("*.v"))
    assert sorted(design["sources"]) == shipped
    assert "rtl/lookup_table.v" not in shipped and "rtl/shift_adder.v" in shipped


@needs_yosys
def test_dead_unsynthesizable_rtl_fails_synthesis(small_design, tmp_path):
    """Fault injection: da4ml's lookup_table.v (a $readmemh of a file that does not exist), shipped as before,
    makes the synthesis check fail with Yosys' own error."""
    import da4ml

    d = tmp_path / "dead"
    shutil.copytree(small_design, d)
    src = Path(da4ml.__file__).parent / "codegen" / "rtl" / "verilog" / "source" / "lookup_table.v"
    shutil.copyfile(src, d / "rtl" / "lookup_table.v")
    design = json.loads((d / "design.json").read_text())
    sources = [*design["sources"], "rtl/lookup_table.v"]
    sec = synth.for_build("yosys", d, design["top"], sources, get_board("vu13p"), design["clock_period_ns"],
                          estimate_luts=1000, estimate_ffs=100, n_stages=None)
    assert sec["enabled"] and "whatever.mem" in sec["error"]
    assert "whatever.mem" in synth.verdict(sec)


@needs_yosys
def test_build_exits_1_when_a_stage_cannot_meet_the_clock(small_design, tmp_path):
    """Fault injection through the build: 2 GHz leaves less than one adder level per stage; the build writes
    its report, then fails the timing check naming the critical stage."""
    from l1ad.firmware.build import build

    art = Path(json.loads((small_design / "report.json").read_text())["artifact"])
    with pytest.raises(CheckFailed, match=r"timing estimate: stage '[^']+' needs .* ns > .* at 2000\.0 MHz"):
        build(art, "vu13p", clock_mhz=2000, out_root=tmp_path / "fw", hls_root=tmp_path / "hls", events=100,
              hls=False, emulate_rtl=False, synth="yosys")
    (rep_path,) = (tmp_path / "fw").glob("*/report.json")
    t = json.loads(rep_path.read_text())["synthesis"]["timing"]
    assert not t["meets_clock"] and t["slack_ns"] < 0
