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
