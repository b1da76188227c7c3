"""Training/evaluation inputs: event files -> GT words (via the data helper's encoding) and b-tag jets."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from l1ad.errors import DataError
from l1ad.io import sha256_file

__all__ = ["Split", "file_provenance", "load_jets", "load_words", "resolve_data_file", "split_counts",
           "input_fields", "split_event_weights"]

DEFAULT_SIGNALS = ("ato4l", "leptoquark", "hToTauTau", "hChToTauNu")


def resolve_data_file(name: str | os.PathLike[str], data_dir: str | os.PathLike[str] | None) -> Path:
    """``name`` as given if it exists, else under ``data_dir`` (exact, then case-insensitive match)."""
    p = Path(name)
    if p.is_file():
        return p
    d = Path(data_dir) if data_dir is not None else Path("data")
    q = d / p
    if q.is_file():
        return q
    if d.is_dir():
        for cand in d.iterdir():
            if cand.name.lower() == p.name.lower() and cand.is_file():
                return cand
    raise DataError(f"{q}: data file not found (run `l1ad data generate --out {d}` first)")


def file_provenance(path: Path) -> dict[str, Any]:
    return {"path": str(path), "sha256": sha256_file(path), "bytes": path.stat().st_size}


@dataclass(frozen=True)
class Split:
    """Contiguous ranges of the first ``n`` events: train, validation, test (at the end)."""

    n: int
    n_train: int
    n_val: int

    @property
    def train(self) -> slice:
        return slice(0, self.n_train)

    @property
    def val(self) -> slice:
        return slice(self.n_train, self.n_train + self.n_val)

    @property
    def test(self) -> slice:
        return slice(self.n_train + self.n_val, self.n)


def split_counts(n: int, validation_fraction: float, test_fraction: float, source: str = "") -> Split:
    n_test = int(round(n * test_fraction))
    n_val = max(1, int(round(n * validation_fraction)))
    n_train = n - n_test - n_val
    if n_train < 10:
        raise DataError(f"{source}: only {n} events, too few to train (need >= 10 after splitting)")
    return Split(n, n_train, n_val)


@lru_cache(maxsize=1)
def _encoding() -> Any:
    from l1ad.data.encoding import load_encoding

    return load_encoding()


def input_fields() -> list[dict[str, Any]]:
    import dataclasses

    return [dataclasses.asdict(f) for f in _encoding().fields]


def load_words(path: Path, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Events ``[start, stop)`` of an ADC2021 file as GT integer words (N, 57) int64."""
    from l1ad.data.encoding import read_words

    return read_words(path, start, stop, _encoding())


def split_event_weights(path: Path, split: Split) -> np.ndarray | None:
    """Per-event weights of a stitched (weighted) zero-bias file over the split's events, each split renormalised
    per stratum to itself (the file's strata are interleaved, so every split holds each stratum in proportion);
    None for an unweighted file."""
    from l1ad.data.adc2021 import event_weights

    parts = [event_weights(path, p.start, p.stop) for p in (split.train, split.val, split.test)]
    if parts[0] is None:
        return None
    return np.concatenate([p if p is not None else np.zeros(0) for p in parts])


def count(path: Path) -> int:
    from l1ad.data.adc2021 import count_events

    return int(count_events(path))


def load_jets(path: Path, max_events: int | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """b-tag jets: ``Tracks`` (N, 16, F) float32, ``Label`` (N,) (1 = b, 0 = light), feature names."""
    try:
        with h5py.File(path, "r") as f:
            if "Tracks" not in f or "Label" not in f:
                raise DataError(f"{path}: dataset 'Tracks'/'Label' missing (have {sorted(f.keys())})")
            tr = f["Tracks"]
            if tr.ndim != 3:
                raise DataError(f"{path}: dataset 'Tracks': expected shape (N, tracks, F), got {tr.shape}")
            stop = tr.shape[0] if max_events is None else min(tr.shape[0], max_events)
            tracks = np.asarray(tr[:stop], dtype=np.float32)
            labels = np.asarray(f["Label"][:stop]).astype(np.int64)
            names = tr.attrs.get("Track_Features", f.attrs.get("Track_Features", None))
            if names is None and "Track_Features" in f:
                names = f["Track_Features"][()]
    except OSError as e:
        raise DataError(f"{path}: cannot read HDF5: {e}") from None
    if names is None:
        names = [f"f{i}" for i in range(tracks.shape[2])]
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in np.atleast_1d(names)]
    if not np.all(np.isfinite(tracks)):
        bad = np.argwhere(~np.isfinite(tracks))[0]
        raise DataError(f"{path}: dataset 'Tracks': non-finite value at jet {bad[0]}, track {bad[1]}, "
                        f"feature {names[bad[2]] if bad[2] < len(names) else bad[2]}")
    labels = (labels > 0).astype(np.int64)
    return tracks, labels, names
