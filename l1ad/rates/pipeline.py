"""The per-chunk rate computation shared by the local and the Dask backends.

A run is a list of :class:`Chunk` ``(file, start, stop)``; :func:`process_chunk` reads one chunk, encodes it
to hardware words, runs the bit-exact integer model and the menu, and returns :class:`SampleCounts`
(integer-score histograms + seed counts). Counts merge exactly and associatively, so any split of the files
into chunks, in any order, on any worker gives identical results.

Memory bound (independent of file size): per chunk in flight, the events ``chunk_size`` x 19 x 4 x 4 B
(float32) + the words ``chunk_size`` x 57 x 8 B + scores and menu bits ``chunk_size`` x 9 B ~= 0.77 kB/event,
i.e. ~77 MB at the default 100,000 events; plus one step of ``batch`` (8,192) events: words and encode temporaries (57 x 8 B x ~6),
layer activations and menu temporaries, ~25 MB; plus the chunk's two score histograms and the running
totals, each <= 32 MiB of coarse counts + 16 B x (tail_events + 2**shift) exact values (see
:mod:`l1ad.rates.streaming`; ``l1ad rates`` sets tail_events to 2x the loosest target's zero-bias events,
>= 65,536: ~1 MiB, or ~2.2 MiB for 10^8 events at 10 kHz). Locally one chunk is in flight (< ~200 MB in
all); with Dask one per worker thread, and the client holds at most 2 results per worker thread.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from l1ad.data.layout import N_INPUTS, N_OBJECTS
from l1ad.errors import DataError
from l1ad.rates.menu import Menu
from l1ad.rates.streaming import DEFAULT_TAIL_EVENTS, ScoreHistogram

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "Chunk",
    "Emulation",
    "EventReader",
    "Hdf5Reader",
    "SampleCounts",
    "check_files",
    "plan_chunks",
    "process_chunk",
    "run_local",
    "run_samples_local",
]

DEFAULT_CHUNK_SIZE = 100_000
DEFAULT_BATCH = 8192


class ScoreModel(Protocol):
    def predict(self, words: np.ndarray) -> np.ndarray: ...


class EventReader(Protocol):
    """Reads events; optionally (``read_strata``, ``read_egamma_iso``, ``strata``) the weights and isolation flags
    that :mod:`l1ad.data.adc2021` files carry. A reader without them gives unweighted, flag-less events."""

    def count(self, path: str) -> int: ...

    def read(self, path: str, start: int, stop: int) -> np.ndarray: ...


class Hdf5Reader:
    """ADC2021 event files through :mod:`l1ad.data.adc2021` (validated, bounded slices, weights, e/gamma flags)."""

    def count(self, path: str) -> int:
        if self.is_words(path):
            return self.words_header(path).n_events
        from l1ad.data.adc2021 import count_events

        return int(count_events(path))

    def is_words(self, path: str) -> bool:
        """An encoded-words file (``l1ad data encode``, :mod:`l1ad.data.words`) rather than an event file."""
        from l1ad.data.words import is_words_file

        return is_words_file(path)

    def words_header(self, path: str) -> Any:
        from l1ad.data.words import read_header

        return read_header(path)

    def read_encoded(self, path: str, start: int, stop: int, seed_bits: bool = True) -> Any:
        from l1ad.data.words import read_chunk

        return read_chunk(path, start, stop, seed_bits)

    def chunk_rows(self, path: str) -> int:
        """Events per HDF5 chunk of the file's main dataset (chunks are planned on these boundaries)."""
        if self.is_words(path):
            return self.words_header(path).chunk_rows
        import h5py

        from l1ad.data.adc2021 import CHUNK_EVENTS, DATASET

        with h5py.File(path, "r") as f:
            c = f[DATASET].chunks
            return int(c[0]) if c else CHUNK_EVENTS

    def read(self, path: str, start: int, stop: int) -> np.ndarray:
        from l1ad.data.adc2021 import read_events

        return read_events(path, start=start, stop=stop)

    def strata(self, path: str) -> Any:
        from l1ad.data.adc2021 import read_strata

        return read_strata(path)

    def read_strata(self, path: str, start: int, stop: int) -> np.ndarray:
        from l1ad.data.adc2021 import read_stratum_ids

        return read_stratum_ids(path, start, stop)

    def read_egamma_iso(self, path: str, start: int, stop: int) -> np.ndarray | None:
        from l1ad.data.adc2021 import read_egamma_iso

        return read_egamma_iso(path, start, stop)


