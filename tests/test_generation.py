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
        assert len(ev) == pytest.approx(n, abs=6) and read_attrs(path)["n_events"] == len(ev)
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

    def n_leptons(ev: np.ndarray) -> float:  # above the soft pileup clusters every crossing has
        return float(((ev[:, 1:9, 3] > 0) & (ev[:, 1:9, 0] > 10)).sum(1).mean())

    assert n_leptons(a4l) > 4 * n_leptons(zb) and n_leptons(a4l) > 1.0
    # W -> l nu: genuine MET from the neutrino on top of the pileup MET
    assert np.median(wlnu[:, 0, 0]) > np.median(zb[:, 0, 0])
    # zero-bias leading-jet ET falls steeply: far fewer crossings above 60 GeV than above 30 GeV (weighted to
    # LHC crossings: the hard strata are oversampled on purpose)
    from l1ad.data.adc2021 import event_weights

    w = event_weights(sample / "zero_bias.h5")
    lead = zb[:, 9, 0]
    assert w[lead > 60].sum() < 0.3 * w[lead > 30].sum()
    # ... and the file holds the rare strata oversampled: each stratum rarer than 1e-3 of the LHC's crossings
    # has a share of the file's crossings at least 10x its probability
    from l1ad.data.adc2021 import read_strata

    st = read_strata(sample / "zero_bias.h5")
    rare = [(n, c / len(zb), p) for n, c, p in zip(st.names, st.counts, st.probability, strict=True) if p < 1e-3]
    assert len(rare) >= 6 and all(share > 10 * p for _, share, p in rare), rare
    assert (lead > 60).mean() > 2 * w[lead > 60].sum()


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
        ev = emu.assemble([pileup_pieces(pool, 400, mu, emu.n_phi, rng)], 400, rng).events
        _check_layout(ev)
        stats.append((ev[:, 0, 0].mean(), (ev[:, 9:, 3] > 0).sum(1).mean()))
    (met5, nj5), (met60, nj60) = stats
    assert met60 > 1.5 * met5
    assert nj60 > nj5


