"""The fixed-point description and its NumPy emulator against QKeras (bit for bit)."""

from __future__ import annotations

import numpy as np
import pytest
from fw_helpers import cnn_model, fields, qmodel

from l1ad import _compat
from l1ad.errors import UnsupportedLayerError
from l1ad.fixedpoint import FixedPointModel, InputField, Precision
from l1ad.fixedpoint.precision import requantize


def _fp(model, score="sum_squares", shift=2, offset=0):
    n = int(np.prod(model.input_shape[1:]))
    pre = {"offset": [offset] * n, "shift": [shift] * n}
    return FixedPointModel.from_keras(model, pre, score, [InputField(**f) for f in fields(n)])


def _qkeras_raw(fp, model, words):
    return fp.keras_scores(model, words)


@pytest.mark.parametrize(
    "kw,score",
    [
        (dict(n_in=57, hidden=(32, 16), n_out=8), "sum_squares"),  # AXOL1TL-like
        (dict(n_in=12, hidden=(6,), n_out=12, symmetric_input=True), "squared_error"),  # AE, SAT_SYM input trap
        (dict(n_in=9, hidden=(5,), n_out=1, act=(4, 4)), "identity"),  # 0-fraction-bit relu trap
        (dict(n_in=9, hidden=(7, 5), n_out=4, out_quant=(6, 1), seed=3), "sum_squares"),  # saturating output
    ],
)
def test_emulator_equals_qkeras(kw, score):
    model = qmodel(**kw)
    # shift 3 > the input quantizer's 4 fraction bits? no: 3 <= 4, values representable; large words saturate
    fp = _fp(model, score, shift=3)
    words = fp.random_words(60_000, seed=1)
    raw = fp.predict(words)
    ref = _qkeras_raw(fp, model, words)
    assert np.array_equal(raw, ref), f"{np.count_nonzero(raw != ref)} mismatches"
    counts = fp.overflow_counts(words)
    assert counts["inq"] > 0  # random full-range words do saturate the input quantizer
    assert all(v == 0 for k, v in counts.items() if k.startswith(("d", "mu")) and k != "muq")  # exact accumulators


def test_rounding_half_even_matches_qkeras_when_input_rounds():
    """shift > fraction bits: the input quantizer rounds (QKeras: half to even), many exact ties."""
    model = qmodel(n_in=6, hidden=(4,), n_out=2, in_q=(8, 5))  # 2 fraction bits
    fp = _fp(model, shift=4)
    words = fp.random_words(50_000, seed=2)
    assert np.array_equal(fp.predict(words), _qkeras_raw(fp, model, words))


def test_requantize_modes():
    q = np.array([-6, -5, -3, -2, 2, 3, 5, 6, 7, 100], dtype=np.int64)  # LSB 1/4 -> LSB 1/2 (one bit dropped)
    p = lambda r, s: Precision(4, 1, True, r, s)  # noqa: E731
    assert requantize(q, 2, p("TRN", "SAT"))[0].tolist() == [-3, -3, -2, -1, 1, 1, 2, 3, 3, 7]
    assert requantize(q, 2, p("RND", "SAT"))[0].tolist() == [-3, -2, -1, -1, 1, 2, 3, 3, 4, 7]
    assert requantize(q, 2, p("RND_CONV", "SAT"))[0].tolist() == [-3, -2, -2, -1, 1, 2, 2, 3, 4, 7]
    v, n = requantize(q, 2, p("TRN", "WRAP"))
    assert n == 1 and v[-1] == 2  # 100 -> 50 wraps in 4 bits to 50 - 3 * 16 = 2
    assert requantize(np.array([-20], np.int64), 0, Precision(4, 0, True, "TRN", "SAT_SYM"))[0].tolist() == [-7]
    # the float64 fast path agrees with the int64 path
    rng = np.random.default_rng(0)
    big = rng.integers(-(2**20), 2**20, 10_000)
    for r in ("TRN", "RND", "RND_CONV"):
        for s in ("WRAP", "SAT", "SAT_SYM"):
            pr = Precision(9, 3, True, r, s)
            a, na = requantize(big, 7, pr)
            b, nb = requantize(big.astype(np.float64), 7, pr)
            assert np.array_equal(a, b.astype(np.int64)) and na == nb


def test_description_json_round_trip(tmp_path):
    model = qmodel(n_in=12, hidden=(6,), n_out=3)
    fp = _fp(model)
    p1 = fp.save(tmp_path / "a.json")
    fp2 = FixedPointModel.load(p1)
    fp2.save(tmp_path / "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    words = fp.random_words(5000, seed=4)
    assert np.array_equal(fp.predict(words), fp2.predict(words))
    assert fp2.score_precision == fp.score_precision
    layers = {layer.name: layer for layer in fp2.layers}
    assert layers["inq"].output.rounding == "RND_CONV" and layers["inq"].output.saturation == "SAT"
    assert layers["d0"].weights.dtype == np.int64


def test_unsupported_layer_rejected(tmp_path):
    keras, qk = _compat.keras(), _compat.qkeras()
    inp = keras.layers.Input((6,))
    x = qk.QActivation(qk.quantized_bits(8, 3, alpha=1), name="inq")(inp)
    x = qk.QDense(4, kernel_quantizer=qk.quantized_bits(6, 0, alpha=1), use_bias=False, name="d0")(x)
    x = keras.layers.Activation("tanh", name="squash")(x)
    m = keras.Model(inp, x, name="bad")
    with pytest.raises(UnsupportedLayerError, match="squash.*tanh"):
        _fp(m)
    x = qk.QActivation(qk.quantized_bits(8, 3, alpha=1), name="inq2")(inp)
    x = keras.layers.Dense(4, name="float_dense")(x)
    with pytest.raises(UnsupportedLayerError, match="float_dense.*Dense"):
        _fp(keras.Model(inp, x, name="bad2"))
    x = qk.QActivation(qk.quantized_bits(8, 3, alpha=1), name="inq4")(inp)
    x = qk.QDense(4, kernel_quantizer=qk.quantized_bits(6, 0, alpha=1), name="nobq")(x)
    with pytest.raises(UnsupportedLayerError, match="nobq.*bias has no quantizer"):
        _fp(keras.Model(inp, x, name="bad4"))
    x = qk.QActivation(qk.quantized_bits(8, 3, alpha="auto_po2"), name="inq3")(inp)
    with pytest.raises(UnsupportedLayerError, match="inq3.*alpha"):
        _fp(keras.Model(inp, x, name="bad3"))


@pytest.mark.parametrize("pool", ["max", "gmax", "gavg"])
def test_conv1d_pooling_equals_qkeras(pool):
    model = cnn_model(length=8, feats=3, pool=pool)  # GlobalAveragePooling over 6 positions: not a power of 2
    if pool == "gavg":
        with pytest.raises(UnsupportedLayerError, match="pool.*power of two"):
            _fp(model, "identity")
        model = cnn_model(length=6, feats=3, pool=pool)  # 4 positions after the conv
    fp = _fp(model, "identity", shift=3)
    words = fp.random_words(30_000, seed=3)
    assert np.array_equal(fp.predict(words), _qkeras_raw(fp, model, words))
