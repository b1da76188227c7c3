"""The l1ad exception family. The CLI turns any :class:`L1adError` into one line on stderr and exit code 2."""

from __future__ import annotations

__all__ = [
    "BuildError",
    "ConfigError",
    "DataError",
    "L1adError",
    "ModelError",
    "SimulationError",
    "UnsupportedLayerError",
]


class L1adError(Exception):
    """Base class: a problem with the user's input or environment, reported as one clear line."""

    exit_code = 2


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
