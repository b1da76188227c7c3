"""End-to-end: tiny VAE/AE/CNN trained in seconds on synthetic files through `l1ad train` / `l1ad evaluate`."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from l1ad import _compat
from l1ad.data.adc2021 import write_events
from l1ad.models import ARTIFACT_FILES, load_artifact, load_qkeras_model
from l1ad.models.scoring import trigger_scores
from l1ad.training import data as D

qk = _compat.qkeras()


def _events(n: int, rng: np.random.Generator, signal: bool) -> np.ndarray:
    """(n, 19, 4) L1-like events; the 'signal' is busy: most rows filled with hard objects."""
    p = np.zeros((n, 19, 4), np.float32)
    for row in range(19):
        cls = 1 if row == 0 else 2 if row < 5 else 3 if row < 9 else 4
        frac = 1.0 if row == 0 else (0.8 if signal else 0.15 / (row % 4 + 1))
        on = rng.random(n) < frac
        scale = 40.0 if signal else 12.0
        p[:, row, 0] = np.where(on, rng.exponential(scale, n), 0)
        p[:, row, 1] = np.where(on & (row > 0), rng.uniform(-2.4, 2.4, n), 0)
        p[:, row, 2] = np.where(on, rng.uniform(-3.1, 3.1, n), 0)
        p[:, row, 3] = np.where(on, cls, 0)
    return p


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(7)
    write_events(d / "zero_bias.h5", _events(12_000, rng, False))
    write_events(d / "ato4l.h5", _events(1_500, rng, True))
    # b-tag jets: b jets carry tracks with large impact-parameter significance
    n = 4000
    label = (np.arange(n) % 2).astype(np.int8)
    tr = rng.normal(0, 1, (n, 16, 4)).astype(np.float32)
    tr[:, :, 0] = np.abs(rng.exponential(5, (n, 16)))  # pT
    tr[label == 1, :4, 2] += rng.normal(4, 1, (int(label.sum()), 4))  # d0 significance
    with h5py.File(d / "btag.h5", "w") as f:
        ds = f.create_dataset("Tracks", data=tr)
        ds.attrs["Track_Features"] = ["pt", "eta_rel", "d0_sig", "z0_sig"]
        f.create_dataset("Label", data=label)
    return d


def _config(tmp: Path, name: str, model: dict, data: dict, **training) -> Path:
    cfg = {"name": name, "model": model, "data": {"validation_fraction": 0.15, "test_fraction": 0.3, **data},
           "training": {"epochs": 3, "batch_size": 256, "learning_rate": 0.01, "seed": 1, **training}}
    p = tmp / f"{name}.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


@pytest.fixture(scope="module")
def vae_artifact(data_dir, tmp_path_factory) -> Path:
    from l1ad.cli import main

    tmp = tmp_path_factory.mktemp("vae")
    cfg = _config(tmp, "tiny_vae", {"kind": "vae", "beta": 1.0, "latent_scale": 8},
                  {"background": "zero_bias.h5", "signals": ["ato4l.h5"]}, epochs=4, learning_rate=0.003,
                  rebalance_before_qat=True, qat_weight_averaging=True, init_on_weight_grid=True,
                  clip_float_weights=True)
    out = tmp / "art"
    assert main(["train", str(cfg), "--data-dir", str(data_dir), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def vae_coarse_artifact(data_dir, tmp_path_factory) -> Path:
    from l1ad.cli import main

    tmp = tmp_path_factory.mktemp("vae_coarse")
    cfg = _config(tmp, "coarse_vae", {"kind": "vae", "beta": 1.0},
                  {"background": "zero_bias.h5", "signals": ["ato4l.h5"], "drop_lsbs": {"jet": 1, "egamma": 2}},
                  epochs=2, float_twin=False)
    out = tmp / "art"
    assert main(["train", str(cfg), "--data-dir", str(data_dir), "--out", str(out)]) == 0
    return out


def test_dropped_word_bits_are_rounded_by_the_input_quantizer_and_emulated_bit_exactly(vae_coarse_artifact,
                                                                                       data_dir) -> None:
    from l1ad import fixedpoint

    art = load_artifact(vae_coarse_artifact)
    groups = [f.group for f in art.meta.input.fields]
    shift = np.asarray(art.meta.preprocessing.shift)
    want = np.array([4 + {"jet": 1, "egamma": 2}.get(g, 0) for g in groups])  # ap_fixed<8,4>: 4 fraction bits
    np.testing.assert_array_equal(shift, want)
    assert art.meta.data.background.drop_lsbs == {"jet": 1, "egamma": 2}
    words = D.load_words(data_dir / "ato4l.h5")
    v = art.preprocess(words)
    qv = np.asarray(art.trigger_model.layers[1](v))
    inside = np.abs(v) < 7.9
    assert np.count_nonzero(qv[inside] != v[inside]) > 1000  # the quantizer does round the coarsened inputs
    fp = fixedpoint.FixedPointModel.from_artifact(vae_coarse_artifact)
    _, _, frac = fp.score_precision
    raw = np.asarray(fp.predict(words), dtype=np.float64)
    np.testing.assert_array_equal(raw / 2.0**frac, trigger_scores(art.trigger_model, "sum_squares", v))


def test_drop_lsbs_of_an_unknown_group_is_a_config_error(tmp_path, cli) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump({"name": "x", "model": {"kind": "vae"},
                                 "data": {"background": "zb.h5", "drop_lsbs": {"tau": 1}}}))
    code, _, err = cli("train", p)
    assert code == 2 and err.count("\n") == 1 and "drop_lsbs" in err and "tau" in err


def test_vae_artifact_files_and_model_json(vae_artifact: Path) -> None:
    assert sorted(p.name for p in vae_artifact.iterdir()) == sorted(ARTIFACT_FILES)
    meta = json.loads((vae_artifact / "model.json").read_text())
    assert meta["kind"] == "vae" and meta["score"]["type"] == "sum_squares"
    assert meta["input"]["shape"] == [57] and len(meta["input"]["fields"]) == 57
    assert len(meta["preprocessing"]["offset"]) == 57 and len(meta["preprocessing"]["shift"]) == 57
    assert meta["input_quantizer"] == {"bits": 8, "integer": 3, "signed": True}
    assert len(meta["data"]["background"]["sha256"]) == 64
    hist = json.loads((vae_artifact / "history.json").read_text())
    assert len(hist["quantized"]["loss"]) == 4 and np.isfinite(hist["quantized"]["loss"]).all()
    assert np.isfinite(hist["quantized"]["averaged_val_loss"]).all()  # QAT keeps the epoch-averaged weights
    assert np.isfinite(hist["quantized"]["last_val_loss"]).all()  # and reports the last epoch's for comparison
    assert "averaged_val_loss" not in hist["float"]
    assert not list(vae_artifact.parent.glob(".art*"))  # no temporary leftovers
    assert not (vae_artifact.parent / "art.checkpoint").exists()


def test_weights_zero_bias_never_updates_start_on_the_grid_and_survive_quantization(vae_artifact) -> None:
    # MET eta (input 1) is 0 in every event: its first-layer weights keep their (grid-rounded) initial values
    art = load_artifact(vae_artifact)
    w_float = art.float_model.get_layer("enc_dense1").get_weights()[0][1]
    qlayer = art.trigger_model.get_layer("enc_dense1")
    w_q = qlayer.get_weights()[0][1]
    assert np.count_nonzero(w_float) > 8
    np.testing.assert_array_equal(w_float * 8, np.round(w_float * 8))  # multiples of the 6-bit LSB 1/8
    np.testing.assert_array_equal(qlayer.kernel_quantizer_internal(w_q).numpy(), w_q)  # quantization: no change
    gain = w_q[w_float != 0] / w_float[w_float != 0]  # only the rebalance's power-of-two factor (>= 1)
    assert np.all(gain == gain[0]) and gain[0] >= 1 and np.log2(gain[0]) == round(np.log2(gain[0]))


def test_trigger_h5_first_layer_is_input_quantizer_and_preprocessing_exact(vae_artifact, data_dir) -> None:
    art = load_artifact(vae_artifact)
    trig = art.trigger_model
    first = trig.layers[1]
    assert isinstance(first, qk.QActivation)
    cfg = first.quantizer.get_config()
    assert (cfg["bits"], cfg["integer"], bool(cfg["keep_negative"])) == (8, 3, True)
    assert trig.output_shape == (None, 8)
    words = D.load_words(data_dir / "zero_bias.h5", 0, 2000)
    v = art.preprocess(words)
    off = np.asarray(art.meta.preprocessing.offset)
    sh = np.asarray(art.meta.preprocessing.shift)
    np.testing.assert_array_equal(v.astype(np.float64), (words - off) / 2.0**sh)
    # the input quantizer reproduces every value it can represent: nothing is rounded, only tails saturate
    qv = np.asarray(first(v))
    inside = np.abs(v) < 8
    np.testing.assert_array_equal(qv[inside], v[inside])
    assert inside.mean() > 0.9  # (muon phi: 576 bins > 256 codes, saturates by design of an 8-bit input)


def test_reloaded_models_agree_and_scores(vae_artifact, data_dir) -> None:
    art = load_artifact(vae_artifact)
    x = art.preprocess(D.load_words(data_dir / "ato4l.h5", 0, 500))
    full = load_qkeras_model(vae_artifact / "model.h5")
    mu_full = full.get_layer("z_mean")
    from l1ad.models.base import trigger_submodel

    np.testing.assert_array_equal(trigger_submodel(full, mu_full.name).predict(x, verbose=0),
                                  art.trigger_model.predict(x, verbose=0))
    s = trigger_scores(art.trigger_model, "sum_squares", x)
    mu = art.trigger_model.predict(x, verbose=0).astype(np.float64)
    np.testing.assert_array_equal(s, (mu**2).sum(axis=1))
    m = json.loads((vae_artifact / "metrics.json").read_text())
    sig = m["anomaly"]["signals"]["ato4l"]
    # training-time metrics = a recomputation from the reloaded trigger model on the held-out split
    from l1ad.models.metrics import ad_metrics

    test = art.meta.data.background.test
    bkg = trigger_scores(art.trigger_model, "sum_squares",
                         art.preprocess(D.load_words(data_dir / "zero_bias.h5", *test)))
    sig_s = trigger_scores(art.trigger_model, "sum_squares", art.preprocess(D.load_words(data_dir / "ato4l.h5")))
    again = ad_metrics(bkg, sig_s)
    assert sig["quantized"]["auc"] == pytest.approx(again["auc"], abs=1e-12)
    assert sig["quantized"]["working_points"] == again["working_points"]
    assert set(sig["quantized"]["working_points"]) == {"fpr_1e-5", "1kHz", "5kHz", "10kHz"}
    assert "ratio_quantized_over_float" in sig


def test_evaluate_writes_json_and_pngs(vae_artifact, data_dir, tmp_path, cli) -> None:
    out = tmp_path / "eval"
    code, stdout, err = cli("evaluate", vae_artifact, "--data-dir", data_dir, "--signal", "ato4l.h5",
                            "--out", out)
    assert code == 0, err
    assert "28.6 MHz" in stdout and "ato4l" in stdout
    res = json.loads((out / "metrics.json").read_text())
    assert res["background"]["n"] == 3600  # the training file's held-out test split
    trained = json.loads((vae_artifact / "metrics.json").read_text())["anomaly"]["signals"]["ato4l"]
    for variant in ("quantized", "float"):  # same held-out split, same models -> same numbers
        assert res["signals"]["ato4l"][variant]["auc"] == pytest.approx(trained[variant]["auc"], abs=1e-12)
    for png in ("roc.png", "scores.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_weight_averaging_keeps_the_mean_of_the_epoch_weights() -> None:
    from l1ad import _compat
    from l1ad.models.base import BuiltModel
    from l1ad.models.pruning import PruningConfig
    from l1ad.training.config import TrainingParams
    from l1ad.training.loop import fit_model

    keras = _compat.keras()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 4)).astype(np.float32)
    y = (x @ rng.normal(size=(4, 1))).astype(np.float32)
    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Dense(1, name="d")(inp))
    seen: list[list[np.ndarray]] = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append([w.copy() for w in self.model.get_weights()])

    built = BuiltModel("ae", model, trigger_output="d", score="identity", loss="mse")
    params = TrainingParams(epochs=5, batch_size=64, learning_rate=0.05, early_stopping={"patience": 1})
    orig = keras.Model.fit

    def fit_with_record(self, *a, **kw):
        kw["callbacks"] = [Record(), *kw.get("callbacks", [])]
        return orig(self, *a, **kw)

    keras.Model.fit = fit_with_record
    try:
        res = fit_model(built, x, y, x[:128], y[:128], params, PruningConfig(), "avg", average_weights=True)
    finally:
        keras.Model.fit = orig
    assert res.epochs_run == 5 and len(seen) == 5  # no early stopping while averaging
    mean = [np.mean([s[i] for s in seen], axis=0) for i in range(2)]
    for got, want in zip(res.model.get_weights(), mean, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    assert not np.allclose(res.model.get_weights()[0], seen[-1][0])
    assert len(res.history["averaged_val_loss"]) == 1


def test_clip_kernels_keeps_the_float_weights_inside_the_range() -> None:
    from l1ad import _compat
    from l1ad.models.base import BuiltModel
    from l1ad.models.pruning import PruningConfig
    from l1ad.training.config import TrainingParams
    from l1ad.training.loop import fit_model

    keras = _compat.keras()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(512, 4)).astype(np.float32)
    y = (x @ np.array([[3.0], [-2.0], [0.5], [0.1]])).astype(np.float32)  # wants weights well beyond 0.75
    keras.utils.set_random_seed(1)
    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Dense(1, name="d")(inp))
    built = BuiltModel("ae", model, trigger_output="d", score="identity", loss="mse")
    params = TrainingParams(epochs=10, batch_size=64, learning_rate=0.1, early_stopping=None)
    res = fit_model(built, x, y, x[:128], y[:128], params, PruningConfig(), "clip", clip_kernels=(["d"], 0.75))
    w = res.model.get_layer("d").get_weights()[0][:, 0]
    assert np.abs(w).max() <= 0.75
    np.testing.assert_array_equal(w[:2], [0.75, -0.75])  # the two large weights sit at the limit
    assert 0.25 < w[2] < 0.75  # the others train freely (target 0.5)


@pytest.mark.parametrize("option,sparsity", [("clip_float_weights", 0.3), ("qat_weight_averaging", 0.5)])
def test_option_with_pruning_is_a_config_error(tmp_path, cli, option: str, sparsity: float) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump({"name": "x", "model": {"kind": "vae"}, "data": {"background": "zb.h5"},
                                 "pruning": {"sparsity": sparsity}, "training": {option: True}}))
    code, _, err = cli("train", p)
    assert code == 2 and err.count("\n") == 1 and option in err and str(sparsity) in err


def test_bad_config_unknown_key_is_one_line(tmp_path, cli) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump({"name": "x", "model": {"kind": "vae"}, "data": {"background": "zb.h5"},
                                 "training": {"epochz": 3}}))
    code, out, err = cli("train", p)
    assert code == 2
    assert err.strip().count("\n") == 0
    assert "field 'training.epochz': unknown key" in err and str(p) in err


def test_bad_config_value_and_missing_data(tmp_path, cli) -> None:
    p = tmp_path / "bad2.yaml"
    p.write_text(yaml.safe_dump({"name": "x", "model": {"kind": "vae", "latent": 0}, "data": {"background": "z.h5"}}))
    code, _, err = cli("train", p)
    assert code == 2 and "field 'model.vae.latent'" in err
    p.write_text(yaml.safe_dump({"name": "x", "model": {"kind": "ae"}, "data": {"background": "nope.h5"}}))
    code, _, err = cli("train", p, "--data-dir", tmp_path)
    assert code == 2 and "nope.h5: data file not found" in err and err.count("\n") == 1


def test_interrupt_leaves_no_artifact_and_no_checkpoint(data_dir, tmp_path, monkeypatch) -> None:
    """Ctrl-C after the 2nd epoch: the per-epoch checkpoint had been written (atomically, loadable), and the
    interrupted training leaves nothing behind: no artifact, no checkpoint, no temp files."""
    from l1ad.training import load_train_config, loop, train

    orig = loop._callbacks
    seen: list[tuple[int, ...]] = []

    def with_interrupt(label, checkpoint, pruned, epochs):
        keras = _compat.keras()

        class CtrlC(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if epoch == 1:
                    seen.append(tuple(load_qkeras_model(checkpoint).output_shape))
                    raise KeyboardInterrupt

        return [*orig(label, checkpoint, pruned, epochs), CtrlC()]

    monkeypatch.setattr(loop, "_callbacks", with_interrupt)
    cfg = load_train_config(_config(tmp_path, "int_ae", {"kind": "ae", "hidden": [8, 3, 8]},
                                    {"background": "zero_bias.h5"}, epochs=5))
    out = tmp_path / "art"
    with pytest.raises(KeyboardInterrupt):
        train(cfg, data_dir, out)
    assert seen == [(None, 57)]  # the float twin's checkpoint after its 2nd epoch
    assert not out.exists() and not list(tmp_path.glob(".art*")) and not (tmp_path / "art.checkpoint").exists()


def test_ae_with_pruning_and_cnn_btag(data_dir, tmp_path, cli) -> None:
    cfg = _config(tmp_path, "tiny_ae", {"kind": "ae", "hidden": [16, 3, 16]},
                  {"background": "zero_bias.h5", "signals": ["ato4l.h5"]})
    raw = yaml.safe_load(cfg.read_text())
    raw["pruning"] = {"sparsity": 0.5, "begin_fraction": 0.0, "end_fraction": 0.5}
    cfg.write_text(yaml.safe_dump(raw))
    code, _, err = cli("train", cfg, "--data-dir", data_dir, "--out", tmp_path / "ae")
    assert code == 0, err
    art = load_artifact(tmp_path / "ae")
    assert art.meta.score.type == "squared_error"
    k = art.trigger_model.get_layer("dense1").get_weights()[0]
    assert np.mean(k == 0) >= 0.45  # pruned to the configured sparsity
    ae_sig = json.loads((tmp_path / "ae" / "metrics.json").read_text())["anomaly"]["signals"]["ato4l"]
    assert ae_sig["quantized"]["auc"] > 0.8  # busy, hard events reconstruct badly
    cfg = _config(tmp_path, "tiny_cnn", {"kind": "cnn", "pointwise_filters": 8, "conv_filters": 4, "dense": [8]},
                  {"jets": "btag.h5"}, epochs=4, batch_size=128)
    code, out, err = cli("train", cfg, "--data-dir", data_dir, "--out", tmp_path / "cnn")
    assert code == 0, err
    m = json.loads((tmp_path / "cnn" / "metrics.json").read_text())["btag"]
    assert m["quantized"]["auc"] > 0.85 and m["float"]["auc"] > 0.85
    assert 0 <= m["quantized"]["mistag_at_70"] < 0.3
    art = load_artifact(tmp_path / "cnn")
    assert art.meta.input.shape == [16, 4]
    assert [f.name for f in art.meta.input.fields] == ["pt", "eta_rel", "d0_sig", "z0_sig"]
    code, out, err = cli("evaluate", tmp_path / "cnn", "--data-dir", data_dir, "--out", tmp_path / "ev")
    assert code == 0, err
    assert (tmp_path / "ev" / "btag_roc.png").is_file() and "mistag@70%" in out


def test_scores_equal_the_fixed_point_emulation(vae_artifact, data_dir) -> None:
    """Σμ² from the QKeras trigger model (float64) is the firmware's integer score, scaled (when available)."""
    fixedpoint = pytest.importorskip("l1ad.fixedpoint")
    fp = fixedpoint.FixedPointModel.from_artifact(vae_artifact)
    art = load_artifact(vae_artifact)
    words = D.load_words(data_dir / "ato4l.h5")
    _, _, frac = fp.score_precision
    raw = np.asarray(fp.predict(words), dtype=np.float64)
    np.testing.assert_array_equal(raw / 2.0**frac, trigger_scores(art.trigger_model, "sum_squares",
                                                                   art.preprocess(words)))


