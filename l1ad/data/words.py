"""Encoded-words files: what ``l1ad data encode`` writes and ``l1ad rates`` reads instead of the events.

An event file is read, validated, encoded (:mod:`l1ad.data.encoding`) and run through the menu once; the file
keeps everything ``l1ad rates`` needs from an event, so a rate run on it skips reading floats, encoding and the
menu and gives the same thresholds, rates and counts as on the event file:

* ``Words`` (N, 57) :attr:`~l1ad.data.encoding.Encoding.word_dtype` (int16 for the uGT formats), HDF5 chunks of
  the source file's chunk rows (8,192 events), uncompressed by default (reading is then ~20 M events/s on one
  core against ~3 M with gzip or lzf; 114 B/event); attributes ``fields``, ``widths``, ``signed``, ``lsb``.
* ``SeedBits`` (N, ceil(seeds / 8)) uint8: the menu's per-seed decisions on the float events and their e/gamma
  isolation flags (seed j = bit j % 8 of byte j // 8), absent when encoded with ``--menu none``.
* ``Weights``, ``Stratum``, ``EGammaIso`` and the ``strata`` attribute copied from a weighted source
  (:mod:`l1ad.data.adc2021`), so weighted zero bias is counted per stratum as from the source.
* root attributes: ``format`` = ``l1ad-words``, ``format_version``, ``n_events``; ``encoding`` (path) and
  ``encoding_sha256`` (of the validated encoding config), ``menu``, ``menu_sha256`` and ``menu_seeds``;
  ``source`` and ``source_sha256`` (the event file; ``l1ad rates --model`` matches it against the model's
  training file to skip its training events); ``overflow.<group>.<field>`` saturation counts; the source's
  provenance attributes.

:func:`check_compatible` refuses a file encoded with another encoding or menu than the run's (one line naming
the file, attribute and values).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from l1ad.data.layout import N_INPUTS
from l1ad.errors import DataError

__all__ = [
    "FORMAT",
    "SEED_BITS",
    "WORDS",
    "EncodedChunk",
    "WordsHeader",
    "check_compatible",
    "config_sha256",
    "is_words_file",
    "read_chunk",
    "read_header",
    "write_words",
]

FORMAT = "l1ad-words"
FORMAT_VERSION = 1
WORDS = "Words"
SEED_BITS = "SeedBits"
_CHUNK_CACHE_BYTES = 32 << 20


def config_sha256(config: Any) -> str:
    """sha256 of a validated config's canonical JSON (an encoding's or a menu's ``config``)."""
    return hashlib.sha256(config.model_dump_json().encode()).hexdigest()


@dataclass(frozen=True)
class WordsHeader:
    path: Path
    n_events: int
    encoding_sha256: str
    menu_sha256: str | None
    menu_seeds: tuple[str, ...]
    source: str
    source_sha256: str
    chunk_rows: int


@dataclass(frozen=True)
class EncodedChunk:
    words: np.ndarray
    seed_bits: np.ndarray | None


def _open(path: str | os.PathLike[str]) -> h5py.File:
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such file")
    try:
        return h5py.File(p, "r", rdcc_nbytes=_CHUNK_CACHE_BYTES)
    except OSError as e:
        raise DataError(f"{p}: not a readable HDF5 file (truncated or corrupt?): {str(e).splitlines()[0]}") from None


def is_words_file(path: str | os.PathLike[str]) -> bool:
    """True for a file written by :func:`write_words` (a ``Words`` dataset and ``format`` = l1ad-words)."""
    try:
        with h5py.File(path, "r") as f:
            return WORDS in f and _str(f.attrs.get("format")) == FORMAT
    except OSError:
        return False


def _str(v: Any) -> str | None:
    return v.decode() if isinstance(v, bytes) else (None if v is None else str(v))


