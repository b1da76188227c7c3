"""``l1ad rates``: integer thresholds for target rates, pure rate against an L1 menu, signal efficiencies.

Every input is validated before any work starts and the output directory is written atomically, so a bad
input gives one error line (exit 2) and no partial output.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from l1ad.errors import CheckFailed, ConfigError, DataError, ModelError

__all__ = ["load_score_model", "parse_targets", "register", "run_rates"]

ZERO_BIAS = "zero_bias"


def parse_targets(text: str) -> tuple[float, ...]:
    """``"0.5,1,2"`` -> (0.5, 1.0, 2.0) kHz."""
    try:
        vals = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ConfigError(f"--targets: cannot parse {text!r} as comma-separated rates in kHz") from None
    if not vals:
        raise ConfigError(f"--targets: no rates in {text!r}")
    return vals


def load_score_model(design: Path | None, model: Path | None) -> Any:
    """The bit-exact integer model: a built design's ``fixedpoint.json`` (via design.json) or an artifact.

    The firmware is generated from that same description (contracts: "the ONE source of truth for
    precisions"), so its ``predict`` gives the integer scores the Verilog compares with the threshold.
    """
    if (design is None) == (model is None):
        raise ConfigError("rates: give exactly one of --design DIR or --model ARTIFACT")
    if design is not None:
        if not design.is_dir():
            raise ModelError(f"{design}: --design directory not found")
        from l1ad.firmware import load_design

        d = load_design(design)
        fp_path = d.dir / d.fixedpoint
        if not fp_path.is_file():
            raise ModelError(f"{design / 'design.json'}: field 'fixedpoint': file not found (value {d.fixedpoint!r})")
        fp = d.fixedpoint_model()
        w, signed, frac = fp.score_precision
        port = (int(d.score.get("width", -1)), bool(d.score.get("signed")), int(d.score.get("frac", -1)))
        if port != (w, signed, frac):
            raise ModelError(
                f"{design / 'design.json'}: field 'score': {d.score} does not match {fp_path.name} score "
                f"precision (width {w}, signed {signed}, frac {frac})"
            )
        return fp
    assert model is not None
    if not model.is_dir():
        raise ModelError(f"{model}: --model artifact directory not found")
    from l1ad.fixedpoint import FixedPointModel

    return FixedPointModel.from_artifact(model)


def score_precision(m: Any) -> tuple[int, bool, int] | None:
    """``model.score_precision`` as (width, signed, frac_bits), or None if the model does not say."""
    sp = getattr(m, "score_precision", None)
    if sp is None:
        return None
    if isinstance(sp, tuple | list) and len(sp) == 3:
        return int(sp[0]), bool(sp[1]), int(sp[2])
    try:
        return int(sp.width), bool(sp.signed), int(getattr(sp, "frac", getattr(sp, "frac_bits", 0)))
    except AttributeError:
        return None


def run_rates(
    *,
    score_model: Any,
    encoding: Any,
    zero_bias: list[Path],
    signals: list[Path],
    targets_khz: tuple[float, ...],
    menu_path: str | None,
    out: Path | None,
    scheduler: str | None = None,
    chunk_size: int = 100_000,
    rate_model: Any = None,
    menu_on_words: bool = False,
    reader: Any = None,
    console: Any = None,
    extra: dict[str, Any] | None = None,
    zb_first: list[int] | None = None,
    rtl_design: Path | None = None,
    rtl_max_events: int | None = None,
) -> Any:
    """Library entry point behind the command (also used by tests): validate, run, report.

    ``zb_first``: per zero-bias file, the first event used (events before it, e.g. the model's training
    events, are skipped); default 0."""
    from l1ad.io import atomic_dir
    from l1ad.rates.menu import load_menu
    from l1ad.rates.pipeline import Emulation, Hdf5Reader, check_files, plan_chunks, run_samples_local
    from l1ad.rates.ratemodel import RateModel
    from l1ad.rates.report import print_summary, write_report
    from l1ad.rates.streaming import DEFAULT_TAIL_EVENTS, shift_for_width
    from l1ad.rates.summary import summarize
    from l1ad.rates.thresholds import choose_thresholds

    rate_model = rate_model or RateModel()
    targets = rate_model.check_targets(targets_khz)
    if chunk_size <= 0:
        raise ConfigError(f"--chunk-size: must be positive, got {chunk_size}")
    reader = reader or Hdf5Reader()
    if not zero_bias:
        raise DataError("rates: no --zero-bias file given")
    zb_counts = check_files(zero_bias, reader, "zero-bias")
    sig_counts = check_files(signals, reader, "signal")
    names = [p.stem for p in signals]
    if len(set(names)) != len(names):
        raise DataError(f"--signal: file names must be distinct (got {', '.join(names)})")
    menu = load_menu(menu_path) if menu_path else None
    sp = score_precision(score_model)
    zb_first = [0] * len(zero_bias) if zb_first is None else zb_first
    # exact scores for the top events: at least 2x the loosest target's share of the zero bias
    n_zb = sum(n - f for n, f in zip(zb_counts, zb_first, strict=True))
    if n_zb <= 0:
        raise DataError(f"{zero_bias[0]}: no zero-bias events left after skipping the model's training events "
                        f"(first used event {zb_first[0]} of {zb_counts[0]})")
    need = math.ceil(2 * max(targets) * 1e3 / rate_model.collision_rate_hz * n_zb) + 1024
    emu = Emulation(
        score_model, encoding, menu, menu_on_words, reader,
        hist_shift=shift_for_width(None if sp is None else sp[0]),
        tail_events=max(DEFAULT_TAIL_EVENTS, need),
    )
    zb_chunks = {ZERO_BIAS: plan_chunks(zero_bias, zb_counts, chunk_size, zb_first)}
    sig_chunks = {n: plan_chunks([p], [c], chunk_size) for n, p, c in zip(names, signals, sig_counts, strict=True)}

    n_all = n_zb + sum(sig_counts)
    client = None
    with _progress(console, n_all) as advance:
        if scheduler:
            from l1ad.rates.dask_backend import connect, run_dask

            client = connect(scheduler)

            def run(samples: dict[str, Any], e: Emulation) -> dict[str, Any]:
                return run_dask(samples, e, client, progress=advance)
        else:

            def run(samples: dict[str, Any], e: Emulation) -> dict[str, Any]:
                return run_samples_local(samples, e, progress=advance)

        try:
            # pass 1: zero bias -> integer thresholds; pass 2: signals, counted exactly at those thresholds
            zb = run(zb_chunks, emu)[ZERO_BIAS]
            if zb.n_events == 0:
                raise DataError(f"{zero_bias[0]}: zero-bias files have no events")
            choices = choose_thresholds(zb.scores, list(targets), rate_model)
            emu_sig = dataclasses.replace(emu, count_at=tuple(c.threshold for c in choices))
            sig = run(sig_chunks, emu_sig) if sig_chunks else {}
        finally:
            if client is not None:
                client.close()
    summary = summarize(
        zb, sig, targets, rate_model, None if sp is None else sp[2], score_port=None if sp is None else sp[:2]
    )
    if console is not False:
        print_summary(summary, console)
    rtl_check = None
    if rtl_design is not None:  # the shipped Verilog's trigger bit at the chosen thresholds, every zero-bias event
        from l1ad.rates.rtl_check import check_trigger_bits

        rtl_check = check_trigger_bits(rtl_design, score_model, encoding, reader, zero_bias,
                                       [c.threshold for c in summary.choices], max_events=rtl_max_events)
        _print_rtl_check(rtl_check, console)
    if out is not None:
        meta = {
            "inputs": {
                "zero_bias": [str(p) for p in zero_bias],
                "zero_bias_first_event": list(zb_first),
                "signals": {n: str(p) for n, p in zip(names, signals, strict=True)},
                "menu": menu_path,
                "chunk_size": chunk_size,
                "backend": f"dask {scheduler}" if scheduler else "local",
                "menu_on_words": menu_on_words,
                # score histograms: coarse bins of 2**shift, exact scores of the top tail_events events
                "histogram": {"shift": emu.hist_shift, "tail_events": emu.tail_events},
            },
            **(extra or {}),
        }
        if rtl_check is not None:
            meta["rtl_check"] = rtl_check
        with atomic_dir(out) as tmp:
            write_report(tmp, summary, meta)
    if rtl_check is not None and not rtl_check["passed"]:
        d = rtl_check["first_difference"]
        where = (f"; first at {d['file']} event {d['event']}: threshold {d['threshold']}, offline score "
                 f"{d['offline_score']}, RTL score {d['rtl_score']} trigger {int(d['rtl_trigger'])}") if d else ""
        raise CheckFailed(f"{(out / 'rates.json') if out else rtl_design}: the shipped RTL's trigger bit differs from "
                          f"the offline decision on {rtl_check['events']} zero-bias events "
                          f"({rtl_check['score_mismatches']} score mismatches){where}")
    return summary


def _print_rtl_check(r: dict[str, Any], console: Any) -> None:
    if console is False:
        return
    per = ", ".join(f"T={p['threshold']}: {p['offline_triggers']:,} / {p['rtl_triggers']:,}" for p in r["per_threshold"])
    line = (f"shipped RTL trigger check on {r['events']:,} zero-bias events ({r['events_per_s']:,.0f} events/s): "
            f"{'PASS' if r['passed'] else 'FAIL'} (offline / RTL triggers: {per})")
    if console is None:
        print(line)
    else:
        console.print(line)


@contextlib.contextmanager
def _progress(console: Any, total: int) -> Iterator[Any]:
    """Bars on a terminal, else a progress line at most every 30 s (l1ad.progress); yields advance(n)."""
    if console is False:
        yield None
        return
    from l1ad.progress import Progress

    with Progress("rates: emulating events") as bar:
        bar.add("events", total)
        yield lambda n: bar.advance("events", n)


def _console(console_cls: Any) -> Any:
    """A rich console; when output is not a terminal, wide enough that the tables do not wrap."""
    c = console_cls()
    return c if c.is_terminal else console_cls(width=160)


def register(app: typer.Typer) -> None:
    @app.command("rates")
    def rates(
        zero_bias: list[Path] = typer.Option(..., "--zero-bias", help="Zero-bias ADC2021 file(s) (repeatable)."),
        design: Path | None = typer.Option(None, "--design", help="Built design dir (uses its fixedpoint.json)."),
        model: Path | None = typer.Option(None, "--model", help="Model artifact dir (emulated bit-exactly)."),
        signal: list[Path] = typer.Option([], "--signal", help="Signal file(s) (repeatable)."),
        targets: str = typer.Option("0.5,1,2,5,10", "--targets", help="Target rates in kHz, comma-separated."),
        menu: str = typer.Option("menu.yaml", "--menu", help="Menu YAML (configs/menu.yaml); 'none' for no menu."),
        menu_on_words: bool = typer.Option(False, "--menu-on-words", help="Run the menu on decoded hardware words."),
        scheduler: str | None = typer.Option(None, "--scheduler", help="Dask scheduler address (default: local)."),
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
        """Integer thresholds for target rates (trigger = score > threshold), pure rate vs an L1 menu, signal
        efficiencies; tables on the terminal, rates.json + PNGs in --out.

        Files are streamed in chunks of --chunk-size events (memory ~0.8 kB x chunk size + ~25 MB per worker,
        plus <= ~35 MiB per score histogram: coarse counts + the exact scores of the top events, whatever the
        file size); --scheduler runs the chunks on a Dask cluster (workers must see the files at the same
        paths) with identical results. Zero bias is processed first (thresholds), then the signals. Thresholds
        come from zero bias the model never saw: with --model (or --held-out-from ARTIFACT) the events its
        training and validation used are skipped (--all-events keeps them).

        With --design, every zero-bias event is also streamed through the design's shipped Verilog (its rtl/
        files, compiled by Verilator) and the trigger bit at each chosen threshold must equal the offline
        decision (--no-rtl-check skips it). Exit 0 when done, 1 when that check fails, 2 on bad input,
        130 when interrupted.
        """
        from rich.console import Console

        from l1ad.config import parse_config
        from l1ad.rates.ratemodel import RateModel

        tgt = parse_targets(targets)
        if filled_bunches > total_bunches:
            raise ConfigError(
                f"--filled-bunches: {filled_bunches} exceeds --total-bunches {total_bunches} (value {filled_bunches})"
            )
        if chunk_size <= 0:
            raise ConfigError(f"--chunk-size: must be positive (value {chunk_size})")
        if (design is None) == (model is None):
            raise ConfigError("rates: give exactly one of --design DIR or --model ARTIFACT")
        stems = [p.stem for p in signal]
        if len(set(stems)) != len(stems):
            raise ConfigError(f"--signal: file names must be distinct, they name the signals (got {', '.join(stems)})")
        rate_model = parse_config(
            RateModel,
            {
                "filled_bunches": filled_bunches,
                "total_bunches": total_bunches,
                "bunch_crossing_mhz": bunch_crossing_mhz,
            },
            "rate model options",
        )
        rate_model.check_targets(tgt)
        from l1ad.rates.pipeline import Hdf5Reader, check_files

        # validate every input file (exists, layout, events) before loading the model or writing anything
        check_files(zero_bias, Hdf5Reader(), "zero-bias")
        check_files(signal, Hdf5Reader(), "signal")
        menu_path = None if menu.lower() == "none" else menu
        if menu_path:
            from l1ad.rates.menu import load_menu

            load_menu(menu_path)  # a bad menu file fails before the model is loaded
        score_model = load_score_model(design, model)  # checks --model first, with its own message
        from l1ad.rates.pipeline import held_out_first_event

        src = held_out_from if held_out_from is not None else model
        if src is not None and not src.is_dir():
            raise ModelError(f"{src}: --held-out-from artifact directory not found")
        zb_first = (None if all_events or src is None
                    else held_out_first_event(src, list(zero_bias), required=held_out_from is not None))
        from l1ad.data.encoding import load_encoding

        encoding = load_encoding()
        run_rates(
            score_model=score_model,
            encoding=encoding,
            zero_bias=list(zero_bias),
            signals=list(signal),
            targets_khz=tgt,
            menu_path=menu_path,
            out=out,
            scheduler=scheduler,
            chunk_size=chunk_size,
            rate_model=rate_model,
            menu_on_words=menu_on_words,
            console=_console(Console),
            extra={"model": {"design": str(design) if design else None,
                             "artifact": str(model) if model else None,
                             "held_out_from": str(src) if zb_first is not None else None}},
            zb_first=zb_first,
            rtl_design=design if (design is not None and rtl_check) else None,
            rtl_max_events=rtl_check_events,
        )
        typer.echo(f"wrote {out}/rates.json and plots")
