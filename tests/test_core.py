"""The package core: CLI entry point, strict config parsing, atomic outputs, the Keras compatibility module."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from l1ad import __version__
from l1ad.config import StrictModel, load_config
from l1ad.errors import ConfigError
from l1ad.io import atomic_dir, atomic_file, write_json


class _Inner(StrictModel):
    lr: float = 1e-3


class _Schema(StrictModel):
    name: str
    epochs: int = 3
    opt: _Inner = _Inner()


def test_version_and_help(cli):
    code, out, _ = cli("--version")
    assert code == 0 and out.strip() == f"l1ad {__version__}"
    code, out, _ = cli("--help")
    assert code == 0 and "Usage" in out


def test_every_command_has_help(cli):
    import typer.main

    from l1ad.cli import app

    group = typer.main.get_command(app)
    names = list(group.commands)  # type: ignore[attr-defined]
    assert names, "no subcommands registered"
    for name in names:
        code, out, _ = cli(name, "--help")
        assert code == 0, name
        assert "Usage" in out, name


def test_console_script_runs():
    r = subprocess.run([sys.executable, "-m", "l1ad", "--version"], capture_output=True, text=True, check=False)
    assert r.returncode == 0 and __version__ in r.stdout


def test_config_unknown_key_names_path(tmp_path: Path):
    p = tmp_path / "c.yaml"
    p.write_text("name: x\nopt:\n  lr: 0.1\n  momentum: 0.9\n")
    with pytest.raises(ConfigError) as e:
        load_config(_Schema, p)
    msg = str(e.value)
    assert str(p) in msg and "opt.momentum" in msg and "unknown key" in msg and "\n" not in msg


def test_config_wrong_type_names_value(tmp_path: Path):
    p = tmp_path / "c.yaml"
    p.write_text("name: x\nepochs: many\n")
    with pytest.raises(ConfigError, match=r"field 'epochs'.*'many'"):
        load_config(_Schema, p)


def test_config_bad_yaml(tmp_path: Path):
    p = tmp_path / "c.yaml"
    p.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(_Schema, p)


def test_config_valid(tmp_path: Path):
    p = tmp_path / "c.yaml"
    p.write_text("name: x\nopt: {lr: 0.5}\n")
    c = load_config(_Schema, p)
    assert c.name == "x" and c.epochs == 3 and c.opt.lr == 0.5


def test_atomic_file_leaves_nothing_on_error(tmp_path: Path):
    target = tmp_path / "out.json"
    target.write_text("good")
    with pytest.raises(RuntimeError):
        with atomic_file(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert target.read_text() == "good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_atomic_dir_replaces_whole(tmp_path: Path):
    target = tmp_path / "proj"
    with atomic_dir(target) as d:
        (d / "a").write_text("1")
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(target) as d:
            (d / "b").write_text("2")
            raise KeyboardInterrupt
    assert sorted(p.name for p in target.iterdir()) == ["a"]
    with atomic_dir(target) as d:
        (d / "c").write_text("3")
    assert sorted(p.name for p in target.iterdir()) == ["c"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proj"]


def test_write_json_numpy(tmp_path: Path):
    import numpy as np

    p = write_json(tmp_path / "x.json", {"a": np.int64(3), "b": np.arange(3), "c": np.float32(0.5)})
    assert json.loads(p.read_text()) == {"a": 3, "b": [0, 1, 2], "c": 0.5}


def test_compat_gives_keras2_and_aliases_keras():
    code = (
        "from l1ad import _compat; import os, sys;"
        "k = _compat.keras(); import keras;"
        "assert keras is k, keras; assert k.__version__.startswith('2.'), k.__version__;"
        "assert os.environ['TF_USE_LEGACY_KERAS'] == '1';"
        "tf = _compat.tensorflow(); assert tf.keras.layers.Dense.__module__.startswith('tf_keras'), tf.keras.layers.Dense;"
        "print('ok')"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-2000:]


def _commit_many(args: tuple[str, int, int]) -> int:
    """One writer: ``n`` times, stage a directory with ``files`` files all saying who wrote them, commit it."""
    from l1ad.io import atomic_dir

    target, tag, n = args
    for i in range(n):
        with atomic_dir(target) as tmp:
            for k in range(5):
                (tmp / f"f{k}").write_text(f"{tag}:{i}")
    return n


def test_atomic_dir_survives_concurrent_writers(tmp_path: Path):
    """Two processes x 300 commits of the same output: no FileNotFoundError/ENOTEMPTY, no .old/.tmp left, and
    the result is always one writer's whole directory (every file from the same commit)."""
    import multiprocessing as mp

    target = str(tmp_path / "out")
    with mp.get_context("fork").Pool(2) as pool:
        assert pool.map(_commit_many, [(target, "a", 300), (target, "b", 300)]) == [300, 300]
    contents = {p.read_text() for p in (tmp_path / "out").iterdir()}
    assert len(contents) == 1 and len(list((tmp_path / "out").iterdir())) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def _swap_happens_under_lock(tmp_path: Path, monkeypatch) -> bool:
    """Commit once while probing, at every rename, whether another opener can take the parent's lock."""
    import fcntl
    import os

    import l1ad.io as io

    real = os.replace
    held: list[bool] = []

    def probing_replace(src, dst):
        fd = os.open(tmp_path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held.append(False)  # nobody held it
        except BlockingIOError:
            held.append(True)
        finally:
            os.close(fd)
        return real(src, dst)

    monkeypatch.setattr(io.os, "replace", probing_replace)
    for _ in range(2):  # the second commit also moves the previous version aside
        with io.atomic_dir(tmp_path / "out") as d:
            (d / "f").write_text("x")
    monkeypatch.setattr(io.os, "replace", real)
    return len(held) == 3 and all(held)


def test_atomic_dir_swaps_under_the_parent_lock(tmp_path: Path, monkeypatch):
    """What makes concurrent writers safe: every rename of a commit happens while the parent's lock is held;
    with the lock taken out (fault injection) the probe sees it free."""
    import contextlib

    import l1ad.io as io

    (tmp_path / "a").mkdir()
    assert _swap_happens_under_lock(tmp_path / "a", monkeypatch)
    monkeypatch.setattr(io, "_dir_lock", lambda d: contextlib.nullcontext())
    (tmp_path / "b").mkdir()
    assert not _swap_happens_under_lock(tmp_path / "b", monkeypatch)


def test_new_outputs_removed_on_failure(tmp_path: Path):
    from l1ad.io import new_outputs_removed_on_failure

    keep = tmp_path / "existing"
    keep.mkdir()
    (keep / "old.txt").write_text("old")
    with pytest.raises(KeyboardInterrupt), new_outputs_removed_on_failure(keep, tmp_path / "made"):
        (keep / "new.txt").write_text("new")
        (tmp_path / "made").mkdir()
        (tmp_path / "made" / "x").write_text("x")
        raise KeyboardInterrupt
    assert sorted(p.name for p in keep.iterdir()) == ["old.txt"] and not (tmp_path / "made").exists()
    with new_outputs_removed_on_failure(keep):  # success keeps everything
        (keep / "new.txt").write_text("new")
    assert (keep / "new.txt").exists()


def test_progress_logs_without_a_tty_at_most_every_interval(caplog):
    import logging

    from l1ad.progress import Progress

    caplog.set_level(logging.INFO, logger="l1ad")
    with Progress("gen", interval=3600, tty=False) as p:
        p.add("zero_bias", 1000)
        for _ in range(10):
            p.advance("zero_bias", 100)
    lines = [r.getMessage() for r in caplog.records if r.name == "l1ad.progress"]
    assert len(lines) == 1 and lines[0].startswith("gen: done in") and "1,000/1,000 (100 %" in lines[0]
    caplog.clear()
    with Progress("gen", interval=0, tty=False) as p:
        p.add("zero_bias", 1000)
        p.advance("zero_bias", 250)
    lines = [r.getMessage() for r in caplog.records if r.name == "l1ad.progress"]
    assert "250/1,000 (25 %" in lines[0] and "ETA" in lines[0] and len(lines) == 2
