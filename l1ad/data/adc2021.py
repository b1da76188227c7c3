"""Read and write event files in the ADC2021 HDF5 format (Govorkova et al., arXiv:2107.02157).

A file holds dataset ``Particles`` (N, 19, 4) = (pT [GeV], eta, phi [rad], class id) plus the metadata
datasets ``Particles_Names`` = [Pt, Eta, Phi, Class] and ``Particles_Classes`` = [MET_class_1,
Four_Ele_class_2, Four_Mu_class_3, Ten_Jet_class_4] (names as in the published Zenodo files). l1ad writes
float32, chunked and gzip-compressed; the published files are float64 and are
read the same way. Provenance goes into the root group's attributes.

Reading is bounded: :func:`iter_events` streams fixed-size slices, so a 13M-event file never has to fit in
memory. Every slice read is validated (finite values, pT >= 0, class id 0 or the id of its row's group);
the first bad value raises :class:`~l1ad.errors.DataError` naming file, event index, object row and field.

Optional per-event datasets beside ``Particles`` (readers that only know ``Particles`` ignore them):

* ``Weights`` (N,) float64: the fraction of all LHC bunch crossings the event stands for (a stitched zero-bias
  sample; they sum to 1 over the file), and ``Stratum`` (N,) int16: the stratum the event was generated in;
  the root attribute ``strata`` lists per stratum its ``name``, ``probability`` (fraction of crossings) and
  ``crossings`` (events in the file). A file without them is unweighted: one stratum, every event 1/N.
  :func:`read_strata` returns the table and :func:`read_stratum_ids` the per-event ids (files with only a
  ``Weights`` dataset get one stratum per distinct weight).
* ``EGammaIso`` (N, 4) uint8: isolation flags of the four e/gamma rows (bit 0 loose, bit 1 tight).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import h5py
import numpy as np

from l1ad.data.layout import GROUPS, N_OBJECTS, PARTICLE_NAMES, ObjectClass
from l1ad.errors import DataError
from l1ad.io import atomic_file

__all__ = [
    "DATASET",
    "EGAMMA_ISO",
    "PARTICLE_CLASSES",
    "STRATUM",
    "WEIGHTS",
    "EventWriter",
    "Strata",
    "count_events",
    "iter_events",
    "read_attrs",
    "read_egamma_iso",
    "event_weights",
    "read_events",
    "read_strata",
    "read_stratum_ids",
    "validate_events",
    "write_events",
]

DATASET = "Particles"
#: optional per-event datasets (see the module docstring)
WEIGHTS = "Weights"
STRATUM = "Stratum"
EGAMMA_ISO = "EGammaIso"
_EXTRAS: dict[str, tuple[type, tuple[int, ...]]] = {
    WEIGHTS: (np.float64, ()),
    STRATUM: (np.int16, ()),
    EGAMMA_ISO: (np.uint8, (4,)),
}
#: ``Particles_Classes`` of the published ADC2021 files
PARTICLE_CLASSES = ("MET_class_1", "Four_Ele_class_2", "Four_Mu_class_3", "Ten_Jet_class_4")
#: events per HDF5 chunk: 8192 x 19 x 4 x 4 B = 2.4 MiB. gzip level 4 without the shuffle filter measured
#: fastest to decompress on L1-like (quantised, zero-padded) events: ~1.2M events/s on one core.
CHUNK_EVENTS = 8192
#: HDF5 chunk cache for readers: holds the chunks straddling two consecutive reads (no double decompression)
_CHUNK_CACHE_BYTES = 32 << 20
_JSON_PREFIX = "json:"

#: class id expected in each of the 19 rows (0 = empty padding is always allowed)
_ROW_CLASS = np.zeros(N_OBJECTS, dtype=np.int64)
for _cls, _first, _n in GROUPS:
    _ROW_CLASS[_first : _first + _n] = int(_cls)
_FIELD_NAMES = ("pT", "eta", "phi", "class")


def _row_name(row: int) -> str:
    cls = ObjectClass(int(_ROW_CLASS[row]))
    first = next(f for c, f, _ in GROUPS if c == cls)
    return f"{cls.name.lower()}[{row - first}]"


def validate_events(particles: np.ndarray, source: str | os.PathLike[str], offset: int = 0) -> None:
    """Raise :class:`DataError` at the first non-finite value, negative pT or invalid class id.

    ``offset`` is the index of ``particles[0]`` in the file (so messages give the file's event index).
    """
    arr = np.asarray(particles)
    bad = ~np.isfinite(arr)
    if bad.any():
        ev, row, col = np.argwhere(bad)[0]
        _raise_value(source, offset + ev, row, col, arr[ev, row, col], "not finite")
    neg = arr[:, :, 0] < 0
    if neg.any():
        ev, row = np.argwhere(neg)[0]
        _raise_value(source, offset + ev, row, 0, arr[ev, row, 0], "negative pT")
    cls = arr[:, :, 3]
    ok = (cls == 0) | (cls == _ROW_CLASS[None, :])
    if not ok.all():
        ev, row = np.argwhere(~ok)[0]
        _raise_value(
            source, offset + ev, row, 3, cls[ev, row], f"class id must be 0 or {_ROW_CLASS[row]} in this row"
        )


def _raise_value(source: Any, event: int, row: int, col: int, value: Any, msg: str) -> None:
    raise DataError(
        f"{source}: event {int(event)}, object {_row_name(int(row))} (row {int(row)}): "
        f"field '{_FIELD_NAMES[int(col)]}': {msg} (value {value!r})"
    )


def _check_shape(arr: np.ndarray, source: Any, what: str = DATASET) -> None:
    if arr.ndim != 3 or arr.shape[1:] != (N_OBJECTS, len(PARTICLE_NAMES)):
        raise DataError(
            f"{source}: dataset '{what}': wrong shape {tuple(arr.shape)}, expected (N, {N_OBJECTS}, "
            f"{len(PARTICLE_NAMES)})"
        )


# --------------------------------------------------------------------------------------------- writing


def _attr_value(key: str, value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (str, bool, int, float, np.integer, np.floating)):
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        arr = np.asarray(value)
        if arr.dtype.kind in "biuf":
            return arr
        if arr.dtype.kind in "US" and arr.ndim == 1:
            return [str(v) for v in arr]
    try:
        return _JSON_PREFIX + json.dumps(value, default=str)
    except (TypeError, ValueError) as e:
        raise DataError(f"attribute '{key}': cannot store value of type {type(value).__name__}: {e}") from None


class EventWriter:
    """Append events to a new ADC2021 file; the file appears (atomically) only when closed successfully.

    >>> with EventWriter("out.h5", attrs={"process": "zero_bias"}) as w:  # doctest: +SKIP
    ...     w.append(chunk1); w.append(chunk2)
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        attrs: Mapping[str, Any] | None = None,
        *,
        validate: bool = True,
        compression_level: int = 4,
        extras: tuple[str, ...] = (),
    ) -> None:
        self.path = Path(path)
        self.attrs = dict(attrs or {})
        self.validate = validate
        self.compression_level = compression_level
        unknown = [e for e in extras if e not in _EXTRAS]
        if unknown:
            raise DataError(f"{self.path}: unknown extra dataset(s) {unknown} (known: {sorted(_EXTRAS)})")
        self.extras = tuple(extras)
        self.n = 0
        self._atomic: Any = None
        self._h5: h5py.File | None = None
        self._ds: h5py.Dataset | None = None
        self._extra_ds: dict[str, h5py.Dataset] = {}

    def __enter__(self) -> EventWriter:
        self._atomic = atomic_file(self.path, suffix=".h5")
        tmp = self._atomic.__enter__()
        try:
            self._h5 = h5py.File(tmp, "w")
            self._ds = self._h5.create_dataset(
                DATASET,
                shape=(0, N_OBJECTS, len(PARTICLE_NAMES)),
                maxshape=(None, N_OBJECTS, len(PARTICLE_NAMES)),
                dtype=np.float32,
                chunks=(CHUNK_EVENTS, N_OBJECTS, len(PARTICLE_NAMES)),
                compression="gzip",
                compression_opts=self.compression_level,
            )
            for name in self.extras:
                dtype, tail = _EXTRAS[name]
                self._extra_ds[name] = self._h5.create_dataset(
                    name, shape=(0, *tail), maxshape=(None, *tail), dtype=dtype,
                    chunks=(CHUNK_EVENTS, *tail), compression="gzip", compression_opts=self.compression_level)
            self._h5.create_dataset("Particles_Names", data=np.array(PARTICLE_NAMES, dtype="S"))
            self._h5.create_dataset("Particles_Classes", data=np.array(PARTICLE_CLASSES, dtype="S"))
            for k, v in self.attrs.items():
                if v is not None:
                    self._h5.attrs[k] = _attr_value(k, v)
        except BaseException as e:
            self._abort(type(e), e, e.__traceback__)
            raise
        return self

    def append(self, particles: np.ndarray, **extras: np.ndarray) -> None:
        """Append a block of events (n, 19, 4) with the writer's extra datasets (keyword per dataset name);
        validated unless ``validate=False``."""
        if self._ds is None:
            raise RuntimeError("EventWriter.append outside its with-block")
        arr = np.asarray(particles)
        _check_shape(arr, self.path, "Particles (input)")
        if set(extras) != set(self.extras):
            raise DataError(f"{self.path}: append needs the extra datasets {sorted(self.extras)}, got {sorted(extras)}")
        if self.validate:
            validate_events(arr, f"{self.path} (input)", offset=self.n)
        n = arr.shape[0]
        for name, value in extras.items():
            dtype, tail = _EXTRAS[name]
            v = np.asarray(value)
            if v.shape != (n, *tail):
                raise DataError(f"{self.path}: dataset '{name}': shape {v.shape}, expected {(n, *tail)}")
            if name == WEIGHTS and not (np.all(np.isfinite(v)) and np.all(v >= 0)):
                bad = int(np.flatnonzero(~(np.isfinite(v) & (v >= 0)))[0])
                raise DataError(f"{self.path}: dataset '{name}': event {self.n + bad}: weight must be finite and "
                                f">= 0 (value {v[bad]!r})")
            ds = self._extra_ds[name]
            ds.resize(self.n + n, axis=0)
            ds[self.n : self.n + n] = v.astype(dtype, copy=False)
        self._ds.resize(self.n + n, axis=0)
        self._ds[self.n : self.n + n] = arr.astype(np.float32, copy=False)
        self.n += n

    def _abort(self, et: Any, ev: Any, tb: Any) -> None:
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None
        if self._atomic is not None:
            self._atomic.__exit__(et, ev, tb)
            self._atomic = None

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if et is None:
            assert self._h5 is not None
            self._h5.attrs["n_events"] = self.n
            self._h5.close()
            self._h5 = None
            self._atomic.__exit__(None, None, None)
            self._atomic = None
        else:
            self._abort(et, ev, tb)


