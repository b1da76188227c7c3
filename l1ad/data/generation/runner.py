"""Orchestration of ``l1ad data generate``: Pythia tasks in parallel, pool, overlay, atomic file writing.

Phases (each a list of independent tasks run by a ``multiprocessing`` pool of ``workers``):

1. Pythia MPI init tables for every process (cached on disk, see :func:`pythia.mpi_init_file`);
2. Pythia + detector response: min-bias pool chunks, hard-process chunks, b-tag jet chunks;
3. pileup overlay: zero-bias chunks and hard-process overlays, with the pool shared by fork.

Every task draws its Pythia seed and numpy generator from (master seed, sample, chunk index), so a sample
depends only on the seed and the configs, never on ``workers`` or on task completion order.
"""

from __future__ import annotations

import logging
import math
import multiprocessing as mp
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from l1ad import __version__
from l1ad.data.generation.btag import JetSample, select_jets, write_btag
from l1ad.data.generation.config import GenerationConfig, L1EmulationConfig, config_hash
from l1ad.data.generation.l1emu import L1Emulator, Piece
from l1ad.data.generation.pileup import build_pool, load_pool, pileup_pieces
from l1ad.data.generation.processes import BTAG_SOURCES, MINBIAS, PROCESSES, Kind, get_process
from l1ad.data.generation.pythia import (
    derive_seed,
    generate,
    generator_version,
    mpi_init_file,
    remove_orphaned_tmp,
)
from l1ad.data.generation.sparse import SparseEvents

__all__ = ["DEFAULT_PROCESSES", "GenerationPlan", "SampleResult", "run_generation"]

log = logging.getLogger(__name__)

DEFAULT_PROCESSES = ("zero_bias", *[p for p in PROCESSES if p != "zero_bias"], "btag")
POOL_FILE = "minbias_pool.npz"
#: crossings assembled at once (memory: n x 8208 towers x 8 B)
OVERLAY_BLOCK = 1000
#: task sizes are fixed (not derived from --workers) so that every sample is independent of --workers
POOL_CHUNK = 1000
ZB_CHUNK = 10_000
#: Pythia events per wanted jet of a b-tag source (each event gives ~0.8 selected jets of its class)
BTAG_EVENTS_PER_JET = 1.4


@dataclass
class GenerationPlan:
    out: Path
    gen: GenerationConfig
    emu: L1EmulationConfig
    processes: list[str]
    workers: int = 2

    @property
    def chash(self) -> str:
        return config_hash(self.gen, self.emu)


@dataclass
class SampleResult:
    name: str
    path: Path
    events: int
    seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------ task bodies
_EMU: L1Emulator | None = None
_POOL: SparseEvents | None = None
_PLAN: GenerationPlan | None = None


def _emu() -> L1Emulator:
    global _EMU
    assert _PLAN is not None
    if _EMU is None:
        _EMU = L1Emulator(_PLAN.emu)
    return _EMU


def _rng(*keys: Any) -> np.random.Generator:
    assert _PLAN is not None
    return np.random.default_rng(derive_seed(_PLAN.gen.seed, "numpy", *keys))


def _task_init(settings: tuple[str, ...]) -> tuple[str, Any]:
    assert _PLAN is not None
    mpi_init_file(settings, _PLAN.gen.sqrt_s_gev)
    return "init", None


def _task_hard(name: str, chunk: int, n: int) -> tuple[str, Any]:
    """Pythia + detector response for ``n`` events of process ``name`` (or the min-bias pool)."""
    assert _PLAN is not None
    proc = MINBIAS if name == "minbias" else get_process(name)
    b = generate(proc.settings, n, derive_seed(_PLAN.gen.seed, name, chunk), _PLAN.gen.sqrt_s_gev)
    return name, (chunk, _emu().detector_response(b, _rng(name, chunk, "response")))