@dataclass(frozen=True)
class Chunk:
    """Events ``start:stop`` of ``path``; their strata are counted as ``stratum_offset + file stratum`` of a sample
    with ``n_strata`` strata (several weighted files keep their strata apart)."""

    path: str
    start: int
    stop: int
    stratum_offset: int = 0
    n_strata: int = 1

    @property
    def n(self) -> int:
        return self.stop - self.start


def _zeros(*shape: int) -> np.ndarray:
    return np.zeros(shape, np.int64)


@dataclass
class SampleCounts:
    """Everything the rate report needs from one sample (or one chunk of it), all exact integers, per stratum.

    An unweighted sample has one stratum; the sums over strata (``n_events``, ``seed_counts``, ...) are then the
    plain counts. Weights (``l1ad.rates.weights.StratumWeights``) are applied only when numbers are reported."""

    seed_names: tuple[str, ...]
    n_strata: int = 1
    #: events per stratum
    n_by_stratum: np.ndarray = field(default_factory=lambda: _zeros(0))
    #: per stratum: scores of all events, and of the events no menu seed fires on (pure rate / gain)
    hists: list[ScoreHistogram] = field(default_factory=list)
    hists_menu_off: list[ScoreHistogram] = field(default_factory=list)
    seed_by_stratum: np.ndarray = field(default_factory=lambda: _zeros(0, 0))
    menu_by_stratum: np.ndarray = field(default_factory=lambda: _zeros(0))
    #: thresholds at which events with score > T were counted exactly (signals: the zero-bias thresholds)
    at_thresholds: tuple[int, ...] = ()
    above_at_by_stratum: np.ndarray = field(default_factory=lambda: _zeros(0, 0))
    above_at_menu_off_by_stratum: np.ndarray = field(default_factory=lambda: _zeros(0, 0))

    def __post_init__(self) -> None:
        k, s, t = self.n_strata, len(self.seed_names), len(self.at_thresholds)
        if self.n_by_stratum.size == 0:
            self.n_by_stratum = _zeros(k)
        if not self.hists:
            self.hists = [ScoreHistogram() for _ in range(k)]
            self.hists_menu_off = [ScoreHistogram() for _ in range(k)]
        if self.seed_by_stratum.size == 0:
            self.seed_by_stratum = _zeros(k, s)
        if self.menu_by_stratum.size == 0:
            self.menu_by_stratum = _zeros(k)
        if self.above_at_by_stratum.size == 0:
            self.above_at_by_stratum = _zeros(k, t)
            self.above_at_menu_off_by_stratum = _zeros(k, t)

    # -- sums over strata (the plain counts of an unweighted sample) ------------------------------------
    @property
    def n_events(self) -> int:
        return int(self.n_by_stratum.sum())

    @property
    def seed_counts(self) -> np.ndarray:
        return self.seed_by_stratum.sum(axis=0)

    @property
    def menu_count(self) -> int:
        return int(self.menu_by_stratum.sum())

    @property
    def n_above_at(self) -> np.ndarray:
        return self.above_at_by_stratum.sum(axis=0)

    @property
    def n_above_at_menu_off(self) -> np.ndarray:
        return self.above_at_menu_off_by_stratum.sum(axis=0)

    @property
    def scores(self) -> ScoreHistogram:
        """Score histogram of all events, unweighted (the stratum's own for a one-stratum sample)."""
        return self.hists[0] if self.n_strata == 1 else ScoreHistogram.sum(self.hists)

    @property
    def scores_menu_off(self) -> ScoreHistogram:
        return self.hists_menu_off[0] if self.n_strata == 1 else ScoreHistogram.sum(self.hists_menu_off)

    # -- merging --------------------------------------------------------------------------------------------
    def merge(self, other: SampleCounts) -> SampleCounts:
        out = SampleCounts(self.seed_names, self.n_strata)
        out.absorb(self)
        out.absorb(other)
        return out

    def absorb(self, other: SampleCounts) -> None:
        """Add ``other``'s counts into this one (in place)."""
        if self.seed_names != other.seed_names:
            raise ValueError("cannot merge counts from different menus")
        if self.n_strata != other.n_strata:
            raise ValueError(f"cannot merge counts with {other.n_strata} strata into {self.n_strata}")
        if self.n_events == 0 and not self.at_thresholds:
            self.at_thresholds = other.at_thresholds
            self.above_at_by_stratum = _zeros(self.n_strata, len(other.at_thresholds))
            self.above_at_menu_off_by_stratum = _zeros(self.n_strata, len(other.at_thresholds))
        if self.at_thresholds != other.at_thresholds:
            raise ValueError("cannot merge counts taken at different thresholds")
        self.n_by_stratum = self.n_by_stratum + other.n_by_stratum
        for mine, theirs in ((self.hists, other.hists), (self.hists_menu_off, other.hists_menu_off)):
            for k in range(self.n_strata):
                if theirs[k].n_total:
                    mine[k] += theirs[k]
        self.seed_by_stratum = self.seed_by_stratum + other.seed_by_stratum
        self.menu_by_stratum = self.menu_by_stratum + other.menu_by_stratum
        self.above_at_by_stratum = self.above_at_by_stratum + other.above_at_by_stratum
        self.above_at_menu_off_by_stratum = self.above_at_menu_off_by_stratum + other.above_at_menu_off_by_stratum

    def above_by_stratum(self, threshold: int, menu_off: bool = False) -> np.ndarray:
        """Events with score > threshold per stratum (exact: a counted threshold, or from the histograms)."""
        if threshold in self.at_thresholds:
            i = self.at_thresholds.index(threshold)
            return (self.above_at_menu_off_by_stratum if menu_off else self.above_at_by_stratum)[:, i].copy()
        hs = self.hists_menu_off if menu_off else self.hists
        return np.array([int(h.n_above(threshold)) if h.n_total else 0 for h in hs], np.int64)

    def count_above(self, threshold: int, menu_off: bool = False) -> int:
        """Events with score > threshold, summed over strata."""
        return int(self.above_by_stratum(threshold, menu_off).sum())

    @classmethod
    def total(cls, parts: Iterable[SampleCounts], seed_names: Sequence[str], n_strata: int = 1) -> SampleCounts:
        out = cls(tuple(seed_names), n_strata)
        for p in parts:
            out.absorb(p)
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SampleCounts):
            return NotImplemented
        return (
            self.seed_names == other.seed_names
            and self.n_strata == other.n_strata
            and np.array_equal(self.n_by_stratum, other.n_by_stratum)
            and all(a == b for a, b in zip(self.hists, other.hists, strict=True))
            and all(a == b for a, b in zip(self.hists_menu_off, other.hists_menu_off, strict=True))
            and np.array_equal(self.seed_by_stratum, other.seed_by_stratum)
            and np.array_equal(self.menu_by_stratum, other.menu_by_stratum)
            and self.at_thresholds == other.at_thresholds
            and np.array_equal(self.above_at_by_stratum, other.above_at_by_stratum)
            and np.array_equal(self.above_at_menu_off_by_stratum, other.above_at_menu_off_by_stratum)
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Emulation:
    """What turns events into integer scores and menu decisions (picklable: shipped to Dask workers).

    ``model.predict(words int64 (N, 57)) -> int64 (N,)`` is the bit-exact fixed-point model;
    ``encoding.encode(particles) -> (words, overflow)`` the hardware encoding. With ``menu_on_words`` the
    seeds see the decoded hardware words (what the GT sees) instead of the float events.
    """

    model: Any
    encoding: Any
    menu: Menu | None = None
    menu_on_words: bool = False
    reader: Any = field(default_factory=Hdf5Reader)
    #: coarse-bin shift of the score histograms (:func:`l1ad.rates.streaming.shift_for_width`)
    hist_shift: int = 0
    #: events kept with exact score values (the top of the distribution, where the thresholds are)
    tail_events: int = DEFAULT_TAIL_EVENTS
    #: per stratum of a weighted sample (its own share of the tail); used when it has one entry per stratum
    tail_events_by_stratum: tuple[int, ...] = ()
    #: thresholds at which to count score > T exactly (the signal pass, after the zero-bias thresholds)
    count_at: tuple[int, ...] = ()
    #: events per vectorised step (encode, predict, menu) inside a chunk: the temporaries of a step stay
    #: in cache (measured on 1 core: encode 0.85 vs 0.17 M ev/s, 57-32-16-8 float64 matmuls ~4x faster
    #: per event at 8k than at 100-200k events)
    batch: int = DEFAULT_BATCH

    @property
    def seed_names(self) -> tuple[str, ...]:
        return tuple(self.menu.seed_names) if self.menu is not None else ()

    def words(self, particles: np.ndarray) -> np.ndarray:
        words, _overflow = self.encoding.encode(particles)
        words = np.asarray(words)
        if words.ndim != 2 or words.shape[1] != N_INPUTS:
            raise DataError(f"encoding produced words of shape {words.shape}, expected (N, {N_INPUTS})")
        return words

    def scores(self, words: np.ndarray) -> np.ndarray:
        s = np.asarray(self.model.predict(words))
        if not np.issubdtype(s.dtype, np.integer):
            raise TypeError(f"model.predict must return integer scores, got {s.dtype}")
        if s.size != words.shape[0]:
            raise ValueError(f"model.predict returned {s.size} scores for {words.shape[0]} events")
        return s.reshape(-1).astype(np.int64, copy=False)

    def decisions(self, particles: np.ndarray, words: np.ndarray, egamma_iso: np.ndarray | None = None
                  ) -> np.ndarray:
        """Per-seed menu decisions bool (N, n_seeds) (on the decoded words with ``menu_on_words``)."""
        assert self.menu is not None
        if self.menu_on_words:
            return self.menu.evaluate_words(words, self.encoding, egamma_iso)
        return self.menu.evaluate(particles, egamma_iso)

    def tail_for(self, stratum: int, n_strata: int) -> int:
        if len(self.tail_events_by_stratum) == n_strata:
            return int(self.tail_events_by_stratum[stratum])
        return self.tail_events


def process_chunk(chunk: Chunk, emu: Emulation) -> SampleCounts:
    """Read, encode, score and run the menu on one chunk; return its exact counts per stratum.

    Encoding and menu run in steps of ``emu.batch`` events (cache-sized temporaries); the model scores the
    chunk's words in one call.
    """
    is_words = getattr(emu.reader, "is_words", None)
    if is_words is not None and is_words(chunk.path):
        return _process_encoded(chunk, emu)
    particles = emu.reader.read(chunk.path, chunk.start, chunk.stop)
    if particles.ndim != 3 or particles.shape[1:] != (N_OBJECTS, 4):
        raise DataError(
            f"{chunk.path}: dataset 'Particles': wrong shape {particles.shape}, expected (N, {N_OBJECTS}, 4)"
        )
    n = particles.shape[0]
    if n != chunk.n:
        raise DataError(f"{chunk.path}: read {n} events for rows {chunk.start}:{chunk.stop}")
    k_strata = chunk.n_strata
    sid = _stratum_ids(chunk, emu, n)
    read_iso = getattr(emu.reader, "read_egamma_iso", None)
    iso = None if (read_iso is None or emu.menu is None) else read_iso(chunk.path, chunk.start, chunk.stop)
    words = np.empty((n, N_INPUTS), dtype=np.int64)
    fired = np.zeros(n, dtype=bool)
    decisions = np.zeros((n, len(emu.seed_names)), dtype=bool)
    for a in range(0, n, emu.batch):
        b = min(a + emu.batch, n)
        p = particles[a:b]
        words[a:b] = emu.words(p)
        if emu.menu is not None:
            d = emu.decisions(p, words[a:b], None if iso is None else iso[a:b])
            decisions[a:b] = d
            fired[a:b] = d.any(axis=1)
    # one predict call per chunk: FixedPointModel.predict steps through cache-sized batches itself and
    # has a per-call setup cost (~1 ms, BLAS thread limits)
    scores = emu.scores(words)
    del words
    return _count(emu, k_strata, sid, scores, fired, decisions)


def _stratum_ids(chunk: Chunk, emu: Emulation, n: int) -> np.ndarray:
    k_strata = chunk.n_strata
    read_strata = getattr(emu.reader, "read_strata", None)
    sid = (np.zeros(n, np.int64) if read_strata is None
           else np.asarray(read_strata(chunk.path, chunk.start, chunk.stop), np.int64) + chunk.stratum_offset)
    if sid.shape != (n,) or (n and (sid.min() < 0 or sid.max() >= k_strata)):
        raise DataError(f"{chunk.path}: stratum ids of events {chunk.start}:{chunk.stop} outside 0..{k_strata - 1}")
    return sid


def _process_encoded(chunk: Chunk, emu: Emulation) -> SampleCounts:
    """:func:`process_chunk` on an encoded-words file: words straight into the model, the stored seed bits
    (or, with ``menu_on_words``, the menu on the decoded words) - no float events, no encoding."""
    from l1ad.data.words import unpack_seed_bits

    menu_bits = emu.menu is not None and not emu.menu_on_words
    enc = emu.reader.read_encoded(chunk.path, chunk.start, chunk.stop, seed_bits=menu_bits)
    words = enc.words
    n = words.shape[0]
    if n != chunk.n:
        raise DataError(f"{chunk.path}: read {n} events for rows {chunk.start}:{chunk.stop}")
    sid = _stratum_ids(chunk, emu, n)
    n_seeds = len(emu.seed_names)
    if emu.menu is None:
        decisions, fired = np.zeros((n, 0), bool), np.zeros(n, bool)
    elif menu_bits:
        if enc.seed_bits is None:
            raise DataError(f"{chunk.path}: dataset 'SeedBits': missing (encoded with --menu none)")
        decisions = unpack_seed_bits(enc.seed_bits, n_seeds)
        fired = enc.seed_bits.any(axis=1)
    else:
        read_iso = getattr(emu.reader, "read_egamma_iso", None)
        iso = None if read_iso is None else read_iso(chunk.path, chunk.start, chunk.stop)
        decisions = np.zeros((n, n_seeds), dtype=bool)
        for a in range(0, n, emu.batch):
            b = min(a + emu.batch, n)
            decisions[a:b] = emu.decisions(None, words[a:b], None if iso is None else iso[a:b])  # type: ignore[arg-type]
        fired = decisions.any(axis=1)
    return _count(emu, chunk.n_strata, sid, emu.scores(words), fired, decisions)


def _count(emu: Emulation, k_strata: int, sid: np.ndarray, scores: np.ndarray, fired: np.ndarray,
           decisions: np.ndarray) -> SampleCounts:
    """A chunk's exact counts per stratum from its scores, menu OR and per-seed decisions."""
    t = np.asarray(emu.count_at, dtype=np.int64)
    out = SampleCounts(emu.seed_names, k_strata, at_thresholds=tuple(int(x) for x in t))
    present = np.unique(sid)
    for k in present:
        if len(present) == 1:  # one stratum in the chunk: no selection copies
            s_k, fired_k, dec_k = scores, fired, decisions
        else:
            sel = sid == k
            s_k, fired_k, dec_k = scores[sel], fired[sel], decisions[sel]
        off = s_k[~fired_k] if fired_k.any() else s_k
        tail = emu.tail_for(int(k), k_strata)
        out.n_by_stratum[k] = s_k.size
        out.hists[k] = ScoreHistogram.from_scores(s_k, emu.hist_shift, tail)
        out.hists_menu_off[k] = ScoreHistogram.from_scores(off, emu.hist_shift, tail)
        out.seed_by_stratum[k] = np.count_nonzero(dec_k, axis=0)
        out.menu_by_stratum[k] = int(fired_k.sum())
        out.above_at_by_stratum[k] = (s_k[None, :] > t[:, None]).sum(axis=1)
        out.above_at_menu_off_by_stratum[k] = (off[None, :] > t[:, None]).sum(axis=1)
    for k in range(k_strata):  # strata without events in this chunk: empty histograms of the same binning
        if k not in present:
            tail = emu.tail_for(k, k_strata)
            out.hists[k] = ScoreHistogram(emu.hist_shift, tail)
            out.hists_menu_off[k] = ScoreHistogram(emu.hist_shift, tail)
    return out


def check_files(
    paths: Sequence[str | os.PathLike[str]], reader: EventReader, what: str, require_events: bool = True
) -> list[int]:
    """Validate input files before any work or output: exist, readable layout, events. Returns counts."""
    counts = []
    for p in paths:
        p = Path(p)
        if not p.is_file():
            raise DataError(f"{p}: {what} file not found")
        n = reader.count(str(p))
        if n == 0 and require_events:
            raise DataError(f"{p}: {what} file has no events")
        is_words = getattr(reader, "is_words", None)
        if n and not (is_words is not None and is_words(str(p))):  # (a words file's header is checked by count)
            first = reader.read(str(p), 0, 1)
            if first.ndim != 3 or first.shape[1:] != (N_OBJECTS, 4):
                raise DataError(
                    f"{p}: field 'Particles': shape (N, {', '.join(map(str, first.shape[1:]))}): "
                    f"expected (N, {N_OBJECTS}, 4)"
                )
        counts.append(n)
    return counts


def plan_chunks(
    paths: Sequence[str | os.PathLike[str]],
    counts: Sequence[int],
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    first: Sequence[int] | None = None,
    strata: Sequence[int] | None = None,
    align: Sequence[int] | None = None,
) -> list[Chunk]:
    """Split files into (file, start, stop) chunks of at most ``chunk_size`` events, from event ``first[i]``
    of file i (default 0) to its end. ``strata[i]``: the number of strata of file i (default 1); the sample's
    strata are the files' strata one after the other. ``align[i]``: the HDF5 chunk rows of file i - chunks
    then hold whole HDF5 chunks (``chunk_size`` rounded down to a multiple, at least one; boundaries on
    multiples of it), so no HDF5 chunk is read by two of them."""
    if chunk_size <= 0:
        raise ValueError("chunk_size must be positive")
    first = [0] * len(paths) if first is None else first
    strata = [1] * len(paths) if strata is None else strata
    align = [1] * len(paths) if align is None else align
    offsets = np.concatenate([[0], np.cumsum(strata)]).astype(int)
    total = int(offsets[-1])
    out = []
    for p, n, f, off, al in zip(paths, counts, first, offsets[:-1], align, strict=True):
        al = max(int(al), 1)
        size = max(al, chunk_size // al * al) if al > 1 else chunk_size
        a = f
        while a < n:
            b = min((a // size + 1) * size if al > 1 else a + size, n)
            out.append(Chunk(str(p), a, b, int(off), total))
            a = b
    return out


def held_out_first_event(artifact: str | os.PathLike[str], paths: Sequence[str | os.PathLike[str]],
                         required: bool = True) -> list[int]:
    """Per zero-bias file, the first event the model artifact did NOT train or validate on.

    ``l1ad train`` takes the first events of its background file for training and validation and records
    the file's sha256 and the ranges in ``model.json`` (``data.background``); a file with the same sha256
    starts at the end of the validation range, any other file at 0. An artifact without that record (a model
    trained elsewhere) is an error if ``required``, else every file starts at 0."""
    from l1ad.models.artifact import read_meta

    meta_path = Path(artifact) / "model.json"
    meta = read_meta(meta_path)
    bkg = meta.data.background if meta.data is not None else None
    if not required and bkg is None:
        return [0] * len(paths)
    if bkg is None or bkg.train is None or bkg.validation is None:
        raise DataError(f"{meta_path}: field 'data.background': no training provenance (a model trained elsewhere; "
                        "use --all-events)")
    sha, train, val = bkg.sha256, bkg.train, bkg.validation
    if train[0] != 0 or val[0] != train[1]:
        raise DataError(f"{meta_path}: field 'data.background': expected train then validation from event 0 "
                        f"(value train={list(train)}, validation={list(val)})")
    return [int(val[1]) if _source_sha256(p) == sha else 0 for p in paths]


def _source_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of an event file, or of the event file an encoded-words file was encoded from."""
    from l1ad.data.words import is_words_file, read_header
    from l1ad.io import sha256_file

    return read_header(path).source_sha256 if is_words_file(path) else sha256_file(path)


def run_local(chunks: Sequence[Chunk], emu: Emulation, progress: Any = None) -> SampleCounts:
    """Process chunks one after the other in this process (memory: one chunk + the histograms)."""
    total = SampleCounts(emu.seed_names, chunks[0].n_strata if chunks else 1)
    for c in chunks:
        total.absorb(process_chunk(c, emu))
        if progress is not None:
            progress(c.n)
    return total


def run_samples_local(
    samples: Mapping[str, Sequence[Chunk]], emu: Emulation, progress: Any = None
) -> dict[str, SampleCounts]:
    """:func:`run_local` for each named sample (same interface as the Dask backend's ``run_dask``)."""
    return {name: run_local(chunks, emu, progress) for name, chunks in samples.items()}
