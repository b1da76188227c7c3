"""Reshape (the layer kind added as the README's "extending" example): QKeras = emulator = da4ml trace = hls4ml."""

from __future__ import annotations

import numpy as np

from l1ad import _compat
from l1ad.fixedpoint import FixedPointModel


def _model():
    keras, qk = _compat.keras(), _compat.qkeras()
    keras.utils.set_random_seed(0)
    q = dict(kernel_quantizer=qk.quantized_bits(6, 0, alpha=1), bias_quantizer=qk.quantized_bits(6, 0, alpha=1))
    return keras.Sequential([
        qk.QActivation(qk.quantized_bits(8, 3, alpha=1), input_shape=(12,), name="inq"),
        keras.layers.Reshape((4, 3), name="objects"),  # 4 objects x (pT, eta, phi)
        qk.QConv1D(2, 1, activation="quantized_relu(8,3)", name="per_object", **q),
        keras.layers.Flatten(name="flat"),
        qk.QDense(1, name="logit", **q),
    ], name="reshaped")


def test_reshape_bit_exact(tmp_path):
    from l1ad.firmware.hls import build_hls
    from l1ad.firmware.rtl import trace_model

    model = _model()
    fp = FixedPointModel.from_keras(model)
    assert [n.kind for n in fp.layers][:2] == ["quantize", "reshape"]
    words = fp.random_words(10_000, seed=1)
    raw = fp.predict(words)
    assert np.array_equal(raw, fp.keras_scores(model, words))
    comb, _ = trace_model(fp)
    assert np.array_equal([int(round(comb(w)[0])) for w in words[:100].astype(np.float64)], raw[:100])
    assert np.array_equal(build_hls(fp, model, words, tmp_path / "p", "xcvu13p-flga2577-2-e", 4.1667, "r").scores, raw)
    fp.save(tmp_path / "fp.json")
    assert np.array_equal(FixedPointModel.load(tmp_path / "fp.json").predict(words), raw)