def test_weighted_fpr_thresholds_and_roc() -> None:
    """With background weights the FPR is the weighted fraction above the threshold; equal weights reproduce
    the unweighted numbers; ignoring the weights of a stitched sample would pick a very different cut."""
    from l1ad.models.metrics import ad_metrics, efficiency_at_fpr, roc

    rng = np.random.default_rng(3)
    soft, hard = rng.normal(0, 1, 40_000), rng.normal(4, 1, 10_000)
    bkg = np.concatenate([soft, hard])
    w = np.concatenate([np.full(40_000, 0.999 / 40_000), np.full(10_000, 0.001 / 10_000)])
    sig = rng.normal(3, 1, 5000)
    for fpr in (1e-3, 1e-4):
        r = efficiency_at_fpr(bkg, sig, fpr, w)
        above = bkg > r["threshold"]
        assert w[above].sum() == pytest.approx(r["fpr"]) and r["fpr"] <= fpr
        lower = bkg[bkg < r["threshold"]].max()  # the next looser cut exceeds the budget
        assert w[bkg > lower].sum() > fpr
        unweighted = efficiency_at_fpr(bkg, sig, fpr)
        assert unweighted["threshold"] > r["threshold"] + 0.5  # 20 % hard events would tighten the cut a lot
    eq = np.full(len(bkg), 1.0 / len(bkg))
    assert efficiency_at_fpr(bkg, sig, 1e-3, eq)["threshold"] == efficiency_at_fpr(bkg, sig, 1e-3)["threshold"]
    assert roc(bkg, sig, eq)[2] == pytest.approx(roc(bkg, sig)[2])
    assert ad_metrics(bkg, sig, w)["background_weighted"]