def write_events(
    path: str | os.PathLike[str], particles: np.ndarray, attrs: Mapping[str, Any] | None = None,
    extras: Mapping[str, np.ndarray] | None = None,
) -> Path:
    """Write ``particles`` (N, 19, 4) as an ADC2021 file (float32, chunked, gzip), atomically.

    ``attrs`` go to the root group (str/number/bool/number arrays natively, anything else as JSON); ``extras``
    are the optional per-event datasets (``Weights``, ``Stratum``, ``EGammaIso``).
    Invalid events (NaN/inf, negative pT, wrong class id) raise :class:`DataError`; nothing is written.
    """
    extras = dict(extras or {})
    with EventWriter(path, attrs, extras=tuple(extras)) as w:
        w.append(particles, **extras)
    return Path(path)


# --------------------------------------------------------------------------------------------- reading


class _Reader:
    """An open, layout-checked ``Particles`` dataset (context manager)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise DataError(f"{self.path}: no such file")
        if self.path.is_dir():
            raise DataError(f"{self.path}: is a directory, expected an HDF5 file")
        try:
            self.h5 = h5py.File(self.path, "r", rdcc_nbytes=_CHUNK_CACHE_BYTES)
        except OSError as e:
            raise DataError(f"{self.path}: not a readable HDF5 file (truncated or corrupt?): {_short(e)}") from None
        try:
            obj = self.h5.get(DATASET)
            if obj is None:
                keys = ", ".join(sorted(self.h5.keys())) or "none"
                raise DataError(f"{self.path}: dataset '{DATASET}': missing (datasets present: {keys})")
            if not isinstance(obj, h5py.Dataset):
                raise DataError(f"{self.path}: dataset '{DATASET}': is a group, expected a dataset")
            _check_shape(obj, self.path)
            if obj.dtype.kind != "f":
                raise DataError(f"{self.path}: dataset '{DATASET}': dtype {obj.dtype}, expected floating point")
            self.ds: h5py.Dataset = obj
        except BaseException:
            self.h5.close()
            raise

    @property
    def n(self) -> int:
        return int(self.ds.shape[0])

    def read(self, start: int, stop: int, validate: bool = True) -> np.ndarray:
        out = np.empty((stop - start, N_OBJECTS, len(PARTICLE_NAMES)), dtype=np.float32)
        if stop > start:
            try:
                if self.ds.dtype == np.float32:
                    self.ds.read_direct(out, np.s_[start:stop])
                else:
                    out[...] = self.ds[start:stop]
            except (OSError, ValueError) as e:
                raise DataError(
                    f"{self.path}: dataset '{DATASET}': cannot read events {start}..{stop - 1} "
                    f"(truncated or corrupt?): {_short(e)}"
                ) from None
        if validate:
            validate_events(out, self.path, offset=start)
        return out

    def __enter__(self) -> _Reader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.h5.close()


def _short(e: BaseException) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def _bounds(n: int, start: int, stop: int | None, path: Path) -> tuple[int, int]:
    stop = n if stop is None else stop
    if start < 0 or stop < start:
        raise DataError(f"{path}: invalid event range start={start} stop={stop} (file has {n} events)")
    return start, min(stop, n)


def count_events(path: str | os.PathLike[str]) -> int:
    """Number of events in an ADC2021 file (layout checked, data not read)."""
    with _Reader(path) as r:
        return r.n


def read_events(
    path: str | os.PathLike[str], start: int = 0, stop: int | None = None, *, validate: bool = True
) -> np.ndarray:
    """Events ``start:stop`` of an ADC2021 file as float32 (n, 19, 4). ``stop`` beyond the end is clipped."""
    with _Reader(path) as r:
        a, b = _bounds(r.n, start, stop, r.path)
        return r.read(a, b, validate)


def iter_events(
    path: str | os.PathLike[str],
    chunk_size: int = 100_000,
    *,
    start: int = 0,
    stop: int | None = None,
    validate: bool = True,
) -> Iterator[np.ndarray]:
    """Stream events as float32 blocks of at most ``chunk_size`` (the last may be shorter).

    Only one block is in memory at a time; the layout is checked before the first block is yielded.
    """
    if chunk_size < 1:
        raise DataError(f"{path}: chunk_size must be >= 1 (value {chunk_size})")
    reader = _Reader(path)  # open eagerly so layout errors surface at the call, not at first next()

    def gen() -> Iterator[np.ndarray]:
        with reader as r:
            a, b = _bounds(r.n, start, stop, r.path)
            for lo in range(a, b, chunk_size):
                yield r.read(lo, min(lo + chunk_size, b), validate)

    return gen()


def read_attrs(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Root-group attributes (provenance) as plain Python values."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file")
    try:
        with h5py.File(p, "r") as f:
            return {k: _from_attr(v) for k, v in f.attrs.items()}
    except OSError as e:
        raise DataError(f"{p}: not a readable HDF5 file (truncated or corrupt?): {_short(e)}") from None


def _from_attr(v: Any) -> Any:
    if isinstance(v, bytes):
        v = v.decode()
    if isinstance(v, str):
        if v.startswith(_JSON_PREFIX):
            return json.loads(v[len(_JSON_PREFIX) :])
        return v
    if isinstance(v, np.ndarray):
        if v.dtype.kind in "OSU":
            return [x.decode() if isinstance(x, bytes) else str(x) for x in v.tolist()]
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    return v


# --------------------------------------------------------------------------------------------- weights


class Strata:
    """The strata of a (possibly weighted) event file: per stratum its name, the fraction of all crossings it
    stands for (``probability``, summing to 1) and its number of events in the file."""

    def __init__(self, names: list[str], probability: list[float], counts: list[int]) -> None:
        self.names = tuple(names)
        self.probability = np.asarray(probability, np.float64)
        self.counts = np.asarray(counts, np.int64)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def weighted(self) -> bool:
        return len(self.names) > 1

    def to_dict(self) -> list[dict[str, Any]]:
        return [{"name": n, "probability": float(p), "crossings": int(c)}
                for n, p, c in zip(self.names, self.probability, self.counts, strict=True)]


def _open(path: str | os.PathLike[str]) -> h5py.File:
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such file")
    try:
        return h5py.File(p, "r")
    except OSError as e:
        raise DataError(f"{p}: not a readable HDF5 file (truncated or corrupt?): {_short(e)}") from None


def _n_rows(f: h5py.File) -> int:
    """Events of an open file: rows of ``Particles``, or of ``Words`` in an encoded-words file
    (:mod:`l1ad.data.words` carries the same ``Weights``/``Stratum``/``EGammaIso`` datasets and ``strata``)."""
    for name in (DATASET, "Words"):
        if name in f:
            return int(f[name].shape[0])
    return 0


def read_strata(path: str | os.PathLike[str]) -> Strata:
    """The file's strata (see the module docstring); one stratum ``all`` for an unweighted file.

    Checks: ``Weights``/``Stratum`` cover every event, ids index the ``strata`` attribute, probabilities are
    finite, >= 0 and sum to 1 (1e-6), each stratum's event count matches the attribute."""
    p = Path(path)
    with _open(p) as f:
        n = _n_rows(f)
        has_w, has_s = WEIGHTS in f, STRATUM in f
        for name in (WEIGHTS, STRATUM):
            if name in f and f[name].shape[0] != n:
                raise DataError(f"{p}: dataset '{name}': {f[name].shape[0]} entries for {n} events")
        if has_s:
            raw = f.attrs.get("strata")
            table = _from_attr(raw) if raw is not None else None
            if not isinstance(table, list) or not table:
                raise DataError(f"{p}: attribute 'strata': missing or not a list (dataset 'Stratum' needs it)")
            ids = np.asarray(f[STRATUM][()], np.int64)
            try:
                names = [str(t["name"]) for t in table]
                prob = [float(t["probability"]) for t in table]
                declared = [int(t["crossings"]) for t in table]
            except (KeyError, TypeError, ValueError) as e:
                raise DataError(f"{p}: attribute 'strata': each entry needs name, probability, crossings ({e})") from None
            if ids.size and (ids.min() < 0 or ids.max() >= len(table)):
                bad = int(np.flatnonzero((ids < 0) | (ids >= len(table)))[0])
                raise DataError(f"{p}: dataset 'Stratum': event {bad}: stratum {ids[bad]} not in the "
                                f"{len(table)} strata of attribute 'strata'")
            counts = np.bincount(ids, minlength=len(table))
            for k, (c, d) in enumerate(zip(counts, declared, strict=True)):
                if c != d:
                    raise DataError(f"{p}: attribute 'strata': stratum {names[k]!r} declares {d} crossings, "
                                    f"dataset 'Stratum' has {int(c)}")
            pr = np.asarray(prob)
            if not (np.all(np.isfinite(pr)) and np.all(pr >= 0) and abs(pr.sum() - 1.0) < 1e-6):
                raise DataError(f"{p}: attribute 'strata': probabilities must be >= 0 and sum to 1 "
                                f"(value sum {pr.sum()!r})")
            return Strata(names, prob, counts.tolist())
        if has_w:
            w = np.asarray(f[WEIGHTS][()], np.float64)
            uniq, inv, counts = np.unique(w, return_inverse=True, return_counts=True)
            if len(uniq) > 255:
                raise DataError(f"{p}: dataset 'Weights': {len(uniq)} distinct weights without a 'Stratum' dataset "
                                "(continuous weights are not supported: give each event its stratum)")
            tot = float((uniq * counts).sum())
            if not tot > 0:
                raise DataError(f"{p}: dataset 'Weights': all weights are zero")
            return Strata([f"w{k}" for k in range(len(uniq))], (uniq * counts / tot).tolist(), counts.tolist())
    return Strata(["all"], [1.0], [n])


