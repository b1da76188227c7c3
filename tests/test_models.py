"""l1ad.models: quantizers, preprocessing exactness, architectures, QKeras loading, metrics, pruning."""

from __future__ import annotations

import numpy as np
import pytest

from l1ad import _compat
from l1ad.errors import DataError, ModelError
from l1ad.models import fit_word_preprocessing, load_qkeras_model
from l1ad.models.ae import AeConfig, build_ae
from l1ad.models.btag import CnnConfig, build_cnn
from l1ad.models.metrics import WORKING_POINTS, btag_metrics, efficiency_at_fpr, rate_to_fpr
from l1ad.models.preprocessing import Preprocessing, fit_float_scaling
from l1ad.models.quantizers import BitsQuantizer, QuantConfig
from l1ad.models.vae import VaeConfig, build_vae

qk = _compat.qkeras()
keras = _compat.keras()


def _words(n: int = 5000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pt = np.where(rng.random((n, 19)) < 0.4, rng.exponential(40, (n, 19)).astype(np.int64), 0)
    eta = rng.integers(-115, 116, (n, 19))
    phi = rng.integers(0, 576, (n, 19))
    return np.stack([pt, eta, phi], axis=2).reshape(n, 57).astype(np.int64)


def test_preprocessing_extra_shift_drops_low_bits() -> None:
    q = BitsQuantizer(bits=8, integer=3)
    w = _words()
    base = fit_word_preprocessing(w, q)
    extra = np.zeros(w.shape[1], np.int64)
    extra[::3] = 2
    prep = fit_word_preprocessing(w, q, extra_shift=extra)
    np.testing.assert_array_equal(prep.offset, base.offset)
    np.testing.assert_array_equal(prep.shift, base.shift + extra)
    v = prep.apply(w)
    np.testing.assert_array_equal(v.astype(np.float64) * 2.0**prep.shift, (w - prep.offset).astype(np.float64))
    codes = v.astype(np.float64) * 2.0**q.frac_bits
    assert np.any(codes[:, ::3] != np.round(codes[:, ::3]))  # finer than the grid: the input quantizer rounds
    with pytest.raises(DataError, match="extra_shift"):
        fit_word_preprocessing(w, q, extra_shift=-extra)


@pytest.mark.parametrize("bits,integer,zoom", [(8, 3, False), (8, 5, True), (10, 4, True), (10, 4, False)])
def test_preprocessing_is_exact_on_the_input_quantizer_grid(bits: int, integer: int, zoom: bool) -> None:
    q = BitsQuantizer(bits=bits, integer=integer)
    w = _words()
    prep = fit_word_preprocessing(w, q, zoom=zoom)
    if not zoom:
        assert np.all(prep.shift == q.frac_bits)  # one code per word LSB
    assert prep.offset.dtype == np.int64 and prep.shift.dtype == np.int64
    assert np.all((prep.shift >= 0) & (prep.shift <= q.frac_bits))
    v = prep.apply(w)
    # exactly (w - offset) * 2**-shift, i.e. the firmware's (x - offset) >> shift with the binary point moved
    np.testing.assert_array_equal(v.astype(np.float64) * 2.0**prep.shift, (w - prep.offset).astype(np.float64))
    codes = v.astype(np.float64) * 2.0**q.frac_bits
    np.testing.assert_array_equal(codes, np.round(codes))  # on the grid: the quantizer never rounds
    qv = np.asarray(q.qkeras()(v))
    inside = (codes >= -(2 ** (bits - 1))) & (codes <= 2 ** (bits - 1) - 1)
    np.testing.assert_array_equal(qv[inside], v[inside])  # and is the identity wherever it does not saturate
    # where the central 99.9 % of an input spans <= 2**bits codes the fit covers it; wider inputs saturate
    lo, hi = np.quantile(w, [0.0005, 0.9995], axis=0)
    feasible = (np.ceil(hi) - np.floor(lo)) <= 2**bits - 1
    assert feasible.sum() >= 19  # at least every eta input
    assert np.all(inside[:, feasible].mean(axis=0) >= 0.998)


def test_preprocessing_json_roundtrip_and_shape_check() -> None:
    prep = fit_word_preprocessing(_words(500), BitsQuantizer(bits=8, integer=3))
    back = Preprocessing.from_json(prep.to_json())
    np.testing.assert_array_equal(back.offset, prep.offset)
    from l1ad.errors import DataError

    with pytest.raises(DataError, match="expected 57 inputs"):
        prep.apply(np.zeros((3, 56), np.int64))


def test_float_scaling_uses_powers_of_two() -> None:
    x = np.random.default_rng(1).normal(0, [0.01, 5.0, 100.0], (2000, 16, 3))
    prep = fit_float_scaling(x, BitsQuantizer(bits=8, integer=3))
    v = prep.apply(x)
    assert np.all(prep.offset == 0)
    for j in range(3):
        assert 2.0 <= np.quantile(np.abs(v[..., j]), 0.999) <= 8.0


def _first_layer(m):  # the layer after the InputLayer
    return m.layers[1]


def test_vae_architecture_and_trigger_submodel() -> None:
    built = build_vae(VaeConfig(), QuantConfig())
    trig = built.trigger_model()
    assert isinstance(_first_layer(trig), qk.QActivation)
    assert _first_layer(trig).quantizer.get_config()["bits"] == 8
    dense = [lay for lay in trig.layers if isinstance(lay, qk.QDense)]
    assert [d.units for d in dense] == [32, 16, 8]
    assert all(d.kernel_quantizer_internal.bits == 6 for d in dense)
    assert trig.output_shape == (None, 8)
    names = {lay.name for lay in built.model.layers}
    assert {"z_log_var", "sampling", "reconstruction"} <= names and built.score == "sum_squares"


def test_float_twin_has_same_shapes_without_quantizers() -> None:
    qm = build_vae(VaeConfig(), QuantConfig()).trigger_model()
    fm = build_vae(VaeConfig(), None).trigger_model()
    assert [w.shape for w in qm.weights] == [w.shape for w in fm.weights]
    assert not any(type(lay).__name__.startswith("Q") for lay in fm.layers)


def test_ae_and_cnn_architectures() -> None:
    ae = build_ae(AeConfig(), QuantConfig()).model
    assert [lay.units for lay in ae.layers if isinstance(lay, qk.QDense)] == [32, 16, 3, 16, 32, 57]
    cnn = build_cnn(CnnConfig(), QuantConfig(), n_features=5).trigger_model()
    convs = [lay for lay in cnn.layers if isinstance(lay, qk.QConv1D)]
    assert [c.kernel_size[0] for c in convs] == [1, 3]
    assert cnn.input_shape == (None, 16, 5) and cnn.output_shape == (None, 1)
    assert isinstance(_first_layer(cnn), qk.QActivation)


def test_user_qkeras_h5_loads_and_predicts_identically(tmp_path) -> None:
    inp = keras.Input((10,))
    h = qk.QActivation(qk.quantized_bits(8, 3, alpha=1))(inp)
    h = qk.QDense(4, kernel_quantizer=qk.quantized_bits(4, 1, alpha=1), bias_quantizer=qk.quantized_bits(4, 1))(h)
    h = qk.QActivation(qk.quantized_relu(6, 3))(h)
    user = keras.Model(inp, qk.QDense(2, kernel_quantizer="quantized_bits(5,1,alpha=1)")(h))
    path = tmp_path / "user_model.h5"
    user.save(path, save_format="h5")
    loaded = load_qkeras_model(path)
    x = np.random.default_rng(0).normal(0, 2, (64, 10)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), user.predict(x, verbose=0))


