"""``configs/sim.yaml``: defaults of ``l1ad sim`` (latency budget, events, default data file, seed)."""

from __future__ import annotations

import os

from pydantic import Field

from l1ad.config import CONFIG_DIR, StrictModel, load_config

__all__ = ["SimConfig", "load_sim_config"]


class SimConfig(StrictModel):
    budget_ns: float | None = Field(default=50.0, gt=0)
    events: int = Field(default=10_000, ge=1)
    data: str | None = None
    seed: int = 0


def load_sim_config(path: str | os.PathLike[str] | None = None) -> SimConfig:
    """The given file, else ``configs/sim.yaml`` if it exists, else the built-in defaults."""
    if path is None:
        default = CONFIG_DIR / "sim.yaml"
        if not default.is_file():
            return SimConfig()
        path = default
    return load_config(SimConfig, path)
