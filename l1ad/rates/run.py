"""The rate emulation as one library call: validated options -> zero-bias pass -> thresholds -> signal pass ->
summary -> report. ``l1ad rates`` (:mod:`l1ad.cli.rates`) only turns its command line into :class:`RatesOptions`
and loads the model; tests and notebooks call :func:`run_rates` directly.

Every input is validated before any work starts and the output directory is written atomically, so a bad
input gives one error line (exit 2) and no partial output. With ``check_menu`` a menu seed outside its
reference tolerance fails the run (:class:`~l1ad.errors.CheckFailed`, exit 1) after the report is written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from l1ad.config import StrictModel, parse_config
from l1ad.errors import CheckFailed, ConfigError, DataError
from l1ad.rates.ratemodel import DEFAULT_TARGETS_KHZ, RateModel

__all__ = ["RatesOptions", "load_score_model", "parse_targets", "run_rates", "score_precision"]

ZERO_BIAS = "zero_bias"
#: events from which ``l1ad rates`` without --workers/--scheduler starts a local cluster (one worker per core)
AUTO_CLUSTER_EVENTS = 10_000_000


def sample_name(path: str | Path) -> str:
    """A sample's name: its file name without ``.h5`` (and without ``.words``, so that an encoded-words file
    ``sig.words.h5`` - ``l1ad data encode``'s default - reports as its event file ``sig.h5``)."""
    return Path(path).stem.removesuffix(".words")


def parse_targets(text: str) -> tuple[float, ...]:
    """``"0.5,1,2"`` -> (0.5, 1.0, 2.0) kHz."""
    try:
        vals = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ConfigError(f"--targets: cannot parse {text!r} as comma-separated rates in kHz") from None
    if not vals:
        raise ConfigError(f"--targets: no rates in {text!r}")
    return vals


class RatesOptions(StrictModel):
    """Everything a rate run needs besides the model, validated once (errors name the option and value)."""

    rate_model: RateModel = RateModel()
    zero_bias: list[Path] = Field(min_length=1, description="zero-bias ADC2021 files (weighted or not)")
    signals: list[Path] = Field(default_factory=list)
    targets_khz: tuple[float, ...] = DEFAULT_TARGETS_KHZ
    menu: str | None = Field("menu.yaml", description="menu YAML; None: no menu")
    out: Path | None = None
    scheduler: str | None = Field(None, description="Dask scheduler address (None: local)")
    #: > 1: a Dask LocalCluster of this many single-threaded worker processes on this machine; None (auto): one
    #: per core when there is more than one core and at least AUTO_CLUSTER_EVENTS events, else in this process
    workers: int | None = Field(None, ge=1, description="local worker processes (1: in this process; None: auto)")
    chunk_size: int = Field(100_000, gt=0)
    menu_on_words: bool = False
    check_menu: bool = Field(False, description="fail (exit 1) if a seed misses its reference tolerance")
    #: per zero-bias file, the first event used (events before it, e.g. a model's training events, skipped)
    zb_first: list[int] | None = None
    #: a built design whose shipped Verilog must give the offline trigger bit at every chosen threshold
    rtl_design: Path | None = Field(None, description="design dir for the shipped-RTL trigger check (None: off)")
    rtl_max_events: int | None = Field(None, gt=0, description="check only the first N zero-bias events")

    @field_validator("signals")
    @classmethod
    def _distinct(cls, v: list[Path]) -> list[Path]:
        stems = [sample_name(p) for p in v]
        if len(set(stems)) != len(stems):
            raise ValueError(f"file names must be distinct, they name the signals (got {', '.join(stems)})")
        return v

    @field_validator("targets_khz")
    @classmethod
    def _targets(cls, v: tuple[float, ...], info: ValidationInfo) -> tuple[float, ...]:
        rm = info.data.get("rate_model") or RateModel()
        return rm.check_targets(v)

    @model_validator(mode="after")
    def _check(self) -> RatesOptions:
        if self.scheduler and self.workers is not None and self.workers > 1:
            raise ValueError(f"workers: give --workers (value {self.workers}) or --scheduler, not both")
        if self.zb_first is not None and len(self.zb_first) != len(self.zero_bias):
            raise ValueError(f"zb_first needs one entry per zero-bias file ({len(self.zero_bias)})")
        return self

    @classmethod
    def parse(cls, **kw: Any) -> RatesOptions:
        """Validate keyword options; a bad value raises :class:`ConfigError` naming the option."""
        return parse_config(cls, kw, "rates options")


