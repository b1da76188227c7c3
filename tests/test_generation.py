"""Event generation: tiny real Pythia 8 runs through the L1 emulation into the ADC2021 layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pythia8mc")
pytest.importorskip("fastjet")

from l1ad.data.adc2021 import read_attrs, read_events  # noqa: E402
from l1ad.data.layout import GROUPS, ObjectClass, group_slice  # noqa: E402

SMALL = ["--zero-bias", "600", "--events", "120", "--pool-events", "150", "--btag-jets", "300"]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small run shared by the tests: zero bias, a signal, an SM reference and the b-tag jets."""
    from l1ad.cli import main

    out = tmp_path_factory.mktemp("gen")
    code = main(["data", "generate", "--out", str(out), "--processes", "zero_bias,ato4l,wlnu,btag",
                 "--seed", "7", "--workers", "1", *SMALL])
    assert code == 0
    return out


def _check_layout(ev: np.ndarray) -> None:
    assert ev.dtype == np.float32 and ev.ndim == 3 and ev.shape[1:] == (19, 4)
    for cls, first, n in GROUPS:
        rows = ev[:, first : first + n]
        filled = rows[:, :, 3] > 0
        assert set(np.unique(rows[:, :, 3])) <= {0.0, float(cls)}
        # filled objects come first, then zero padding (no gaps), and padding is all zeros
        assert np.all(filled[:, :-1] | ~filled[:, 1:])
        assert np.all(rows[~filled] == 0)
        # pT-ordered within the group
        assert np.all(np.diff(rows[:, :, 0], axis=1) <= 0)
        assert np.all(rows[filled][:, 0] > 0)
    assert np.all(ev[:, 0, 1] == 0)  # MET has eta = 0
    assert np.all(np.abs(ev[:, :, 2]) <= np.pi + 1e-6)


def test_files_layout_and_attrs(sample: Path) -> None:
    for name, n in (("zero_bias", 600), ("ato4l", 120), ("wlnu", 120)):
        path = sample / f"{name}.h5"
        ev = read_events(path)
        assert len(ev) == n
        _check_layout(ev)
        attrs = read_attrs(path)
        assert attrs["process"] == name
        assert attrs["sqrt_s_gev"] == 13600.0
        assert attrs["mean_pileup"] == 60.0
        assert attrs["seed"] == 7
        assert "pythia8mc 8.3" in attrs["generator"]
    assert not list(sample.glob(".*.tmp"))  # atomic writes leave nothing behind


def test_acceptance_of_objects(sample: Path) -> None:
    ev = read_events(sample / "ato4l.h5")
    eg, mu = ev[:, group_slice(ObjectClass.EGAMMA)], ev[:, group_slice(ObjectClass.MUON)]
    assert np.all(np.abs(eg[eg[:, :, 3] > 0][:, 1]) < 2.5)
    assert np.all(np.abs(mu[mu[:, :, 3] > 0][:, 1]) < 2.4)
    jets = ev[:, group_slice(ObjectClass.JET)]
    assert np.all(jets[jets[:, :, 3] > 0][:, 0] >= 20.0)


def test_signal_differs_from_zero_bias(sample: Path) -> None:
    zb = read_events(sample / "zero_bias.h5")
    a4l = read_events(sample / "ato4l.h5")
    wlnu = read_events(sample / "wlnu.h5")

    def n_leptons(ev: np.ndarray) -> float:
        return float(((ev[:, 1:9, 3] > 0)).sum(1).mean())

    assert n_leptons(a4l) > 4 * n_leptons(zb) and n_leptons(a4l) > 1.0
    # W -> l nu: genuine MET from the neutrino on top of the pileup MET
    assert np.median(wlnu[:, 0, 0]) > np.median(zb[:, 0, 0])
    # zero-bias leading-jet ET falls steeply: far fewer crossings above 60 GeV than above 30 GeV
    lead = zb[:, 9, 0]
    assert (lead > 60).sum() < 0.3 * (lead > 30).sum()


