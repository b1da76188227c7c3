"""``l1ad rates``: integer thresholds for target rates, pure rate against an L1 menu, signal efficiencies.

Every input is validated before any work starts and the output directory is written atomically, so a bad
input gives one error line (exit 2) and no partial output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from l1ad.errors import ConfigError, DataError, ModelError

__all__ = ["load_score_model", "parse_targets", "register", "run_rates"]


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
    """The bit-exact integer model: from a built design (``fixedpoint.json``) or a model artifact."""
    if (design is None) == (model is None):
        raise ConfigError("rates: give exactly one of --design DIR or --model ARTIFACT")
    from l1ad.fixedpoint import FixedPointModel

    if design is not None:
        fp = design / "fixedpoint.json"
        if not design.is_dir():
            raise ModelError(f"{design}: --design directory not found")
        if not fp.is_file():
            raise ModelError(f"{fp}: design has no fixedpoint.json (build it with `l1ad build`)")
        return FixedPointModel.load(fp)
    assert model is not None
    if not model.is_dir():
        raise ModelError(f"{model}: --model artifact directory not found")
    return FixedPointModel.from_artifact(model)


def _score_frac(m: Any) -> int | None:
    sp = getattr(m, "score_precision", None)
    if sp is None:
        return None
    for name in ("frac", "frac_bits", "fractional"):
        if hasattr(sp, name):
            return int(getattr(sp, name))
    if isinstance(sp, tuple | list) and len(sp) == 3:
        return int(sp[2])
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
) -> Any:
    """Library entry point behind the command (also used by tests): validate, run, report."""
    from l1ad.io import atomic_dir
    from l1ad.rates.menu import load_menu
    from l1ad.rates.pipeline import Emulation, Hdf5Reader, check_files, plan_chunks, run_local
    from l1ad.rates.ratemodel import RateModel
    from l1ad.rates.report import print_summary, write_report
    from l1ad.rates.summary import summarize

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
    emu = Emulation(score_model, encoding, menu, menu_on_words, reader)

    zb_chunks = plan_chunks(zero_bias, zb_counts, chunk_size)
    sig_chunks = {n: plan_chunks([p], [c], chunk_size) for n, p, c in zip(names, signals, sig_counts, strict=True)}
    client = None
    if scheduler:
        from l1ad.rates.dask_backend import connect, run_dask

        client = connect(scheduler)

        def run(chunks: list[Any]) -> Any:
            return run_dask(chunks, emu, client)
    else:

        def run(chunks: list[Any]) -> Any:
            return run_local(chunks, emu)

    try:
        zb = run(zb_chunks)
        sig = {n: run(c) for n, c in sig_chunks.items()}
    finally:
        if client is not None:
            client.close()
    summary = summarize(zb, sig, targets, rate_model, _score_frac(score_model))
    if console is not False:
        print_summary(summary, console)
    if out is not None:
        meta = {
            "inputs": {
                "zero_bias": [str(p) for p in zero_bias],
                "signals": {n: str(p) for n, p in zip(names, signals, strict=True)},
                "menu": menu_path,
                "chunk_size": chunk_size,
                "backend": f"dask {scheduler}" if scheduler else "local",
                "menu_on_words": menu_on_words,
            },
            **(extra or {}),
        }
        with atomic_dir(out) as tmp:
            write_report(tmp, summary, meta)
    return summary


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
        filled_bunches: int = typer.Option(2544, "--filled-bunches", help="Colliding bunches of 3564."),
        out: Path = typer.Option(Path("out/rates"), "--out", help="Output directory (JSON + PNG)."),
    ) -> None:
        """Thresholds for target rates (score > threshold), pure rate vs an L1 menu, signal efficiencies."""
        from rich.console import Console

        from l1ad.config import parse_config
        from l1ad.rates.ratemodel import RateModel

        tgt = parse_targets(targets)
        rate_model = parse_config(RateModel, {"filled_bunches": filled_bunches}, "--filled-bunches")
        rate_model.check_targets(tgt)
        from l1ad.rates.pipeline import Hdf5Reader, check_files

        # validate every input file (exists, layout, events) before loading the model or writing anything
        check_files(zero_bias, Hdf5Reader(), "zero-bias")
        check_files(signal, Hdf5Reader(), "signal")
        score_model = load_score_model(design, model)
        from l1ad.data.encoding import load_encoding

        encoding = load_encoding()
        run_rates(
            score_model=score_model,
            encoding=encoding,
            zero_bias=list(zero_bias),
            signals=list(signal),
            targets_khz=tgt,
            menu_path=None if menu.lower() == "none" else menu,
            out=out,
            scheduler=scheduler,
            chunk_size=chunk_size,
            rate_model=rate_model,
            menu_on_words=menu_on_words,
            console=Console(),
            extra={"model": {"design": str(design) if design else None,
                         "artifact": str(model) if model else None}},
        )
        typer.echo(f"wrote {out}/rates.json and plots")
