"""l1ad.background: dCorr² vs the dcor package, ABCD closure/non-closure, decorrelated training, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from l1ad.background.abcd import closure, region_counts, thresholds_for_efficiency, thresholds_per_axis

# ---------------------------------------------------------------------------------------------- dCorr²


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dcorr_matches_dcor_package(seed):
    dcor = pytest.importorskip("dcor")
    from l1ad.background.dcorr import dcorr_sq

    rng = np.random.default_rng(seed)
    n = 300
    x = rng.exponential(size=n)
    for y in (rng.normal(size=n), x**2 + 0.5 * rng.normal(size=n), np.sin(3 * x) + 0.1 * rng.normal(size=n)):
        ours = float(dcorr_sq(x, y).numpy())
        ref = dcor.distance_correlation_sqr(x, y)
        assert ours == pytest.approx(ref, rel=2e-4, abs=2e-5)


def test_weighted_dcorr_equals_dcor_on_repeated_events():
    """Integer weights act as event multiplicities (independent check of the weighted estimator)."""
    dcor = pytest.importorskip("dcor")
    from l1ad.background.dcorr import dcorr_sq

    rng = np.random.default_rng(5)
    x = rng.normal(size=120)
    y = np.abs(x) + rng.normal(size=120)
    w = rng.integers(1, 5, size=120)
    ours = float(dcorr_sq(x, y, weights=w).numpy())
    ref = dcor.distance_correlation_sqr(np.repeat(x, w), np.repeat(y, w))
    assert ours == pytest.approx(ref, rel=2e-4)
    assert abs(ours - float(dcorr_sq(x, y).numpy())) > 1e-4  # the weights matter


def test_dcorr_gradient_finite_and_reduces_dependence():
    from l1ad import _compat
    from l1ad.background.dcorr import dcorr_sq

    tf = _compat.tensorflow()
    rng = np.random.default_rng(3)
    x = tf.Variable(rng.normal(size=256).astype(np.float32))
    y = tf.constant(rng.normal(size=256).astype(np.float32))
    y = y + x  # dependent
    y = tf.constant(y.numpy())
    before = float(dcorr_sq(x, y).numpy())
    opt = tf.keras.optimizers.Adam(0.05)
    for _ in range(60):
        with tf.GradientTape() as tape:
            d = dcorr_sq(x, y)
        g = tape.gradient(d, [x])
        assert np.all(np.isfinite(g[0].numpy()))
        opt.apply_gradients(zip(g, [x], strict=True))
    assert float(dcorr_sq(x, y).numpy()) < 0.5 * before


# ---------------------------------------------------------------------------------------------- ABCD


def test_region_counts_and_prediction_by_hand():
    s1 = np.array([0.0, 0.0, 1.0, 1.0, 1.0, 0.0])
    s2 = np.array([0.0, 1.0, 0.0, 1.0, 1.0, 0.0])
    c = region_counts(s1, s2, 0.5, 0.5)
    assert (c.a, c.b, c.c, c.d) == (2, 1, 1, 2)
    cl = closure(s1, s2, 0.5, 0.5)
    assert cl.n_pred == pytest.approx(0.5)
    assert cl.ratio == pytest.approx(0.25)
    assert cl.ratio_err == pytest.approx(0.25 * np.sqrt(1 / 2 + 1 + 1 + 1 / 2))


@pytest.mark.parametrize("eff", [0.05, 0.01])
def test_thresholds_hit_target_efficiency(eff):
    rng = np.random.default_rng(0)
    s1, s2 = rng.exponential(size=100_000), rng.exponential(size=100_000)
    x, y = thresholds_for_efficiency(s1, s2, eff)
    assert np.mean((s1 > x) & (s2 > y)) == pytest.approx(eff, abs=2e-5)
    assert np.mean(s1 > x) == pytest.approx(np.sqrt(eff), abs=2e-5)
    x1, y1 = thresholds_per_axis(s1, s2, 0.1, 0.2)
    assert np.mean(s1 > x1) == pytest.approx(0.1, abs=2e-5) and np.mean(s2 > y1) == pytest.approx(0.2, abs=2e-5)


def test_abcd_closes_on_independent_variables():
    rng = np.random.default_rng(11)
    n = 200_000
    s1, s2 = rng.exponential(size=n), rng.gamma(2.0, size=n)
    for eff in (0.1, 0.05, 0.02, 0.01):
        c = closure(s1, s2, *thresholds_for_efficiency(s1, s2, eff))
        assert abs(c.pull) < 3, (eff, c.ratio, c.ratio_err)
        assert c.closes


def test_abcd_uncertainty_has_unit_pull_width():
    """Toys: the stated σ(ratio) describes the ratio's actual spread for independent variables."""
    rng = np.random.default_rng(2)
    pulls = []
    for _ in range(300):
        s1, s2 = rng.random(20_000), rng.random(20_000)
        pulls.append(closure(s1, s2, 0.8, 0.9).pull)
    assert 0.85 < np.std(pulls) < 1.15
    assert abs(np.mean(pulls)) < 0.2


