"""Atomic output helpers: write to a temporary path beside the target, rename when complete.

A crash, an error or Ctrl-C therefore never leaves a half-written file or directory in place of a good one,
and two processes writing the same output replace it whole, one after the other.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["StagedDir", "atomic_dir", "atomic_file", "check_output", "generated_section", "new_outputs_removed_on_failure",
           "sha256_file", "write_json"]


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's directory; on success rename it onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    tmp_path.chmod(0o666 & ~umask)  # mkstemp makes 0600
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


class StagedDir:
    """A fresh temporary directory beside ``target``, swapped in as a whole by :meth:`commit`.

    The swap holds an exclusive ``flock`` on the parent directory, so concurrent writers of the same output
    (two builds, two generations) each replace it whole, one after the other, and never see each other's
    half-moved state; the previous version is moved to a unique hidden name and removed after the swap.
    :meth:`discard` (or garbage after a crash) leaves ``target`` untouched.
    """

    def __init__(self, target: str | os.PathLike[str]) -> None:
        self.target = Path(target)
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.", suffix=".tmp", dir=self.target.parent))
        umask = os.umask(0)
        os.umask(umask)
        self.path.chmod(0o777 & ~umask)  # mkdtemp makes 0700; the result should look like a normal mkdir
        self.done = False

    def commit(self, target: str | os.PathLike[str] | None = None) -> Path:
        """Replace ``target`` (default: the one given at creation; it must be in the same directory)."""
        dest = Path(target) if target is not None else self.target
        if dest.resolve().parent != self.path.resolve().parent:
            raise ValueError(f"{dest}: a staged directory commits only beside itself ({self.path.parent})")
        with _dir_lock(dest.parent):
            old = None
            if dest.exists() or dest.is_symlink():
                old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old.", dir=dest.parent))
                os.replace(dest, old / "d")
            os.replace(self.path, dest)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        self.done = True
        return dest

    def discard(self) -> None:
        if not self.done:
            shutil.rmtree(self.path, ignore_errors=True)
            self.done = True

    def __enter__(self) -> StagedDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()  # no-op after commit


@contextlib.contextmanager
def _dir_lock(directory: Path) -> Iterator[None]:
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a fresh temporary directory beside ``path``; on success it replaces ``path`` as a whole."""
    with StagedDir(path) as staged:
        yield staged.path
        staged.commit()


@contextlib.contextmanager
def new_outputs_removed_on_failure(*paths: str | os.PathLike[str]) -> Iterator[None]:
    """If the block fails or is interrupted, remove what it created under ``paths`` (directories it made and
    entries that were not there before), so a failed or Ctrl-C'd command leaves nothing behind. Entries that
    existed before are left as they were (they are replaced only through atomic renames)."""
    before: dict[Path, set[str] | None] = {}
    for p in map(Path, paths):
        before[p] = set(os.listdir(p)) if p.is_dir() else None
    try:
        yield
    except BaseException:
        for p, had in before.items():
            if not p.is_dir():
                continue
            if had is None:
                shutil.rmtree(p, ignore_errors=True)
                continue
            for name in set(os.listdir(p)) - had:
                q = p / name
                if q.is_dir() and not q.is_symlink():
                    shutil.rmtree(q, ignore_errors=True)
                else:
                    q.unlink(missing_ok=True)
        raise


def check_output(path: str | os.PathLike[str], option: str, kind: str = "dir") -> Path:
    """Fail early, naming ``option`` and the value, when ``path`` cannot become an output ``kind`` ("dir" or
    "file"): an existing entry of the other kind, or an ancestor that exists but is not a directory."""
    from l1ad.errors import DataError

    p = Path(path)
    if kind == "dir" and p.exists() and not p.is_dir():
        raise DataError(f"{option}: exists and is not a directory (value '{p}')")
    if kind == "file" and p.is_dir():
        raise DataError(f"{option}: is a directory, expected a file path (value '{p}')")
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                raise DataError(f"{option}: {parent} is not a directory (value '{p}')")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise DataError(f"{option}: {parent} is not writable (value '{p}')")
            break
    return p


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    path = Path(path)
    with atomic_file(path, suffix=".json") as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")
    return path


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes, read in 4 MiB blocks (data provenance: which file a model saw)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def generated_section(path: str | os.PathLike[str], begin: str, end: str, body: str, check: bool = False) -> int:
    """Replace the text between the markers ``begin`` and ``end`` of a document (README's generated tables) by
    ``body`` (which carries the markers itself), atomically; with ``check`` only compare.

    Returns 0 (written, or up to date with ``check``), 1 (``check``: the section differs). Raises
    :class:`~l1ad.errors.DataError` naming the file when it cannot be read or lacks exactly one marker pair."""
    from l1ad.errors import DataError

    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise DataError(f"{p}: cannot read ({e.strerror})") from None
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise DataError(f"{p}: needs one '{begin}' ... '{end}' section")
    new = text[: text.index(begin)] + body + text[text.index(end) + len(end):]
    if check:
        return 0 if new == text else 1
    if new != text:
        with atomic_file(p) as tmp:
            tmp.write_text(new)
    return 0
