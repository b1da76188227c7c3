"""The firmware's input words for a model: their formats and the ``(word - offset) * 2**-shift`` preprocessing.

For a model brought by the user (no l1ad artifact), in this order of precedence:

* ``encoding='gt'``: the 57 GT words of ``configs/l1_objects.yaml`` (MET, 4 e/γ, 4 μ, 10 jets × pT, η, φ),
  each taken as ``word * 2**-shift`` (``shift``: one integer or one per input; default the input quantizer's
  fraction bits, else 0);
* ``input_precision`` (hls4ml syntax, e.g. ``ap_fixed<16,6>``): every input is a word of that type;
* the model's input quantizer (first layer ``QActivation``): every input is a code of that quantizer;
* else hls4ml's default input type ``ap_fixed<16,6>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from l1ad.errors import ModelError
from l1ad.fixedpoint.precision import InputField, Precision, parse_hls_type

__all__ = ["DEFAULT_INPUT_PRECISION", "ENCODINGS", "InputSpec", "resolve_inputs"]

DEFAULT_INPUT_PRECISION = "ap_fixed<16,6>"
ENCODINGS = ("gt",)


@dataclass(frozen=True)
class InputSpec:
    fields: tuple[InputField, ...]
    offset: np.ndarray
    shift: np.ndarray
    source: str  # where the format came from (for model.json and the report)

    def to_json(self) -> dict[str, Any]:
        return {"fields": [{"name": f.name, "width": f.width, "signed": f.signed} for f in self.fields],
                "preprocessing": {"offset": [int(v) for v in self.offset], "shift": [int(v) for v in self.shift]},
                "source": self.source}


def _quantizer_precision(model: Any) -> tuple[str, Precision] | None:
    from l1ad.fixedpoint.layers.quantize import is_quantizer, quantizer_precision
    from l1ad.models.scoring import input_quantizer_layer

    layer = input_quantizer_layer(model)
    if layer is None or not is_quantizer(layer.quantizer):
        return None
    return layer.name, quantizer_precision(layer.quantizer, layer.name, "QActivation")


def _shifts(shift: int | Sequence[int] | None, n: int, default: int) -> np.ndarray:
    if shift is None:
        return np.full(n, default, np.int64)
    if isinstance(shift, int | np.integer):
        return np.full(n, int(shift), np.int64)
    vals = [int(v) for v in shift]
    if len(vals) == 1:
        return np.full(n, vals[0], np.int64)
    if len(vals) != n:
        raise ModelError(f"--shift: {len(vals)} values for {n} inputs (value {vals})")
    return np.asarray(vals, np.int64)


def resolve_inputs(model: Any, *, input_precision: str | None = None, encoding: str | None = None,
                   shift: int | Sequence[int] | None = None) -> InputSpec:
    """Input words and preprocessing of a bare Keras ``model`` (see the module docstring for the rules)."""
    n = int(np.prod(model.input_shape[1:]))
    iq = _quantizer_precision(model)
    if encoding is not None:
        if encoding not in ENCODINGS:
            raise ModelError(f"--encoding: unknown encoding (value {encoding!r}; known: {', '.join(ENCODINGS)})")
        if input_precision is not None:
            raise ModelError("--input-precision: give either --encoding gt or --input-precision, not both")
        from l1ad.data.encoding import load_encoding

        enc = load_encoding()
        if len(enc.fields) != n:
            raise ModelError(f"--encoding gt: the model takes {n} inputs, the GT encoding has {len(enc.fields)} words")
        fields = tuple(InputField(f.name, int(f.width), bool(f.signed)) for f in enc.fields)
        sh = _shifts(shift, n, iq[1].frac if iq else 0)
        src = f"GT words (configs/l1_objects.yaml), shift {sh.tolist() if len(set(sh.tolist())) > 1 else int(sh[0])}"
        return InputSpec(fields, np.zeros(n, np.int64), sh, src)
    if shift is not None:
        raise ModelError("--shift: only with --encoding gt (otherwise the input type fixes the binary point)")
    if input_precision is not None:
        p, src = parse_hls_type(input_precision), f"--input-precision {input_precision}"
    elif iq is not None:
        p, src = iq[1], f"codes of the input quantizer '{iq[0]}' ({iq[1].ap_type().split(',AP_')[0]}>)"
    else:
        p, src = parse_hls_type(DEFAULT_INPUT_PRECISION), f"default input type {DEFAULT_INPUT_PRECISION}"
    fields = tuple(InputField(f"in{i}", p.width, p.signed) for i in range(n))
    return InputSpec(fields, np.zeros(n, np.int64), np.full(n, p.frac, np.int64), src)
