"""The ``l1ad`` command line. Each subcommand lives in its own module under ``l1ad/cli/`` and is added here.

Exit codes are verdicts: 0 = done and every check passed; 1 = a check failed (:class:`l1ad.errors.CheckFailed`:
a bit-exactness mismatch, latency over budget, an acceptance not met); 2 = bad input or usage (every other
:class:`l1ad.errors.L1adError`, click usage errors, unreadable/unwritable paths), one line on stderr, no
traceback; 130 = interrupted (Ctrl-C), nothing half-written; 3 = an internal error (a bug: please report it).
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
    "cocotb verification -> trigger rates -> ABCD background estimate.\n\n"
    "Exit codes: 0 = done and every check passed; 1 = a check failed (bit-exactness mismatch, latency over "
    "budget, acceptance not met); 2 = bad input or usage (one line naming the file, field and value); "
    "130 = interrupted; 3 = internal error (a bug). L1AD_DEBUG=1 shows tracebacks.",
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


class _StdStreams(logging.Handler):
    """INFO and below to stdout (progress, where reports are: what `| tee log` keeps), WARNING and up to
    stderr, so a failing command's stderr is its warnings and its one ``error:`` line. Resolves
    ``sys.stdout``/``sys.stderr`` at emit time (they may be replaced, e.g. under pytest)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = sys.stdout if record.levelno < logging.WARNING else sys.stderr
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


def _configure_logging(verbose: bool) -> None:
    root = logging.getLogger()
    for h in list(root.handlers):
        if isinstance(h, _StdStreams):
            root.removeHandler(h)
    handler = _StdStreams()
    handler.setFormatter(logging.Formatter("%(message)s"))
    root.addHandler(handler)
    # l1ad's own messages at INFO; third-party libraries (qkeras, hls4ml, TF) only from WARNING up
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.getLogger("l1ad").setLevel(logging.DEBUG if verbose else logging.INFO)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    _configure_logging(verbose)


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


def _usage_line(e: Exception, argv: list[str]) -> str:
    """One line for a click/typer usage error: the option, its value when given, the reason, where to look."""
    param = getattr(e, "param", None)
    ctx = getattr(e, "ctx", None)
    where = f" (see `{ctx.command_path} --help`)" if ctx is not None else " (see `l1ad --help`)"
    msg = e.format_message() if hasattr(e, "format_message") else str(e)
    if param is not None and not _is_click_error(e, "MissingParameter") and getattr(e, "message", ""):
        try:
            name = param.get_error_hint()
        except TypeError:  # click's own signature takes the context
            name = param.get_error_hint(ctx)
        value = _given_value(param.opts, argv)
        shown = f" (value {value!r})" if value is not None else ""
        return f"{name}: {e.message}{shown}{where}"  # type: ignore[attr-defined]
    return f"{msg}{where}"


def _given_value(opts: list[str], argv: list[str]) -> str | None:
    for i, a in enumerate(argv):
        for o in opts:
            if a == o and i + 1 < len(argv) and o.startswith("-"):
                return argv[i + 1]
            if a.startswith(o + "="):
                return a[len(o) + 1 :]
    return None


def _is_click_error(e: BaseException, name: str) -> bool:
    """typer >= 0.2x vendors its own click (``typer._click``); match either copy by class name."""
    return any(c.__name__ == name and c.__module__.split(".")[0] in ("click", "typer") for c in type(e).__mro__)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 a check failed, 2 bad input/usage, 130 interrupted)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = bool(os.environ.get("L1AD_DEBUG"))
    try:
        rv = app(args=args, prog_name="l1ad", standalone_mode=False)
    except L1adError as e:
        if debug:
            raise
        typer.echo(f"error: {e}", err=True)
        return e.exit_code
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except typer.Exit as e:
        return int(e.exit_code or 0)
    except Exception as e:
        if _is_click_error(e, "Abort"):
            typer.echo("interrupted", err=True)
            return 130
        if _is_click_error(e, "NoArgsIsHelpError"):  # `l1ad data`: the group's help, as click does
            e.show()  # type: ignore[attr-defined]
            return 2
        if _is_click_error(e, "ClickException"):  # usage: bad option value, unknown option, missing argument
            if debug:
                raise
            typer.echo(f"error: {_usage_line(e, args)}", err=True)
            return 2
        if isinstance(e, OSError) and not debug:  # a path the user gave cannot be read or written
            where = f"{e.filename}: " if e.filename else ""
            typer.echo(f"error: {where}{e.strerror or e}", err=True)
            return 2
        if debug:
            raise
        typer.echo(f"error: internal error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''} "
                   "(a bug in l1ad; rerun with L1AD_DEBUG=1 for the traceback)", err=True)
        return 3
    code = int(rv) if isinstance(rv, int) and not isinstance(rv, bool) else 0
    if code == 130:  # typer turns KeyboardInterrupt into Exit(130)
        typer.echo("interrupted", err=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
