"""YAML configs parsed once, at the edge, into typed pydantic objects.

Unknown keys are errors (``extra='forbid'``); every error names the file, the dotted path of the field and
the offending value, in one line. Library code receives typed objects, never raw dicts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from l1ad.errors import ConfigError

__all__ = ["CONFIG_DIR", "StrictModel", "config_path", "load_config", "load_yaml", "parse_config"]

#: the repository's ``configs/`` directory (built-in defaults live there)
CONFIG_DIR = Path(os.environ.get("L1AD_CONFIG_DIR", Path(__file__).resolve().parent.parent / "configs"))

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base for every config schema: unknown keys rejected, values validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


def config_path(name: str | os.PathLike[str]) -> Path:
    """Resolve a config name: an existing path as given, else relative to ``configs/``."""
    p = Path(name)
    if p.exists():
        return p
    q = CONFIG_DIR / p
    if q.exists():
        return q
    raise ConfigError(f"{p}: config file not found (also looked in {CONFIG_DIR})")


def load_yaml(path: str | os.PathLike[str]) -> Any:
    path = config_path(path)
    try:
        with open(path) as f:
            return yaml.safe_load(f)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where} invalid YAML: {getattr(e, 'problem', e)}") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None


def parse_config(schema: type[M], data: Any, source: str | os.PathLike[str] = "<config>") -> M:
    """Validate ``data`` against ``schema``; raise :class:`ConfigError` naming file, field path and value."""
    if data is None:
        data = {}
    try:
        return schema.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "<top>"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        value = err.get("input")
        shown = repr(value) if not isinstance(value, dict) else "{...}"
        if len(shown) > 80:
            shown = shown[:77] + "..."
        more = f" (+{len(e.errors()) - 1} more)" if len(e.errors()) > 1 else ""
        raise ConfigError(f"{source}: field '{loc}': {msg} (value {shown}){more}") from None


def load_config(schema: type[M], path: str | os.PathLike[str]) -> M:
    """Read a YAML file and validate it against ``schema``."""
    p = config_path(path)
    return parse_config(schema, load_yaml(p), p)
