"""``l1ad demo``: the main job on built-in defaults, one stage after the other, each as its own l1ad command.

generate -> train -> evaluate -> build -> sim -> rates -> abcd; prints where each report and plot is.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import typer

from l1ad.errors import L1adError, StageFailed

__all__ = ["register"]

#: ADC2021 signal samples (file names written by `l1ad data generate`)
SIGNALS = ("ato4l", "leptoquark", "hToTauTau", "hChToTauNu")


@dataclass(frozen=True)
class Stage:
    name: str
    args: tuple[str, ...]
    outputs: tuple[str, ...]


def demo_stages(out: Path, data: Path, board: str, events: int) -> list[Stage]:
    """The demo's stages on built-in defaults (configs/), writing under ``out`` and reading data from ``data``.

    Firmware goes where ``l1ad build`` puts it by default (``firmware/`` and ``hls_projects/``)."""
    model = out / "models" / "axol1tl_vae"
    btag = out / "models" / "btag_cnn"
    design = Path("firmware") / f"axol1tl_vae-{board}"
    btag_design = Path("firmware") / f"btag_cnn-{board}"
    zb = data / "zero_bias.h5"
    signals = [data / f"{s}.h5" for s in SIGNALS]
    sig_args = [a for s in signals for a in ("--signal", str(s))]
    d = ("--data-dir", str(data))
    return [
        Stage("generate", ("data", "generate", "--out", str(data)), (str(data),)),
        Stage("inspect", ("data", "inspect", str(zb), *map(str, signals), "--out", str(out / "inspect")),
              (str(out / "inspect"),)),
        Stage("train", ("train", "models/axol1tl_vae.yaml", *d, "--out", str(model)), (str(model),)),
        Stage("evaluate", ("evaluate", str(model), *d, "--out", str(out / "evaluate" / "axol1tl_vae")),
              (str(out / "evaluate" / "axol1tl_vae"),)),
        Stage("train-btag", ("train", "models/btag_cnn.yaml", *d, "--out", str(btag)), (str(btag),)),
        Stage("evaluate-btag", ("evaluate", str(btag), *d, "--jets", str(data / "btag.h5"),
                                "--out", str(out / "evaluate" / "btag_cnn")), (str(out / "evaluate" / "btag_cnn"),)),
        Stage("build", ("build", "--board", board, "--model", str(model),
                        *[a for f in (zb, *signals) for a in ("--data", str(f))]),
              (str(design / "report.txt"), str(Path("hls_projects") / f"axol1tl_vae-{board}"))),
        Stage("sim", ("sim", str(design), "--events", str(events), "--data", str(zb)),
              (str(design / "sim_report.json"),)),
        # the b-tag CNN's Yosys synthesis takes ~6 CPU-minutes: skipped here to keep the demo within 30 minutes
        # on 2 cores (make test-all synthesizes it; so does `l1ad build --model out/demo/models/btag_cnn`)
        Stage("build-btag", ("build", "--board", board, "--model", str(btag), "--events", "100000", "--synth", "none"),
              (str(btag_design / "report.txt"),)),
        Stage("sim-btag", ("sim", str(btag_design), "--events", str(events)), (str(btag_design / "sim_report.json"),)),
        Stage("rates", ("rates", "--design", str(design), "--held-out-from", str(model), "--zero-bias", str(zb), *sig_args,
                        "--out", str(out / "rates")), (str(out / "rates"),)),
        Stage("abcd", ("abcd", *d, "--out", str(out / "abcd")), (str(out / "abcd"),)),
    ]


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        out: Path = typer.Option(Path("out/demo"), "--out", help="Where every report and plot goes."),
        data: Path = typer.Option(Path("data"), "--data", help="Where the generated samples go."),
        board: str = typer.Option("vu13p", "--board", help="Board from configs/boards.yaml."),
        events: int = typer.Option(10_000, "--sim-events", help="Events streamed through cocotb."),
        only: list[str] = typer.Option([], "--only", help="Run only these stages (repeatable)."),
        skip: list[str] = typer.Option([], "--skip", help="Skip these stages (repeatable)."),
    ) -> None:
        """Run generate -> train -> build -> sim -> rates -> background estimate on built-in defaults.

        Each stage is its own l1ad command; the demo stops at the first one that fails and exits with its code
        (1 a check failed, 2 bad input, 130 interrupted)."""
        stages = demo_stages(out, data, board, events)
        known = {s.name for s in stages}
        for name in [*only, *skip]:
            if name not in known:
                raise L1adError(f"demo: unknown stage {name!r}; stages are {', '.join(sorted(known))}")
        t_all = time.monotonic()
        timings: list[tuple[str, float]] = []
        for stage in stages:
            if (only and stage.name not in only) or stage.name in skip:
                continue
            cmd = [sys.executable, "-m", "l1ad", *stage.args]
            typer.secho(f"\n== [{stage.name}] l1ad {shlex.join(stage.args)}", bold=True)
            t0 = time.monotonic()
            rc = subprocess.call(cmd)
            dt = time.monotonic() - t0
            timings.append((stage.name, dt))
            if rc != 0:  # the stage's own verdict is the demo's: 1 check failed, 2 bad input, 130 interrupted
                if rc == 130 or rc < 0:
                    raise KeyboardInterrupt
                raise StageFailed(f"demo: stage '{stage.name}' failed with exit code {rc} after {dt:.0f} s", rc)
        typer.secho(f"\n== demo finished in {time.monotonic() - t_all:.0f} s", bold=True)
        for (name, dt), stage in zip(timings, [s for s in stages if s.name in dict(timings)], strict=True):
            typer.echo(f"  {name:<10} {dt:7.1f} s   -> {', '.join(stage.outputs)}")
