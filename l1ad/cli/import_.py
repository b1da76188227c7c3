"""``l1ad import MODEL --out ARTIFACT``: a bare Keras/QKeras model -> an l1ad artifact (model.json with provenance),
so ``build``, ``sim``, ``rates`` and ``evaluate`` take the user's model like a trained one."""

from __future__ import annotations

from pathlib import Path

import typer

from l1ad.cli.build import import_options

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    o = import_options()

    @app.command("import")
    def import_cmd(
        model: Path = typer.Argument(..., help="Keras/QKeras model: a .h5 file or a SavedModel directory."),
        out: Path = typer.Option(..., "--out", help="Artifact directory to write (replaced only when complete)."),
        name: str | None = typer.Option(None, "--name", help="Model name (default: the Keras model's name)."),
        input_precision: str | None = o["input_precision"],
        encoding: str | None = o["encoding"],
        shift: str | None = o["shift"],
        score: str | None = o["score"],
    ) -> None:
        """Check that MODEL converts to an exact fixed-point description (refusing unsupported layers, exit 2,
        nothing written) and write it as an artifact: trigger.h5, model.h5, model.json."""
        from l1ad.errors import ModelError
        from l1ad.fixedpoint.source import ImportOptions, load_model_source
        from l1ad.models.artifact import write_imported

        opts = ImportOptions.from_cli(input_precision, encoding, shift, score, name)
        if model.is_dir() and (model / "model.json").is_file():
            raise ModelError(f"{model}: already an l1ad artifact (give a .h5 file or a SavedModel directory)")
        src = load_model_source(model, opts)
        write_imported(out, src.keras_model, src.meta)
        fp = src.fp
        typer.echo(f"{out}: {fp.name} ({len(fp.layers)} layers, {fp.n_inputs} input words: {src.provenance['inputs']}; "
                   f"score {fp.score.type} {fp.score.output.ap_type()})")
        for note in src.notes:
            typer.echo(f"note: {note}")
