"""The l1ad exception family. The CLI turns any :class:`L1adError` into one line on stderr and its ``exit_code``.

Exit codes are verdicts: 0 = done and every check passed; 1 = a check failed (:class:`CheckFailed`: a
bit-exactness mismatch, a latency over budget, an acceptance not met); 2 = bad input or usage (every other
:class:`L1adError`); 130 = interrupted.
"""

from __future__ import annotations

__all__ = [
    "BuildError",
    "CheckFailed",
    "ConfigError",
    "DataError",
    "L1adError",
    "ModelError",
    "SimulationError",
    "StageFailed",
    "UnsupportedLayerError",
]


class L1adError(Exception):
    """Base class: a problem with the user's input or environment, reported as one clear line."""

    exit_code = 2


class CheckFailed(L1adError):
    """The command ran to the end but one of its checks failed (exit code 1); outputs are still written
    where they document the failure (e.g. report.json naming the first mismatching event)."""

    exit_code = 1


class StageFailed(L1adError):
    """A sub-command run by ``l1ad demo`` failed; carries that command's own exit code (1, 2 or 130)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class ConfigError(L1adError):
    """A YAML/JSON configuration is invalid (message names file, field path and value)."""


class DataError(L1adError):
    """An input data file is missing, malformed or holds invalid values (names file, event, field)."""


class ModelError(L1adError):
    """A model artifact cannot be loaded or trained."""


class UnsupportedLayerError(ModelError):
    """A layer or quantizer has no fixed-point lowering (names the layer and its type)."""


class BuildError(L1adError):
    """Firmware generation or a bit-exactness check failed."""


class SimulationError(L1adError):
    """A testbench could not be built or run."""
