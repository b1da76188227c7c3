"""Offline data-driven background estimate: two decorrelated autoencoders + ABCD (arXiv:2111.06417).

Heavy parts (TensorFlow) are imported lazily from their modules: ``l1ad.background.dcorr``, ``.model``.
"""

from l1ad.background.abcd import (
    Closure,
    RegionCounts,
    closure,
    predict,
    region_counts,
    thresholds_for_efficiency,
    thresholds_per_axis,
)
from l1ad.background.config import AbcdConfig, load_abcd_config

__all__ = [
    "AbcdConfig",
    "Closure",
    "RegionCounts",
    "closure",
    "load_abcd_config",
    "predict",
    "region_counts",
    "thresholds_for_efficiency",
    "thresholds_per_axis",
]