def read_stratum_ids(path: str | os.PathLike[str], start: int = 0, stop: int | None = None) -> np.ndarray:
    """Per-event stratum ids (int64) of events ``start:stop`` (all 0 for an unweighted file)."""
    with _open(path) as f:
        n = _n_rows(f)
        a, b = _bounds(n, start, stop, Path(path))
        if STRATUM in f:
            return np.asarray(f[STRATUM][a:b], np.int64)
        if WEIGHTS in f:
            uniq = np.unique(np.asarray(f[WEIGHTS][()], np.float64))
            return np.searchsorted(uniq, np.asarray(f[WEIGHTS][a:b], np.float64)).astype(np.int64)
        return np.zeros(b - a, np.int64)


def read_egamma_iso(path: str | os.PathLike[str], start: int = 0, stop: int | None = None) -> np.ndarray | None:
    """e/gamma isolation flags (n, 4) uint8 of events ``start:stop``, or None when the file has none."""
    with _open(path) as f:
        if EGAMMA_ISO not in f:
            return None
        n = _n_rows(f)
        a, b = _bounds(n, start, stop, Path(path))
        ds = f[EGAMMA_ISO]
        if ds.shape[1:] != (4,) or ds.shape[0] != n:
            raise DataError(f"{path}: dataset '{EGAMMA_ISO}': shape {ds.shape}, expected ({n}, 4)")
        return np.asarray(ds[a:b], np.uint8)


def event_weights(path: str | os.PathLike[str], start: int = 0, stop: int | None = None) -> np.ndarray | None:
    """Per-event weights of events ``start:stop`` as the fraction of all crossings each stands for *within that
    range* (every stratum keeps its probability: w = P_k / events of stratum k in the range; they sum to the
    probability of the strata present), or None for an unweighted file."""
    strata = read_strata(path)
    if not strata.weighted:
        return None
    ids = read_stratum_ids(path, start, stop)
    n = np.bincount(ids, minlength=len(strata)).astype(np.float64)
    w = np.divide(strata.probability, n, out=np.zeros_like(n), where=n > 0)
    return w[ids]