def test_abcd_reports_nonclosure_on_correlated_variables():
    rng = np.random.default_rng(4)
    n = 200_000
    s1 = rng.exponential(size=n)
    s2 = s1 + 0.3 * rng.exponential(size=n)  # strongly correlated
    for eff in (0.05, 0.01):
        c = closure(s1, s2, *thresholds_for_efficiency(s1, s2, eff))
        assert not c.closes
        assert c.nonclosure > 0.5 and abs(c.pull) > 10
        assert c.as_dict()["closes"] is False


def test_closure_scan_flags_sparse_regions():
    from l1ad.background.config import EvalSection
    from l1ad.background.evaluate import closure_scan

    rng = np.random.default_rng(0)
    s = rng.exponential(size=5000)
    rows = closure_scan(s, s + 1e-3 * rng.random(5000), EvalSection(efficiencies=[0.05]))
    assert rows[0]["valid"] is False  # B and C nearly empty for identical scores


# ---------------------------------------------------------------------------------------------- training


def _correlated_inputs(n, rng):
    z = rng.normal(size=(n, 3))
    w = rng.normal(size=(3, 12))
    return (z @ w + 0.3 * rng.normal(size=(n, 12))).astype(np.float32)


def test_joint_training_reduces_dcorr_vs_lambda_zero():
    from l1ad.background.config import ModelSection, TrainSection
    from l1ad.background.dcorr import dcorr_sq_numpy
    from l1ad.background.model import reconstruction_error, train_pair
    from l1ad.models.quantizers import BitsQuantizer, QuantConfig

    rng = np.random.default_rng(0)
    x = _correlated_inputs(9000, rng)
    mcfg = ModelSection(hidden=[8, 2, 8], quantizers=QuantConfig(input=BitsQuantizer(bits=12, integer=4)))
    out = {}
    for lam in (0.0, 10.0):
        tcfg = TrainSection(lam=lam, epochs=6, batch_size=512, learning_rate=3e-3, patience=6)
        tr = train_pair(x[:6000], x[6000:7000], mcfg, tcfg)
        assert tr.history["loss"][-1] < tr.history["loss"][0]
        s1 = reconstruction_error(tr.pair.ae1, x[7000:])
        s2 = reconstruction_error(tr.pair.ae2, x[7000:])
        out[lam] = dcorr_sq_numpy(s1, s2)
    assert out[10.0] < 0.5 * out[0.0], out


# ---------------------------------------------------------------------------------------------- CLI


