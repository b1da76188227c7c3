"""``FixedPointModel``: the single fixed-point source of truth (emulator, RTL and hls4ml all derive from it)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from l1ad.bits import int_range
from l1ad.errors import DataError, ModelError
from l1ad.fixedpoint import emulator
from l1ad.fixedpoint.convert import layers_from_keras
from l1ad.fixedpoint.types import (
    Dense,
    InputField,
    Layer,
    Precision,
    Quantize,
    Score,
    load_description,
    save_description,
)

__all__ = ["FixedPointModel", "input_fields_from_meta"]


class FixedPointModel:
    def __init__(
        self,
        name: str,
        input_shape: tuple[int, ...],
        inputs: list[InputField],
        offset: np.ndarray,
        shift: np.ndarray,
        layers: list[Layer],
        score: Score,
    ):
        self.name = name
        self.input_shape = tuple(input_shape)
        self.inputs = list(inputs)
        self.offset = np.asarray(offset, np.int64)
        self.shift = np.asarray(shift, np.int64)
        self.layers = list(layers)
        self.score = score

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_keras(
        cls,
        model: Any,
        preprocessing: dict[str, Any],
        score: str | dict[str, Any],
        inputs: list[InputField] | None = None,
        name: str | None = None,
    ) -> FixedPointModel:
        """Describe a QKeras trigger model. ``inputs`` default to 16-bit signed words (for tests/foreign models)."""
        offset = np.asarray(preprocessing["offset"], np.int64)
        shift = np.asarray(preprocessing["shift"], np.int64)
        n = int(np.prod(model.input_shape[1:]))
        if len(model.input_shape) > 2 and offset.size == model.input_shape[-1] != n:  # per-feature -> per-element
            offset, shift = np.tile(offset, n // offset.size), np.tile(shift, n // shift.size)
        if inputs is None:
            inputs = [InputField(f"in{i}", 16, True) for i in range(n)]
        score_type = score if isinstance(score, str) else score["type"]
        layers, sc, in_shape = layers_from_keras(model, inputs, offset, shift, score_type)
        return cls(name or model.name, in_shape, inputs, offset, shift, layers, sc)

    @classmethod
    def from_artifact(cls, path: str | os.PathLike[str]) -> FixedPointModel:
        from l1ad.models import load_artifact

        art = load_artifact(path)
        meta = art.meta
        shape = list((meta.get("input") or {}).get("shape") or [])
        fields = (meta.get("input") or {}).get("fields") or []
        if len(shape) > 1 and fields and not all(isinstance(f, dict) and "width" in f for f in fields):
            # CNN on float features: the firmware takes input-quantizer codes (features already scaled upstream
            # by the artifact's power-of-two preprocessing), so word = code and v = code * 2**-frac exactly.
            iq = meta["input_quantizer"]
            bits, signed = int(iq["bits"]), bool(iq["signed"])
            frac = bits - int(signed) - int(iq["integer"])
            names = [f["name"] if isinstance(f, dict) else str(f) for f in fields]
            inputs = [InputField(f"{names[c]}_{p}", bits, signed) for p in range(int(np.prod(shape[:-1]))) for c in range(len(names))]
            pre = {"offset": [0] * len(inputs), "shift": [frac] * len(inputs)}
            return cls.from_keras(art.trigger_model, pre, meta["score"], inputs, name=meta["name"])
        inputs = input_fields_from_meta(meta, Path(path) / "model.json")
        return cls.from_keras(art.trigger_model, meta["preprocessing"], meta["score"], inputs, name=meta["name"])

    def save(self, path: str | os.PathLike[str]) -> Path:
        return save_description(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FixedPointModel:
        d = load_description(path)
        return cls(d["name"], d["input_shape"], d["inputs"], d["offset"], d["shift"], d["layers"], d["score"])

    # ---------------------------------------------------------------- properties
    @property
    def n_inputs(self) -> int:
        return len(self.inputs)

    @property
    def float_exact(self) -> bool:
        """True when every intermediate integer stays below 2**52: the emulator then runs on float64 BLAS."""
        widths = [layer.output.width for layer in self.layers] + [self.score.output.width]
        widths += [f.width + 1 for f in self.inputs]
        for layer in self.layers:
            if isinstance(layer, Dense):
                widths.append(layer.output.width + int(np.abs(layer.weights).sum(axis=0).max()).bit_length())
        return max(widths) <= 52

    @property
    def score_precision(self) -> tuple[int, bool, int]:
        p = self.score.output
        return p.width, p.signed, p.frac

    @property
    def input_quantizer(self) -> Quantize:
        first = self.layers[0]
        assert isinstance(first, Quantize)
        return first

    def preprocess_float(self, words: np.ndarray) -> np.ndarray:
        """(word - offset) * 2**-shift as float64 (exact): what the QKeras trigger model is fed."""
        w = self._check(words)
        return np.ldexp((w - self.offset).astype(np.float64), -self.shift).reshape((-1, *self.input_shape))

    def score_to_float(self, raw: np.ndarray) -> np.ndarray:
        return np.ldexp(np.asarray(raw, np.float64), -self.score.output.frac)

    # ---------------------------------------------------------------- emulation
    def _check(self, words: np.ndarray) -> np.ndarray:
        w = np.asarray(words)
        if w.ndim != 2 or w.shape[1] != self.n_inputs or not np.issubdtype(w.dtype, np.integer):
            raise DataError(f"{self.name}: expected integer words of shape (N, {self.n_inputs}), got {w.dtype} {w.shape}")
        return w if w.dtype == np.int64 else w.astype(np.int64)

    def _run(self, words: np.ndarray, keep: bool = True) -> tuple[dict[str, tuple[np.ndarray, int]], dict[str, int], np.ndarray]:
        w = self._check(words)
        x = (w - self.offset).reshape((-1, *self.input_shape))
        if self.float_exact:
            x = x.astype(np.float64)
        frac: np.ndarray | int = self.shift.reshape(self.input_shape)
        prec: Precision | None = None
        outs: dict[str, tuple[np.ndarray, int]] = {}
        over: dict[str, int] = {}
        for layer in self.layers:
            x, n = emulator.run_layer(layer, x, frac, prec)
            frac, prec = layer.output.frac, layer.output
            if keep:
                outs[layer.name] = (x.astype(np.int64), frac)
            elif layer.name == self.score.reference:
                outs[layer.name] = (x, frac)
            over[layer.name] = n
        ref = outs.get(self.score.reference) if self.score.reference else None
        s, n = emulator.run_score(self.score, x, int(frac), ref[0] if ref else None, ref[1] if ref else None)
        over["score"] = n
        s = s.astype(np.int64)
        outs["score"] = (s, self.score.output.frac)
        return outs, over, s

    def __getstate__(self) -> dict:
        # the compiled fast path is a closure: drop it so models pickle (Dask workers rebuild it on first use)
        d = self.__dict__.copy()
        d.pop("_fast", None)
        return d

    def predict(self, words: np.ndarray, batch_size: int = 32_768) -> np.ndarray:
        """Raw integer score (N,) int64, LSB 2**-score.output.frac."""
        w = self._check(words)
        if not hasattr(self, "_fast"):
            from l1ad.fixedpoint.fast import compile_fast

            self._fast = compile_fast(self)
        if self._fast is not None:
            if not len(w):
                return np.zeros(0, np.int64)
            bs = 8192
            with _one_blas_thread():  # small products: threads only add contention
                return np.concatenate([self._fast(w[i : i + bs]) for i in range(0, len(w), bs)])
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
            if isinstance(layer, Dense):
                row["weights"] = list(layer.weights.shape)
            rows.append(row)
        rows.append({"name": "score", "kind": self.score.type, "output": self.score.output.ap_type()})
        return rows


def _one_blas_thread() -> Any:
    try:
        from threadpoolctl import threadpool_limits

        return threadpool_limits(1)
    except ImportError:  # pragma: no cover
        import contextlib

        return contextlib.nullcontext()


def input_fields_from_meta(meta: dict[str, Any], source: Path) -> list[InputField]:
    """Input word formats from model.json ``input.fields`` (dicts with width/signed, or names in the encoding)."""
    fields = (meta.get("input") or {}).get("fields") or []
    out: list[InputField] = []
    enc_fields = None
    for i, f in enumerate(fields):
        if isinstance(f, dict) and "width" in f:
            out.append(InputField(str(f.get("name", f"in{i}")), int(f["width"]), bool(f.get("signed", False))))
            continue
        if enc_fields is None:
            try:
                from l1ad.data.encoding import load_encoding

                enc_fields = {x.name: x for x in load_encoding().fields}
            except ImportError:
                raise ModelError(f"{source}: field 'input.fields[{i}]': no width/signed and no encoding module (value {f!r})") from None
        name = f["name"] if isinstance(f, dict) else str(f)
        if name not in enc_fields:
            raise ModelError(f"{source}: field 'input.fields[{i}]': unknown input field (value {name!r})")
        e = enc_fields[name]
        out.append(InputField(e.name, int(e.width), bool(e.signed)))
    if not out:
        raise ModelError(f"{source}: field 'input.fields': missing (value {json.dumps(fields)})")
    return out
