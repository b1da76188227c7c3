"""Small QKeras trigger models and artifact directories for the fixed-point / firmware tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from l1ad import _compat


def qmodel(
    n_in: int = 12,
    hidden: tuple[int, ...] = (6,),
    n_out: int = 3,
    in_q: tuple[int, int] = (10, 5),
    act: tuple[int, int] = (8, 4),
    wbits: int = 6,
    seed: int = 0,
    symmetric_input: bool = False,
    name: str = "toy",
    out_quant: tuple[int, int] | None = None,
) -> Any:
    """QActivation(quantized_bits) -> [QDense(wbits) -> QActivation(quantized_relu)]* -> QDense(n_out)."""
    keras, qk = _compat.keras(), _compat.qkeras()
    keras.utils.set_random_seed(seed)
    L = keras.layers
    inp = L.Input((n_in,), name="inputs")
    x = qk.QActivation(qk.quantized_bits(in_q[0], in_q[1], symmetric=int(symmetric_input), alpha=1), name="inq")(inp)
    wq = dict(kernel_quantizer=qk.quantized_bits(wbits, 0, alpha=1), bias_quantizer=qk.quantized_bits(wbits, 0, alpha=1))
    for i, h in enumerate(hidden):
        x = qk.QDense(h, name=f"d{i}", **wq)(x)
        x = qk.QActivation(qk.quantized_relu(*act), name=f"r{i}")(x)
    x = qk.QDense(n_out, name="mu", **wq)(x)
    if out_quant is not None:
        x = qk.QActivation(qk.quantized_bits(out_quant[0], out_quant[1], alpha=1), name="muq")(x)
    m = keras.Model(inp, x, name=name)
    rng = np.random.default_rng(seed)
    for layer in m.layers:  # biases away from zero so they matter
        if hasattr(layer, "bias") and layer.bias is not None:
            layer.bias.assign(rng.uniform(-0.5, 0.5, layer.bias.shape).astype("float32"))
    return m


def fields(n: int) -> list[dict[str, Any]]:
    """GT-like words: every third unsigned 11-bit (pT), the others signed 8-bit (eta/phi)."""
    return [{"name": f"w{i}", "width": 11 if i % 3 == 0 else 8, "signed": i % 3 != 0} for i in range(n)]


def write_artifact(d: Path, model: Any, score: str = "sum_squares", shift: int = 2, offset: int = 0) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    model.save(d / "trigger.h5")
    shape = [int(v) for v in model.input_shape[1:]]
    n = int(np.prod(shape))
    meta = {
        "name": model.name,
        "kind": {"sum_squares": "vae", "squared_error": "ae"}.get(score, "cnn"),
        "input": {"shape": shape, "fields": fields(n)},
        "preprocessing": {"offset": [offset] * n, "shift": [shift] * n},
        "input_quantizer": {"bits": 10, "integer": 5, "signed": True},
        "score": {"type": score},
    }
    (d / "model.json").write_text(json.dumps(meta))
    return d


def cnn_model(length: int = 8, feats: int = 3, pool: str = "max", seed: int = 0, name: str = "cnn") -> Any:
    """b-tag-like: input quantizer -> QConv1D -> quantized_relu -> pooling -> QDense(1) logit."""
    keras, qk = _compat.keras(), _compat.qkeras()
    keras.utils.set_random_seed(seed)
    L = keras.layers
    wq = dict(kernel_quantizer=qk.quantized_bits(6, 0, alpha=1), bias_quantizer=qk.quantized_bits(6, 0, alpha=1))
    inp = L.Input((length, feats), name="tracks")
    x = qk.QActivation(qk.quantized_bits(10, 5, alpha=1), name="inq")(inp)
    x = qk.QConv1D(4, 3, name="c0", **wq)(x)
    x = qk.QActivation(qk.quantized_relu(8, 4), name="r0")(x)
    if pool == "max":
        x = L.MaxPooling1D(2, name="pool")(x)
        x = L.Flatten(name="flat")(x)
    elif pool == "gmax":
        x = L.GlobalMaxPooling1D(name="pool")(x)
    else:
        x = L.GlobalAveragePooling1D(name="pool")(x)
    x = qk.QDense(1, name="logit", **wq)(x)
    return keras.Model(inp, x, name=name)
