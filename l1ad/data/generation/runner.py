"""Orchestration of ``l1ad data generate``: Pythia tasks in parallel, pool, overlay, atomic file writing.

Phases (each a list of independent tasks run by a ``multiprocessing`` pool of ``workers``):

1. Pythia MPI init tables for every process (cached on disk, see :func:`pythia.mpi_init_file`);
2. Pythia + truth deposits: min-bias pool chunks, hard-process chunks, zero-bias hard-stratum chunks,
   b-tag jet chunks;
3. overlay (every crossing measured afresh): zero-bias crossings per stratum (:mod:`.zerobias`) and
   hard-process overlays, with the pool shared by fork;
4. files: the zero-bias strata interleaved in a seeded random order (any contiguous range of events - a
   training split - holds every stratum in proportion) with their weights, the other samples unweighted.

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
from l1ad.data.generation.l1emu import Crossings, L1Emulator, Piece
from l1ad.data.generation.pileup import build_pool, load_pool, pileup_pieces
from l1ad.data.generation.processes import (
    BTAG_SOURCES,
    DEFAULT_PROCESSES,
    MINBIAS,
    Kind,
    Process,
    get_process,
    stratum_process,
)
from l1ad.data.generation.pythia import (
    derive_seed,
    generate,
    generator_version,
    mpi_init_file,
    remove_orphaned_tmp,
)
from l1ad.data.generation.sparse import SparseEvents, concat_sparse
from l1ad.data.generation.zerobias import MINBIAS as MINBIAS_STRATUM
from l1ad.data.generation.zerobias import (
    SoftPools,
    Stratum,
    muon_split,
    stratum_pieces,
    stratum_probabilities,
)
from l1ad.errors import DataError

__all__ = ["DEFAULT_PROCESSES", "GenerationPlan", "SampleResult", "run_generation"]

log = logging.getLogger(__name__)

POOL_FILE = "minbias_pool.npz"
#: crossings assembled at once (memory: 2 x n x 8208 towers x 8 B)
OVERLAY_BLOCK = 500
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
_POOL: SparseEvents | None = None  # every min-bias interaction (pileup of the hard-process samples)
_STRATA: list[Stratum] | None = None  # zero-bias strata (muon-split ones included)
_SOFT: SoftPools | None = None  # the pool's soft interactions (cut at the pT-hat boundary), split by muons
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


def _task_hard(name: str, settings: tuple[str, ...], chunk: int, n: int) -> tuple[str, Any]:
    """Pythia + truth deposits for ``n`` events of ``name`` (a process, a zero-bias stratum or the pool)."""
    assert _PLAN is not None
    b = generate(settings, n, derive_seed(_PLAN.gen.seed, name, chunk), _PLAN.gen.sqrt_s_gev)
    return name, (chunk, _emu().detector_response(b), b.sigma_mb, b.n_events)


def _task_btag(source: str, chunk: int, n: int) -> tuple[str, Any]:
    assert _PLAN is not None
    b = generate(BTAG_SOURCES[source].settings, n, derive_seed(_PLAN.gen.seed, "btag", source, chunk),
                 _PLAN.gen.sqrt_s_gev)
    return "btag", (source, chunk, select_jets(b, _PLAN.gen.btag, _rng("btag", source, chunk)))


def _assemble(name: str, chunk: int, n: int, make: Callable[[int, int, np.random.Generator], list[Piece]]
              ) -> Crossings:
    emu, rng = _emu(), _rng(name, chunk, "overlay")
    events = np.zeros((n, 19, 4), dtype=np.float32)
    iso = np.zeros((n, 4), dtype=np.uint8)
    for lo in range(0, n, OVERLAY_BLOCK):
        m = min(OVERLAY_BLOCK, n - lo)
        c = emu.assemble(make(lo, m, rng), m, rng)
        events[lo : lo + m], iso[lo : lo + m] = c.events, c.egamma_iso
    return Crossings(events, iso)


def _task_overlay(name: str, chunk: int, hard: SparseEvents) -> tuple[str, Any]:
    """The hard events of ``hard`` plus Poisson pileup from the whole pool."""
    assert _PLAN is not None and _POOL is not None
    mu, pool, n_phi = _PLAN.gen.pileup.mean, _POOL, _emu().n_phi

    def make(lo: int, m: int, rng: np.random.Generator) -> list[Piece]:
        return [pileup_pieces(pool, m, mu, n_phi, rng), Piece(hard, np.arange(lo, lo + m), np.arange(m))]

    return name, (chunk, _assemble(name, chunk, hard.n_events, make))


def _task_zero_bias(k: int, chunk: int, first: int, n: int) -> tuple[str, Any]:
    """Crossings ``first .. first + n - 1`` of zero-bias stratum ``k``."""
    assert _PLAN is not None and _STRATA is not None and _SOFT is not None
    strata, soft, mu, n_phi = _STRATA, _SOFT, _PLAN.gen.pileup.mean, _emu().n_phi

    def make(lo: int, m: int, rng: np.random.Generator) -> list[Piece]:
        return stratum_pieces(strata, k, first + lo, m, soft, mu, n_phi, rng)

    return "zero_bias", (k, chunk, _assemble(f"zero_bias/{strata[k].name}", chunk, n, make))


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


def _stratum_processes(gen: GenerationConfig) -> list[tuple[str, Process, int]]:
    zb = gen.zero_bias
    if not zb.stitch:
        return []
    return [(s.name, stratum_process(s.name, s.process, s.pthat_gev, zb.hard_mpi), s.events) for s in zb.strata]


# ------------------------------------------------------------------------------------------ driver
def run_generation(plan: GenerationPlan, progress: Any = None) -> list[SampleResult]:
    """Generate every requested sample into ``plan.out``; returns one result per written file.

    ``progress`` is an optional object with ``add(name, total)`` and ``advance(name, n)`` (the CLI's bar).
    """
    global _POOL, _PLAN, _EMU, _STRATA, _SOFT
    _PLAN, _EMU = plan, None
    gen = plan.gen
    procs = [get_process(p) for p in plan.processes]
    hard = [p.name for p in procs if p.kind in (Kind.SM, Kind.SIGNAL)]
    want_zb = any(p.name == "zero_bias" for p in procs)
    need_pool = any(p.kind != Kind.BTAG for p in procs)
    want_btag = any(p.kind == Kind.BTAG for p in procs)
    zb_procs = _stratum_processes(gen) if want_zb else []
    plan.out.mkdir(parents=True, exist_ok=True)
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
    settings += [p.settings for _, p, _ in zb_procs]
    if want_btag:
        settings += [s.settings for s in BTAG_SOURCES.values()]
    _run_tasks(plan, [(_task_init, (s,)) for s in dict.fromkeys(settings)], lambda r: None)
    log.info("generate: Pythia init tables ready (%.1f s)", time.monotonic() - t_start)

    # phase 2: Pythia + truth deposits
    pool_path = plan.out / POOL_FILE
    cached = _load_cached_pool(pool_path, plan.chash) if need_pool else None
    tasks: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
    chunk = gen.chunk_events
    if need_pool and cached is None:
        n_pool = gen.pileup.pool_events
        tasks += [(_task_hard, ("minbias", MINBIAS.settings, k, n)) for k, n in _chunks(n_pool, POOL_CHUNK)]
        prog("add", "minbias pool", n_pool)
    for h in hard:
        tasks += [(_task_hard, (h, get_process(h).settings, k, n)) for k, n in _chunks(gen.events[h], chunk)]
        prog("add", h, gen.events[h])
    if zb_procs:
        prog("add", "zb hard strata", sum(n for _, _, n in zb_procs))
    for _name, p, n_ev in zb_procs:
        tasks += [(_task_hard, (p.name, p.settings, k, n)) for k, n in _chunks(n_ev, chunk)]
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
    parts: dict[str, list[tuple[int, SparseEvents, float, int]]] = {}
    zb_names = {p.name for _, p, _ in zb_procs}

    def collect(r: tuple[str, Any]) -> None:
        name, payload = r
        if name == "btag":
            source, k, sample = payload
            btag_parts[source].append((k, sample))
            prog("adv", "btag", n=min(len(sample), gen.btag.jets // 2))
            return
        parts.setdefault(name, []).append(payload)
        if name == "minbias":
            prog("adv", "minbias pool", n=payload[1].n_events)
        elif name in zb_names:
            prog("adv", "zb hard strata", n=payload[1].n_events)

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
    log.info("generate: Pythia + truth deposits done (%.1f s)", time.monotonic() - t_start)
    results: list[SampleResult] = []
    pool, sigma_inel = cached if cached is not None else (None, 0.0)
    if need_pool and pool is None:
        chunks_ = sorted(parts.pop("minbias"), key=lambda x: x[0])
        sigma_inel = _mean_sigma(chunks_)
        pool = build_pool([p for _, p, _, _ in chunks_], pool_path, config_hash=plan.chash, seed=str(gen.seed),
                          generator=generator_version(), sigma_inel_mb=repr(sigma_inel))
    if want_btag:
        results.append(_write_btag(plan, btag_parts, t_start))

    # phase 3: overlays
    _POOL = pool
    tasks = []
    zb_info: dict[str, Any] = {}
    if want_zb:
        assert pool is not None
        _STRATA, _SOFT, zb_info = _make_strata(gen, pool, sigma_inel, parts)
        for k, s in enumerate(_STRATA):
            tasks += [(_task_zero_bias, (k, c, c * ZB_CHUNK, n)) for c, n in _chunks(s.crossings, ZB_CHUNK)]
        prog("add", "zero_bias", sum(s.crossings for s in _STRATA))
    for h in hard:
        for k, sp, _, _ in sorted(parts[h], key=lambda x: x[0]):
            tasks.append((_task_overlay, (h, k, sp)))
    overlays: dict[str, list[tuple[Any, Crossings]]] = {}

    def collect_overlay(r: tuple[str, Any]) -> None:
        name, payload = r
        if name == "zero_bias":
            k, c, arr = payload
            overlays.setdefault(name, []).append(((k, c), arr))
        else:
            c, arr = payload
            overlays.setdefault(name, []).append((c, arr))
        prog("adv", name, n=len(arr.events))

    _run_tasks(plan, tasks, collect_overlay)
    log.info("generate: pileup overlay done (%.1f s)", time.monotonic() - t_start)
    _POOL = _SOFT = None
    for p in procs:
        if p.kind == Kind.BTAG:
            continue
        cross = sorted(overlays[p.name], key=lambda x: x[0])
        if p.name == "zero_bias":
            assert _STRATA is not None
            results.append(_write_zero_bias(plan, cross, _STRATA, zb_info, time.monotonic() - t_start, pool))
        else:
            arr = Crossings(np.concatenate([a.events for _, a in cross]), np.concatenate([a.egamma_iso for _, a in cross]))
            results.append(_write_sample(plan, p.name, arr, time.monotonic() - t_start, pool))
    _STRATA = None
    return results


def _load_cached_pool(path: Path, chash: str) -> tuple[SparseEvents, float] | None:
    pool = load_pool(path, chash)
    if pool is None:
        return None
    _, meta = SparseEvents.load(path)
    try:
        return pool, float(meta["sigma_inel_mb"])
    except (KeyError, ValueError):
        return None


def _mean_sigma(chunks: list[tuple[int, SparseEvents, float, int]]) -> float:
    """Pythia's cross-section estimate over several independent runs: the event-weighted mean."""
    n = sum(c[3] for c in chunks)
    return sum(c[2] * c[3] for c in chunks) / n if n else 0.0


def _make_strata(gen: GenerationConfig, pool: SparseEvents, sigma_inel: float,
                 parts: dict[str, list[tuple[int, SparseEvents, float, int]]]
                 ) -> tuple[list[Stratum], SoftPools, dict[str, Any]]:
    """The zero-bias strata: min-bias (pool below the pT-hat boundary) + the hard strata with q = sigma/sigma_inel,
    the strata listed for muon enrichment split by their number of soft muon interactions (0, 1, >= 2)."""
    zb = gen.zero_bias
    mu = gen.pileup.mean
    if not zb.stitch:
        s0 = Stratum(MINBIAS_STRATUM, 1.0, zb.crossings, None, sigma_inel, 1.0)
        return [s0], SoftPools(pool), {"stitched": False, "sigma_inel_mb": sigma_inel}
    if not sigma_inel > 0:
        raise DataError("zero bias: the min-bias run gave no inelastic cross section")
    hard: list[Stratum] = []
    for i, s in enumerate(zb.strata):
        chunks_ = sorted(parts.pop(f"zb_{s.name}"), key=lambda x: x[0])
        sigma = _mean_sigma(chunks_)
        hard.append(Stratum(s.name, sigma / sigma_inel, s.crossings, concat_sparse([c[1] for c in chunks_]), sigma,
                            hard=i + 1))
    q_hard = [s.q for s in hard]
    soft_mask = pool.pthat < zb.pthat_boundary_gev
    soft = SoftPools(pool.subset(soft_mask))
    q_qcd = sum(s.q for s, c in zip(hard, zb.strata, strict=True) if c.process == "qcd")
    s0 = Stratum(MINBIAS_STRATUM, max(1.0 - sum(q_hard), 0.0), zb.crossings, None, sigma_inel)
    classes = [s0, *hard]
    for s, p in zip(classes, stratum_probabilities(mu, q_hard), strict=True):
        s.probability = p
    info: dict[str, Any] = {
        "stitched": True,
        "sigma_inel_mb": sigma_inel,
        "pthat_boundary_gev": zb.pthat_boundary_gev,
        # overlap check: the pool's share above the boundary is what the QCD strata replace
        "pool_fraction_above_boundary": float(1.0 - soft_mask.mean()),
        "qcd_strata_q_sum": q_qcd,
        "pool_events_kept": int(soft.all.n_events),
    }
    strata = classes
    me = zb.muon_enrichment
    has = np.zeros(soft.all.n_events, bool)
    if me is not None:
        m = soft.all.muons
        has[np.repeat(np.arange(soft.all.n_events), np.diff(m.offsets))[m.pt >= me.pt_min_gev]] = True
        if not 0 < int(has.sum()) < soft.all.n_events:  # a tiny pool: nothing to split (the sample stays exact)
            log.warning("zero bias: muon enrichment off: %d of %d soft pool interactions hold a muon above %g GeV",
                        int(has.sum()), soft.all.n_events, me.pt_min_gev)
            me = None
    if me is not None:
        soft = SoftPools(soft.all, soft.all.subset(~has), soft.all.subset(has), float(has.mean()) * s0.q)
        shares = muon_split(mu * soft.q_muon)
        strata = []
        for c in classes:
            if c.name not in me.strata:
                strata.append(c)
                continue
            for n_mu, (tag, share, p_m) in enumerate(zip(("", "_1mu", "_2mu"), me.split, shares, strict=True)):
                strata.append(Stratum(c.name + tag, c.q, max(1, round(c.crossings * share)), c.sample, c.sigma_mb,
                                      c.probability * p_m, hard=c.hard, n_muon=n_mu))
        info["muon_enrichment"] = {"pt_min_gev": me.pt_min_gev, "q_muon": soft.q_muon,
                                   "muon_interactions_per_crossing": mu * soft.q_muon}
    log.info("zero bias: pool fraction above pT-hat %g GeV %.3g vs QCD strata sum q %.3g", zb.pthat_boundary_gev,
             info["pool_fraction_above_boundary"], q_qcd)
    return strata, soft, info


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


def _write_sample(plan: GenerationPlan, name: str, arr: Crossings, seconds: float,
                  pool: SparseEvents | None) -> SampleResult:
    from l1ad.data.adc2021 import EGAMMA_ISO, write_events

    path = plan.out / f"{name}.h5"
    attrs = _attrs(plan, name, len(arr.events), plan.gen.pileup.mean,
                   pool_events=int(pool.n_events) if pool is not None else 0,
                   l1_emulation=plan.emu.model_dump(mode="json"))
    write_events(path, arr.events, attrs, extras={EGAMMA_ISO: arr.egamma_iso})
    return SampleResult(name, path, len(arr.events), seconds, _summary(arr.events))


def _write_zero_bias(plan: GenerationPlan, cross: list[tuple[Any, Crossings]], strata: list[Stratum],
                     info: dict[str, Any], seconds: float, pool: SparseEvents | None) -> SampleResult:
    """Concatenate the strata, interleave them in a seeded random order, write with weights and stratum ids."""
    from l1ad.data.adc2021 import EGAMMA_ISO, STRATUM, WEIGHTS, write_events

    events = np.concatenate([a.events for _, a in cross])
    iso = np.concatenate([a.egamma_iso for _, a in cross])
    sid = np.concatenate([np.full(len(a.events), key[0], np.int16) for key, a in cross])
    perm = np.random.default_rng(derive_seed(plan.gen.seed, "numpy", "zero_bias", "order")).permutation(len(events))
    events, iso, sid = events[perm], iso[perm], sid[perm]
    weights = np.array([s.weight for s in strata])[sid]
    table = [{"name": s.name, "probability": s.probability, "crossings": s.crossings, "q": s.q,
              "sigma_mb": s.sigma_mb, "events": s.sample.n_events if s.sample is not None else None,
              "soft_muon_interactions": s.n_muon} for s in strata]
    path = plan.out / "zero_bias.h5"
    attrs = _attrs(plan, "zero_bias", len(events), plan.gen.pileup.mean,
                   pool_events=int(pool.n_events) if pool is not None else 0,
                   l1_emulation=plan.emu.model_dump(mode="json"),
                   zero_bias=plan.gen.zero_bias.model_dump(mode="json"), strata=table, stitching=info)
    write_events(path, events, attrs, extras={WEIGHTS: weights, STRATUM: sid, EGAMMA_ISO: iso})
    summary = _summary(events, weights)
    summary["strata"] = len(strata)
    return SampleResult("zero_bias", path, len(events), seconds, summary)


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


def _summary(arr: np.ndarray, weights: np.ndarray | None = None) -> dict[str, float]:
    """Means per crossing (weighted: what the LHC delivers, for a stitched zero bias)."""
    from l1ad.data.layout import ObjectClass, group_slice

    w = np.ones(len(arr)) if weights is None else np.asarray(weights, np.float64)
    tot = w.sum()

    def mean(x: np.ndarray) -> float:
        return float((w * x).sum() / tot) if len(arr) and tot > 0 else 0.0

    def count(cls: ObjectClass) -> float:
        return mean((arr[:, group_slice(cls), 3] > 0).sum(1))

    return {
        "met_mean": mean(arr[:, 0, 0]),
        "lead_jet_mean": mean(arr[:, 9, 0]),
        "n_egamma": count(ObjectClass.EGAMMA),
        "n_muon": count(ObjectClass.MUON),
        "n_jet": count(ObjectClass.JET),
    }