def _write_samples(d, n_bkg=6000, n_sig=1500):
    from l1ad.data.adc2021 import write_events
    from l1ad.data.layout import GROUPS

    rng = np.random.default_rng(1)

    def events(n, boost):
        p = np.zeros((n, 19, 4), np.float32)
        p[:, 0, 0] = rng.exponential(15 + 20 * boost, n)
        p[:, 0, 2] = rng.uniform(-3, 3, n)
        p[:, 0, 3] = 1
        for cls, first, k in GROUPS[1:]:
            m = np.minimum(rng.poisson(0.3 + boost + 2.5 * (int(cls) == 4), n), k)
            mask = np.arange(k)[None, :] < m[:, None]
            pt = -np.sort(-(rng.exponential(12 + 10 * boost, (n, k)) + 5), axis=1)
            p[:, first:first + k, 0] = pt * mask
            p[:, first:first + k, 1] = rng.uniform(-2.3, 2.3, (n, k)) * mask
            p[:, first:first + k, 2] = rng.uniform(-3, 3, (n, k)) * mask
            p[:, first:first + k, 3] = int(cls) * mask
        return p

    d.mkdir(parents=True, exist_ok=True)
    write_events(d / "zero_bias.h5", events(n_bkg, 0.0))
    write_events(d / "sig.h5", events(n_sig, 1.5))


def _tiny_config(tmp_path, **data):
    import yaml

    cfg = {
        "name": "tiny",
        "data": {"background": "zero_bias.h5", "signals": ["sig.h5"], "max_events": 6000, **data},
        "model": {"hidden": [8, 3, 8]},
        "training": {"lam": 10.0, "epochs": 2, "batch_size": 512},
        "evaluation": {"efficiencies": [0.1, 0.05], "min_region_events": 10, "injection_fractions": [0.01]},
    }
    p = tmp_path / "abcd.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def test_cli_end_to_end_tiny(tmp_path, cli):
    data = tmp_path / "data"
    _write_samples(data)
    out = tmp_path / "out"
    code, stdout, stderr = cli("abcd", _tiny_config(tmp_path), "--data-dir", data, "--out", out, "--epochs", "1")
    rep = json.loads((out / "report.json").read_text())
    assert code == (0 if rep["acceptance"]["passed"] else 1), stderr  # the verdict is the exit code
    assert set(rep["summary"]) == {"lambda=10", "lambda=0"}
    for label, s in rep["summary"].items():
        assert 0 <= s["dcorr2_heldout"] <= 1, label
        assert "sig" in s["sic_at_eff"]
    inj = rep["results"]["lambda=10"]["injection"]["sig"]
    assert {"bias", "contamination", "z_abcd", "r"} <= set(inj[0])
    for f in ("plane", "closure", "sic"):
        assert (out / "plots" / f"{f}.png").stat().st_size > 1000
        json.loads((out / "plots" / f"{f}.json").read_text())
    from l1ad.background.model import reconstruction_error  # noqa: F401  (import check)
    from l1ad.models import load_artifact

    for k in (1, 2):
        art = load_artifact(out / "models" / f"tiny_ae{k}")
        assert art.kind == "ae" and art.score_type == "squared_error"
        assert art.trigger_model.layers[1].__class__.__name__ == "QActivation"
        assert len(art.meta.input.fields) == 57
    assert "dCorr" in stdout


def test_cli_bad_config_one_line(tmp_path, cli):
    p = tmp_path / "bad.yaml"
    p.write_text("training: {lam: -1}\n")
    code, _, err = cli("abcd", p, "--out", tmp_path / "o")
    assert code == 2
    assert err.count("\n") == 1 and "training.lam" in err and "-1" in err
    p.write_text("trainig: {}\n")
    code, _, err = cli("abcd", p, "--out", tmp_path / "o")
    assert code == 2 and "trainig" in err and "unknown key" in err
    assert not (tmp_path / "o").exists()


def test_cli_missing_data_one_line(tmp_path, cli):
    p = _tiny_config(tmp_path)
    code, _, err = cli("abcd", p, "--data-dir", tmp_path / "nope", "--out", tmp_path / "o")
    assert code == 2 and err.count("\n") == 1 and "--data-dir" in err
    (tmp_path / "empty").mkdir()
    code, _, err = cli("abcd", p, "--data-dir", tmp_path / "empty", "--out", tmp_path / "o")
    assert code == 2 and err.count("\n") == 1 and "zero_bias.h5" in err and "not found" in err
    code, _, err = cli("abcd", p, "--epochs", "0", "--out", tmp_path / "o")
    assert code == 2 and "--epochs" in err
    assert not (tmp_path / "o").exists()