def test_zero_bias_is_stitched_with_consistent_weights(sample: Path) -> None:
    """The stitched zero bias: strata interleaved, weights = P_stratum / crossings (summing to 1), the strata
    probabilities from the Poisson pileup formula with Pythia's cross sections, the pool's pT-hat above the
    boundary replaced by the QCD strata (their summed q close to the pool's cut fraction)."""
    import h5py

    from l1ad.data.adc2021 import read_strata, read_stratum_ids
    from l1ad.data.generation.zerobias import stratum_probabilities

    path = sample / "zero_bias.h5"
    strata = read_strata(path)
    attrs = read_attrs(path)
    table = attrs["strata"]
    assert strata.weighted and [t["name"] for t in table][:3] == ["minbias", "qcd_20_30", "qcd_30_50"]
    assert strata.probability.sum() == pytest.approx(1.0)
    q = [t["q"] for t in table[1:]]
    assert strata.probability.tolist() == pytest.approx(stratum_probabilities(60.0, q))
    with h5py.File(path) as f:
        w = f["Weights"][()]
    sid = read_stratum_ids(path)
    assert w.sum() == pytest.approx(1.0) and np.allclose(w, (strata.probability / strata.counts)[sid])
    assert len(np.unique(sid[: len(sid) // 3])) >= 8  # interleaved: the first third holds most strata
    info = attrs["stitching"]
    assert info["sigma_inel_mb"] == pytest.approx(79, rel=0.1)  # Pythia 8 inelastic pp at 13.6 TeV
    # a 20 GeV slice of pT-hat 20-30 GeV is ~0.6 mb: ~0.7 % of inelastic collisions
    assert 0.004 < table[1]["q"] < 0.012
    assert [t["process"] for t in attrs["zero_bias"]["strata"]][-3:] == ["wlnu", "zll", "ttbar"]


def test_stratum_probabilities_are_the_poisson_pileup_ones() -> None:
    """P_k = P(the crossing's highest interaction class is k) for independent Poisson classes, checked against a
    direct simulation; the conditional count of the stratum's own class is a zero-truncated Poisson."""
    from l1ad.data.generation.zerobias import stratum_probabilities, zero_truncated_poisson

    rng = np.random.default_rng(2)
    mu, q = 60.0, [7e-3, 2e-3, 3e-4, 4e-5]
    counts = rng.poisson(mu * np.array(q)[None, :], size=(2_000_000, len(q)))
    top = np.where(counts.any(axis=1), len(q) - np.argmax(counts[:, ::-1] > 0, axis=1), 0)
    freq = np.bincount(top, minlength=len(q) + 1) / len(top)
    p = np.array(stratum_probabilities(mu, q))
    assert p.sum() == pytest.approx(1.0)
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / len(top)) + 1e-7)
    from l1ad.data.generation.zerobias import muon_split

    assert muon_split(0.19) == pytest.approx([np.exp(-0.19), 0.19 * np.exp(-0.19), 1 - 1.19 * np.exp(-0.19)])
    z2 = zero_truncated_poisson(0.19, 200_000, rng, kmin=2)
    ref2 = rng.poisson(0.19, 20_000_000)
    ref2 = ref2[ref2 >= 2]
    assert z2.min() == 2 and z2.mean() == pytest.approx(ref2.mean(), rel=0.01)
    for lam in (0.44, 3.0):
        z = zero_truncated_poisson(lam, 200_000, rng)
        ref = rng.poisson(lam, 2_000_000)
        ref = ref[ref > 0]
        assert z.min() == 1 and z.mean() == pytest.approx(ref.mean(), rel=0.01)
        assert np.mean(z == 2) == pytest.approx(np.mean(ref == 2), abs=0.005)


def test_stitched_zero_bias_closes_on_the_unweighted_one(tmp_path: Path) -> None:
    """Closure: the same interactions overlaid two ways - unweighted crossings from one big pool, and the
    stitched sample (soft pool below the pT-hat boundary + weighted strata above, the zero-bias code path) -
    give per-seed rates that agree within their uncertainties. Toy interactions with a power-law pT-hat
    (known cross sections) let the unweighted pool be large enough for no interaction to be reused much."""
    import yaml

    from l1ad.data.adc2021 import STRATUM, WEIGHTS, write_events
    from l1ad.data.generation import load_emulation_config
    from l1ad.data.generation.l1emu import L1Emulator
    from l1ad.data.generation.zerobias import (
        SoftPools,
        Stratum,
        muon_split,
        stratum_pieces,
        stratum_probabilities,
    )
    from l1ad.rates.pipeline import Emulation, Hdf5Reader, plan_chunks, run_local
    from l1ad.rates.ratemodel import RateModel
    from l1ad.rates.run import _file_strata, _weights
    from l1ad.rates.summary import summarize

    emu = L1Emulator(load_emulation_config())
    mu, p0, x0, power = 4.0, 10.0, 2.0, 2.5
    edges = [p0, 20.0, 40.0, 1e9]

    def q(a: float, b: float) -> float:  # P(a <= pT-hat < b) for P(pT-hat > x) = (x / x0)^-power, x > x0
        return (max(a, x0) / x0) ** -power - (b / x0) ** -power

    rng = np.random.default_rng(11)
    pool_all = toy_interactions(rng, 160_000, x0, 1e9, x0, power, emu)
    soft = pool_all.subset(pool_all.pthat < p0)
    hard = [Stratum(f"s{a:g}", q(a, b), 4000, toy_interactions(rng, 4000, a, b, x0, power, emu), hard=i + 1)
            for i, (a, b) in enumerate(zip(edges[:-1], edges[1:], strict=False))]
    classes = [Stratum("minbias", 1 - sum(h.q for h in hard), 4000), *hard]
    for s, pk in zip(classes, stratum_probabilities(mu, [h.q for h in hard]), strict=True):
        s.probability = pk
    # muon enrichment of the min-bias stratum: crossings with 0, 1, >= 2 soft muon interactions
    has_mu = np.zeros(soft.n_events, bool)
    has_mu[np.repeat(np.arange(soft.n_events), np.diff(soft.muons.offsets))] = True
    pools = SoftPools(soft, soft.subset(~has_mu), soft.subset(has_mu), float(has_mu.mean()) * classes[0].q)
    shares = muon_split(mu * pools.q_muon)
    strata = [Stratum(f"minbias_{m}", classes[0].q, c, None, 0.0, classes[0].probability * shares[m], n_muon=m)
              for m, c in enumerate((2000, 1000, 1000))] + hard
    # the overlap removal is consistent: the pool's share above p0 is what the strata stand for
    n_hard = int((pool_all.pthat >= p0).sum())
    assert abs(n_hard - pool_all.n_events * sum(h.q for h in hard)) < 4 * np.sqrt(n_hard)
    parts, sids = [], []
    for k, s in enumerate(strata):
        for lo in range(0, s.crossings, 1000):
            c = emu.assemble(stratum_pieces(strata, k, lo, 1000, pools, mu, emu.n_phi, rng), 1000, rng)
            parts.append(c.events)
            sids.append(np.full(1000, k, np.int16))
    ev, sid = np.concatenate(parts), np.concatenate(sids)
    w = np.array([s.weight for s in strata])[sid]
    table = [{"name": s.name, "probability": s.probability, "crossings": s.crossings} for s in strata]
    write_events(tmp_path / "stitched.h5", ev, {"strata": table}, extras={WEIGHTS: w, STRATUM: sid})
    # unweighted: Poisson(mu) interactions from the whole pool, 40k crossings (each pool entry used ~once)
    parts = []
    for _ in range(40):
        parts.append(emu.assemble([_pieces(pool_all, 1000, mu, emu.n_phi, rng)], 1000, rng).events)
    write_events(tmp_path / "unweighted.h5", np.concatenate(parts))
    menu = {"name": "closure", "source": "test", "seeds": [
        {"name": "jet40", "source": "t", "conditions": [{"kind": "objects", "object": "jet", "pt_min": [40]}]},
        {"name": "jet25x2", "source": "t", "conditions": [{"kind": "objects", "object": "jet", "pt_min": [25, 25]}]},
        {"name": "eg10", "source": "t", "conditions": [{"kind": "objects", "object": "egamma", "pt_min": [10]}]},
        {"name": "met10", "source": "t", "conditions": [{"kind": "met", "met_min": 10}]},
        {"name": "ht60", "source": "t", "conditions": [{"kind": "ht", "ht_min": 60, "jet_pt_min": 20}]},
        {"name": "mu2", "source": "t", "conditions": [{"kind": "objects", "object": "muon", "pt_min": [3, 3]}]},
    ]}
    (tmp_path / "menu.yaml").write_text(yaml.safe_dump(menu))
    from l1ad.rates.menu import load_menu

    class Zero:
        def predict(self, words: np.ndarray) -> np.ndarray:
            return np.zeros(len(words), np.int64)

    class Words:
        def encode(self, p: np.ndarray) -> tuple[np.ndarray, dict]:
            return np.zeros((len(p), 57), np.int64), {}

    reader = Hdf5Reader()
    e = Emulation(Zero(), Words(), load_menu(tmp_path / "menu.yaml"), reader=reader)
    rates = {}
    for name in ("stitched", "unweighted", "hard_weights_x3"):
        path = tmp_path / f"{name.replace('hard_weights_x3', 'stitched')}.h5"
        n = reader.count(str(path))
        st = _file_strata(reader, path, n)
        if name == "hard_weights_x3":  # fault injection: the hard strata's probabilities 3x too large
            st = (st[0], [p * 3 if k >= 3 else p for k, p in enumerate(st[1])], st[2])
        c = run_local(plan_chunks([path], [n], 20_000, strata=[len(st[0])]), e)
        sm = summarize(c, {}, [1000.0], RateModel(), zb_weights=_weights([path], [st], c.n_by_stratum, [n], [0]))
        rates[name] = sm.menu()["seeds"]
    pulls = {}
    for seed in ("jet40", "jet25x2", "eg10", "met10", "ht60", "mu2"):
        a, b = rates["stitched"][seed], rates["unweighted"][seed]
        sig = np.hypot((a["hi_khz"] - a["lo_khz"]) / 2, (b["hi_khz"] - b["lo_khz"]) / 2)
        pulls[seed] = ((a["khz"] - b["khz"]) / sig, a["khz"], b["khz"], a["n"], b["n"])
    for seed, (pull, _, _, _, n_unweighted) in pulls.items():
        assert n_unweighted > 30, seed  # the unweighted sample resolves the seed
        assert abs(pull) < 3, (seed, pulls)
    # the stitched sample is the precise one for the hard seeds (many weighted events behind each rate)
    assert rates["stitched"]["jet40"]["n_eff"] > 20 * rates["unweighted"]["jet40"]["n_eff"]
    # ... and the closure is a real check: wrong stratum weights break it
    a, b = rates["hard_weights_x3"]["jet40"], rates["unweighted"]["jet40"]
    assert abs(a["khz"] - b["khz"]) / np.hypot((a["hi_khz"] - a["lo_khz"]) / 2, (b["hi_khz"] - b["lo_khz"]) / 2) > 3


def _pieces(pool, n: int, mu: float, n_phi: int, rng: np.random.Generator):
    from l1ad.data.generation.pileup import pileup_pieces

    return pileup_pieces(pool, n, mu, n_phi, rng)


def toy_interactions(rng: np.random.Generator, n: int, lo: float, hi: float, x0: float, power: float, emu):
    """Toy interactions with pT-hat in [lo, hi) from P(pT-hat > x) = (x / x0)^-power: two back-to-back 'jets'
    of E_T ~ pT-hat (35 % electromagnetic), six soft deposits, and a muon in 5 % of them."""
    from l1ad.data.generation.sparse import Candidates, SparseEvents

    u = rng.random(n)
    a, b = (max(lo, x0) / x0) ** -power, (hi / x0) ** -power
    pthat = x0 * (a - u * (a - b)) ** (-1 / power)
    n_eta, n_phi = emu.n_eta, emu.n_phi
    jet_eta = rng.integers(n_eta // 2 - 28, n_eta // 2 + 28, n)
    jet_phi = rng.integers(0, n_phi, n)
    ie = np.concatenate([rng.integers(0, n_eta, (n, 6)), np.stack([jet_eta, jet_eta, n_eta - 1 - jet_eta], 1)], 1)
    ip = np.concatenate([rng.integers(0, n_phi, (n, 6)),
                         np.stack([jet_phi, (jet_phi + 1) % n_phi, (jet_phi + n_phi // 2) % n_phi], 1)], 1)
    et = np.concatenate([np.full((n, 6), 0.4), pthat[:, None] * np.array([0.6, 0.3, 0.9]) * rng.uniform(0.8, 1.0, (n, 3))],
                        1)
    mu_ev = np.flatnonzero(rng.random(n) < 0.05)
    return SparseEvents(
        n_events=n,
        tower_offsets=(9 * np.arange(n + 1)).astype(np.int64),
        tower_index=(ie * n_phi + ip).ravel().astype(np.int32),
        tower_em=(0.35 * et).ravel().astype(np.float32),
        tower_had=(0.65 * et).ravel().astype(np.float32),
        muons=Candidates.from_flat(n, mu_ev, 0.3 * pthat[mu_ev] + 3, rng.uniform(-2, 2, len(mu_ev)),
                                   rng.uniform(-np.pi, np.pi, len(mu_ev))),
        pthat=pthat.astype(np.float32),
    )


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