def read_header(path: str | os.PathLike[str]) -> WordsHeader:
    """The file's header, validated: format version, ``Words`` (N, 57) integers, ``n_events`` == N, every
    per-event dataset N rows, the provenance attributes present."""
    p = Path(path)
    with _open(p) as f:
        if WORDS not in f or _str(f.attrs.get("format")) != FORMAT:
            raise DataError(f"{p}: attribute 'format': not an encoded-words file (value {_str(f.attrs.get('format'))!r}, "
                            f"expected {FORMAT!r})")
        ver = f.attrs.get("format_version")
        if ver is None or int(ver) != FORMAT_VERSION:
            raise DataError(f"{p}: attribute 'format_version': unsupported (value {ver!r}, expected {FORMAT_VERSION})")
        ds = f[WORDS]
        if ds.ndim != 2 or ds.shape[1] != N_INPUTS or ds.dtype.kind not in "iu":
            raise DataError(f"{p}: dataset '{WORDS}': shape {ds.shape} dtype {ds.dtype}, expected (N, {N_INPUTS}) "
                            "integers")
        n = int(ds.shape[0])
        declared = f.attrs.get("n_events")
        if declared is None or int(declared) != n:
            raise DataError(f"{p}: attribute 'n_events': {declared!r} does not match dataset '{WORDS}' ({n} rows)")
        for name in (SEED_BITS, "Weights", "Stratum", "EGammaIso"):
            if name in f and f[name].shape[0] != n:
                raise DataError(f"{p}: dataset '{name}': {f[name].shape[0]} rows for {n} events")
        attrs = {}
        for key in ("encoding_sha256", "source", "source_sha256"):
            v = _str(f.attrs.get(key))
            if not v:
                raise DataError(f"{p}: attribute '{key}': missing")
            attrs[key] = v
        seeds = tuple(_str(s) or "" for s in f.attrs.get("menu_seeds", ()))
        menu_sha = _str(f.attrs.get("menu_sha256")) if SEED_BITS in f else None
        if SEED_BITS in f and (menu_sha is None or f[SEED_BITS].shape[1:] != ((len(seeds) + 7) // 8,)):
            raise DataError(f"{p}: dataset '{SEED_BITS}': shape {f[SEED_BITS].shape} for {len(seeds)} seeds "
                            f"(attribute 'menu_sha256' {menu_sha!r})")
        chunk_rows = int(ds.chunks[0]) if ds.chunks else n
    return WordsHeader(p, n, attrs["encoding_sha256"], menu_sha, seeds, attrs["source"], attrs["source_sha256"],
                       max(chunk_rows, 1))


def check_compatible(header: WordsHeader, encoding: Any, menu: Any = None, menu_on_words: bool = False) -> None:
    """Refuse a file whose words or seed bits are not what this run would compute: another encoding config, or
    (menu evaluated on the float events) another menu or none stored."""
    cfg = getattr(encoding, "config", None)
    if cfg is None:
        raise DataError(f"{header.path}: attribute 'encoding_sha256': cannot be checked against an encoding without "
                        f"a config ({type(encoding).__name__})")
    want = config_sha256(cfg)
    if header.encoding_sha256 != want:
        raise DataError(f"{header.path}: attribute 'encoding_sha256': encoded with another encoding (value "
                        f"{header.encoding_sha256[:12]}, this run's {getattr(encoding, 'source', '')} is {want[:12]}); "
                        "re-run l1ad data encode")
    if menu is None or menu_on_words:
        return
    want = config_sha256(menu.config)
    if header.menu_sha256 is None:
        raise DataError(f"{header.path}: dataset '{SEED_BITS}': missing (encoded with --menu none); re-encode with the "
                        "run's menu or run rates with --menu none")
    if header.menu_sha256 != want or tuple(menu.seed_names) != header.menu_seeds:
        raise DataError(f"{header.path}: attribute 'menu_sha256': encoded with another menu (value "
                        f"{header.menu_sha256[:12]}, this run's is {want[:12]}); re-run l1ad data encode --menu")


def read_chunk(path: str | os.PathLike[str], start: int, stop: int, seed_bits: bool = True) -> EncodedChunk:
    """Words (file dtype) and seed bits of events ``start:stop``: one contiguous read per dataset."""
    with _open(path) as f:
        ds = f[WORDS]
        n = int(ds.shape[0])
        if not 0 <= start <= stop <= n:
            raise DataError(f"{path}: dataset '{WORDS}': events {start}:{stop} outside the file's {n}")
        words = np.empty((stop - start, ds.shape[1]), ds.dtype)
        bits = None
        try:
            if stop > start:
                ds.read_direct(words, np.s_[start:stop])
            if seed_bits and SEED_BITS in f:
                bits = np.asarray(f[SEED_BITS][start:stop], np.uint8)
        except (OSError, ValueError) as e:
            raise DataError(f"{path}: dataset '{WORDS}': cannot read events {start}..{stop - 1} (truncated or "
                            f"corrupt?): {str(e).splitlines()[0]}") from None
    return EncodedChunk(words, bits)


def unpack_seed_bits(bits: np.ndarray, n_seeds: int) -> np.ndarray:
    """(N, bytes) uint8 -> per-seed decisions bool (N, n_seeds)."""
    return np.unpackbits(bits, axis=1, count=n_seeds, bitorder="little").view(bool)


def write_words(source: str | os.PathLike[str], out: str | os.PathLike[str], encoding: Any, menu: Any = None,
                menu_path: str | None = None, chunk_size: int = 200_000, compression: str | None = None,
                progress: Any = None) -> dict[str, int]:
    """Encode ``source`` (an ADC2021 event file) into ``out`` (atomically); returns the saturation counts."""
    from l1ad.data.adc2021 import (
        DATASET,
        EGAMMA_ISO,
        STRATUM,
        WEIGHTS,
        count_events,
        iter_events,
        read_attrs,
    )
    from l1ad.io import atomic_file, sha256_file

    src = Path(source)
    n = count_events(src)
    if n == 0:
        raise DataError(f"{src}: field 'Particles': the file holds no events (value 0 events); nothing to encode")
    with h5py.File(src, "r") as f:
        chunk_rows = int(f[DATASET].chunks[0]) if f[DATASET].chunks else 8192
        extras = [k for k in (WEIGHTS, STRATUM, EGAMMA_ISO) if k in f]
        strata = f.attrs.get("strata")
    attrs = read_attrs(src)
    total = dict.fromkeys(encoding.overflow_keys, 0)
    dt = encoding.word_dtype
    rows = min(n, chunk_rows)
    # whole source chunks per block (no chunk decompressed twice), menu in cache-sized steps
    step = max(chunk_rows, chunk_size // chunk_rows * chunk_rows)
    n_bytes = (len(menu.seed_names) + 7) // 8 if menu is not None else 0
    with atomic_file(out, suffix=".h5") as tmp, h5py.File(tmp, "w") as h5, h5py.File(src, "r") as fsrc:
        ds = h5.create_dataset(WORDS, shape=(n, N_INPUTS), dtype=dt, chunks=(rows, N_INPUTS),
                               compression=compression)
        ds.attrs["fields"] = [f.name for f in encoding.fields]
        ds.attrs["widths"] = encoding.widths
        ds.attrs["signed"] = encoding.signed
        ds.attrs["lsb"] = encoding.lsb
        bits_ds = (h5.create_dataset(SEED_BITS, shape=(n, n_bytes), dtype=np.uint8, chunks=(rows, n_bytes),
                                     compression=compression) if menu is not None else None)
        for name in extras:
            s = fsrc[name]
            h5.create_dataset(name, shape=s.shape, dtype=s.dtype, chunks=(rows, *s.shape[1:]), compression=compression)
        lo = 0
        for block in iter_events(src, chunk_size=step):
            hi = lo + len(block)
            r = encoding.encode(block, dtype=dt)
            ds[lo:hi] = r.words
            for k, v in r.overflow.items():
                total[k] += v
            ext = {name: fsrc[name][lo:hi] for name in extras}
            for name, v in ext.items():
                h5[name][lo:hi] = v
            if bits_ds is not None:
                iso = ext.get(EGAMMA_ISO)
                bits = np.empty((hi - lo, n_bytes), np.uint8)
                for a in range(0, hi - lo, 8192):
                    b = min(a + 8192, hi - lo)
                    d = menu.evaluate(block[a:b], None if iso is None else np.asarray(iso[a:b], np.uint8))
                    bits[a:b] = np.packbits(d, axis=1, bitorder="little")
                bits_ds[lo:hi] = bits
            lo = hi
            if progress is not None:
                progress(len(block))
        for k, v in attrs.items():
            if isinstance(v, (str, int, float, bool)):
                h5.attrs[k] = v
        if strata is not None:
            h5.attrs["strata"] = strata
        h5.attrs.update({
            "format": FORMAT, "format_version": FORMAT_VERSION, "n_events": n,
            "encoding": str(encoding.source), "encoding_sha256": config_sha256(encoding.config),
            "source": str(src), "source_sha256": sha256_file(src),
        })
        if menu is not None:
            h5.attrs["menu"] = str(menu_path or "")
            h5.attrs["menu_sha256"] = config_sha256(menu.config)
            h5.attrs["menu_seeds"] = list(menu.seed_names)
        for k, v in total.items():
            h5.attrs[f"overflow.{k}"] = v
    return total
