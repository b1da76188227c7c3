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
from l1ad.fixedpoint import FixedPointModel
from l1ad.fixedpoint.types import Conv1D, Dense, Precision, Quantize, Relu
from l1ad.io import atomic_dir

__all__ = ["HlsResult", "build_hls", "hls_config", "input_precision"]

log = logging.getLogger(__name__)


def _hls_type(p: Precision) -> str:
    base = "fixed" if p.signed else "ufixed"
    return f"{base}<{p.width},{p.integer},{p.rounding},{p.saturation},0>"


def input_precision(fp: FixedPointModel) -> Precision:
    """One ap_fixed type holding every preprocessed input (word - offset) * 2**-shift exactly."""
    frac = int(fp.shift.max())
    lo, hi = 0, 0
    for f, off, sh in zip(fp.inputs, fp.offset, fp.shift, strict=False):
        wlo = -(1 << (f.width - 1)) if f.signed else 0
        whi = (1 << (f.width - 1)) - 1 if f.signed else (1 << f.width) - 1
        scale = 1 << (frac - int(sh))
        lo, hi = min(lo, (wlo - int(off)) * scale), max(hi, (whi - int(off)) * scale)
    p = Precision.covering(lo, hi, frac)
    return Precision(p.width + (not p.signed), frac, True)  # signed: hls4ml inputs are fed as signed


def hls_config(fp: FixedPointModel, model: Any, clock_period_ns: float) -> dict[str, Any]:
    hls4ml = _compat.hls4ml()
    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
    cfg["Model"]["Strategy"] = "Latency"
    names = cfg["LayerName"]
    by_name = {layer.name: layer for layer in fp.layers}
    first = model.layers[0]
    if type(first).__name__ == "InputLayer" and first.name in names:
        names[first.name]["Precision"]["result"] = _hls_type(input_precision(fp))
    for i, layer in enumerate(fp.layers):
        if layer.name in names:
            prec = names[layer.name].setdefault("Precision", {})
            prec["result"] = _hls_type(layer.output)
            if isinstance(layer, (Dense, Conv1D)):
                prec["accum"] = _hls_type(layer.output)
        if isinstance(layer, (Dense, Conv1D)):
            nxt = fp.layers[i + 1] if i + 1 < len(fp.layers) else None
            for hname in names:
                if hname.startswith(f"{layer.name}_") and hname not in by_name:
                    act = nxt if (isinstance(nxt, (Quantize, Relu)) and nxt.name.startswith(layer.name)) else layer
                    names[hname].setdefault("Precision", {})["result"] = _hls_type(act.output)
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


def score_from_outputs(fp: FixedPointModel, out: np.ndarray, xq: np.ndarray | None) -> np.ndarray:
    """Raw integer score from float network outputs (exact: dyadic values, float64 sums)."""
    out = out.reshape(len(out), -1).astype(np.float64)
    t = fp.score.type
    if t == "identity":
        s = out[:, 0]
    elif t == "sum_squares":
        s = np.sum(out * out, axis=1)
    else:
        assert xq is not None
        d = out - xq.reshape(len(xq), -1)
        s = np.sum(d * d, axis=1)
    raw = np.ldexp(s, fp.score.output.frac)
    bad = raw != np.round(raw)
    raw = np.where(bad, -(2**62), raw)  # not representable -> guaranteed mismatch, reported
    return raw.astype(np.int64)


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
            hm.compile()
        except Exception as e:  # hls4ml raises plain exceptions
            raise BuildError(f"{project_dir}: hls4ml conversion/compile failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
        t1 = time.perf_counter()
        precisions = {layer.name: str(layer.get_output_variable().type.precision) for layer in hm.get_layers()}
        out = np.asarray(hm.predict(np.ascontiguousarray(x)), dtype=np.float64)
        t2 = time.perf_counter()
        xq = None
        if fp.score.type == "squared_error":
            ql = fp.layers[0]
            xq = np.ldexp(fp.predict_layers(words)[ql.name][0].astype(np.float64), -ql.output.frac)
        scores = score_from_outputs(fp, out, xq)
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