def test_load_qkeras_model_errors_are_one_line(tmp_path) -> None:
    with pytest.raises(ModelError, match="not found"):
        load_qkeras_model(tmp_path / "missing.h5")
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(ModelError) as e:
        load_qkeras_model(bad)
    assert "\n" not in str(e.value) and str(bad) in str(e.value)


def test_rate_conversion_and_efficiency_at_fpr() -> None:
    assert rate_to_fpr(10e3) == pytest.approx(3.4965e-4, rel=1e-3)
    assert WORKING_POINTS["1kHz"] == pytest.approx(1e3 / 28.6e6)
    bkg = np.arange(100_000, dtype=np.float64)  # distinct scores 0..99999
    sig = np.array([99_990.5, 99_960.0, 50.0, 99_999.5])
    r = efficiency_at_fpr(bkg, sig, 1e-4)  # 10 background events may pass: threshold 99989
    assert r["threshold"] == 99_989 and r["n_bkg_above"] == 10
    assert r["efficiency"] == pytest.approx(0.5)


def test_btag_mistag_at_70() -> None:
    rng = np.random.default_rng(3)
    labels = np.r_[np.ones(5000), np.zeros(5000)].astype(int)
    scores = np.r_[rng.normal(2, 1, 5000), rng.normal(0, 1, 5000)]
    m = btag_metrics(labels, scores)
    assert m["b_efficiency"] == pytest.approx(0.7, abs=0.01)
    # light N(0,1) above the 30 % quantile of N(2,1) = 2 - 0.5244: P = 1 - Phi(1.4756) = 0.070
    assert m["mistag_at_70"] == pytest.approx(0.070, abs=0.012)
    assert 0.9 < m["auc"] < 0.94  # Phi(2/sqrt 2) = 0.921


