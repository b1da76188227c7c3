"""What every benchmark shares: warm-up, the median of >= 5 timed repeats, a baseline measured in the same run,
targets that decide the exit code (0 = every target met, 1 = one missed), and a JSON record of the numbers.

    bench = Bench("rates")
    base = bench.rate("baseline", "float64 NumPy, same shapes", f_base, n)
    model = bench.rate("model", "FixedPointModel.predict", f_model, n, baseline="baseline")
    bench.target("model", ">=", 2e6, "events/s/core")
    sys.exit(bench.finish())

Times are process CPU seconds by default (every benchmark pins BLAS/OpenMP to one thread, so CPU time is time
on one core and less disturbed by other jobs than wall time); ``clock="wall"`` for work done in
subprocesses (compilers, simulators).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["Bench", "Measurement", "pin_one_thread"]

RESULTS = Path(__file__).resolve().parent / "results"


def pin_one_thread() -> None:
    """Call before NumPy/TensorFlow load: one BLAS/OpenMP thread, so rates are per core."""
    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        os.environ[v] = "1"


@dataclass
class Measurement:
    key: str
    label: str
    items: int
    unit: str
    seconds: list[float]
    baseline: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)

    @property
    def rate(self) -> float:
        return self.items / max(self.median_s, 1e-12)


@dataclass
class Target:
    key: str
    op: str  # ">=" or "<="
    value: float
    what: str  # "rate", "ratio" (vs the measurement's baseline) or "seconds"
    note: str = ""
    got: float = float("nan")
    met: bool = False


class Bench:
    def __init__(self, name: str, repeat: int = 5, warmup: int = 1) -> None:
        if repeat < 5:
            raise ValueError("benchmarks repeat every path at least 5 times (median of >= 5)")
        self.name, self.repeat, self.warmup = name, repeat, warmup
        self.rows: dict[str, Measurement] = {}
        self.targets: list[Target] = []
        self.info: dict[str, Any] = {}

    # -- measuring
    def time(self, key: str, label: str, fn: Callable[[], Any], items: int, *, unit: str = "events",
             baseline: str | None = None, clock: str = "cpu", repeat: int | None = None) -> Measurement:
        """Run ``fn`` ``warmup`` times untimed, then ``repeat`` times timed; keep every time, report the median."""
        clk = time.process_time if clock == "cpu" else time.perf_counter
        for _ in range(self.warmup):
            fn()
        secs = []
        for _ in range(repeat or self.repeat):
            t = clk()
            fn()
            secs.append(clk() - t)
        m = Measurement(key, label, int(items), unit, secs, baseline, {"clock": clock})
        self.rows[key] = m
        return m

    def rate(self, *a: Any, **k: Any) -> float:
        return self.time(*a, **k).rate

    def ratio(self, key: str) -> float:
        m = self.rows[key]
        if m.baseline is None:
            raise KeyError(f"{key} has no baseline")
        return m.rate / self.rows[m.baseline].rate

    # -- verdicts
    def target(self, key: str, op: str, value: float, what: str = "rate", note: str = "") -> bool:
        m = self.rows[key]
        got = {"rate": m.rate, "ratio": self.ratio(key) if what == "ratio" else 0.0, "seconds": m.median_s}[what]
        met = got >= value if op == ">=" else got <= value
        self.targets.append(Target(key, op, value, what, note, got, met))
        return met

    def require(self, key: str, ok: bool, note: str) -> bool:
        """A non-numeric condition of the benchmark (e.g. outputs identical to the baseline's)."""
        self.targets.append(Target(key, "==", 1.0, "check", note, float(ok), bool(ok)))
        return bool(ok)

    def finish(self, json_path: Path | None = None) -> int:
        """Print the table and the verdicts, write the JSON record; the exit code (0 all met, 1 one missed)."""
        print(f"\n{self.name}: median of {self.repeat} after {self.warmup} warm-up")
        print(f"  {'measurement':<44} {'rate':>26} {'median s':>10} {'vs baseline':>12}")
        for m in self.rows.values():
            vs = f"x{m.rate / self.rows[m.baseline].rate:,.2f}" if m.baseline else "(baseline)" if any(
                r.baseline == m.key for r in self.rows.values()) else ""
            print(f"  {m.label:<44} {m.rate:>14,.0f} {m.unit + '/s':<11} {m.median_s:>10.4f} {vs:>12}")
        for t in self.targets:
            if t.what == "check":
                print(f"  [{'met' if t.met else 'MISSED'}] {t.key}: {t.note}")
            else:
                unit = {"rate": f"{self.rows[t.key].unit}/s", "ratio": "x baseline", "seconds": "s"}[t.what]
                print(f"  [{'met' if t.met else 'MISSED'}] {t.key}: {t.got:,.4g} {unit} {t.op} {t.value:,.4g}"
                      + (f"  ({t.note})" if t.note else ""))
        ok = all(t.met for t in self.targets)
        record = {
            "benchmark": self.name, "repeat": self.repeat, "warmup": self.warmup, "passed": ok,
            "measurements": {k: {**asdict(m), "rate": m.rate, "median_s": m.median_s,
                                 "ratio": (m.rate / self.rows[m.baseline].rate) if m.baseline else None}
                             for k, m in self.rows.items()},
            "targets": [asdict(t) for t in self.targets], "info": self.info,
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "host": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        }
        path = json_path or RESULTS / f"{self.name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=2, default=float) + "\n")
        print(f"  -> {'all targets met' if ok else 'TARGET MISSED'}; numbers in {path}")
        return 0 if ok else 1
