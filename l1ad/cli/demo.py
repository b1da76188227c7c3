"""``l1ad demo``: the main job on built-in defaults, each stage as its own l1ad command.

generate -> train -> evaluate -> build -> sim -> rates, and beside them the b-tag CNN's chain, the ABCD
background estimate and the sample inspection. Stages whose inputs are ready run side by side (``--jobs``, one
per core by default): after ``generate`` the VAE's chain, the b-tag chain and ``abcd`` share the machine. With
more than one job the stages' output goes through the demo, one line at a time, each line prefixed with its stage.
Prints where each report and plot is.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import typer

from l1ad.errors import L1adError, StageFailed

__all__ = ["Stage", "demo_stages", "register", "run_stages", "skipped_stages"]

#: ADC2021 signal samples (file names written by `l1ad data generate`)
SIGNALS = ("ato4l", "leptoquark", "hToTauTau", "hChToTauNu")


@dataclass(frozen=True)
class Stage:
    name: str
    args: tuple[str, ...]
    outputs: tuple[str, ...]
    #: stages whose outputs this one reads (skipped ones count as done: their outputs are taken as they are)
    after: tuple[str, ...] = ()
    #: wall seconds on 2 cores (measured in `make demo`, alone or beside one other stage): orders the ready stages,
    #: longest remaining chain first
    seconds: float = 10.0


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
    from l1ad.data.generation.processes import DEFAULT_PROCESSES

    # the b-tag jets come from their own Pythia runs (seeds of their own: the same file as one run of everything),
    # so their chain can start while the zero bias is still being generated
    samples = ",".join(p for p in DEFAULT_PROCESSES if p != "btag")
    return [
        Stage("generate", ("data", "generate", "--out", str(data), "--processes", samples),
              tuple(str(p) for p in (zb, *signals)), seconds=684),
        Stage("generate-btag", ("data", "generate", "--out", str(data), "--processes", "btag"),
              (str(data / "btag.h5"),), seconds=39),
        Stage("inspect", ("data", "inspect", str(zb), *map(str, signals), "--out", str(out / "inspect")),
              (str(out / "inspect"),), ("generate",), 13),
        Stage("train", ("train", "models/axol1tl_vae.yaml", *d, "--out", str(model)), (str(model),), ("generate",), 76),
        Stage("evaluate", ("evaluate", str(model), *d, "--out", str(out / "evaluate" / "axol1tl_vae")),
              (str(out / "evaluate" / "axol1tl_vae"),), ("train",), 31),
        Stage("train-btag", ("train", "models/btag_cnn.yaml", *d, "--out", str(btag)), (str(btag),), ("generate-btag",),
              17),
        Stage("evaluate-btag", ("evaluate", str(btag), *d, "--jets", str(data / "btag.h5"),
                                "--out", str(out / "evaluate" / "btag_cnn")), (str(out / "evaluate" / "btag_cnn"),),
              ("train-btag",), 8),
        Stage("build", ("build", "--board", board, "--model", str(model),
                        *[a for f in (zb, *signals) for a in ("--data", str(f))]),
              (str(design), str(Path("hls_projects") / f"axol1tl_vae-{board}")), ("train",), 81),
        Stage("sim", ("sim", str(design), "--events", str(events), "--data", str(zb)),
              (str(design / "sim_report.json"),), ("build",), 12),
        # the b-tag CNN's Yosys synthesis takes ~6 CPU-minutes: skipped here to keep the demo within 20 minutes
        # on 2 cores (make test-all synthesizes it; so does `l1ad build --model out/demo/models/btag_cnn`)
        Stage("build-btag", ("build", "--board", board, "--model", str(btag), "--events", "100000", "--synth", "none"),
              (str(btag_design),), ("train-btag",), 67),
        Stage("sim-btag", ("sim", str(btag_design), "--events", str(events)), (str(btag_design / "sim_report.json"),),
              ("build-btag",), 33),
        Stage("rates", ("rates", "--design", str(design), "--held-out-from", str(model), "--zero-bias", str(zb), *sig_args,
                        "--out", str(out / "rates")), (str(out / "rates"),), ("train", "build", "sim"), 94),
        Stage("abcd", ("abcd", *d, "--out", str(out / "abcd")), (str(out / "abcd"),), ("generate",), 236),
    ]


def _priorities(stages: list[Stage]) -> dict[str, float]:
    """Per stage: its seconds plus the longest chain of stages that wait for it (critical path first)."""
    after_me: dict[str, list[str]] = {s.name: [] for s in stages}
    for s in stages:
        for a in s.after:
            if a in after_me:
                after_me[a].append(s.name)
    by_name = {s.name: s for s in stages}
    memo: dict[str, float] = {}

    def chain(name: str) -> float:
        if name not in memo:
            memo[name] = by_name[name].seconds + max((chain(n) for n in after_me[name]), default=0.0)
        return memo[name]

    return {s.name: chain(s.name) for s in stages}


def _pump(stream: IO[str], out: IO[str], prefix: str, lock: threading.Lock) -> None:
    for line in stream:
        with lock:
            out.write(prefix + line.rstrip("\n") + "\n")
            out.flush()


def l1ad_command(stage: Stage) -> list[str]:
    return [sys.executable, "-m", "l1ad", *stage.args]


def run_stages(stages: list[Stage], jobs: int, skip: frozenset[str] | set[str] = frozenset(),
               command: Callable[[Stage], list[str]] = l1ad_command) -> list[tuple[Stage, float, float]]:
    """Run ``stages`` (minus ``skip``) as l1ad sub-processes, at most ``jobs`` at a time, each once the stages it
    comes ``after`` are done; returns (stage, start offset, wall seconds) in order of completion.

    The first stage that fails stops the run: the others still running are interrupted (SIGINT: they clean up
    and leave no half-written output) and :class:`StageFailed` carries the failed stage's exit code. Ctrl-C
    interrupts every running stage the same way, then raises KeyboardInterrupt (exit code 130)."""
    todo = [s for s in stages if s.name not in skip]
    prio = _priorities(todo)
    known = {s.name for s in stages}
    done: set[str] = {s.name for s in stages if s.name in skip}
    running: dict[str, tuple[Stage, subprocess.Popen[str], float, list[threading.Thread]]] = {}
    finished: list[tuple[Stage, float, float]] = []
    lock = threading.Lock()
    width = max((len(s.name) for s in todo), default=0)
    t_all = time.monotonic()

    def start(stage: Stage, alone: bool) -> None:
        cmd = command(stage)
        with lock:
            typer.secho(f"\n== [{stage.name}] l1ad {shlex.join(stage.args)}", bold=True)
        pumps: list[threading.Thread] = []
        if not alone:  # lines through the demo, prefixed (stdout to stdout, stderr to stderr); children see pipes
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                    text=True, bufsize=1, env={**os.environ, "PYTHONUNBUFFERED": "1"})
            for src, dst in ((proc.stdout, sys.stdout), (proc.stderr, sys.stderr)):
                pumps.append(threading.Thread(target=_pump, args=(src, dst, f"[{stage.name:<{width}}] ", lock),
                                              daemon=True))
                pumps[-1].start()
        else:
            proc = subprocess.Popen(cmd)
        running[stage.name] = (stage, proc, time.monotonic(), pumps)

    def stop_all(grace: float = 0.0) -> None:
        deadline = time.monotonic() + grace  # Ctrl-C on a terminal reached the stages too: let them finish first
        while grace and time.monotonic() < deadline and any(p.poll() is None for _, p, _, _ in running.values()):
            time.sleep(0.1)
        for _, proc, _, _ in running.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 60
        for _, proc, _, pumps in running.values():
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            for pump in pumps:
                pump.join(timeout=5)

    try:
        while todo or running:
            ready = sorted((s for s in todo if all(a in done or a not in known for a in s.after)),
                           key=lambda s: -prio[s.name])
            while ready and len(running) < max(jobs, 1):
                stage = ready.pop(0)
                todo.remove(stage)
                # alone: nothing else runs or can start before it ends (every other stage waits for it)
                start(stage, alone=jobs <= 1 or (not running and not ready))
            time.sleep(0.1)
            for name, (stage, proc, t0, pumps) in list(running.items()):
                rc = proc.poll()
                if rc is None:
                    continue
                for pump in pumps:
                    pump.join()
                dt = time.monotonic() - t0
                del running[name]
                finished.append((stage, t0 - t_all, dt))
                with lock:
                    typer.secho(f"== [{name}] finished in {dt:.0f} s (exit code {rc})", bold=True)
                if rc != 0:  # the stage's own verdict is the demo's: 1 check failed, 2 bad input, 130 interrupted
                    if rc == 130 or rc < 0:  # Ctrl-C (the others got it too): stopped below, with their grace
                        raise KeyboardInterrupt
                    stop_all()
                    raise StageFailed(f"demo: stage '{name}' failed with exit code {rc} after {dt:.0f} s", rc)
                done.add(name)
    except KeyboardInterrupt:
        stop_all(grace=10.0)
        raise
    return finished


def skipped_stages(stages: list[Stage], only: list[str], skip: list[str]) -> set[str]:
    """The stages ``--only``/``--skip`` leave out; 'generate' stands for both generation stages (the b-tag jets
    are generated apart), so that ``--skip generate`` reuses every sample in --data."""

    def names(given: list[str]) -> set[str]:
        return {*given, "generate-btag"} if "generate" in given else set(given)

    keep, drop = names(only), names(skip)
    return {s.name for s in stages if (keep and s.name not in keep) or s.name in drop}


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        out: Path = typer.Option(Path("out/demo"), "--out", help="Where every report and plot goes."),
        data: Path = typer.Option(Path("data"), "--data", help="Where the generated samples go."),
        board: str = typer.Option("vu13p", "--board", help="Board from configs/boards.yaml."),
        events: int = typer.Option(10_000, "--sim-events", help="Events streamed through cocotb."),
        only: list[str] = typer.Option([], "--only", help="Run only these stages (repeatable; 'generate' includes "
                                       "'generate-btag')."),
        skip: list[str] = typer.Option([], "--skip", help="Skip these stages (repeatable; 'generate' includes "
                                       "'generate-btag', e.g. --skip generate to reuse the samples in --data)."),
        jobs: int = typer.Option(0, "--jobs", "-j", help="Stages run side by side once their inputs are ready "
                                 "(0: one per core; 1: one after the other, output straight to the terminal)."),
    ) -> None:
        """Run generate -> train -> build -> sim -> rates -> background estimate on built-in defaults.

        Each stage is its own l1ad command; independent stages run side by side (--jobs). The demo stops at the
        first stage that fails, interrupts the others and exits with the failed stage's code (1 a check failed,
        2 bad input, 130 interrupted)."""
        stages = demo_stages(out, data, board, events)
        known = {s.name for s in stages}
        for name in [*only, *skip]:
            if name not in known:
                raise L1adError(f"demo: unknown stage {name!r}; stages are {', '.join(sorted(known))}")
        if jobs < 0:
            raise L1adError(f"demo: --jobs must be >= 0 (value {jobs})")
        n_jobs = jobs or (os.cpu_count() or 1)
        skipped = skipped_stages(stages, only, skip)
        t_all = time.monotonic()
        finished = run_stages(stages, n_jobs, skipped)
        typer.secho(f"\n== demo finished in {time.monotonic() - t_all:.0f} s ({n_jobs} job(s))", bold=True)
        for stage, t0, dt in sorted(finished, key=lambda f: f[1]):
            typer.echo(f"  {stage.name:<13} start {t0:6.0f} s  {dt:7.1f} s   -> {', '.join(stage.outputs)}")