def test_power_of_two_rebalance_keeps_the_float_function_and_fills_the_weight_grid() -> None:
    from l1ad.models.rebalance import choose_factors, rebalance_dense_chain

    # limits respected: kernels <= 3.875, hidden activations <= 32, product of factors = out_scale
    g = choose_factors([1.6, 1.3, 0.6], [0.6, 0.2, 0.15], [15.0, 14.0], 8.0, 3.875, 3.875, 32.0)
    assert np.prod(g) == 8.0 and all(np.log2(x) == round(np.log2(x)) for x in g)
    assert all(w * x <= 3.875 for w, x in zip([1.6, 1.3, 0.6], g, strict=True))
    assert all(a * c <= 32 for a, c in zip([15.0, 14.0], np.cumprod(g)[:-1], strict=True))
    assert g[0] == 2.0  # the first layer gets the largest factor its limit allows (1.6 x 4 > 3.875)
    # hidden activations bind (g1 g2 <= 1.6): noise alone would pick [1/2, 2, 8]; the first layer keeps 1
    assert choose_factors([3.0, 0.8, 0.4], [0.5, 0.2, 0.1], [18.0, 20.0], 8.0, 3.875, 3.875, 32.0) == [1.0, 1.0, 8.0]
    built = build_vae(VaeConfig(), None, latent_scale=1.0)
    trig = built.trigger_model()
    x = np.random.default_rng(0).normal(0, 2, (256, 57)).astype(np.float32)
    before = trig.predict(x, verbose=0)
    hidden = keras.Model(trig.inputs, [trig.get_layer(n).output for n in ("enc_relu1", "enc_relu2")])
    g = rebalance_dense_chain(trig, ["enc_dense1", "enc_dense2", "z_mean"], hidden.predict(x, verbose=0), 4.0,
                              3.875, 3.875, 32.0)
    assert np.prod(g) == 4.0
    np.testing.assert_allclose(trig.predict(x, verbose=0), 4.0 * before, rtol=1e-5, atol=1e-5)


def test_vae_latent_scale_must_be_a_power_of_two() -> None:
    assert VaeConfig(latent_scale=8).latent_scale == 8
    with pytest.raises(ValueError, match="power of two"):
        VaeConfig(latent_scale=3)
    m = build_vae(VaeConfig(latent_scale=4), QuantConfig()).model
    assert "latent_unscale" in {lay.name for lay in m.layers}
