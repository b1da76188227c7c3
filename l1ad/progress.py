"""Progress of long stages (generation, rate emulation, training) that also shows in a log without a terminal.

On a terminal (stdout is a TTY) :class:`Progress` draws Rich bars. Otherwise (``make demo | tee log``, CI, a
batch job) Rich's live bars would vanish, so it logs one line at most every ``interval`` seconds (default 30,
``L1AD_PROGRESS_INTERVAL``) with, per task, the items done, the rate and the ETA, plus a last line when the
block ends. Lines go through the ``l1ad`` logger at INFO (stdout, see :mod:`l1ad.cli`).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Progress", "format_eta"]

log = logging.getLogger("l1ad.progress")


def format_eta(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "?"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


@dataclass
class _Task:
    name: str
    total: int
    done: int = 0
    t0: float = field(default_factory=time.monotonic)

    def line(self, now: float) -> str:
        dt = max(now - self.t0, 1e-9)
        rate = self.done / dt
        eta = (self.total - self.done) / rate if rate > 0 and self.total else None
        pct = 100.0 * self.done / self.total if self.total else 0.0
        return f"{self.name} {self.done:,}/{self.total:,} ({pct:.0f} %, {rate:,.0f}/s, ETA {format_eta(eta)})"


class Progress:
    """``with Progress("generate") as p: p.add("zero_bias", 500_000); p.advance("zero_bias", 10_000)``."""

    def __init__(self, title: str, unit: str = "events", interval: float | None = None, tty: bool | None = None) -> None:
        self.title, self.unit = title, unit
        self.interval = float(interval if interval is not None else os.environ.get("L1AD_PROGRESS_INTERVAL", 30))
        self.tty = sys.stdout.isatty() if tty is None else tty
        self.tasks: dict[str, _Task] = {}
        self._bar: Any = None
        self._ids: dict[str, Any] = {}
        self._last = time.monotonic()
        self._t0 = self._last

    # -- context
    def __enter__(self) -> Progress:
        if self.tty:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[speed]}", style="cyan"), TimeElapsedColumn(),
                                     TimeRemainingColumn(), console=Console(), transient=False)
            self._bar.__enter__()
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.__exit__(exc_type, *exc)
            self._bar = None
        elif exc_type is None and self.tasks:
            self._emit(final=True)

    # -- updates
    def add(self, name: str, total: int) -> None:
        self.tasks[name] = _Task(name, int(total))
        if self._bar is not None:
            self._ids[name] = self._bar.add_task(name, total=total, speed="")

    def advance(self, name: str, n: int = 1) -> None:
        task = self.tasks.get(name)
        if task is None:
            return
        task.done += int(n)
        if self._bar is not None:
            rate = task.done / max(time.monotonic() - task.t0, 1e-9)
            self._bar.update(self._ids[name], advance=n, speed=f"{rate:,.0f} {self.unit}/s")
            return
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._emit()

    def _emit(self, final: bool = False) -> None:
        now = time.monotonic()
        self._last = now
        active = [t for t in self.tasks.values() if final or t.done < t.total]
        if not active:
            return
        head = f"{self.title}: " + ("done in " + format_eta(now - self._t0) + ": " if final else "")
        log.info(head + "; ".join(t.line(now) for t in active))
