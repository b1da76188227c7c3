"""``l1ad abcd``: train the decorrelated autoencoder pair (and the λ=0 baseline), run the ABCD study."""

from __future__ import annotations

from pathlib import Path

import typer

from l1ad.errors import CheckFailed, ConfigError

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command("abcd")
    def abcd(
        config: str = typer.Argument("abcd.yaml", help="ABCD config (default configs/abcd.yaml)."),
        data_dir: Path | None = typer.Option(None, "--data-dir", help="Directory of the sample files "
                                             "(default: data.data_dir of the config)."),
        out: Path = typer.Option(Path("out/abcd"), "--out", help="Output directory (report.json, plots/, models/)."),
        epochs: int | None = typer.Option(None, "--epochs", help="Override training.epochs."),
    ) -> None:
        """Decorrelated double-AE + ABCD: closure, dCorr², signal injection and SIC vs the λ=0 baseline.

        Exit 0 when the acceptance (configs/abcd.yaml: closure and dCorr² reduction) is met, 1 when it is not
        (report.json and plots are still written, they document why), 2 on bad input, 130 when interrupted."""
        from l1ad.background.config import load_abcd_config

        cfg = load_abcd_config(config)
        if epochs is not None and epochs <= 0:
            raise ConfigError(f"--epochs: must be positive (value {epochs})")
        if data_dir is not None and not data_dir.is_dir():
            raise ConfigError(f"--data-dir: directory not found (value '{data_dir}')")
        from rich.console import Console

        from l1ad.background.study import run_abcd

        report = run_abcd(cfg, out, data_dir=data_dir, epochs=epochs, console=Console(width=max(Console().width, 130)))
        ok = report["acceptance"]["passed"]
        typer.echo(f"wrote {out}/report.json, {out}/plots/, {out}/models/ (acceptance {'passed' if ok else 'NOT met'})")
        if not ok:
            failed = [k for k, v in report["acceptance"].items() if v is False and k != "passed"]
            raise CheckFailed(f"{out / 'report.json'}: ABCD acceptance not met"
                              + (f" ({', '.join(failed)})" if failed else ""))
