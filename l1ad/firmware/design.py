"""``design.json``: what a built trigger design is (read by the cocotb testbench and ``l1ad sim``)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from l1ad.errors import BuildError
from l1ad.fixedpoint import FixedPointModel

__all__ = ["PORTS", "Design", "load_design"]

PORTS = {
    "clk": "clk",
    "rst": "rst",
    "in_valid": "in_valid",
    "in_data": "in_data",
    "threshold": "threshold",
    "out_valid": "out_valid",
    "score": "score",
    "trigger": "trigger",
}


@dataclass
class Design:
    dir: Path
    top: str
    sources: list[str]
    latency_cycles: int
    clock_period_ns: float
    ii: int
    inputs: list[dict[str, Any]]
    score: dict[str, Any]
    ports: dict[str, str]
    fixedpoint: str
    budget_ns: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def source_paths(self) -> list[Path]:
        return [self.dir / s for s in self.sources]

    @property
    def latency_ns(self) -> float:
        return self.latency_cycles * self.clock_period_ns

    def fixedpoint_model(self) -> FixedPointModel:
        return FixedPointModel.load(self.dir / self.fixedpoint)

    def to_json(self) -> dict[str, Any]:
        d = {
            "top": self.top,
            "sources": self.sources,
            "latency_cycles": self.latency_cycles,
            "clock_period_ns": self.clock_period_ns,
            "ii": self.ii,
            "inputs": self.inputs,
            "score": self.score,
            "ports": self.ports,
            "fixedpoint": self.fixedpoint,
            "budget_ns": self.budget_ns,
        }
        d.update(self.extra)
        return d


def load_design(path: str | os.PathLike[str]) -> Design:
    d = Path(path)
    f = d / "design.json"
    try:
        raw = json.loads(f.read_text())
    except OSError:
        raise BuildError(f"{f}: no design.json (build it with `l1ad build`)") from None
    except json.JSONDecodeError as e:
        raise BuildError(f"{f}: invalid JSON: {e.msg} (line {e.lineno})") from None
    keys = ("top", "sources", "latency_cycles", "clock_period_ns", "ii", "inputs", "score", "ports", "fixedpoint", "budget_ns")
    for k in keys:
        if k not in raw:
            raise BuildError(f"{f}: field '{k}': missing")
    extra = {k: v for k, v in raw.items() if k not in keys}
    return Design(d, *(raw[k] for k in keys), extra=extra)  # type: ignore[arg-type]
