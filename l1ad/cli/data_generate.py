"""``l1ad data generate``: Pythia 8 + fastjet + parametrised L1 emulation -> ADC2021-format samples.

Registered into the ``l1ad data`` group by :mod:`l1ad.cli.data` via :func:`register`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from l1ad.errors import ConfigError

__all__ = ["FAST", "register"]

#: --fast: tiny samples for tests and smoke runs
FAST = {"zero_bias": 2000, "events": 200, "pool": 300, "btag_jets": 400, "chunk": 200}


def register(data_app: typer.Typer) -> None:
    @data_app.command("generate")
    def generate_cmd(
        out: Path = typer.Option(Path("data"), "--out", help="Output directory for the .h5 samples."),
        events: int = typer.Option(None, "--events", min=1, help="Events per SM/signal sample "
                                   "(default: configs/generation.yaml)."),
        zero_bias: int = typer.Option(None, "--zero-bias", min=1, help="Zero-bias crossings in all (every stratum "
                                      "of configs/generation.yaml scaled in proportion)."),
        stitch: bool = typer.Option(None, "--stitch/--no-stitch", help="Zero bias from weighted hard strata "
                                    "stitched onto the min-bias pileup (default: the config), or unweighted."),
        btag_jets: int = typer.Option(None, "--btag-jets", min=2, help="Jets in the b-tagging sample."),
        processes: str = typer.Option(None, "--processes", help="Comma-separated subset, e.g. "
                                      "zero_bias,ato4l,btag (default: all)."),
        seed: int = typer.Option(None, "--seed", min=0, help="Master seed (default from the config)."),
        pileup: float = typer.Option(None, "--pileup", min=0.0, help="Average pileup <mu> (default 60)."),
        pool_events: int = typer.Option(None, "--pool-events", min=1, help="Min-bias pool size."),
        workers: int = typer.Option(2, "--workers", min=1, help="Parallel worker processes."),
        fast: bool = typer.Option(False, "--fast", help="Tiny samples (tests, smoke runs)."),
        config: str = typer.Option("generation.yaml", "--config", help="Generation config (YAML)."),
        emulation: str = typer.Option("l1_emulation.yaml", "--emulation", help="L1 emulation config (YAML)."),
    ) -> None:
        """Generate zero bias (min-bias pileup + weighted hard strata), SM references, ADC2021 signals and b-tag jets.

        Progress: bars on a terminal, else one line at most every 30 s (L1AD_PROGRESS_INTERVAL). Ctrl-C exits
        130 and removes what this run wrote (files, the output directory if it made it, cache temp files)."""
        from l1ad.data.generation.config import load_emulation_config, load_generation_config
        from l1ad.data.generation.processes import get_process
        from l1ad.data.generation.runner import DEFAULT_PROCESSES, GenerationPlan, run_generation

        gen = load_generation_config(config)
        emu = load_emulation_config(emulation)
        names = DEFAULT_PROCESSES if processes is None else tuple(p.strip() for p in processes.split(",") if p.strip())
        if not names:
            raise ConfigError(f"--processes: no process given (value {processes!r})")
        for n in names:
            get_process(n)
        if stitch is not None:
            gen.zero_bias = gen.zero_bias.model_copy(update={"stitch": stitch})
        if fast:
            gen.zero_bias = gen.zero_bias.scaled_to(FAST["zero_bias"])
            gen.events = dict.fromkeys(gen.events, FAST["events"])
            gen.pileup.pool_events = FAST["pool"]
            gen.btag.jets = FAST["btag_jets"]
            gen.chunk_events = FAST["chunk"]
        if events is not None:
            gen.events = dict.fromkeys(gen.events, events)
        for n in names:  # processes the config does not list get the --events / fast default
            if n in gen.events or get_process(n).kind.value not in ("sm", "signal"):
                continue
            gen.events = {**gen.events, n: events or FAST["events"]}
        if zero_bias is not None:
            gen.zero_bias = gen.zero_bias.scaled_to(zero_bias)
        if btag_jets is not None:
            gen.btag.jets = btag_jets
        if seed is not None:
            gen.seed = seed
        if pileup is not None:
            gen.pileup.mean = pileup
        if pool_events is not None:
            gen.pileup.pool_events = pool_events

        plan = GenerationPlan(out=out, gen=gen, emu=emu, processes=list(dict.fromkeys(names)), workers=workers)
        from l1ad.io import new_outputs_removed_on_failure
        from l1ad.progress import Progress

        t0 = time.monotonic()
        with new_outputs_removed_on_failure(out), Progress("generate") as prog:
            results = run_generation(plan, prog)
        wall = time.monotonic() - t0
        _print_table(results, wall, plan)


def _print_table(results: list[Any], wall: float, plan: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"l1ad data generate: {plan.out} (sqrt(s) = {plan.gen.sqrt_s_gev / 1000:.1f} TeV, "
              f"<mu> = {plan.gen.pileup.mean:g}, seed {plan.gen.seed}, {plan.workers} workers, {wall:.1f} s)")
    for col in ("sample", "events", "file", "MB", "<MET>", "<lead jet>", "<n e/g>", "<n mu>", "<n jets>"):
        t.add_column(col, justify="left" if col in ("sample", "file") else "right")
    for r in results:
        mb = r.path.stat().st_size / 1e6
        i = r.info
        if r.name == "btag":
            t.add_row(r.name, f"{r.events:,}", str(r.path), f"{mb:.1f}",
                      f"b frac {i.get('b_fraction', 0):.2f}", f"<trk> {i.get('mean_tracks', 0):.1f}", "", "", "")
        else:
            name = r.name + (f" ({i['strata']} strata, weighted)" if i.get("strata", 1) > 1 else "")
            t.add_row(name, f"{r.events:,}", str(r.path), f"{mb:.1f}", f"{i['met_mean']:.1f}",
                      f"{i['lead_jet_mean']:.1f}", f"{i['n_egamma']:.2f}", f"{i['n_muon']:.2f}", f"{i['n_jet']:.2f}")
    Console(width=160).print(t)