def run_rates(
    options: RatesOptions,
    *,
    score_model: Any,
    encoding: Any,
    reader: Any = None,
    console: Any = None,
    extra: dict[str, Any] | None = None,
) -> Any:
    """Validate the files, run both passes (locally or on Dask), summarise, report; returns the RatesSummary."""
    from l1ad.io import atomic_dir
    from l1ad.rates.menu import load_menu
    from l1ad.rates.pipeline import Emulation, Hdf5Reader, check_files, plan_chunks, run_samples_local
    from l1ad.rates.report import print_summary, write_report
    from l1ad.rates.streaming import DEFAULT_TAIL_EVENTS, shift_for_width
    from l1ad.rates.summary import summarize
    from l1ad.rates.thresholds import WeightedScores, choose_thresholds

    o = options
    rate_model = o.rate_model
    targets = o.targets_khz
    reader = reader or Hdf5Reader()
    zb_counts = check_files(o.zero_bias, reader, "zero-bias")
    sig_counts = check_files(o.signals, reader, "signal")
    names = [sample_name(p) for p in o.signals]
    menu = load_menu(o.menu) if o.menu else None
    check_encoded_inputs([*o.zero_bias, *o.signals], reader, encoding, menu, o.menu_on_words)
    _check_model_inputs(score_model, encoding, o.zero_bias[0])
    sp = score_precision(score_model)
    zb_first = [0] * len(o.zero_bias) if o.zb_first is None else list(o.zb_first)
    n_zb = sum(n - f for n, f in zip(zb_counts, zb_first, strict=True))
    if n_zb <= 0:
        raise DataError(f"{o.zero_bias[0]}: no zero-bias events left after skipping the model's training events "
                        f"(first used event {zb_first[0]} of {zb_counts[0]})")
    zb_strata = [_file_strata(reader, p, n) for p, n in zip(o.zero_bias, zb_counts, strict=True)]
    sig_strata = [_file_strata(reader, p, n) for p, n in zip(o.signals, sig_counts, strict=True)]
    if menu is not None and menu.uses_isolation and not all(_has_iso(reader, p) for p in [*o.zero_bias, *o.signals]):
        iso_note = "e/gamma isolation flags missing in some file: isolated seeds evaluated without isolation"
    else:
        iso_note = None
    # exact scores for the top events: per stratum, at least 2x its share of the loosest target's rate
    frac_max = 2 * max(targets) * 1e3 / rate_model.collision_rate_hz
    tails: list[int] = []
    for (_names_f, prob, cnt), n_f, first in zip(zb_strata, zb_counts, zb_first, strict=True):
        share = (n_f - first) / n_zb
        for pk, nk in zip(prob, cnt, strict=True):
            used = nk * (n_f - first) / max(n_f, 1)
            w = share * pk / max(used, 1.0)  # fraction of crossings per event of this stratum
            tails.append(max(DEFAULT_TAIL_EVENTS, math.ceil(frac_max / w) + 1024) if w > 0 else DEFAULT_TAIL_EVENTS)
    emu = Emulation(
        score_model, encoding, menu, o.menu_on_words, reader,
        hist_shift=shift_for_width(None if sp is None else sp[0]),
        tail_events=max(DEFAULT_TAIL_EVENTS, math.ceil(frac_max * n_zb) + 1024),
        tail_events_by_stratum=tuple(tails) if len(tails) > 1 else (),
    )
    rows = getattr(reader, "chunk_rows", None)  # chunks of whole HDF5 chunks (none decompressed twice)

    def align(paths: list[Path]) -> list[int] | None:
        return None if rows is None else [rows(str(p)) for p in paths]

    zb_chunks = {ZERO_BIAS: plan_chunks(o.zero_bias, zb_counts, o.chunk_size, zb_first, [len(s[0]) for s in zb_strata],
                                        align(o.zero_bias))}
    sig_chunks = {n: plan_chunks([p], [c], o.chunk_size, strata=[len(s[0])], align=align([p]))
                  for n, p, c, s in zip(names, o.signals, sig_counts, sig_strata, strict=True)}

    n_all = n_zb + sum(sig_counts)
    workers = o.workers if o.workers is not None else auto_workers(n_all)
    client = cluster = None
    with _progress(console, n_all) as advance:
        if o.scheduler or workers > 1:
            from l1ad.rates.dask_backend import connect, local_cluster, run_dask

            if o.scheduler:
                client = connect(o.scheduler)
            else:
                cluster, client = local_cluster(workers)

            def run(samples: dict[str, Any], e: Emulation) -> dict[str, Any]:
                return run_dask(samples, e, client, progress=advance)
        else:

            def run(samples: dict[str, Any], e: Emulation) -> dict[str, Any]:
                return run_samples_local(samples, e, progress=advance)

        try:
            # pass 1: zero bias -> integer thresholds; pass 2: signals, counted exactly at those thresholds
            zb = run(zb_chunks, emu)[ZERO_BIAS]
            if zb.n_events == 0:
                raise DataError(f"{o.zero_bias[0]}: zero-bias files have no events")
            zb_w = _weights(o.zero_bias, zb_strata, zb.n_by_stratum, zb_counts, zb_first)
            choices = choose_thresholds(WeightedScores(zb.hists, zb_w), list(targets), rate_model)
            emu_sig = dataclasses.replace(emu, count_at=tuple(c.threshold for c in choices), tail_events_by_stratum=())
            sig = run(sig_chunks, emu_sig) if sig_chunks else {}
        finally:
            if client is not None:
                client.close()
            if cluster is not None:
                cluster.close()
    sig_w = {n: _weights([p], [s], sig[n].n_by_stratum, [c], [0])
             for n, p, s, c in zip(names, o.signals, sig_strata, sig_counts, strict=True)}
    refs = {} if menu is None else {s.name: (s.reference.khz, s.reference.source)
                                     for s in menu.config.seeds if s.reference is not None}
    summary = summarize(
        zb, sig, targets, rate_model, None if sp is None else sp[2], score_port=None if sp is None else sp[:2],
        zb_weights=zb_w, signal_weights=sig_w, references=refs,
        reference_tolerance=menu.config.reference_tolerance if menu is not None else 2.0,
    )
    if console is not False:
        print_summary(summary, console)
        if iso_note:
            _echo(console, f"note: {iso_note}")
    rtl_check = None
    if o.rtl_design is not None:  # the shipped Verilog's trigger bit at the chosen thresholds, every zero-bias event
        from l1ad.rates.rtl_check import check_trigger_bits

        rtl_check = check_trigger_bits(o.rtl_design, score_model, encoding, reader, o.zero_bias,
                                       [c.threshold for c in summary.choices], max_events=o.rtl_max_events)
        _print_rtl_check(rtl_check, console)
    if o.out is not None:
        meta = {
            "inputs": {
                "zero_bias": [str(p) for p in o.zero_bias],
                "zero_bias_first_event": list(zb_first),
                "signals": {n: str(p) for n, p in zip(names, o.signals, strict=True)},
                "menu": o.menu,
                "chunk_size": o.chunk_size,
                "backend": (f"dask {o.scheduler}" if o.scheduler
                            else f"dask local cluster, {workers} worker processes" if workers > 1 else "local"),
                "menu_on_words": o.menu_on_words,
                "egamma_isolation": iso_note or "from the files' EGammaIso datasets",
                # score histograms: coarse bins of 2**shift, exact scores of the top tail_events events
                "histogram": {"shift": emu.hist_shift, "tail_events": emu.tail_events,
                              "tail_events_by_stratum": list(emu.tail_events_by_stratum)},
            },
            **(extra or {}),
        }
        if rtl_check is not None:
            meta["rtl_check"] = rtl_check
        with atomic_dir(o.out) as tmp:
            write_report(tmp, summary, meta)
    if rtl_check is not None and not rtl_check["passed"]:
        d = rtl_check["first_difference"]
        where = (f"; first at {d['file']} event {d['event']}: threshold {d['threshold']}, offline score "
                 f"{d['offline_score']}, RTL score {d['rtl_score']} trigger {int(d['rtl_trigger'])}") if d else ""
        raise CheckFailed(f"{(o.out / 'rates.json') if o.out else o.rtl_design}: the shipped RTL's trigger bit "
                          f"differs from the offline decision on {rtl_check['events']} zero-bias events "
                          f"({rtl_check['score_mismatches']} score mismatches){where}")
    if o.check_menu:
        bad = summary.menu_failures()
        if bad:
            raise CheckFailed(f"rates: {len(bad)} menu seed(s) outside a factor {summary.reference_tolerance:g} of "
                              f"their reference: {'; '.join(bad)}")
    return summary