def test_training_on_weighted_zero_bias_uses_the_crossing_weights(data_dir, tmp_path, monkeypatch) -> None:
    """A stitched zero bias trains with per-event loss weights (mean 1 per split, each split's strata keeping
    their probabilities) and records it; the end-of-training metrics use the test split's weights."""
    import importlib

    from l1ad.data.adc2021 import STRATUM, WEIGHTS, read_events
    from l1ad.training.config import load_train_config

    T = importlib.import_module("l1ad.training.train")

    ev = read_events(data_dir / "zero_bias.h5")
    sid = (np.arange(len(ev)) % 5 == 0).astype(np.int16)  # 20 % of the events: a rare stratum
    table = [{"name": "soft", "probability": 0.99, "crossings": int((sid == 0).sum())},
             {"name": "hard", "probability": 0.01, "crossings": int((sid == 1).sum())}]
    w = (np.array([0.99, 0.01]) / np.bincount(sid))[sid]
    wdir = tmp_path / "wdata"
    write_events(wdir / "zero_bias.h5", ev, {"strata": table}, extras={WEIGHTS: w, STRATUM: sid})
    write_events(wdir / "ato4l.h5", read_events(data_dir / "ato4l.h5"))
    seen: dict[str, object] = {}
    real_fit = T.fit_model

    def spy(*args, **kw):
        seen.setdefault("sample_weight", kw.get("sample_weight"))
        seen.setdefault("val_weight", kw.get("val_weight"))
        return real_fit(*args, **kw)

    monkeypatch.setattr(T, "fit_model", spy)
    cfg = load_train_config(_config(tmp_path, "wae", {"kind": "ae", "hidden": [8, 3, 8]},
                                    {"background": "zero_bias.h5", "signals": ["ato4l.h5"]}, epochs=1,
                                    float_twin=False))
    out = T.train(cfg, data_dir=wdir, out=tmp_path / "art")
    sw = seen["sample_weight"]
    assert sw is not None and seen["val_weight"] is not None
    n_train = json.loads((out / "model.json").read_text())["data"]["background"]["train"][1]
    s_train = sid[:n_train]
    assert np.mean(sw) == pytest.approx(1.0, rel=1e-5)
    # a soft event weighs (0.99 / n_soft) / (0.01 / n_hard) times a hard one, within the training split
    ratio = (0.99 / (s_train == 0).sum()) / (0.01 / (s_train == 1).sum())
    assert sw[s_train == 0][0] / sw[s_train == 1][0] == pytest.approx(ratio, rel=1e-5)
    meta = json.loads((out / "model.json").read_text())
    assert meta["data"]["background"]["weighted"] is True
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["anomaly"]["signals"]["ato4l"]["quantized"]["background_weighted"] is True
