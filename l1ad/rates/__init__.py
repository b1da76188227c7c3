"""Offline trigger-rate emulation from the firmware's own integer arithmetic.

ratemodel (collision rate) -> streaming (bounded integer-score histograms, exact in the tail, mergeable) ->
pipeline (per-chunk emulation: read, encode, bit-exact model, menu) -> local or Dask backend (dask_backend)
-> thresholds (integer cuts for target rates, Clopper-Pearson) -> summary (pure rate, efficiencies) ->
report (tables, JSON, PNG); weights (stratified zero bias: per-stratum counts, weighted rates, intervals).
:mod:`l1ad.rates.run` ties them together (``RatesOptions`` -> ``run_rates``); the command is :mod:`l1ad.cli.rates`.
"""

from l1ad.rates.menu import Menu, MenuConfig, load_menu
from l1ad.rates.pipeline import (
    Chunk,
    Emulation,
    SampleCounts,
    check_files,
    plan_chunks,
    process_chunk,
    run_local,
    run_samples_local,
)
from l1ad.rates.ratemodel import DEFAULT_TARGETS_KHZ, RateModel
from l1ad.rates.run import RatesOptions, run_rates
from l1ad.rates.streaming import ScoreHistogram, shift_for_width
from l1ad.rates.summary import RatesSummary, summarize
from l1ad.rates.thresholds import (
    ThresholdChoice,
    WeightedScores,
    choose_threshold,
    choose_thresholds,
    clopper_pearson,
    rate_curve,
)
from l1ad.rates.weights import StratumWeights

__all__ = [
    "DEFAULT_TARGETS_KHZ",
    "Chunk",
    "Emulation",
    "Menu",
    "MenuConfig",
    "RateModel",
    "RatesOptions",
    "RatesSummary",
    "SampleCounts",
    "ScoreHistogram",
    "StratumWeights",
    "ThresholdChoice",
    "WeightedScores",
    "check_files",
    "choose_threshold",
    "choose_thresholds",
    "clopper_pearson",
    "load_menu",
    "plan_chunks",
    "process_chunk",
    "rate_curve",
    "run_local",
    "run_rates",
    "run_samples_local",
    "shift_for_width",
    "summarize",
]