def _task_btag(source: str, chunk: int, n: int) -> tuple[str, Any]:
    assert _PLAN is not None
    b = generate(BTAG_SOURCES[source].settings, n, derive_seed(_PLAN.gen.seed, "btag", source, chunk),
                 _PLAN.gen.sqrt_s_gev)
    return "btag", (source, chunk, select_jets(b, _PLAN.gen.btag, _rng("btag", source, chunk)))


def _task_overlay(name: str, chunk: int, n: int, hard: SparseEvents | None) -> tuple[str, Any]:
    """Assemble ``n`` crossings: pileup only (zero bias) or the hard events of ``hard`` plus pileup."""
    assert _PLAN is not None and _POOL is not None
    emu, rng = _emu(), _rng(name, chunk, "overlay")
    out = np.zeros((n, 19, 4), dtype=np.float32)
    for lo in range(0, n, OVERLAY_BLOCK):
        m = min(OVERLAY_BLOCK, n - lo)
        pieces = [pileup_pieces(_POOL, m, _PLAN.gen.pileup.mean, emu, rng)]
        if hard is not None:
            pieces.append(Piece(hard, np.arange(lo, lo + m), np.arange(m)))
        out[lo : lo + m] = emu.assemble(pieces, m, rng)
    return name, (chunk, out)


def _call(task: tuple[Callable[..., Any], tuple[Any, ...]]) -> Any:
    fn, args = task
    return fn(*args)


def _run_tasks(plan: GenerationPlan, tasks: list[tuple[Callable[..., Any], tuple[Any, ...]]],
               on_result: Callable[[Any], None]) -> None:
    global _PLAN
    _PLAN = plan
    if plan.workers <= 1 or len(tasks) <= 1:
        for t in tasks:
            on_result(_call(t))
        return
    ctx = mp.get_context("fork")  # workers inherit the plan and the pool without pickling them
    # workers ignore Ctrl-C: the parent gets KeyboardInterrupt, terminates them and cleans up (no tracebacks
    # from every worker, no half-written cache files)
    try:
        with ctx.Pool(min(plan.workers, len(tasks)), initializer=_ignore_sigint) as pool:
            for r in pool.imap_unordered(_call, tasks):
                on_result(r)
    except BaseException:
        remove_orphaned_tmp()
        raise


def _ignore_sigint() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _chunks(total: int, size: int) -> Iterable[tuple[int, int]]:
    for k in range(math.ceil(total / size)):
        yield k, min(size, total - k * size)