def test_pileup_increases_activity(sample: Path) -> None:
    from l1ad.data.generation import load_emulation_config
    from l1ad.data.generation.l1emu import L1Emulator
    from l1ad.data.generation.pileup import load_pool, pileup_pieces

    pool = load_pool(sample / "minbias_pool.npz")
    assert pool is not None and pool.n_events == 150
    emu = L1Emulator(load_emulation_config())
    stats = []
    for mu in (5.0, 60.0):
        rng = np.random.default_rng(3)
        ev = emu.assemble([pileup_pieces(pool, 400, mu, emu, rng)], 400, rng)
        _check_layout(ev)
        stats.append((ev[:, 0, 0].mean(), (ev[:, 9:, 3] > 0).sum(1).mean()))
    (met5, nj5), (met60, nj60) = stats
    assert met60 > 1.5 * met5
    assert nj60 > nj5


def test_reproducible_and_worker_independent(sample: Path, tmp_path: Path, cli) -> None:
    args = ["data", "generate", "--processes", "zero_bias,ato4l", "--seed", "7", *SMALL]
    code, out, err = cli(*args, "--out", str(tmp_path / "a"), "--workers", "2")
    assert code == 0, err
    assert "zero_bias" in out  # summary table
    for name in ("zero_bias", "ato4l"):
        np.testing.assert_array_equal(read_events(tmp_path / "a" / f"{name}.h5"), read_events(sample / f"{name}.h5"))
    code, _, err = cli("data", "generate", "--processes", "zero_bias", "--seed", "8", *SMALL,
                       "--out", str(tmp_path / "b"), "--workers", "1")
    assert code == 0, err
    assert not np.array_equal(read_events(tmp_path / "b" / "zero_bias.h5"), read_events(sample / "zero_bias.h5"))


def test_btag_sample(sample: Path) -> None:
    from l1ad.data.generation.btag import TRACK_FEATURES, read_btag

    tracks, labels, names = read_btag(sample / "btag.h5")
    assert names == list(TRACK_FEATURES)
    assert tracks.shape[1:] == (16, len(TRACK_FEATURES)) and tracks.dtype == np.float32
    assert len(tracks) == 300 and set(np.unique(labels)) == {0, 1}
    assert 0.3 < labels.mean() < 0.7
    real = tracks[:, :, 0] > 0
    assert np.all(real[:, :-1] | ~real[:, 1:]) and np.all(tracks[~real] == 0)
    sig = np.abs(tracks[:, :, names.index("d0_sig")])
    assert np.all(np.diff(np.where(real, sig, -1), axis=1) <= 0)  # sorted by |d0 significance|
    # constituents of R = 0.4 jets (fastjet measures distance in rapidity, so pseudorapidity may stray a bit)
    dr = np.hypot(tracks[real][:, names.index("deta")], tracks[real][:, names.index("dphi")])
    assert np.quantile(dr, 0.99) < 0.4 and dr.max() < 1.0
    # physics: tracks from B-hadron decays are displaced -> b jets have much larger leading significance
    lead = sig[:, 0]
    assert np.median(lead[labels == 1]) > 3 * np.median(lead[labels == 0])
    attrs = read_attrs_btag(sample / "btag.h5")
    assert attrs["process"] == "btag" and attrs["seed"] == 7 and attrs["sqrt_s_gev"] == 13600.0


def read_attrs_btag(path: Path) -> dict:
    import h5py

    with h5py.File(path, "r") as f:
        return dict(f.attrs)


def test_bad_inputs_are_one_line_errors(cli, tmp_path: Path) -> None:
    code, _, err = cli("data", "generate", "--processes", "zero_bias,nope", "--out", str(tmp_path))
    assert code == 2 and "unknown process 'nope'" in err and err.count("\n") == 1
    bad = tmp_path / "gen.yaml"
    from l1ad.config import CONFIG_DIR

    bad.write_text((CONFIG_DIR / "generation.yaml").read_text().replace("mean: 60.0", "mean: -1"))
    code, _, err = cli("data", "generate", "--config", str(bad), "--out", str(tmp_path))
    assert code == 2 and "pileup.mean" in err and "-1" in err
    assert not list(tmp_path.glob("*.h5"))
