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
    def count(self, path: str) -> int: ...

    def read(self, path: str, start: int, stop: int) -> np.ndarray: ...


class Hdf5Reader:
    """ADC2021 event files through :mod:`l1ad.data.adc2021` (validated, bounded slices)."""

    def count(self, path: str) -> int:
        from l1ad.data.adc2021 import count_events

        return int(count_events(path))

    def read(self, path: str, start: int, stop: int) -> np.ndarray:
        from l1ad.data.adc2021 import read_events

        return read_events(path, start=start, stop=stop)


@dataclass(frozen=True)
class Chunk:
    path: str
    start: int
    stop: int

    @property
    def n(self) -> int:
        return self.stop - self.start


@dataclass
class SampleCounts:
    """Everything the rate report needs from one sample (or one chunk of it), all exact integers."""

    seed_names: tuple[str, ...]
    n_events: int = 0
    #: scores of all events
    scores: ScoreHistogram = field(default_factory=ScoreHistogram)
    #: scores of the events no menu seed fires on (pure rate / efficiency gain at any threshold)
    scores_menu_off: ScoreHistogram = field(default_factory=ScoreHistogram)
    seed_counts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    menu_count: int = 0
    #: thresholds at which events with score > T were counted exactly (signals: the zero-bias thresholds)
    at_thresholds: tuple[int, ...] = ()
    n_above_at: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    n_above_at_menu_off: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self) -> None:
        if self.seed_counts.size == 0:
            self.seed_counts = np.zeros(len(self.seed_names), np.int64)
        if self.n_above_at.size == 0:
            self.n_above_at = np.zeros(len(self.at_thresholds), np.int64)
            self.n_above_at_menu_off = np.zeros(len(self.at_thresholds), np.int64)

    def merge(self, other: SampleCounts) -> SampleCounts:
        out = SampleCounts(self.seed_names)
        out.absorb(self)
        out.absorb(other)
        return out

    def absorb(self, other: SampleCounts) -> None:
        """Add ``other``'s counts into this one (in place)."""
        if self.seed_names != other.seed_names:
            raise ValueError("cannot merge counts from different menus")
        if self.n_events == 0 and not self.at_thresholds:
            self.at_thresholds = other.at_thresholds
            self.n_above_at = np.zeros(len(other.at_thresholds), np.int64)
            self.n_above_at_menu_off = np.zeros(len(other.at_thresholds), np.int64)
        if self.at_thresholds != other.at_thresholds:
            raise ValueError("cannot merge counts taken at different thresholds")
        self.n_events += other.n_events
        self.scores += other.scores
        self.scores_menu_off += other.scores_menu_off
        self.seed_counts = self.seed_counts + other.seed_counts
        self.menu_count += other.menu_count
        self.n_above_at = self.n_above_at + other.n_above_at
        self.n_above_at_menu_off = self.n_above_at_menu_off + other.n_above_at_menu_off

    def count_above(self, threshold: int, menu_off: bool = False) -> int:
        """Events with score > threshold (exact: a counted threshold, or from the histogram)."""
        if threshold in self.at_thresholds:
            i = self.at_thresholds.index(threshold)
            return int((self.n_above_at_menu_off if menu_off else self.n_above_at)[i])
        return int((self.scores_menu_off if menu_off else self.scores).n_above(threshold))

    @classmethod
    def total(cls, parts: Iterable[SampleCounts], seed_names: Sequence[str]) -> SampleCounts:
        out = cls(tuple(seed_names))
        for p in parts:
            out.absorb(p)
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SampleCounts):
            return NotImplemented
        return (
            self.seed_names == other.seed_names
            and self.n_events == other.n_events
            and self.scores == other.scores
            and self.scores_menu_off == other.scores_menu_off
            and np.array_equal(self.seed_counts, other.seed_counts)
            and self.menu_count == other.menu_count
            and self.at_thresholds == other.at_thresholds
            and np.array_equal(self.n_above_at, other.n_above_at)
            and np.array_equal(self.n_above_at_menu_off, other.n_above_at_menu_off)
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

    def decisions(self, particles: np.ndarray, words: np.ndarray) -> np.ndarray:
        """Per-seed menu decisions bool (N, n_seeds) (on the decoded words with ``menu_on_words``)."""
        assert self.menu is not None
        if self.menu_on_words:
            return self.menu.evaluate_words(words, self.encoding)
        return self.menu.evaluate(particles)


def process_chunk(chunk: Chunk, emu: Emulation) -> SampleCounts:
    """Read, encode, score and run the menu on one chunk; return its exact counts.

    Encoding and menu run in steps of ``emu.batch`` events (cache-sized temporaries); the model scores the
    chunk's words in one call.
    """
    particles = emu.reader.read(chunk.path, chunk.start, chunk.stop)
    if particles.ndim != 3 or particles.shape[1:] != (N_OBJECTS, 4):
        raise DataError(
            f"{chunk.path}: dataset 'Particles': wrong shape {particles.shape}, expected (N, {N_OBJECTS}, 4)"
        )
    n = particles.shape[0]
    if n != chunk.n:
        raise DataError(f"{chunk.path}: read {n} events for rows {chunk.start}:{chunk.stop}")
    words = np.empty((n, N_INPUTS), dtype=np.int64)
    fired = np.zeros(n, dtype=bool)
    seed_counts = np.zeros(len(emu.seed_names), dtype=np.int64)
    for a in range(0, n, emu.batch):
        b = min(a + emu.batch, n)
        p = particles[a:b]
        words[a:b] = emu.words(p)
        if emu.menu is not None:
            d = emu.decisions(p, words[a:b])
            seed_counts += d.sum(axis=0)
            fired[a:b] = d.any(axis=1)
    # one predict call per chunk: FixedPointModel.predict steps through cache-sized batches itself and
    # has a per-call setup cost (~1 ms, BLAS thread limits)
    scores = emu.scores(words)
    del words
    off = scores[~fired]
    t = np.asarray(emu.count_at, dtype=np.int64)
    return SampleCounts(
        emu.seed_names,
        n_events=n,
        scores=ScoreHistogram.from_scores(scores, emu.hist_shift, emu.tail_events),
        scores_menu_off=ScoreHistogram.from_scores(off, emu.hist_shift, emu.tail_events),
        seed_counts=seed_counts,
        menu_count=int(fired.sum()),
        at_thresholds=tuple(int(x) for x in t),
        n_above_at=(scores[None, :] > t[:, None]).sum(axis=1).astype(np.int64),
        n_above_at_menu_off=(off[None, :] > t[:, None]).sum(axis=1).astype(np.int64),
    )


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
        if n:
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
) -> list[Chunk]:
    """Split files into (file, start, stop) chunks of at most ``chunk_size`` events, from event ``first[i]``
    of file i (default 0) to its end."""
    if chunk_size <= 0:
        raise ValueError("chunk_size must be positive")
    first = [0] * len(paths) if first is None else first
    return [
        Chunk(str(p), a, min(a + chunk_size, n))
        for p, n, f in zip(paths, counts, first, strict=True)
        for a in range(f, n, chunk_size)
    ]


def held_out_first_event(artifact: str | os.PathLike[str], paths: Sequence[str | os.PathLike[str]],
                         required: bool = True) -> list[int]:
    """Per zero-bias file, the first event the model artifact did NOT train or validate on.

    ``l1ad train`` takes the first events of its background file for training and validation and records
    the file's sha256 and the ranges in ``model.json`` (``data.background``); a file with the same sha256
    starts at the end of the validation range, any other file at 0. An artifact without that record (a model
    trained elsewhere) is an error if ``required``, else every file starts at 0."""
    from l1ad.io import sha256_file
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
    return [int(val[1]) if sha256_file(p) == sha else 0 for p in paths]


def run_local(chunks: Sequence[Chunk], emu: Emulation, progress: Any = None) -> SampleCounts:
    """Process chunks one after the other in this process (memory: one chunk + the histograms)."""
    total = SampleCounts(emu.seed_names)
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
