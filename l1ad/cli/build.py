"""``l1ad build``: trained artifact -> bit-exact fixed-point description -> hls4ml project + Verilog trigger."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command("build")
    def build_cmd(
        board: str = typer.Option(..., "--board", help="Target board from configs/boards.yaml (vu13p, vu9p, vx690t)."),
        model: Path = typer.Option(..., "--model", help="Model artifact directory (trigger.h5 + model.json)."),
        clock_mhz: float = typer.Option(None, "--clock-mhz", help="Clock in MHz (default: the board's)."),
        out: Path = typer.Option(Path("firmware"), "--out", help="Design output root; writes <out>/<model>-<board>/."),
        hls_dir: Path = typer.Option(Path("hls_projects"), "--hls-dir", help="hls4ml project root."),
        events: int = typer.Option(
            100_000, "--events", min=1, help="Events for the bit-exactness checks (per --data file)."
        ),
        data: list[Path] = typer.Option(
            [], "--data", help="ADC2021 .h5 events, encoded to GT words (repeatable, e.g. zero bias and signals); "
            "default random valid words."
        ),
        no_hls: bool = typer.Option(False, "--no-hls", help="Skip the hls4ml project and its C simulation."),
        synth: str = typer.Option(
            "auto", "--synth", help="Yosys synthesis of the shipped RTL (mapped LUT/FF counts, per-stage depth and "
            "timing estimate; exit 1 if a stage misses the clock): auto = when yosys is on PATH, yosys, none."
        ),
    ) -> None:
        """Build the firmware for BOARD from a model artifact, check it bit-exact and report latency/resources."""
        import sys

        from l1ad.firmware.boards import get_board
        from l1ad.firmware.build import build

        get_board(board)  # unknown board -> error listing the known ones, before any work
        cmd = ["l1ad", *sys.argv[1:]] if sys.argv and "l1ad" in Path(sys.argv[0]).name else None
        rep = build(model, board, clock_mhz, out, hls_dir, events, data, hls=not no_hls, command=cmd, synth=synth)
        res = rep["resources"]
        typer.echo(
            f"{out / (rep['model'] + '-' + board)}: latency {rep['latency_cycles']} cycles = {rep['latency_ns']:.1f} ns "
            f"@ {rep['clock_mhz']:.0f} MHz, LUTs {res['luts']:.0f} ({res['luts_pct']:.2f} %), FFs {res['ffs']}, DSPs 0; "
            f"bit-exact on {rep['benchmark']['events']} events"
        )
        b = rep["benchmark"]
        if b.get("hls4ml_events_per_s"):
            typer.echo(f"emulator {b['emulator_events_per_s']:.0f} ev/s vs hls4ml C-sim {b['hls4ml_events_per_s']:.0f} ev/s "
                       f"(x{b['speedup']:.0f}, identical outputs)")
        from l1ad.firmware.synth import summary_lines

        for line in summary_lines(rep["synthesis"])[:3]:
            typer.echo(line)
        if rep["hls"].get("note"):
            typer.echo(rep["hls"]["note"])
        typer.echo("stage times: " + ", ".join(f"{k} {v:.1f}s" for k, v in rep["timings_s"].items()))
