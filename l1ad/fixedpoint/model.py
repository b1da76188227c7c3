"""``FixedPointModel``: the single fixed-point source of truth (emulator, RTL and hls4ml all derive from it).

Build it from a QKeras model (:meth:`FixedPointModel.from_keras`), an artifact (:meth:`from_artifact`) or its
JSON (:meth:`load`); calling :meth:`predict` on integer input words *is* the reference integer emulator.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from l1ad.bits import int_range
from l1ad.errors import DataError
from l1ad.fixedpoint.description import Description, load_description, save_description
from l1ad.fixedpoint.fast import FastPath, compile_fast
from l1ad.fixedpoint.layers.base import Node
from l1ad.fixedpoint.layers.quantize import Quantize
from l1ad.fixedpoint.precision import InputField, Precision
from l1ad.fixedpoint.score import Score
from l1ad.models.scoring import ScoreKind, default_score, parse_score

__all__ = ["FixedPointModel"]


class FixedPointModel:
    """Input words -> preprocessing ``(word - offset) * 2**-shift`` -> layers -> score, every value an exact
    integer. ``notes``: what the conversion wants the user to know (e.g. a batch norm's multiplier cost)."""

    def __init__(
        self,
        name: str,
        input_shape: tuple[int, ...],
        inputs: Sequence[InputField],
        offset: np.ndarray,
        shift: np.ndarray,
        layers: Sequence[Node],
        score: Score,
        notes: Sequence[str] = (),
    ):
        self.name = name
        self.input_shape = tuple(input_shape)
        self.inputs = tuple(inputs)
        self.offset = np.asarray(offset, np.int64)
        self.shift = np.asarray(shift, np.int64)
        self.layers = tuple(layers)
        self.score = score
        self.notes = tuple(notes)

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_keras(
        cls,
        model: Any,
        preprocessing: dict[str, Any] | None = None,
        score: str | ScoreKind | dict[str, Any] | None = None,
        inputs: Sequence[InputField] | None = None,
        name: str | None = None,
        *,
        input_precision: str | None = None,
        encoding: str | None = None,
        shift: int | Sequence[int] | None = None,
    ) -> FixedPointModel:
        """Describe a QKeras trigger model.

        Input words: explicit ``preprocessing`` ({"offset", "shift"} lists) with ``inputs`` (default 16-bit signed
        words), or the rules of :func:`l1ad.fixedpoint.inputs.resolve_inputs` (``encoding='gt'`` + ``shift``,
        ``input_precision`` in hls4ml syntax, the model's input quantizer, ``ap_fixed<16,6>``). ``score``:
        identity / sum_squares / squared_error (default identity for one output, Σ squares otherwise)."""
        from l1ad.fixedpoint.convert import nodes_from_keras

        n = int(np.prod(model.input_shape[1:]))
        if preprocessing is not None:
            offset = np.asarray(preprocessing["offset"], np.int64)
            sh = np.asarray(preprocessing["shift"], np.int64)
            if len(model.input_shape) > 2 and offset.size == model.input_shape[-1] != n:  # per-feature -> element
                offset, sh = np.tile(offset, n // offset.size), np.tile(sh, n // sh.size)
            fields = list(inputs) if inputs is not None else [InputField(f"in{i}", 16, True) for i in range(n)]
        else:
            from l1ad.fixedpoint.inputs import resolve_inputs

            spec = resolve_inputs(model, input_precision=input_precision, encoding=encoding, shift=shift)
            fields, offset, sh = list(spec.fields), spec.offset, spec.shift
        kind = score["type"] if isinstance(score, dict) else score
        n_out = int(np.prod(model.output_shape[1:]))
        kind = parse_score(kind, "--score") if kind is not None else default_score(n_out)
        layers, sc, in_shape, notes = nodes_from_keras(model, fields, offset, sh, kind)
        return cls(name or model.name, in_shape, fields, offset, sh, layers, sc, notes)

    @classmethod
    def from_artifact(cls, path: str | os.PathLike[str]) -> FixedPointModel:
        """The description of an artifact's ``trigger.h5`` with the inputs and score its ``model.json`` records."""
        from l1ad.models.artifact import load_artifact

        art = load_artifact(path)
        words, pre = art.meta.firmware_inputs(Path(path) / "model.json")
        fields = [InputField(*w) for w in words]
        return cls.from_keras(art.trigger_model, pre, art.meta.score.type, fields, name=art.meta.name)

    @property
    def description(self) -> Description:
        return Description(self.name, self.input_shape, self.inputs, self.offset, self.shift, self.layers, self.score)

    def save(self, path: str | os.PathLike[str]) -> Path:
        return save_description(self.description, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FixedPointModel:
        d = load_description(path)
        return cls(d.name, d.input_shape, d.inputs, d.offset, d.shift, d.layers, d.score)

    # ---------------------------------------------------------------- properties
    @property
    def n_inputs(self) -> int:
        return len(self.inputs)

    def _layer_bits(self) -> int:
        return max([node.work_bits() for node in self.layers] + [f.width + 1 for f in self.inputs])

    @property
    def float_exact(self) -> bool:
        """True when every intermediate integer stays below 2**52: the emulator then runs on float64 BLAS."""
        return max(self._layer_bits(), self.score.output.width) <= 52

    @property
    def score_precision(self) -> tuple[int, bool, int]:
        p = self.score.output
        return p.width, p.signed, p.frac

    @property
    def input_quantizer(self) -> Quantize | None:
        """The first node when it is the model's input quantizer."""
        first = self.layers[0] if self.layers else None
        return first if isinstance(first, Quantize) else None

    def preprocess_float(self, words: np.ndarray) -> np.ndarray:
        """(word - offset) * 2**-shift as float64 (exact): what the QKeras trigger model is fed."""
        w = self._check(words).astype(np.int64, copy=False)
        return np.ldexp((w - self.offset).astype(np.float64), -self.shift).reshape((-1, *self.input_shape))

    def score_to_float(self, raw: np.ndarray) -> np.ndarray:
        return np.ldexp(np.asarray(raw, np.float64), -self.score.output.frac)

    def keras_scores(self, keras_model: Any, words: np.ndarray, batch_size: int = 16384) -> np.ndarray:
        """The raw integer score as the QKeras model computes it (float32 network, exact float64 score)."""
        from l1ad.models.scoring import model_outputs, reference_inputs

        x = self.preprocess_float(words).astype(np.float32)
        out = model_outputs(keras_model, x, batch_size)
        ref = reference_inputs(keras_model, x) if self.score.type == ScoreKind.SQUARED_ERROR else None
        return self.score.raw_from_float(out, ref)

    # ---------------------------------------------------------------- emulation
    def _check(self, words: np.ndarray) -> np.ndarray:
        """The words as an integer (N, inputs) array (any integer dtype, not copied)."""
        w = np.asarray(words)
        if w.ndim != 2 or w.shape[1] != self.n_inputs or not np.issubdtype(w.dtype, np.integer):
            raise DataError(f"{self.name}: expected integer words of shape (N, {self.n_inputs}), got {w.dtype} {w.shape}")
        return w

    def _run(self, words: np.ndarray, keep: bool = True) -> tuple[dict[str, tuple[np.ndarray, int]], dict[str, int], np.ndarray]:
        w = self._check(words).astype(np.int64, copy=False)
        x = (w - self.offset).reshape((-1, *self.input_shape))
        if self.float_exact:
            x = x.astype(np.float64)
        frac: np.ndarray | int = self.shift.reshape(self.input_shape)
        if self.shift.size and np.all(self.shift == self.shift[0]):
            frac = int(self.shift[0])
        ref: tuple[np.ndarray, int] | None = None
        if self.score.type == ScoreKind.SQUARED_ERROR and self.score.reference is None:
            ref = (x, int(frac))
        prec: Precision | None = None
        outs: dict[str, tuple[np.ndarray, int]] = {}
        over: dict[str, int] = {}
        for layer in self.layers:
            x, n = layer.emulate(x, frac, prec)
            frac, prec = layer.output.frac, layer.output
            if keep:
                outs[layer.name] = (x.astype(np.int64), frac)
            if layer.name == self.score.reference:
                ref = (x, frac)
            over[layer.name] = n
        s, n = self.score.emulate(x, int(frac), ref[0] if ref else None, ref[1] if ref else None)
        over["score"] = n
        s = s.astype(np.int64)
        outs["score"] = (s, self.score.output.frac)
        return outs, over, s

    def __getstate__(self) -> dict:
        # the compiled fast path is a closure: drop it so models pickle (Dask workers rebuild it on first use)
        d = self.__dict__.copy()
        d.pop("_fast", None)
        return d

    @property
    def fast_path(self) -> FastPath | None:
        """The compiled fast path (float32 or float64 BLAS, proven exact from the description's bounds), or None
        when the integers are too wide for it (then :meth:`predict` runs the generic int64 path)."""
        if not hasattr(self, "_fast"):
            self._fast = compile_fast(self.layers, self.inputs, self.offset, self.shift, self.input_shape, self.score)
        return self._fast

    def predict(self, words: np.ndarray, batch_size: int = 32_768) -> np.ndarray:
        """Raw integer score (N,) int64, LSB 2**-score.output.frac, of valid input words (N, inputs) of any integer
        dtype (narrow words, e.g. int16, are read faster)."""
        w = self._check(words)
        fast = self.fast_path
        if fast is not None:
            with _one_blas_thread():  # small products: threads only add contention
                return fast(w)
        parts = [self._run(w[i : i + batch_size], keep=False)[2] for i in range(0, len(w), batch_size)]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def predict_generic(self, words: np.ndarray) -> np.ndarray:
        """The layer-by-layer path (also used for overflow counts); identical results to :meth:`predict`."""
        return self._run(self._check(words), keep=False)[2]

    def predict_layers(self, words: np.ndarray) -> dict[str, tuple[np.ndarray, int]]:
        """Every layer's integer output and its frac bits (plus 'score')."""
        return self._run(words)[0]

    def overflow_counts(self, words: np.ndarray, batch_size: int = 32_768) -> dict[str, int]:
        """Per layer: how many values left their precision's range (saturated or wrapped)."""
        w = self._check(words)
        total: dict[str, int] = {}
        for i in range(0, len(w), batch_size):
            for k, v in self._run(w[i : i + batch_size], keep=False)[1].items():
                total[k] = total.get(k, 0) + v
        return total

    def random_words(self, n: int, seed: int = 0) -> np.ndarray:
        """Uniformly random valid input words (each field's full range)."""
        rng = np.random.default_rng(seed)
        cols = []
        for f in self.inputs:
            lo, hi = int_range(f.width, f.signed)
            cols.append(rng.integers(lo, hi, n, dtype=np.int64, endpoint=True))
        return np.stack(cols, axis=1) if cols else np.zeros((n, 0), np.int64)

    def summary(self) -> list[dict[str, Any]]:
        rows = []
        for layer in self.layers:
            row: dict[str, Any] = {"name": layer.name, "kind": layer.kind, "output": layer.output.ap_type()}
            w = getattr(layer, "weights", None)
            if isinstance(w, np.ndarray):
                row["weights"] = list(w.shape)
            rows.append(row)
        rows.append({"name": "score", "kind": str(self.score.type), "output": self.score.output.ap_type()})
        return rows


@functools.cache
def _blas_controller() -> Any:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover
        return None
    return ThreadpoolController()  # finds the BLAS libraries once (a fresh threadpool_limits scans every call)


def _one_blas_thread() -> Any:
    ctl = _blas_controller()
    return ctl.limit(limits=1, user_api="blas") if ctl is not None else contextlib.nullcontext()
