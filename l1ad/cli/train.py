"""``l1ad train CONFIG`` and ``l1ad evaluate ARTIFACT`` (both registered here by the CLI host)."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["register"]


def _print_ad(result: dict) -> None:
    typer.echo(f"{'signal':<14}{'variant':<11}{'AUC':>7}{'eff@1e-5':>10}{'eff@1kHz':>10}{'eff@5kHz':>10}"
               f"{'eff@10kHz':>11}")
    for name, per in result.get("signals", {}).items():
        for variant in ("quantized", "float"):
            if variant in per:
                m = per[variant]
                wp = m["working_points"]
                typer.echo(f"{name:<14}{variant:<11}{m['auc']:7.3f}" + "".join(
                    f"{wp[k]['efficiency']:10.4f}" for k in ("fpr_1e-5", "1kHz", "5kHz")) +
                    f"{wp['10kHz']['efficiency']:11.4f}")
        if "ratio_quantized_over_float" in per:
            r = per["ratio_quantized_over_float"]
            typer.echo(f"{name:<14}{'q/float':<11}{'':>7}" + "".join(
                f"{_fmt(r[k]):>10}" for k in ("fpr_1e-5", "1kHz", "5kHz")) + f"{_fmt(r['10kHz']):>11}")


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train_cmd(
        config: str = typer.Argument(..., help="Training config YAML (e.g. configs/models/axol1tl_vae.yaml)."),
        data_dir: Path = typer.Option(Path("data"), "--data-dir", help="Where the config's data files are."),
        out: Path | None = typer.Option(None, "--out", help="Artifact directory (default: config 'output')."),
        epochs: int | None = typer.Option(None, "--epochs", min=1, help="Override training.epochs."),
    ) -> None:
        """Train a QKeras trigger model and its float twin on zero bias; write the artifact directory."""
        from l1ad.config import config_path
        from l1ad.training import load_train_config, train

        cfg = load_train_config(config)
        path = train(cfg, data_dir, out, epochs, config_source=str(config_path(config)))
        import json

        metrics = json.loads((path / "metrics.json").read_text())
        if "anomaly" in metrics:
            _print_ad(metrics["anomaly"])
        if "btag" in metrics:
            for v, m in metrics["btag"].items():
                typer.echo(f"b-tag {v}: AUC {m['auc']:.4f}  mistag@70% {m['mistag_at_70']:.4f}")
        typer.echo(f"artifact: {path}")

    @app.command("evaluate")
    def evaluate_cmd(
        artifact: Path = typer.Argument(..., help="Artifact directory written by `l1ad train` or `l1ad import`."),
        data_dir: Path = typer.Option(Path("data"), "--data-dir", help="Where the data files are."),
        background: Path | None = typer.Option(None, "--background",
                                               help="Zero-bias file (default: the training file's test split)."),
        signal: list[Path] = typer.Option([], "--signal", help="Signal file (repeatable; default: the 4 "
                                                                 "ADC2021 signals in --data-dir)."),
        jets: Path | None = typer.Option(None, "--jets", help="b-tag jets file (CNN artifacts)."),
        out: Path | None = typer.Option(None, "--out", help="Output directory (default: out/evaluate/<name>)."),
    ) -> None:
        """ROC/AUC, efficiency at FPR 1e-5 and 1/5/10 kHz, score plots; quantized vs float twin."""
        from l1ad.evaluation.evaluate import evaluate_artifact

        out_dir = out if out is not None else Path("out/evaluate") / artifact.name
        result = evaluate_artifact(artifact, out_dir, data_dir, background, list(signal) or None, jets)
        if "btag" in result:
            for v in ("quantized", "float"):
                if v in result["btag"]:
                    m = result["btag"][v]
                    typer.echo(f"b-tag {v}: AUC {m['auc']:.4f}  mistag@70% {m['mistag_at_70']:.4f}")
        else:
            typer.echo("working points: FPR = rate / 28.6 MHz (1 kHz = 3.5e-5, 10 kHz = 3.5e-4)")
            _print_ad(result)
        typer.echo(f"plots and metrics.json: {out_dir}")
