"""fixedpoint.json: the one file format of the fixed-point description (one canonical form: same model, same bytes).

Format ``l1ad-fixedpoint/1``: name, input shape, input words, preprocessing, the layers (each ``kind`` + its
node's fields, integer arrays as lists) and the score. Layer kinds added later write only fields older readers
know, unless they use them (e.g. a padded convolution writes ``padding``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from l1ad.errors import ModelError
from l1ad.fixedpoint.layers.base import Node
from l1ad.fixedpoint.precision import InputField
from l1ad.fixedpoint.registry import NODE_TYPES
from l1ad.fixedpoint.score import Score
from l1ad.io import atomic_file

__all__ = ["FORMAT", "Description", "load_description", "save_description"]

FORMAT = "l1ad-fixedpoint/1"


@dataclass(frozen=True)
class Description:
    name: str
    input_shape: tuple[int, ...]
    inputs: tuple[InputField, ...]
    offset: np.ndarray
    shift: np.ndarray
    layers: tuple[Node, ...]
    score: Score

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "name": self.name,
            "input_shape": list(self.input_shape),
            "inputs": [{"name": f.name, "signed": f.signed, "width": f.width} for f in self.inputs],
            "preprocessing": {"offset": [int(v) for v in self.offset], "shift": [int(v) for v in self.shift]},
            "layers": [layer.to_json() for layer in self.layers],
            "score": self.score.to_json(),
        }


def save_description(desc: Description, path: str | os.PathLike[str]) -> Path:
    """Write the description as JSON (one canonical form: same model -> same bytes)."""
    path = Path(path)
    with atomic_file(path, suffix=".json") as tmp:
        tmp.write_text(json.dumps(desc.to_json(), indent=1, sort_keys=True) + "\n")
    return path


def load_description(path: str | os.PathLike[str]) -> Description:
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ModelError(f"{path}: cannot read fixed-point description: {e}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        value = doc.get("format") if isinstance(doc, dict) else None
        raise ModelError(f"{path}: field 'format': expected {FORMAT} (value {value!r})")
    layers = []
    for i, d in enumerate(doc.get("layers") or []):
        cls = NODE_TYPES.get(d.get("kind") if isinstance(d, dict) else None)
        if cls is None:
            raise ModelError(f"{path}: field 'layers[{i}].kind': unknown layer kind (value {d.get('kind')!r})")
        try:
            layers.append(cls.from_json(d))
        except (KeyError, TypeError, ValueError, ModelError) as e:
            raise ModelError(f"{path}: field 'layers[{i}]': invalid {cls.kind} layer ({e})") from None
    try:
        return Description(
            name=str(doc["name"]),
            input_shape=tuple(int(v) for v in doc["input_shape"]),
            inputs=tuple(InputField(**f) for f in doc["inputs"]),
            offset=np.asarray(doc["preprocessing"]["offset"], np.int64),
            shift=np.asarray(doc["preprocessing"]["shift"], np.int64),
            layers=tuple(layers),
            score=Score.from_json(doc["score"]),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ModelError(f"{path}: field {e}: missing or invalid in fixed-point description") from None
