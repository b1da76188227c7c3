"""Hardware encoding: uGT widths/LSBs, exact round trip on words, saturation counted, phi wrapping."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

from l1ad.data.encoding import load_encoding
from l1ad.data.layout import N_INPUTS
from l1ad.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def enc():
    return load_encoding()


def test_fields_follow_ugt_data_types(enc):
    f = enc.fields
    assert len(f) == N_INPUTS == 57
    by = {x.name: x for x in f}
    # word index = 3 * row + feature; row 0 MET, 1-4 e/gamma, 5-8 muons, 9-18 jets
    assert [f[0].name, f[3].name, f[15].name, f[27].name, f[56].name] == [
        "met_pT", "egamma1_pT", "muon1_pT", "jet1_pT", "jet10_phi"]
    assert (by["met_pT"].width, by["egamma2_pT"].width, by["muon3_pT"].width, by["jet4_pT"].width) == (12, 9, 9, 11)
    assert all(x.lsb == 0.5 and not x.signed and x.unit == "GeV" for x in f if x.feature == "pT")
    assert by["jet1_eta"].lsb == pytest.approx(0.0435) and by["jet1_eta"].width == 8 and by["jet1_eta"].signed
    assert by["egamma1_eta"].lsb == pytest.approx(0.087 / 2)
    assert by["muon1_eta"].lsb == pytest.approx(0.0870 / 8) and by["muon1_eta"].width == 9
    assert by["jet1_phi"].lsb == pytest.approx(2 * math.pi / 144) and by["jet1_phi"].width == 8
    assert by["muon1_phi"].lsb == pytest.approx(2 * math.pi / 576) and by["muon1_phi"].width == 10
    assert by["met_phi"].periodic_bins == 144 and not by["met_phi"].signed
    assert (by["muon2_eta"].min, by["muon2_eta"].max, by["jet2_pT"].max) == (-256, 255, 2047)


def random_valid_words(enc, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(enc.valid_min, enc.valid_max + 1, size=(n, N_INPUTS), dtype=np.int64)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_round_trip_on_words(enc, seed):
    w = random_valid_words(enc, 20_000, seed)
    w[:, 0::3][np.random.default_rng(seed).random((20_000, 19)) < 0.3] = 0  # some empty objects
    # include every field's extreme words
    w[0], w[1] = enc.valid_min, enc.valid_max
    decoded = enc.decode(w)
    assert decoded.dtype == np.float32 and decoded.shape == (20_000, 19, 4)
    again = enc.encode(decoded)
    np.testing.assert_array_equal(again.words, w)
    assert again.n_overflow == 0
    # class ids come from the layout where pT != 0
    assert set(np.unique(decoded[:, 9:, 3])) <= {0.0, 4.0}
    np.testing.assert_array_equal(decoded[:, :, 3] > 0, w[:, 0::3] != 0)
    # decoded phi lies in [-pi, pi)
    assert decoded[:, :, 2].min() >= -math.pi - 1e-6 and decoded[:, :, 2].max() < math.pi


def test_encode_matches_lsb_arithmetic(enc):
    p = np.zeros((1, 19, 4), np.float32)
    p[0, 9] = [100.3, -1.0, -0.5, 4]  # leading jet
    p[0, 5] = [25.0, 1.0, 2.0, 3]  # leading muon
    w = enc.encode(p).words[0]
    assert w[27] == round(100.3 / 0.5) and w[28] == round(-1.0 / 0.0435)
    assert w[29] == round(-0.5 / (2 * math.pi / 144)) % 144  # unsigned bin index
    assert w[15] == 50 and w[16] == round(1.0 / 0.010875) and w[17] == round(2.0 / (2 * math.pi / 576))


def test_saturation_is_counted_never_wraps(enc):
    p = np.zeros((3, 19, 4), np.float32)
    p[0, 1] = [300.0, 0.1, 0.1, 2]  # e/gamma ET > 255.5 GeV
    p[1, 1] = [260.0, 0.0, 0.0, 2]
    p[0, 9] = [5000.0, 6.0, 0.0, 4]  # jet ET > 1023.5 and eta > 127 * 0.0435
    p[2, 5] = [10.0, -3.0, 0.0, 3]  # muon eta < -256 * 0.010875
    p[2, 0] = [2047.5, 0.0, 1.0, 1]  # MET exactly at max: no overflow
    r = enc.encode(p)
    assert r.overflow["egamma.pT"] == 2 and r.overflow["jet.pT"] == 1 and r.overflow["jet.eta"] == 1
    assert r.overflow["muon.eta"] == 1 and r.overflow["met.pT"] == 0 and r.n_overflow == 5
    assert r.words[0, 3] == 511 and r.words[1, 3] == 511  # saturated, not wrapped to small values
    assert r.words[0, 27] == 2047 and r.words[0, 28] == 127 and r.words[2, 16] == -256
    assert r.words[2, 0] == 4095


def test_phi_wraps_periodically_without_overflow(enc):
    p = np.zeros((4, 19, 4), np.float32)
    lsb = 2 * math.pi / 144
    for i, phi in enumerate([math.pi, -math.pi, 3 * math.pi, -0.5 * lsb * 0.9]):
        p[i, 9] = [50.0, 0.0, phi, 4]
    r = enc.encode(p)
    assert r.n_overflow == 0
    assert list(r.words[:, 29]) == [72, 72, 72, 0]
    assert np.all((r.words[:, 29] >= 0) & (r.words[:, 29] < 144))


def test_bad_input_and_bad_words(enc):
    p = np.zeros((5, 19, 4), np.float32)
    p[3, 6, 1] = np.nan
    with pytest.raises(DataError, match=r"event 3, object muon2: field 'eta': not finite"):
        enc.encode(p)
    with pytest.raises(DataError, match=r"shape \(5, 57\)|expected"):
        enc.encode(np.zeros((5, 57)))
    w = np.zeros((2, 57), np.int64)
    w[1, 29] = 144  # jet phi bin out of 0..143
    with pytest.raises(DataError, match=r"event 1: field 'jet1_phi': word out of range \[0, 143\] \(value 144\)"):
        enc.decode(w)


def test_invalid_config_is_one_line_config_error(tmp_path):
    src = yaml.safe_load(open(load_encoding().source))
    src["groups"]["jet"]["phi"]["bits"] = 7  # 144 bins need 8 unsigned bits
    bad = tmp_path / "objs.yaml"
    bad.write_text(yaml.safe_dump(src))
    with pytest.raises(ConfigError, match=r"objs.yaml: field 'groups.jet.phi'"):
        load_encoding(bad)
    src["groups"]["jet"]["phi"]["bits"] = 8
    src["groups"]["jet"]["pT"]["lbs"] = 0.5
    bad.write_text(yaml.safe_dump(src))
    with pytest.raises(ConfigError, match=r"groups.jet.pT.lbs': unknown key"):
        load_encoding(bad)


def test_signed_phi_variant_round_trips(tmp_path):
    """A config may hold phi as a centred signed index (-72..71); wrapping and round trip still exact."""
    src = yaml.safe_load(open(load_encoding().source))
    for g in src["groups"].values():
        g["phi"]["signed"] = True
    cfg = tmp_path / "signed_phi.yaml"
    cfg.write_text(yaml.safe_dump(src))
    enc = load_encoding(cfg)
    assert enc.fields[2].signed and (enc.valid_min[29], enc.valid_max[29]) == (-72, 71)
    assert (enc.valid_min[17], enc.valid_max[17]) == (-288, 287)
    p = np.zeros((2, 19, 4), np.float32)
    p[0, 9] = [10.0, 0.0, 3.0 * math.pi / 2, 4]  # = -pi/2
    p[1, 9] = [10.0, 0.0, math.pi, 4]  # -> -72 (the range is [-pi, pi))
    r = enc.encode(p)
    assert list(r.words[:, 29]) == [-36, -72] and r.n_overflow == 0
    w = random_valid_words(enc, 5000, 9)
    np.testing.assert_array_equal(enc.encode(enc.decode(w)).words, w)


# ------------------------------------------------------------------------------------ vectorised = reference
def reference_encode(enc, p: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
    """The encoding rule written out plainly, one word at a time per column (the definition the chunked,
    vectorised :meth:`Encoding.encode` must reproduce bit for bit): rint(value / lsb) in float64, phi modulo
    its bins (centred if signed), everything else saturated at its word range and counted."""
    x = p[:, :, :3].reshape(len(p), 57).astype(np.float64)
    words = np.zeros(x.shape, np.int64)
    counts = dict.fromkeys(enc.overflow_keys, 0)
    for c, f in enumerate(enc.fields):
        q = np.rint(x[:, c] / f.lsb)
        if f.periodic_bins:
            q = np.mod(q, f.periodic_bins)
            if f.signed:
                q = np.where(q >= f.periodic_bins / 2, q - f.periodic_bins, q)
        else:
            counts[f"{f.group}.{f.feature}"] += int(np.count_nonzero((q < f.min) | (q > f.max)))
            q = np.clip(q, f.min, f.max)
        words[:, c] = q.astype(np.int64)
    return words, counts


def hard_events(n: int, seed: int) -> np.ndarray:
    """Events that exercise every branch: exact rounding ties (multiples of lsb/2), values far out of range on
    both sides, phi on any branch (up to +-40 pi, and exactly on bin edges), negative pT, the class column."""
    rng = np.random.default_rng(seed)
    enc = load_encoding()
    lsb = enc.lsb.reshape(19, 3)
    p = np.zeros((n, 19, 4), np.float32)
    k = rng.integers(-6000, 6000, (n, 19, 3))
    p[..., :3] = (k * lsb / 2).astype(np.float32)  # many values within float32 rounding of a tie
    wide = rng.random((n, 19, 3)) < 0.2
    p[..., :3] = np.where(wide, rng.normal(0, 1, (n, 19, 3)) * np.array([3000.0, 20.0, 130.0]), p[..., :3])
    p[..., 3] = rng.integers(0, 5, (n, 19))
    return p


@pytest.mark.parametrize("n", [0, 1, 2047, 2048, 2049, 9000])
def test_vectorised_encode_equals_reference(enc, n):
    """Every word and every overflow count equal the plain per-column rule, across chunk boundaries, for int64 and
    the narrow word dtype, for (N, 19, 4), (N, 19, 3) and non-contiguous inputs."""
    p = hard_events(n, seed=n)
    want, counts = reference_encode(enc, p)
    r = enc.encode(p)
    assert r.words.dtype == np.int64 and np.array_equal(r.words, want)
    assert r.overflow == counts and (n < 100 or r.n_overflow > 0)
    narrow = enc.encode(p, dtype=enc.word_dtype)
    assert enc.word_dtype == np.int16 and narrow.words.dtype == np.int16 and np.array_equal(narrow.words, want)
    assert np.array_equal(enc.encode(np.ascontiguousarray(p[:, :, :3])).words, want)
    big = np.zeros((n, 19, 6), np.float32)
    big[:, :, :4] = p
    assert np.array_equal(enc.encode(big[:, :, :4]).words, want)  # strided input


def test_vectorised_encode_fault_injection(enc, monkeypatch):
    """The comparison above catches a wrong rounding (floor instead of half to even) and a wrong phi wrap."""
    p = hard_events(3000, seed=5)
    want, _ = reference_encode(enc, p)
    monkeypatch.setattr(np, "rint", np.floor)
    assert np.count_nonzero(enc.encode(p).words != want) > 100
    monkeypatch.undo()
    enc2 = load_encoding()
    enc2._pbins = enc2._pbins + 1  # wrap modulo the wrong number of bins
    assert np.count_nonzero(enc2.encode(p).words != want) > 100


def test_encode_dtype_and_nonfinite_after_first_chunk(enc):
    p = hard_events(5000, seed=3)
    p[4321, 8, 0] = np.inf
    with pytest.raises(DataError, match=r"event 4321, object muon4: field 'pT': not finite"):
        enc.encode(p)
    with pytest.raises(DataError, match=r"dtype int8 cannot hold every word"):
        enc.encode(p[:10], dtype=np.int8)
    with pytest.raises(DataError, match=r"dtype float32"):
        enc.encode(p[:10], dtype=np.float32)


def test_phi_beyond_float64_integers_wraps_exactly(enc):
    """phi words from |phi| ~ 1e30 rad (finite float32): the fast floor-division wrap would be wrong there; the
    exact modulo takes over for those columns only."""
    p = hard_events(50, seed=11)
    p[7, 9, 2] = 1e30
    p[8, 0, 2] = -3e25
    p[9, 5, 2] = 2.0**60
    want, counts = reference_encode(enc, p)
    r = enc.encode(p)
    assert np.array_equal(r.words, want) and r.overflow == counts
    assert 0 <= r.words[7, 29] < 144 and 0 <= r.words[9, 17] < 576
