"""``l1ad data inspect / encode / convert`` end to end, plus clean one-line errors."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from test_data_io import random_events

from l1ad.data.adc2021 import read_events, write_events
from l1ad.data.encoding import load_encoding


@pytest.fixture
def two_files(tmp_path):
    a = random_events(3000, seed=10)
    b = random_events(2000, seed=11)
    b[:, 9, 0] += 100.0  # a "signal" with harder leading jets (still pT-ordered)
    write_events(tmp_path / "bkg.h5", a, {"process": "bkg", "seed": 10})
    write_events(tmp_path / "sig.h5", b, {"process": "sig", "seed": 11})
    return tmp_path, a, b


def test_inspect_writes_summary_json_and_plots(cli, two_files):
    d, a, b = two_files
    out = d / "insp"
    code, stdout, err = cli("data", "inspect", d / "bkg.h5", d / "sig.h5", "--out", out)
    assert code == 0, err
    assert "3000 events" in stdout and "egamma" in stdout and "jet" in stdout
    s = json.loads((out / "bkg.summary.json").read_text())
    assert s["n_events"] == 3000 and s["attrs"]["process"] == "bkg"
    # multiplicities and means are computed from the data
    n_jets = (a[:, 9:19, 0] > 0).sum(axis=1)
    assert s["groups"]["jet"]["mean_multiplicity"] == pytest.approx(n_jets.mean(), abs=1e-6)
    assert s["groups"]["jet"]["multiplicity_counts"] == np.bincount(n_jets, minlength=11).tolist()
    assert s["means"]["met"] == pytest.approx(a[:, 0, 0].mean(), rel=1e-5)
    lead = s["histograms"]["leading_jet_et"]
    assert sum(lead["counts"]) + lead["overflow"] == int((a[:, 9, 0] > 0).sum())
    assert s["groups"]["muon"]["pT_range"][1] == pytest.approx(float(a[:, 5:9, 0].max()), rel=1e-6)
    sig = json.loads((out / "sig.summary.json").read_text())
    assert sig["means"]["leading_jet_et"] > s["means"]["leading_jet_et"] + 50
    for png in ("bkg.summary.png", "sig.summary.png", "comparison.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_inspect_errors_cleanly(cli, tmp_path):
    code, out, err = cli("data", "inspect", tmp_path / "missing.h5", "--out", tmp_path / "o")
    assert code == 2 and err.strip() == f"error: {tmp_path / 'missing.h5'}: no such file"
    assert not (tmp_path / "o").exists()
    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as f:
        f.create_dataset("Particles", data=np.zeros((4, 19, 5), np.float32))
    code, out, err = cli("data", "inspect", bad, "--no-plots", "--out", tmp_path / "o")
    assert code == 2 and "dataset 'Particles': wrong shape (4, 19, 5)" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_encode_command_matches_library(cli, two_files):
    d, a, _ = two_files
    a = a.copy()
    a[0, 9, 0] = 5000.0  # saturates jet ET
    write_events(d / "sat.h5", a)
    code, out, err = cli("data", "encode", d / "sat.h5", "--out", d / "w.h5", "--chunk-size", "700")
    assert code == 0, err
    enc = load_encoding()
    with h5py.File(d / "w.h5") as f:
        np.testing.assert_array_equal(f["Words"][()], enc.encode(read_events(d / "sat.h5")).words)
        assert f.attrs["overflow.jet.pT"] == 1
        assert list(f["Words"].attrs["fields"])[27] == "jet1_pT"
    assert "jet.pT" in out


def test_convert_root(cli, tmp_path):
    pytest.importorskip("uproot")
    from test_root import write_l1_tree

    write_l1_tree(tmp_path / "n.root", {
        "egEt": [[12.0], []], "egEta": [[0.1], []], "egPhi": [[0.2], []],
        "muonEt": [[], [8.0]], "muonEta": [[], [1.0]], "muonPhi": [[], [2.0]], "muonQual": [[], [12]],
        "jetEt": [[30.0, 40.0], []], "jetEta": [[0.0, 1.0], []], "jetPhi": [[0.0, 1.0], []],
        "sumType": [[2], [2]], "sumEt": [[5.0], [6.0]], "sumPhi": [[0.0], [1.0]],
    })
    code, out, err = cli("data", "convert", tmp_path / "n.root", tmp_path / "n.h5")
    assert code == 0, err
    p = read_events(tmp_path / "n.h5")
    assert p.shape == (2, 19, 4)
    np.testing.assert_allclose(p[0, 9:11, 0], [40.0, 30.0])
    np.testing.assert_allclose(p[1, 5], [8.0, 1.0, 2.0, 3.0])


def test_help_lists_commands(cli):
    code, out, _ = cli("data", "--help")
    assert code == 0 and "inspect" in out and "encode" in out and "convert" in out


def test_inspect_btag_tracks_file(cli, tmp_path):
    rng = np.random.default_rng(5)
    tracks = rng.normal(size=(300, 16, 6)).astype(np.float32)
    tracks[:, 10:] = 0.0  # at most 10 tracks per jet
    tracks[:100, 4:] = 0.0
    label = (np.arange(300) % 3 == 0).astype(np.int8)
    with h5py.File(tmp_path / "btag.h5", "w") as f:
        ds = f.create_dataset("Tracks", data=tracks)
        ds.attrs["Track_Features"] = ["pt", "deta", "dphi", "d0", "z0", "d0sig"]
        f.create_dataset("Label", data=label)
        f.attrs["process"] = "btag"
    code, out, err = cli("data", "inspect", tmp_path / "btag.h5", "--out", tmp_path / "o")
    assert code == 0, err
    s = json.loads((tmp_path / "o" / "btag.summary.json").read_text())
    assert s["kind"] == "tracks" and s["n_jets"] == 300 and s["labels"] == {"0": 200, "1": 100}
    assert s["track_multiplicity_counts"][4] == 100 and s["track_multiplicity_counts"][10] == 200
    assert s["feature_ranges"]["d0"][0] == pytest.approx(float(tracks[:, :, 3].min()))
    assert "300 jets" in out


def test_inspect_weighted_file_shows_weights_and_tails(cli, tmp_path):
    """A stitched (weighted) file: the summary weights every event by its stratum's share of crossings and
    draws <name>.tails.png (strata weights, leading e/gamma, muon, jet, MET, log scale, seed thresholds)."""
    from l1ad.data.adc2021 import STRATUM, WEIGHTS

    a = random_events(2000, seed=20)
    sid = (np.arange(2000) % 4 == 0).astype(np.int16)  # 500 events of stratum 1
    a[sid == 1, 9, 0] += 200.0  # the rare stratum holds the hard jets
    prob = np.array([0.999, 0.001])
    w = (prob / np.bincount(sid))[sid]
    table = [{"name": "soft", "probability": 0.999, "crossings": 1500},
             {"name": "hard", "probability": 0.001, "crossings": 500}]
    write_events(tmp_path / "zb.h5", a, {"process": "zero_bias", "strata": table}, extras={WEIGHTS: w, STRATUM: sid})
    code, out, err = cli("data", "inspect", tmp_path / "zb.h5", "--out", tmp_path / "o")
    assert code == 0, err
    assert "weighted: 2 strata" in out
    s = json.loads((tmp_path / "o" / "zb.summary.json").read_text())
    assert s["weighted"] and [x["name"] for x in s["strata"]] == ["soft", "hard"]
    jet = s["tails"]["leading_jet_et"]
    has = a[:, 9, 3] > 0
    assert sum(jet["fraction"]) + jet["overflow_fraction"] == pytest.approx(w[has].sum())
    edges = np.asarray(jet["edges"])
    thr = edges[edges >= 200][0]  # a bin edge
    above = edges[:-1] >= thr
    assert np.asarray(jet["fraction"])[above].sum() + jet["overflow_fraction"] == pytest.approx(
        w[has & (a[:, 9, 0] >= thr)].sum())
    assert (tmp_path / "o" / "zb.tails.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # an unweighted file gets no tails plot, and its tail fractions are the plain 1/N fractions
    write_events(tmp_path / "plain.h5", a)
    code, _, err = cli("data", "inspect", tmp_path / "plain.h5", "--out", tmp_path / "p")
    assert code == 0, err
    assert not (tmp_path / "p" / "plain.tails.png").exists()
    s = json.loads((tmp_path / "p" / "plain.summary.json").read_text())
    assert not s["weighted"]
    jet = s["tails"]["leading_jet_et"]
    assert sum(jet["fraction"]) + jet["overflow_fraction"] == pytest.approx(has.mean())


def test_tail_marks_are_the_exact_weighted_rates_above_the_menu_thresholds(tmp_path):
    """The seed rates written on the tail plot are the weighted fractions at or above each single-object
    threshold of the menu, not a histogram approximation."""
    from l1ad.data.adc2021 import STRATUM, WEIGHTS
    from l1ad.data.summary import summarize

    a = random_events(3000, seed=30)
    sid = (np.arange(3000) % 3 == 0).astype(np.int16)
    w = (np.array([0.99, 0.01]) / np.bincount(sid))[sid]
    table = [{"name": "a", "probability": 0.99, "crossings": 2000}, {"name": "b", "probability": 0.01, "crossings": 1000}]
    write_events(tmp_path / "zb.h5", a, {"strata": table}, extras={WEIGHTS: w, STRATUM: sid})
    s = summarize(tmp_path / "zb.h5", chunk_size=700)
    marks = {m["seed"]: m for m in s["tails"]["leading_egamma_et"]["marks"]}
    m = marks["L1_SingleEG45er2p5"]  # 45 GeV is not a bin edge of the e/gamma histogram
    assert m["threshold"] == 45.0
    lead = a[:, 1]
    assert m["fraction_above"] == pytest.approx(w[(lead[:, 3] > 0) & (lead[:, 0] >= 45.0)].sum())
    assert {"L1_SingleMu22", "L1_SingleMu25"} <= {x["seed"] for x in s["tails"]["leading_muon_pt"]["marks"]}
    assert [x["seed"] for x in s["tails"]["met"]["marks"]] == ["L1_ETMHF100"]