def check_encoded_inputs(paths: list[Path], reader: Any, encoding: Any, menu: Any, menu_on_words: bool) -> None:
    """Encoded-words inputs (``l1ad data encode``) must hold the words and seed bits this run would compute
    from their events: same encoding config and (menu on the float events) same menu; else one DataError."""
    is_words = getattr(reader, "is_words", None)
    for p in paths:
        if is_words is not None and is_words(str(p)):
            from l1ad.data.words import check_compatible

            check_compatible(reader.words_header(str(p)), encoding, menu, menu_on_words)


def _check_model_inputs(score_model: Any, encoding: Any, path: Path) -> None:
    """The model reads the encoding's words: one input per word (before any event is read)."""
    n_in = getattr(score_model, "n_inputs", None)
    fields = getattr(encoding, "fields", None)
    if n_in is not None and fields is not None and int(n_in) != len(fields):
        raise DataError(f"{path}: the events encode to {len(fields)} words ({getattr(encoding, 'source', 'encoding')})"
                        f", but model {getattr(score_model, 'name', '?')!r} takes {n_in} inputs")


def auto_workers(n_events: int) -> int:
    """Local Dask workers for ``n_events`` events when none are asked for: one per core on a multi-core machine
    once the work (>= AUTO_CLUSTER_EVENTS, ~25 s on one core) pays for starting the cluster (~5 s), else 1."""
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return cores if cores > 1 and n_events >= AUTO_CLUSTER_EVENTS else 1


