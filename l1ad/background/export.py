"""Write each autoencoder of a trained pair as an ``l1ad`` model artifact (the team contract's layout).

``trigger.h5`` = inputs -> input quantizer -> ... -> reconstruction (what ``l1ad build`` turns into
firmware), ``model.h5`` = the same network (an AE has no training-only parts), ``model.json`` with
``kind: ae`` and ``score: squared_error``. No ``float.h5``: the pair is trained quantization-aware only.
"""

from __future__ import annotations

import dataclasses
import platform
from pathlib import Path
from typing import Any

from l1ad import __version__, _compat
from l1ad.io import atomic_dir, write_json
from l1ad.models.artifact import ArtifactMeta

__all__ = ["export_ae"]


def export_ae(out: Path, built: Any, *, name: str, preprocessing: dict[str, Any], quantizers: Any,
              architecture: dict[str, Any], data: dict[str, Any], training: dict[str, Any],
              history: dict[str, Any], metrics: dict[str, Any], fields: list[dict[str, Any]] | None = None) -> Path:
    """Write the artifact directory ``out`` atomically (replaces an existing one only when complete)."""
    tf = _compat.tensorflow()
    if fields is None:
        from l1ad.data.encoding import load_encoding

        fields = [dataclasses.asdict(f) for f in load_encoding().fields]
    model = built.model
    in_q = quantizers.input
    meta = {
        "name": name,
        "kind": "ae",
        "input": {"shape": [int(model.input_shape[-1])], "fields": fields},
        "preprocessing": preprocessing,
        "input_quantizer": {"bits": in_q.bits, "integer": in_q.integer, "signed": in_q.signed},
        "score": {"type": "squared_error", "output_layer": built.trigger_output},
        "quantizers": quantizers.describe(),
        "architecture": architecture,
        "data": {"background": data.get("background"),
                 "signals": {k: v for k, v in data.items() if k != "background"}},
        "training": training,
        "files": {"model": "model.h5", "trigger": "trigger.h5", "float": None},
        "versions": {"l1ad": __version__, "tensorflow": tf.__version__, "python": platform.python_version()},
    }
    with atomic_dir(out) as tmp:
        model.save(str(tmp / "model.h5"), save_format="h5", include_optimizer=False)
        built.trigger_model(model).save(str(tmp / "trigger.h5"), save_format="h5", include_optimizer=False)
        write_json(tmp / "model.json", ArtifactMeta.model_validate(meta).to_json())
        write_json(tmp / "history.json", history)
        write_json(tmp / "metrics.json", metrics)
    return out
