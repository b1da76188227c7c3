"""The ``l1ad`` command line. Each subcommand lives in its own module under ``l1ad/cli/`` and is added here.

Every :class:`l1ad.errors.L1adError` becomes one line on stderr and exit code 2 (no traceback).
Set ``L1AD_DEBUG=1`` to see tracebacks.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys

import typer

from l1ad import __version__
from l1ad.errors import L1adError

__all__ = ["app", "main"]

app = typer.Typer(
    name="l1ad",
    help="Level-1 trigger anomaly detection: data -> QKeras training -> bit-exact firmware -> "
    "cocotb verification -> trigger rates -> ABCD background estimate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: (module under l1ad.cli, attribute): "app" is a command group named after the module; "register" adds commands
_PLUGINS: list[tuple[str, str]] = [
    ("data", "app"),
    ("train", "register"),
    ("build", "register"),
    ("import_", "register"),
    ("sim", "register"),
    ("rates", "register"),
    ("abcd", "register"),
    ("demo", "register"),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"l1ad {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    # l1ad's own messages at INFO; third-party libraries (qkeras, hls4ml, TF) only from WARNING up
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(message)s", stream=sys.stderr)
    logging.getLogger("l1ad").setLevel(logging.DEBUG if verbose else logging.INFO)


def _load_plugins() -> None:
    for mod_name, attr in _PLUGINS:
        try:
            mod = importlib.import_module(f"l1ad.cli.{mod_name}")
        except ModuleNotFoundError as e:
            if e.name == f"l1ad.cli.{mod_name}":
                continue  # subcommand not part of this checkout
            raise
        obj = getattr(mod, attr)
        if attr == "app":
            app.add_typer(obj, name=mod_name)
        else:
            obj(app)


_load_plugins()


def main(argv: list[str] | None = None) -> int:
    try:
        app(args=argv, standalone_mode=False)
    except L1adError as e:
        if os.environ.get("L1AD_DEBUG"):
            raise
        typer.echo(f"error: {e}", err=True)
        return e.exit_code
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except typer.Exit as e:
        return e.exit_code
    except Exception as e:  # click usage errors
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            return e.exit_code
        if isinstance(e, click.exceptions.Abort):
            typer.echo("aborted", err=True)
            return 1
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
