"""Rate model: how an accept fraction on zero-bias events becomes a trigger rate in Hz.

The LHC bunch-crossing clock is 40.08 MHz with 3,564 bunch slots; in Run 3 about 2,544 slots are filled,
so the collision (zero-bias) rate is 40.08 MHz x 2544/3564 ~= 28.6 MHz. A trigger that accepts a fraction p of zero-bias events
fires at p x collision rate.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from l1ad.config import StrictModel
from l1ad.errors import ConfigError

__all__ = ["DEFAULT_TARGETS_KHZ", "RateModel"]

#: default target rates [kHz] for the threshold table (issue 6)
DEFAULT_TARGETS_KHZ: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0, 10.0)


class RateModel(StrictModel):
    """Bunch-crossing clock x filled fraction = collision rate; rate = collision rate x accept fraction."""

    #: LHC bunch-crossing clock [MHz] (l1-anchors.md "Rates": 40.08 MHz)
    bunch_crossing_mhz: float = Field(40.08, gt=0)
    #: filled (colliding) bunch slots (l1-anchors.md: ~2,544 in Run 3)
    filled_bunches: int = Field(2544, gt=0)
    #: bunch slots per orbit (l1-anchors.md: 3,564)
    total_bunches: int = Field(3564, gt=0)

    @model_validator(mode="after")
    def _filled_le_total(self) -> RateModel:
        if self.filled_bunches > self.total_bunches:
            raise ValueError(
                f"filled_bunches {self.filled_bunches} exceeds total_bunches {self.total_bunches}"
            )
        return self

    @property
    def filled_fraction(self) -> float:
        return self.filled_bunches / self.total_bunches

    @property
    def collision_rate_hz(self) -> float:
        """Zero-bias rate [Hz] = bunch-crossing clock x filled fraction (~28.6 MHz by default)."""
        return self.bunch_crossing_mhz * 1e6 * self.filled_fraction

    def rate_hz(self, n_pass: int, n_total: int) -> float:
        """Rate [Hz] of a trigger accepting ``n_pass`` of ``n_total`` zero-bias events."""
        if n_total <= 0:
            raise ValueError("rate of an empty sample is undefined")
        return self.collision_rate_hz * n_pass / n_total

    def check_targets(self, targets_khz: tuple[float, ...] | list[float]) -> tuple[float, ...]:
        """Validate target rates [kHz]: positive and below the collision rate; returns them sorted."""
        out = []
        for t in targets_khz:
            if not t > 0:
                raise ConfigError(f"--targets: target rate {t} kHz must be positive")
            if t * 1e3 >= self.collision_rate_hz:
                raise ConfigError(
                    f"--targets: target rate {t} kHz is not below the collision rate "
                    f"{self.collision_rate_hz / 1e3:.1f} kHz"
                )
            out.append(float(t))
        if not out:
            raise ConfigError("--targets: no target rates given")
        return tuple(sorted(set(out)))