# ------------------------------------------------------------------------------------------ driver
def run_generation(plan: GenerationPlan, progress: Any = None) -> list[SampleResult]:
    """Generate every requested sample into ``plan.out``; returns one result per written file.

    ``progress`` is an optional object with ``add(name, total)`` and ``advance(name, n)`` (the CLI's bar).
    """
    global _POOL, _PLAN, _EMU
    _PLAN, _EMU = plan, None
    gen = plan.gen
    procs = [get_process(p) for p in plan.processes]
    hard = [p.name for p in procs if p.kind in (Kind.SM, Kind.SIGNAL)]
    need_pool = any(p.kind != Kind.BTAG for p in procs)
    want_btag = any(p.kind == Kind.BTAG for p in procs)
    t_start = time.monotonic()

    def prog(kind: str, name: str, total: int = 0, n: int = 0) -> None:
        if progress is None:
            return
        if kind == "add":
            progress.add(name, total)
        else:
            progress.advance(name, n)

    # phase 1: Pythia init tables (slowest first)
    settings = ([MINBIAS.settings] if need_pool else []) + [get_process(h).settings for h in hard]
    if want_btag:
        settings += [s.settings for s in BTAG_SOURCES.values()]
    _run_tasks(plan, [(_task_init, (s,)) for s in settings], lambda r: None)
    log.info("generate: Pythia init tables ready (%.1f s)", time.monotonic() - t_start)

    # phase 2: Pythia + detector response
    pool_path = plan.out / POOL_FILE
    pool = load_pool(pool_path, plan.chash) if need_pool else None
    tasks: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
    chunk = gen.chunk_events
    if need_pool and pool is None:
        n_pool = gen.pileup.pool_events
        tasks += [(_task_hard, ("minbias", k, n)) for k, n in _chunks(n_pool, POOL_CHUNK)]
        prog("add", "minbias pool", n_pool)
    for h in hard:
        tasks += [(_task_hard, (h, k, n)) for k, n in _chunks(gen.events[h], chunk)]
        prog("add", h, gen.events[h])
    btag_parts: dict[str, list[tuple[int, JetSample]]] = {s: [] for s in BTAG_SOURCES}
    next_chunk: dict[str, int] = {}
    if want_btag:
        # each source gives ~1 selected jet per event; generate half the target jets from each source
        per_source = math.ceil(gen.btag.jets / 2 * BTAG_EVENTS_PER_JET)
        for s in BTAG_SOURCES:
            tasks += [(_task_btag, (s, k, n)) for k, n in _chunks(per_source, chunk)]
            next_chunk[s] = math.ceil(per_source / chunk)
        prog("add", "btag", gen.btag.jets)
    tasks.sort(key=lambda t: 0 if t[1][0] == "minbias" else 1)  # the pool first: overlays wait for it
    pool_parts: list[tuple[int, SparseEvents]] = []
    hard_parts: dict[str, list[tuple[int, SparseEvents]]] = {h: [] for h in hard}

    def collect(r: tuple[str, Any]) -> None:
        name, payload = r
        if name == "minbias":
            pool_parts.append(payload)
            prog("adv", "minbias pool", n=payload[1].n_events)
        elif name == "btag":
            source, k, sample = payload
            btag_parts[source].append((k, sample))
            prog("adv", "btag", n=min(len(sample), gen.btag.jets // 2))
        else:
            hard_parts[name].append(payload)

    _run_tasks(plan, tasks, collect)
    for _ in range(8 if want_btag else 0):  # top up the b-tag classes (deterministic: depends on results only)
        labels = np.concatenate([j.labels for v in btag_parts.values() for _, j in v] or [np.zeros(0)])
        need = {"bbbar": gen.btag.jets // 2 - int((labels == 1).sum()),
                "light": gen.btag.jets - gen.btag.jets // 2 - int((labels == 0).sum())}
        extra = []
        for s, n_need in need.items():
            if n_need > 0:
                n_ev = math.ceil(n_need * BTAG_EVENTS_PER_JET * 1.2) + 20
                extra += [(_task_btag, (s, next_chunk[s] + k, n)) for k, n in _chunks(n_ev, chunk)]
                next_chunk[s] += math.ceil(n_ev / chunk)
        if not extra:
            break
        _run_tasks(plan, extra, collect)
    log.info("generate: Pythia + detector response done (%.1f s)", time.monotonic() - t_start)
    results: list[SampleResult] = []
    if need_pool and pool is None:
        pool = build_pool([p for _, p in sorted(pool_parts, key=lambda x: x[0])], pool_path,
                          config_hash=plan.chash, seed=str(gen.seed), generator=generator_version())
    if want_btag:
        results.append(_write_btag(plan, btag_parts, t_start))

    # phase 3: overlays
    _POOL = pool
    tasks = []
    zb_n = 0
    if any(p.name == "zero_bias" for p in procs):
        zb_n = gen.zero_bias_events
        tasks += [(_task_overlay, ("zero_bias", k, n, None)) for k, n in _chunks(zb_n, ZB_CHUNK)]
        prog("add", "zero_bias", zb_n)
    for h in hard:
        for k, sp in sorted(hard_parts[h], key=lambda x: x[0]):
            tasks.append((_task_overlay, (h, k, sp.n_events, sp)))
    overlays: dict[str, list[tuple[int, np.ndarray]]] = {}

    def collect_overlay(r: tuple[str, Any]) -> None:
        name, (k, arr) = r
        overlays.setdefault(name, []).append((k, arr))
        prog("adv", name, n=len(arr))

    _run_tasks(plan, tasks, collect_overlay)
    log.info("generate: pileup overlay done (%.1f s)", time.monotonic() - t_start)
    _POOL = None
    for p in procs:
        if p.kind == Kind.BTAG:
            continue
        arr = np.concatenate([a for _, a in sorted(overlays[p.name], key=lambda x: x[0])])
        results.append(_write_sample(plan, p.name, arr, time.monotonic() - t_start, pool))
    return results


def _attrs(plan: GenerationPlan, name: str, n: int, mean_pileup: float, **extra: Any) -> dict[str, Any]:
    import fastjet

    proc = get_process(name)
    return {
        "process": name,
        "description": proc.description,
        "kind": proc.kind.value,
        "sqrt_s_gev": float(plan.gen.sqrt_s_gev),
        "mean_pileup": float(mean_pileup),
        "seed": int(plan.gen.seed),
        "generator": f"{generator_version()}; fastjet {getattr(fastjet, '__version__', '?')}; l1ad {__version__}",
        "pythia_settings": list(proc.settings),
        "config_hash": plan.chash,
        "n_events": int(n),
        **extra,
    }


def _write_sample(plan: GenerationPlan, name: str, arr: np.ndarray, seconds: float,
                  pool: SparseEvents | None) -> SampleResult:
    from l1ad.data.adc2021 import write_events

    path = plan.out / f"{name}.h5"
    attrs = _attrs(plan, name, len(arr), plan.gen.pileup.mean,
                   pool_events=int(pool.n_events) if pool is not None else 0,
                   l1_emulation=plan.emu.model_dump(mode="json"))
    write_events(path, arr, attrs)
    return SampleResult(name, path, len(arr), seconds, _summary(arr))


def _write_btag(plan: GenerationPlan, parts: dict[str, list[tuple[int, JetSample]]], t0: float) -> SampleResult:
    half = plan.gen.btag.jets // 2
    samples = {s: JetSample.concat([j for _, j in sorted(v, key=lambda x: x[0])]) for s, v in parts.items()}
    allj = JetSample.concat(list(samples.values()))
    b_idx = np.flatnonzero(allj.labels == 1)[:half]
    l_idx = np.flatnonzero(allj.labels == 0)[: plan.gen.btag.jets - len(b_idx)]
    idx = np.sort(np.concatenate([b_idx, l_idx]))
    sample = JetSample(allj.tracks[idx], allj.labels[idx], allj.jets[idx])
    path = plan.out / "btag.h5"
    attrs = _attrs(plan, "btag", len(sample), 0.0, btag=plan.gen.btag.model_dump(mode="json"),
                   sources={s: list(p.settings) for s, p in BTAG_SOURCES.items()})
    write_btag(path, sample, attrs)
    info = {"b_fraction": float(sample.labels.mean()) if len(sample) else 0.0,
            "mean_tracks": float((sample.tracks[:, :, 0] > 0).sum(1).mean()) if len(sample) else 0.0}
    return SampleResult("btag", path, len(sample), time.monotonic() - t0, info)


def _summary(arr: np.ndarray) -> dict[str, float]:
    from l1ad.data.layout import ObjectClass, group_slice

    def count(cls: ObjectClass) -> float:
        return float((arr[:, group_slice(cls), 3] > 0).sum(1).mean()) if len(arr) else 0.0

    return {
        "met_mean": float(arr[:, 0, 0].mean()) if len(arr) else 0.0,
        "lead_jet_mean": float(arr[:, 9, 0].mean()) if len(arr) else 0.0,
        "n_egamma": count(ObjectClass.EGAMMA),
        "n_muon": count(ObjectClass.MUON),
        "n_jet": count(ObjectClass.JET),
    }

