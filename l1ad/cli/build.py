"""``l1ad build``: a model (artifact or bare QKeras file) -> bit-exact fixed-point description -> hls4ml project +
Verilog trigger."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

__all__ = ["import_options", "register"]

MODEL_HELP = ("Model: an artifact directory (from `l1ad train`/`l1ad import`) or a bare Keras/QKeras model "
              "(.h5 file or SavedModel directory).")


def import_options() -> dict[str, Any]:
    """The options that say how to read a bare model (shared by `build` and `import`)."""
    return {
        "input_precision": typer.Option(
            None, "--input-precision", help="Bare model: every input is a word of this hls4ml type (e.g. "
            "'ap_fixed<16,6>'; default: the codes of the model's input quantizer, else ap_fixed<16,6>)."),
        "encoding": typer.Option(
            None, "--encoding", help="Bare model: 'gt' = the 57 GT words of configs/l1_objects.yaml, each "
            "scaled by 2**-shift."),
        "shift": typer.Option(
            None, "--shift", help="With --encoding gt: word LSBs dropped, one integer or one per input "
            "(comma-separated; default: the input quantizer's fraction bits, else 0)."),
        "score": typer.Option(
            None, "--score", help="Bare model: identity, sum_squares or squared_error "
            "(default: identity for one output, sum of squares otherwise)."),
    }


def register(app: typer.Typer) -> None:
    o = import_options()

    @app.command("build")
    def build_cmd(
        board: str = typer.Option(..., "--board", help="Target board from configs/boards.yaml (vu13p, vu9p, vx690t)."),
        model: Path = typer.Option(..., "--model", help=MODEL_HELP),
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
        budget_ns: float = typer.Option(None, "--budget-ns", help="Latency budget in ns [configs/sim.yaml: 50]."),
        input_precision: str | None = o["input_precision"],
        encoding: str | None = o["encoding"],
        shift: str | None = o["shift"],
        score: str | None = o["score"],
        synth: str = typer.Option(
            "auto", "--synth", help="Yosys synthesis of the shipped RTL (mapped LUT/FF counts, per-stage depth and "
            "timing estimate; exit 1 if a stage misses the clock): auto = when yosys is on PATH, yosys, none."
        ),
    ) -> None:
        """Build the firmware for BOARD from a model (artifact dir, Keras .h5 or SavedModel), check it bit-exact
        and report latency/resources.

        Checks: QKeras = NumPy emulator = hls4ml C-sim = the shipped Verilog (Verilator, trigger wrapper included)
        on the reference events, the RTL's measured latency = the design's, latency <= budget. Exit 0 when all
        pass (outputs committed), 1 when a check fails (evidence in <out>/<model>-<board>.failed/, the previous
        design untouched), 2 on bad input (nothing written), 130 when interrupted (nothing written)."""
        import sys

        from l1ad.firmware.boards import get_board
        from l1ad.firmware.build import build
        from l1ad.fixedpoint.source import ImportOptions

        get_board(board)  # unknown board -> error listing the known ones, before any work
        opts = ImportOptions.from_cli(input_precision, encoding, shift, score)
        cmd = ["l1ad", *sys.argv[1:]] if sys.argv and "l1ad" in Path(sys.argv[0]).name else None
        rep = build(model, board, clock_mhz, out, hls_dir, events, data, hls=not no_hls, command=cmd, options=opts,
                    budget_ns=budget_ns, synth=synth)
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
        for note in rep.get("notes", []):
            typer.echo(f"note: {note}")
        typer.echo("stage times: " + ", ".join(f"{k} {v:.1f}s" for k, v in rep["timings_s"].items()))
