"""Pythia 8 (pythia8mc) set-up per process and batched generation into flat numpy particle arrays.

Pythia's ``nextBatch`` returns events as awkward arrays; they are flattened here once into a
:class:`ParticleBatch` (final-state particles, event offsets, production vertices in mm) plus the list of
heavy-flavour hadrons needed for b-jet labels. Everything downstream is vectorised numpy.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from l1ad.errors import L1adError

__all__ = [
    "ParticleBatch",
    "derive_seed",
    "generate",
    "generator_version",
    "is_b_hadron",
    "is_c_hadron",
    "make_pythia",
]

#: Pythia's Random:seed range is 0..900_000_000 (Pythia 8.3 manual, "Random-Number Seed")
_MAX_SEED = 900_000_000
#: settings applied to every process: silent, explicit seeding
BASE_SETTINGS = ("Next:numberCount = 0", "Next:numberShowEvent = 0", "Print:quiet = on", "Random:setSeed = on")
#: PDG ids that leave nothing in the detector (neutrinos; lightest neutralino, dark-matter placeholders)
INVISIBLE_IDS = (12, 14, 16, 1000022, 51, 52, 53)


def generator_version() -> str:
    try:
        from importlib.metadata import version

        return f"pythia8mc {version('pythia8mc')}"
    except Exception:  # pragma: no cover - metadata missing
        return "pythia8mc"


def derive_seed(master: int, *keys: Any) -> int:
    """Deterministic Pythia seed in [1, 9e8] from a master seed and any keys (process name, chunk index)."""
    h = hashlib.sha256(repr((int(master), *keys)).encode()).digest()
    return int.from_bytes(h[:8], "little") % (_MAX_SEED - 1) + 1


def _pythia_module() -> Any:
    try:
        import pythia8mc
    except ImportError:
        raise L1adError(
            "event generation needs the 'physics' extra: pip install 'l1ad[physics]' (pythia8mc, fastjet)"
        ) from None
    return pythia8mc


def cache_dir() -> Path:
    """Where Pythia's multiparton-interaction init tables are cached (``$L1AD_CACHE_DIR`` or ``.cache/l1ad``)."""
    return Path(os.environ.get("L1AD_CACHE_DIR", ".cache/l1ad")) / "pythia"


def mpi_init_file(settings: Sequence[str], sqrt_s_gev: float) -> Path:
    """The MPI init table for these settings, created once (with a fixed seed) if missing.

    Pythia's MPI initialisation takes up to ~14 s (inelastic pp) and consumes random numbers; loading a
    table made with a fixed seed (``MultipartonInteractions:reuseInit = 2``) makes start-up ~0.4 s and the
    event stream of a given seed independent of whether the cache existed.
    """
    key = hashlib.sha256(repr((generator_version(), float(sqrt_s_gev), tuple(settings))).encode()).hexdigest()[:16]
    path = cache_dir() / f"mpi-{key}.dat"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            _init(settings, 1, sqrt_s_gev, ("MultipartonInteractions:reuseInit = 1",
                                            f"MultipartonInteractions:initFile = {tmp}"))
            if not tmp.exists():  # no MPI in these settings: an empty file records that nothing is to reuse
                tmp.touch()
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return path


def remove_orphaned_tmp() -> int:
    """Remove cache temp files whose writer process is gone (a worker killed by Ctrl-C); returns how many."""
    n = 0
    for p in cache_dir().glob(".mpi-*.tmp") if cache_dir().is_dir() else []:
        pid = p.name.rsplit(".", 2)[-2]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            p.unlink(missing_ok=True)
            n += 1
    return n


def make_pythia(settings: Sequence[str], seed: int, sqrt_s_gev: float) -> Any:
    """An initialised ``pythia8mc.Pythia`` for pp collisions at ``sqrt_s_gev`` with the given settings."""
    init_file = mpi_init_file(settings, sqrt_s_gev)
    if init_file.stat().st_size == 0:
        return _init(settings, seed, sqrt_s_gev, ())
    return _init(settings, seed, sqrt_s_gev, ("MultipartonInteractions:reuseInit = 2",
                                              f"MultipartonInteractions:initFile = {init_file}"))


def _init(settings: Sequence[str], seed: int, sqrt_s_gev: float, extra: Sequence[str]) -> Any:
    py8 = _pythia_module()
    pythia = py8.Pythia("", False)
    for s in (*BASE_SETTINGS, f"Beams:eCM = {sqrt_s_gev}", f"Random:seed = {seed}", *settings, *extra):
        if not pythia.readString(s):
            raise L1adError(f"pythia: setting not accepted: {s!r}")
    if not pythia.init():
        raise L1adError(f"pythia: initialisation failed for settings {list(settings)}")
    return pythia