def test_closure_scan_per_axis_and_explicit_points():
    from l1ad.background.config import EvalSection
    from l1ad.background.evaluate import closure_scan

    rng = np.random.default_rng(1)
    s1, s2 = rng.random(50_000), rng.random(50_000)
    rows = closure_scan(s1, s2, EvalSection(efficiencies=[0.05], per_axis=[(0.1, 0.2)], explicit=[(0.5, 0.5)]))
    assert [r["split"] for r in rows] == [1.0, "per_axis", "explicit"]
    assert rows[1]["eff"] == pytest.approx(0.02, rel=0.1)
    assert rows[2]["counts"]["a"] == np.sum((s1 > 0.5) & (s2 > 0.5))
    assert all(r["closes"] for r in rows)


def test_empty_control_region_reports_full_nonclosure():
    rng = np.random.default_rng(2)
    s = rng.exponential(size=20_000)
    c = closure(s, s, *thresholds_for_efficiency(s, s, 0.05))  # identical scores: C is empty
    assert c.counts.c == 0 and c.n_pred == 0
    assert c.ratio == 0 and c.nonclosure == 1 and not c.closes


REPO_DATA = Path(__file__).resolve().parent.parent / "data"
_ABCD_FILES = ("zero_bias.h5", "ato4l.h5", "leptoquark.h5", "hToTauTau.h5", "hChToTauNu.h5")


def _default_sample(tmp_path_factory):
    """The default sample `make demo` generates: data/ if it was generated with the current configs, else
    generated here (the zero bias and the four signals; ~10 min on 2 cores)."""
    from l1ad.cli import main
    from l1ad.data.adc2021 import read_attrs
    from l1ad.data.generation.config import config_hash, load_emulation_config, load_generation_config

    want = config_hash(load_generation_config("generation.yaml"), load_emulation_config("l1_emulation.yaml"))
    if all((REPO_DATA / f).is_file() for f in _ABCD_FILES) and all(
            read_attrs(REPO_DATA / f).get("config_hash") == want for f in _ABCD_FILES):
        return REPO_DATA
    d = tmp_path_factory.mktemp("default_sample")
    procs = ",".join(f.removesuffix(".h5") for f in _ABCD_FILES)
    assert main(["data", "generate", "--processes", procs, "--out", str(d)]) == 0
    return d


@pytest.mark.slow
def test_default_config_reproduces_its_quoted_numbers(tmp_path_factory, cli):
    """configs/abcd.yaml quotes the closure and dCorr² it gives on the default sample; running it again gives
    them again (to the quoted precision), and `l1ad abcd` exits 0 because its acceptance holds."""
    from l1ad.background.config import load_abcd_config

    cfg = load_abcd_config("abcd.yaml")
    ref = cfg.reference
    assert ref is not None, "configs/abcd.yaml must quote what it gives (reference:)"
    data = _default_sample(tmp_path_factory)
    out = tmp_path_factory.mktemp("abcd_default") / "out"
    code, _, err = cli("abcd", "--data-dir", data, "--out", out)
    assert code == 0, err
    s = json.loads((out / "report.json").read_text())["summary"]
    lam, base = s[f"lambda={cfg.training.lam:g}"], s["lambda=0"]
    assert lam["grid_points_closing"] == ref.grid_points_closing
    assert lam["max_nonclosure"] == pytest.approx(ref.max_nonclosure, abs=5e-4)
    assert lam["ratio_at_min_eff"] == pytest.approx(ref.ratio_at_min_eff, abs=5e-4)
    assert lam["dcorr2_heldout"] == pytest.approx(ref.dcorr2_heldout, rel=0.03)
    assert base["dcorr2_heldout"] == pytest.approx(ref.dcorr2_heldout_baseline, abs=5e-3)
