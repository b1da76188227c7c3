"""``l1ad rates``: integer thresholds for target rates, pure rate against an L1 menu, signal efficiencies.

Thin: the options become one validated :class:`l1ad.rates.run.RatesOptions`, the model is loaded, and
:func:`l1ad.rates.run.run_rates` does the work (validation of every input before any work, atomic output).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from l1ad.errors import ModelError
from l1ad.rates.run import load_score_model, parse_targets, run_rates

__all__ = ["load_score_model", "register", "run_rates"]


def _console(console_cls: Any) -> Any:
    """A rich console; when output is not a terminal, wide enough that the tables do not wrap."""
    c = console_cls()
    return c if c.is_terminal else console_cls(width=170)


def register(app: typer.Typer) -> None:
    @app.command("rates")
    def rates(
        zero_bias: list[Path] = typer.Option(..., "--zero-bias", help="Zero-bias ADC2021 file(s) or their encoded "
                                             "words (l1ad data encode; repeatable; weighted files - datasets "
                                             "Weights/Stratum - are weighted)."),
        design: Path | None = typer.Option(None, "--design", help="Built design dir (uses its fixedpoint.json)."),
        model: Path | None = typer.Option(None, "--model", help="Model artifact dir (emulated bit-exactly)."),
        signal: list[Path] = typer.Option([], "--signal", help="Signal file(s) or their encoded words (repeatable)."),
        targets: str = typer.Option("0.5,1,2,5,10", "--targets", help="Target rates in kHz, comma-separated."),
        menu: str = typer.Option("menu.yaml", "--menu", help="Menu YAML (configs/menu.yaml); 'none' for no menu."),
        menu_on_words: bool = typer.Option(False, "--menu-on-words", help="Run the menu on decoded hardware words."),
        check_menu: bool = typer.Option(False, "--check-menu", help="Exit 1 if a seed's rate is 0 or outside the "
                                        "menu's reference_tolerance (x/÷ 2) of its reference rate."),
        scheduler: str | None = typer.Option(None, "--scheduler", help="Dask scheduler address (default: local)."),
        workers: int | None = typer.Option(None, "--workers", min=1, help="Worker processes of a Dask LocalCluster "
                                           "on this machine; 1 = in this process. Default: one per core when there "
                                           "are > 1 cores and >= 10^7 events (where the cluster's start-up pays), "
                                           "else in this process."),
        chunk_size: int = typer.Option(100_000, "--chunk-size", help="Events per chunk (bounds memory)."),
        filled_bunches: int = typer.Option(2544, "--filled-bunches", help="Colliding (filled) bunch slots."),
        total_bunches: int = typer.Option(3564, "--total-bunches", help="Bunch slots per LHC orbit."),
        bunch_crossing_mhz: float = typer.Option(40.08, "--bunch-crossing-mhz", help="Bunch-crossing clock [MHz]."),
        out: Path = typer.Option(Path("out/rates"), "--out", help="Output directory (JSON + PNG)."),
        held_out_from: Path | None = typer.Option(
            None, "--held-out-from", help="Model artifact whose training and validation zero-bias events are "
            "skipped (file matched by sha256, ranges from its model.json; default: the --model artifact)."),
        all_events: bool = typer.Option(False, "--all-events", help="Use every zero-bias event, also those the "
                                        "model was trained on."),
        rtl_check: bool = typer.Option(True, "--rtl-check/--no-rtl-check", help="With --design: stream every "
                                       "zero-bias event through the design's shipped Verilog (Verilator) and require "
                                       "its trigger bit to equal the offline decision at each chosen threshold."),
        rtl_check_events: int | None = typer.Option(None, "--rtl-check-events", min=1,
                                                    help="Check only the first N zero-bias events [all]."),
    ) -> None:
        """Integer thresholds for target rates (trigger = score > threshold), pure rate vs an L1 menu with each
        seed's rate next to its reference, signal efficiencies; tables on the terminal, rates.json + PNGs in --out.

        Weighted zero bias (l1ad data generate's stitched sample) is counted per stratum and weighted to LHC
        crossings; rates carry 68 % intervals (Clopper-Pearson, bootstrap for weighted sums) and their effective
        event counts. Files are streamed in chunks of --chunk-size events (memory ~0.8 kB x chunk size + ~25 MB
        per worker, plus the score histograms: coarse counts + the exact scores of the top events per stratum,
        whatever the file size); --scheduler runs the chunks on a Dask cluster (workers must see the files at the
        same paths), --workers N on N local worker processes, with identical results. Zero bias is processed
        first (thresholds), then the signals.
        Any input may be the encoded-words file of `l1ad data encode` instead of the event file: the same results
        several times faster (no float reading, encoding or menu; a file encoded with another encoding or menu is
        refused, exit 2).
        Thresholds come from zero bias the model never saw: with --model (or --held-out-from ARTIFACT) the events
        its training and validation used are skipped (--all-events keeps them).

        With --design, every zero-bias event is also streamed through the design's shipped Verilog (its rtl/
        files, compiled by Verilator) and the trigger bit at each chosen threshold must equal the offline
        decision (--no-rtl-check skips it). Exit 0 when done, 1 when a check fails (RTL trigger bit, or
        --check-menu), 2 on bad input, 130 when interrupted.
        """
        from rich.console import Console

        from l1ad.config import parse_config
        from l1ad.rates.pipeline import Hdf5Reader, check_files, held_out_first_event
        from l1ad.rates.ratemodel import RateModel
        from l1ad.rates.run import RatesOptions

        rate_model = parse_config(RateModel, {"filled_bunches": filled_bunches, "total_bunches": total_bunches,
                                              "bunch_crossing_mhz": bunch_crossing_mhz}, "rate model options")
        opts = RatesOptions.parse(
            zero_bias=list(zero_bias), signals=list(signal), targets_khz=parse_targets(targets),
            menu=None if menu.lower() == "none" else menu, out=out, scheduler=scheduler, workers=workers, chunk_size=chunk_size,
            rate_model=rate_model, menu_on_words=menu_on_words, check_menu=check_menu,
            rtl_max_events=rtl_check_events,
        )
        if (design is None) == (model is None):
            from l1ad.errors import ConfigError

            raise ConfigError("rates: give exactly one of --design DIR or --model ARTIFACT")
        # every input file (exists, layout, events) and the menu, before loading the model or writing anything
        check_files(opts.zero_bias, Hdf5Reader(), "zero-bias")
        check_files(opts.signals, Hdf5Reader(), "signal")
        from l1ad.data.encoding import load_encoding
        from l1ad.rates.run import check_encoded_inputs

        m = None
        if opts.menu:
            from l1ad.rates.menu import load_menu

            m = load_menu(opts.menu)
        check_encoded_inputs([*opts.zero_bias, *opts.signals], Hdf5Reader(), load_encoding(), m, menu_on_words)
        score_model = load_score_model(design, model)  # checks --model first, with its own message
        src = held_out_from if held_out_from is not None else model
        if src is not None and not src.is_dir():
            raise ModelError(f"{src}: --held-out-from artifact directory not found")
        zb_first = (None if all_events or src is None
                    else held_out_first_event(src, opts.zero_bias, required=held_out_from is not None))

        run_rates(
            opts.model_copy(update={"zb_first": zb_first,
                                    "rtl_design": design if (design is not None and rtl_check) else None}),
            score_model=score_model,
            encoding=load_encoding(),
            console=_console(Console),
            extra={"model": {"design": str(design) if design else None,
                             "artifact": str(model) if model else None,
                             "held_out_from": str(src) if zb_first is not None else None}},
        )
        typer.echo(f"wrote {out}/rates.json and plots")
