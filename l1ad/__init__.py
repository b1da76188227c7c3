"""l1ad: Level-1 trigger anomaly detection, from QKeras training to bit-exact firmware and trigger rates.

Subpackages follow the data flow::

    data -> models/training -> fixedpoint (one description) -> {emulation, firmware (hls4ml, Verilog)}
         -> verification (cocotb) -> rates / background -> reports -> cli

The notebook API (imported lazily, so ``import l1ad`` does not load TensorFlow)::

    import l1ad
    fp = l1ad.FixedPointModel.from_keras(keras_model)      # the exact integer description
    scores = fp.predict(words)                             # the bit-exact integer emulator
    report = l1ad.build(keras_model, board="vu13p")        # hls4ml project + Verilog, all cross-checked
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from l1ad import _compat as _compat  # only sets TF_USE_LEGACY_KERAS=1 (Keras 2 for QKeras); loads nothing

__version__ = "0.1.0"

__all__ = ["FixedPointModel", "__version__", "build"]

if TYPE_CHECKING:
    from l1ad.fixedpoint import FixedPointModel


def build(
    model: Any,
    board: str = "vu13p",
    *,
    out: str | Path = "firmware",
    hls_dir: str | Path = "hls_projects",
    events: int = 100_000,
    data: str | Path | Sequence[str | Path] | None = None,
    clock_mhz: float | None = None,
    input_precision: str | None = None,
    encoding: str | None = None,
    shift: int | Sequence[int] | None = None,
    score: str | None = None,
    name: str | None = None,
    hls: bool = True,
) -> dict[str, Any]:
    """``l1ad build`` from Python: ``model`` is a Keras/QKeras model in memory, a ``.h5``/SavedModel path or an
    artifact directory. Returns the report (also written to ``<out>/<name>-<board>/report.json``); raises
    :class:`l1ad.errors.CheckFailed` / :class:`l1ad.errors.BuildError` when a bit-exactness check fails and
    :class:`l1ad.errors.UnsupportedLayerError` for a layer with no exact fixed-point form."""
    from l1ad.firmware.build import build as _build
    from l1ad.fixedpoint.source import ImportOptions

    sh = None if shift is None else ((int(shift),) if isinstance(shift, int) else tuple(int(v) for v in shift))
    opts = ImportOptions(input_precision, encoding, sh, score, name)  # type: ignore[arg-type]
    return _build(model, board, clock_mhz, out, hls_dir, events, data, hls=hls, options=opts)


def __getattr__(name: str) -> Any:
    if name == "FixedPointModel":
        from l1ad.fixedpoint import FixedPointModel

        return FixedPointModel
    raise AttributeError(f"module 'l1ad' has no attribute {name!r}")
