"""hls4ml Vitis HLS project whose every precision comes from the fixed-point description; C-simulation check.

hls4ml's own inference would take the QKeras quantizer types but, e.g., ignores ``symmetric`` (SAT_SYM),
drops rounding/saturation for 0-fraction-bit quantizers and picks accumulator widths itself; setting every
result/accum precision from the description removes those traps.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from l1ad import _compat
from l1ad.errors import BuildError
from l1ad.bits import int_range
from l1ad.fixedpoint import FixedPointModel, Precision
from l1ad.fixedpoint.layers.base import HlsContext
from l1ad.io import atomic_dir
from l1ad.models.scoring import ScoreKind

__all__ = ["HlsResult", "build_hls", "hls_config", "input_precision"]

log = logging.getLogger(__name__)


def input_precision(fp: FixedPointModel) -> Precision:
    """One ap_fixed type holding every preprocessed input (word - offset) * 2**-shift exactly."""
    frac = int(fp.shift.max())
    lo, hi = 0, 0
    for f, off, sh in zip(fp.inputs, fp.offset, fp.shift, strict=False):
        wlo, whi = int_range(f.width, f.signed)
        scale = 1 << (frac - int(sh))
        lo, hi = min(lo, (wlo - int(off)) * scale), max(hi, (whi - int(off)) * scale)
    p = Precision.covering(lo, hi, frac)
    return Precision(p.width + (not p.signed), frac, True)  # signed: hls4ml inputs are fed as signed


def hls_config(fp: FixedPointModel, model: Any, clock_period_ns: float) -> dict[str, Any]:
    """hls4ml's per-layer config with every result/accumulator type taken from the description: each node sets
    its own (:meth:`l1ad.fixedpoint.layers.base.Node.hls`)."""
    hls4ml = _compat.hls4ml()
    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
    cfg["Model"]["Strategy"] = "Latency"
    names = cfg["LayerName"]
    in_prec = input_precision(fp)
    in_name = model.input_names[0]  # a Sequential model's implicit input layer is '<first layer>_input'
    names.setdefault(in_name, {}).setdefault("Precision", {})["result"] = in_prec.hls_type()
    node_names = frozenset([*(layer.name for layer in fp.layers), in_name])
    prev: Precision | None = in_prec
    for i, layer in enumerate(fp.layers):
        nxt = fp.layers[i + 1] if i + 1 < len(fp.layers) else None
        layer.hls(HlsContext(names, model, prev, nxt, node_names))
        prev = layer.output
    return cfg


@dataclass
class HlsResult:
    project_dir: Path
    outputs: np.ndarray  # network outputs, float64
    scores: np.ndarray  # raw integer score from the C simulation
    events_per_s: float
    compile_s: float
    csynth: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    precisions: dict[str, str] = field(default_factory=dict)  # hls4ml ModelGraph result types after inference


def build_hls(
    fp: FixedPointModel, model: Any, words: np.ndarray, project_dir: Path, part: str, clock_period_ns: float, name: str,
    final_dir: Path | None = None,
) -> HlsResult:
    """Convert, write and compile the hls4ml project into ``project_dir`` (atomically) and C-simulate ``words``.

    ``final_dir``: where the project will live once the caller commits it (default ``project_dir``); the
    project's scripts and configs name that path."""
    import time

    hls4ml = _compat.hls4ml()
    cfg = hls_config(fp, model, clock_period_ns)
    x = fp.preprocess_float(words)
    with atomic_dir(project_dir) as tmp:
        t0 = time.perf_counter()
        try:
            hm = hls4ml.converters.convert_from_keras_model(
                model,
                hls_config=cfg,
                output_dir=str(tmp),
                project_name=name.replace("-", "_"),
                backend="Vitis",
                io_type="io_parallel",
                part=part,
                clock_period=clock_period_ns,
            )
            graph = dict(hm.graph)
            for layer in fp.layers:
                layer.hls_patch(graph)
            hm.compile()
        except Exception as e:  # hls4ml raises plain exceptions
            raise BuildError(f"{project_dir}: hls4ml conversion/compile failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
        t1 = time.perf_counter()
        precisions = {layer.name: str(layer.get_output_variable().type.precision) for layer in hm.get_layers()}
        out = np.asarray(hm.predict(np.ascontiguousarray(x)), dtype=np.float64)
        t2 = time.perf_counter()
        xq = None
        if fp.score.type == ScoreKind.SQUARED_ERROR:  # the reference as the description computes it
            ref = fp.score.reference
            if ref is not None:
                q, f = fp.predict_layers(words)[ref]
                xq = np.ldexp(q.astype(np.float64), -f)
            else:
                xq = x
        scores = fp.score.raw_from_float(out, xq)
        csynth: dict[str, Any] = {}
        note = ""
        if shutil.which("vitis_hls"):
            csynth, note = _csynth(hm, tmp)
        else:
            note = "vitis_hls not on PATH: C synthesis skipped (RTL flow continues)"
        shutil.rmtree(tmp / "__pycache__", ignore_errors=True)
        final = str(Path(final_dir if final_dir is not None else project_dir).resolve())
        for f in tmp.rglob("*"):  # the project must name its final location, not the temporary one
            if f.is_file() and f.suffix in (".yml", ".tcl", ".sh", ".json", ".cfg"):
                text = f.read_text(errors="replace")
                new = text.replace(str(tmp.resolve()), final).replace(str(tmp), final)
                if new != text:
                    f.write_text(new)
    return HlsResult(project_dir, out, scores, len(words) / max(t2 - t1, 1e-9), t1 - t0, csynth, note, precisions)


def _csynth(hm: Any, prj: Path) -> tuple[dict[str, Any], str]:
    try:
        report = hm.build(csim=False, synth=True, vsynth=False)
    except (subprocess.CalledProcessError, OSError, RuntimeError) as e:
        return {}, f"vitis_hls C synthesis failed: {e}"
    return (report or {}), "vitis_hls C synthesis run"


def hls_version() -> str:
    try:
        return str(_compat.hls4ml().__version__)
    except Exception:  # pragma: no cover
        return "unknown"


_ = os