def is_b_hadron(pid: np.ndarray) -> np.ndarray:
    """True for hadrons whose heaviest quark is b (PDG numbering scheme: mesons nq2=5, baryons nq1=5)."""
    a = np.abs(pid)
    return (((a // 100) % 10 == 5) | ((a // 1000) % 10 == 5)) & (a > 100)


def is_c_hadron(pid: np.ndarray) -> np.ndarray:
    """True for hadrons whose heaviest quark is c."""
    a = np.abs(pid)
    return (((a // 100) % 10 == 4) & ((a // 1000) % 10 < 5) | ((a // 1000) % 10 == 4)) & (a > 100)


@dataclass
class ParticleBatch:
    """Final-state particles of ``n_events`` events as flat arrays; event ``i`` is ``offsets[i]:offsets[i+1]``."""

    n_events: int
    offsets: np.ndarray  # (n+1,) int64
    pid: np.ndarray  # int32
    charge: np.ndarray  # float32, units of e
    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    e: np.ndarray
    vx: np.ndarray  # production vertex, mm
    vy: np.ndarray
    vz: np.ndarray
    #: heavy-flavour hadrons (any status): event index, pt, eta, phi, flavour (5 or 4)
    hf_event: np.ndarray
    hf_pt: np.ndarray
    hf_eta: np.ndarray
    hf_phi: np.ndarray
    hf_flavour: np.ndarray
    #: per event: pT of the hardest 2 -> 2 scattering (hard process or any multiparton interaction), GeV
    pthat: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    #: Pythia's estimate of the cross section of the generated process after this run (mb) and its error
    sigma_mb: float = 0.0
    sigma_err_mb: float = 0.0

    @property
    def event(self) -> np.ndarray:
        return np.repeat(np.arange(self.n_events), np.diff(self.offsets))

    @property
    def pt(self) -> np.ndarray:
        return np.hypot(self.px, self.py)

    @property
    def eta(self) -> np.ndarray:
        return np.arcsinh(np.divide(self.pz, self.pt, out=np.zeros_like(self.pz), where=self.pt > 0))

    @property
    def phi(self) -> np.ndarray:
        return np.arctan2(self.py, self.px)

    @property
    def visible(self) -> np.ndarray:
        return ~np.isin(np.abs(self.pid), INVISIBLE_IDS)


#: PDG id -> electric charge, filled lazily from Pythia's particle data table
_CHARGES: dict[int, float] = {}


def _charges(pythia: Any, pid: np.ndarray) -> np.ndarray:
    table = _CHARGES
    uniq, inv = np.unique(pid, return_inverse=True)
    vals = np.empty(len(uniq), dtype=np.float32)
    for k, u in enumerate(uniq.tolist()):
        if u not in table:
            table[u] = float(pythia.particleData.charge(u))
        vals[k] = table[u]
    return vals[inv]


def _flat(x: Any) -> np.ndarray:
    import awkward as ak

    return ak.to_numpy(ak.fill_none(ak.flatten(x), 0.0))


def _vertices(prt: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Production vertices (x, y, z in mm) of all particles, rebuilt from the decay chain.

    ``nextBatch``'s own ``vProd`` column does not match the event record in pythia8mc 8.317 (checked
    against ``Particle.xProd()``), so vertices are recomputed exactly as Pythia does: decay products
    (|status| 91-99) start at the mother's decay vertex ``vProd(mother) + tau(mother) * p(mother) / m(mother)``;
    everything else starts at the origin (no beam spot, ``Fragmentation:setVertices`` off). Returns
    (x, y, z, global index of each event's first particle).
    """
    import awkward as ak

    counts = ak.to_numpy(ak.num(prt))
    first = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    status = ak.to_numpy(ak.flatten(prt.status))
    mother = ak.to_numpy(ak.flatten(prt.mother1)).astype(np.int64) + np.repeat(first, counts)
    tau = _flat(prt.tau)
    mass = np.maximum(_flat(prt.m), 1e-12)
    step = np.stack([_flat(prt.p.px), _flat(prt.p.py), _flat(prt.p.pz)], axis=1) * (tau / mass)[:, None]
    decayed = (np.abs(status) >= 91) & (np.abs(status) <= 99)
    from l1ad.data.generation.kernels import decay_vertices

    v = decay_vertices(decayed, mother, step)
    return v[:, 0], v[:, 1], v[:, 2], first


def _hardest_scattering(prt: Any, events: Any) -> np.ndarray:
    """Per event, its hardness (GeV): the largest of the transverse momenta of the outgoing partons of the hard
    process (|status| 23) and of every multiparton interaction (|status| 33), ``info.pT2Hat``, and the leading
    final-state particle. ``pT2Hat`` alone misses hard interactions inside a diffractive system (checked on
    20,000 minimum-bias events: 5 have a 15-21 GeV scattering with pT2Hat below 1 GeV), and the scatterings
    alone miss rare events whose hadrons are far harder than any scattering (one of 100,000 minimum-bias
    events: a 49 GeV neutron and a 38 GeV proton back to back at scattering pT 8 GeV); used for the pT-hat
    boundary of the zero-bias pool, so that no interaction harder than the boundary stays in the pool."""
    import awkward as ak

    status = abs(prt.status)
    pt = np.sqrt(prt.p.px**2 + prt.p.py**2)
    hardest = ak.to_numpy(ak.fill_none(ak.max(ak.where((status == 23) | (status == 33), pt, 0.0), axis=1), 0.0))
    leading = ak.to_numpy(ak.fill_none(ak.max(ak.where(prt.status > 0, pt, 0.0), axis=1), 0.0))
    info = np.sqrt(np.maximum(ak.to_numpy(events.info.pT2Hat), 0.0))
    return np.maximum(np.maximum(hardest, info), leading).astype(np.float32)


def _to_batch(pythia: Any, events: Any) -> ParticleBatch:
    import awkward as ak

    prt = events.prt
    vx, vy, vz, _ = _vertices(prt)
    final_all = ak.to_numpy(ak.flatten(prt.status)) > 0
    fin = prt[prt.status > 0]
    counts = ak.to_numpy(ak.num(fin))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    pid = ak.to_numpy(ak.flatten(fin.id)).astype(np.int32)
    p = fin.p
    # heavy-flavour hadrons from the full record (they are intermediate, status < 0)
    a = abs(prt.id)
    hf_mask = (((a // 100) % 10 >= 4) | ((a // 1000) % 10 >= 4)) & (a > 100) & (a < 10000)
    hf = prt[hf_mask]
    hf_id = ak.to_numpy(ak.flatten(hf.id))
    hf_event = np.repeat(np.arange(len(counts)), ak.to_numpy(ak.num(hf)))
    hpx, hpy, hpz = _flat(hf.p.px), _flat(hf.p.py), _flat(hf.p.pz)
    hpt = np.hypot(hpx, hpy)
    flavour = np.where(is_b_hadron(hf_id), 5, np.where(is_c_hadron(hf_id), 4, 0)).astype(np.int8)
    keep = flavour > 0
    return ParticleBatch(
        n_events=len(counts),
        offsets=offsets,
        pid=pid,
        charge=_charges(pythia, pid),
        px=_flat(p.px),
        py=_flat(p.py),
        pz=_flat(p.pz),
        e=_flat(p.e),
        vx=vx[final_all],
        vy=vy[final_all],
        vz=vz[final_all],
        hf_event=hf_event[keep],
        hf_pt=hpt[keep],
        hf_eta=np.arcsinh(np.divide(hpz, hpt, out=np.zeros_like(hpz), where=hpt > 0))[keep],
        hf_phi=np.arctan2(hpy, hpx)[keep],
        hf_flavour=flavour[keep],
        pthat=_hardest_scattering(prt, events),
    )


def generate(
    settings: Sequence[str], n_events: int, seed: int, sqrt_s_gev: float, batch_size: int = 250
) -> ParticleBatch:
    """Generate ``n_events`` with Pythia and return their final-state particles as one flat batch."""
    pythia = make_pythia(settings, seed, sqrt_s_gev)
    parts: list[ParticleBatch] = []
    done = 0
    failures = 0
    while done < n_events:
        want = min(batch_size, n_events - done)
        events = pythia.nextBatch(want)  # errorMode 'skip': failed events are dropped
        if len(events) == 0:
            failures += 1
            if failures > 5:
                raise L1adError(f"pythia: no events generated for settings {list(settings)}")
            continue
        parts.append(_to_batch(pythia, events))
        done += len(events)
    batch = concat_batches(parts, n_events)
    info = pythia.infoPython()
    batch.sigma_mb, batch.sigma_err_mb = float(info.sigmaGen()), float(info.sigmaErr())
    return batch


def concat_batches(parts: Sequence[ParticleBatch], limit: int | None = None) -> ParticleBatch:
    """Concatenate batches (event indices are renumbered); keep the first ``limit`` events."""
    n_before = np.cumsum([0, *[b.n_events for b in parts]])
    offs = [parts[0].offsets[:1]]
    base = 0
    for b in parts:
        offs.append(b.offsets[1:] + base)
        base += b.offsets[-1]
    cat = {f: np.concatenate([getattr(b, f) for b in parts]) for f in
           ("pid", "charge", "px", "py", "pz", "e", "vx", "vy", "vz", "hf_pt", "hf_eta", "hf_phi", "hf_flavour")}
    cat["hf_event"] = np.concatenate([b.hf_event + n0 for b, n0 in zip(parts, n_before, strict=False)])
    cat["pthat"] = np.concatenate([b.pthat for b in parts])
    batch = ParticleBatch(n_events=int(n_before[-1]), offsets=np.concatenate(offs), **cat)
    if limit is not None and limit < batch.n_events:
        batch = _head(batch, limit)
    return batch


def _head(b: ParticleBatch, n: int) -> ParticleBatch:
    stop = int(b.offsets[n])
    keep_hf = b.hf_event < n
    return ParticleBatch(
        n_events=n,
        offsets=b.offsets[: n + 1],
        **{f: getattr(b, f)[:stop] for f in ("pid", "charge", "px", "py", "pz", "e", "vx", "vy", "vz")},
        **{f: getattr(b, f)[keep_hf] for f in ("hf_event", "hf_pt", "hf_eta", "hf_phi", "hf_flavour")},
        pthat=b.pthat[:n],
    )