def _file_strata(reader: Any, path: Path, n: int) -> tuple[list[str], list[float], list[int]]:
    """(names, probabilities, events) of a file's strata; one unweighted stratum if the reader has no weights."""
    fn = getattr(reader, "strata", None)
    if fn is None:
        return ["all"], [1.0], [n]
    s = fn(str(path))
    return list(s.names), [float(x) for x in s.probability], [int(x) for x in s.counts]


def _has_iso(reader: Any, path: Path) -> bool:
    fn = getattr(reader, "read_egamma_iso", None)
    return fn is not None and fn(str(path), 0, 1) is not None


def _weights(paths: list[Path], strata: list[tuple[list[str], list[float], list[int]]], used: Any,
             counts: list[int], first: list[int]) -> Any:
    """The sample's StratumWeights: file f's stratum k stands for alpha_f P_fk of all crossings, with
    alpha_f = (events used of file f) / (events used of all files); weights follow the events actually used."""
    import numpy as np

    from l1ad.rates.weights import StratumWeights

    n_used = np.array([c - f for c, f in zip(counts, first, strict=True)], np.float64)
    alpha = n_used / n_used.sum()
    names, prob = [], []
    for p, (nm, pr, _), a in zip(paths, strata, alpha, strict=True):
        tag = f"{sample_name(p)}:" if len(paths) > 1 else ""
        names += [f"{tag}{x}" for x in nm]
        prob += [a * x for x in pr]
    return StratumWeights(tuple(names), np.asarray(prob), np.asarray(used, np.int64))


def load_score_model(design: Path | None, model: Path | None) -> Any:
    """The bit-exact integer model: a built design's ``fixedpoint.json`` (via design.json) or an artifact.

    The firmware is generated from that same description (the one source of truth for precisions), so its
    ``predict`` gives the integer scores the Verilog compares with the threshold.
    """
    from l1ad.errors import ModelError

    if (design is None) == (model is None):
        raise ConfigError("rates: give exactly one of --design DIR or --model ARTIFACT")
    if design is not None:
        if not design.is_dir():
            raise ModelError(f"{design}: --design directory not found")
        from l1ad.firmware import load_design

        d = load_design(design)
        fp_path = d.dir / d.fixedpoint
        if not fp_path.is_file():
            raise ModelError(f"{design / 'design.json'}: field 'fixedpoint': file not found (value {d.fixedpoint!r})")
        fp = d.fixedpoint_model()
        w, signed, frac = fp.score_precision
        port = (int(d.score.get("width", -1)), bool(d.score.get("signed")), int(d.score.get("frac", -1)))
        if port != (w, signed, frac):
            raise ModelError(
                f"{design / 'design.json'}: field 'score': {d.score} does not match {fp_path.name} score "
                f"precision (width {w}, signed {signed}, frac {frac})"
            )
        return fp
    assert model is not None
    if not model.is_dir():
        raise ModelError(f"{model}: --model artifact directory not found")
    from l1ad.fixedpoint import FixedPointModel

    return FixedPointModel.from_artifact(model)


def score_precision(m: Any) -> tuple[int, bool, int] | None:
    """``model.score_precision`` as (width, signed, frac_bits), or None if the model does not say."""
    sp = getattr(m, "score_precision", None)
    if sp is None:
        return None
    if isinstance(sp, tuple | list) and len(sp) == 3:
        return int(sp[0]), bool(sp[1]), int(sp[2])
    try:
        return int(sp.width), bool(sp.signed), int(getattr(sp, "frac", getattr(sp, "frac_bits", 0)))
    except AttributeError:
        return None


def _echo(console: Any, text: str) -> None:
    if console is None:
        print(text)
    else:
        console.print(text)


def _print_rtl_check(r: dict[str, Any], console: Any) -> None:
    if console is False:
        return
    per = ", ".join(f"T={p['threshold']}: {p['offline_triggers']:,} / {p['rtl_triggers']:,}" for p in r["per_threshold"])
    _echo(console, f"shipped RTL trigger check on {r['events']:,} zero-bias events ({r['events_per_s']:,.0f} "
                   f"events/s): {'PASS' if r['passed'] else 'FAIL'} (offline / RTL triggers: {per})")


@contextlib.contextmanager
def _progress(console: Any, total: int) -> Iterator[Any]:
    """Bars on a terminal, else a progress line at most every 30 s (l1ad.progress); yields advance(n)."""
    if console is False:
        yield None
        return
    from l1ad.progress import Progress

    with Progress("rates: emulating events") as bar:
        bar.add("events", total)
        yield lambda n: bar.advance("events", n)
