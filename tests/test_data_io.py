"""ADC2021 HDF5 I/O: round trips, chunked streaming, provenance attributes, bad files -> one-line DataError."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from l1ad.data.adc2021 import (
    CHUNK_EVENTS,
    EventWriter,
    count_events,
    iter_events,
    read_attrs,
    read_events,
    write_events,
)
from l1ad.data.layout import GROUPS, N_OBJECTS
from l1ad.errors import DataError


def random_events(n: int, seed: int = 0) -> np.ndarray:
    """Valid float events: random multiplicities, each group pT-ordered and zero-padded."""
    rng = np.random.default_rng(seed)
    p = np.zeros((n, N_OBJECTS, 4), np.float32)
    for cls, first, k in GROUPS:
        mult = rng.integers(0, k + 1, n)
        pt = -np.sort(-rng.exponential(20.0, (n, k)), axis=1)
        occ = np.arange(k)[None, :] < mult[:, None]
        sl = slice(first, first + k)
        p[:, sl, 0] = pt * occ
        p[:, sl, 1] = rng.uniform(-2.4, 2.4, (n, k)) * occ * (cls != 1)
        p[:, sl, 2] = rng.uniform(-np.pi, np.pi, (n, k)) * occ
        p[:, sl, 3] = int(cls) * occ
    return p


def test_round_trip_and_metadata(tmp_path):
    p = random_events(1000)
    out = tmp_path / "ev.h5"
    write_events(out, p, {"process": "zero_bias", "sqrt_s_gev": 13600.0, "seed": 7, "cfg": {"mu": 60}})
    np.testing.assert_array_equal(read_events(out), p)
    np.testing.assert_array_equal(read_events(out, 100, 250), p[100:250])
    np.testing.assert_array_equal(read_events(out, 990, 5000), p[990:])  # stop clipped
    assert count_events(out) == 1000
    attrs = read_attrs(out)
    assert attrs["process"] == "zero_bias" and attrs["seed"] == 7 and attrs["sqrt_s_gev"] == 13600.0
    assert attrs["cfg"] == {"mu": 60} and attrs["n_events"] == 1000
    with h5py.File(out) as f:
        ds = f["Particles"]
        assert ds.dtype == np.float32 and ds.compression == "gzip" and ds.chunks is not None
        assert [x.decode() for x in f["Particles_Names"][()]] == ["Pt", "Eta", "Phi", "Class"]
        assert f["Particles_Classes"][()][3].decode() == "Ten_Jet_class_4"
    assert not [x for x in tmp_path.iterdir() if x.name.startswith(".")]  # no temp files left


def test_chunked_iteration_equals_full_read(tmp_path):
    n = CHUNK_EVENTS + 1234  # larger than one HDF5 chunk and than the iteration chunk
    p = random_events(n, seed=1)
    out = tmp_path / "big.h5"
    with EventWriter(out, {"process": "x"}) as w:  # streamed writing in uneven pieces
        for lo in range(0, n, 3000):
            w.append(p[lo : lo + 3000])
    chunks = list(iter_events(out, chunk_size=1000))
    assert [len(c) for c in chunks[:-1]] == [1000] * (len(chunks) - 1) and 0 < len(chunks[-1]) <= 1000
    np.testing.assert_array_equal(np.concatenate(chunks), read_events(out))
    np.testing.assert_array_equal(read_events(out), p)
    sub = np.concatenate(list(iter_events(out, chunk_size=777, start=500, stop=4000)))
    np.testing.assert_array_equal(sub, p[500:4000])


def test_reads_float64_adc2021_style_file(tmp_path):
    """Published ADC2021 files are float64 with gzip; they read back as float32."""
    p = random_events(50).astype(np.float64)
    f64 = tmp_path / "adc.h5"
    with h5py.File(f64, "w") as f:
        f.create_dataset("Particles", data=p, compression="gzip")
        f.create_dataset("Particles_Names", data=np.array([b"Pt", b"Eta", b"Phi", b"Class"]))
    got = read_events(f64)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, p, rtol=1e-6)


def _one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_wrong_layouts_raise_one_line_errors(tmp_path):
    bad = tmp_path / "shape.h5"
    with h5py.File(bad, "w") as f:
        f.create_dataset("Particles", data=np.zeros((5, 18, 4), np.float32))
    with pytest.raises(DataError) as e:
        read_events(bad)
    m = _one_line(e)
    assert str(bad) in m and "'Particles'" in m and "(5, 18, 4)" in m

    nods = tmp_path / "none.h5"
    with h5py.File(nods, "w") as f:
        f.create_dataset("Tracks", data=np.zeros((5, 16, 6), np.float32))
    with pytest.raises(DataError) as e:
        count_events(nods)
    assert "missing" in _one_line(e) and "Tracks" in str(e.value)

    trunc = tmp_path / "trunc.h5"
    write_events(trunc, random_events(2000))
    data = trunc.read_bytes()
    trunc.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError) as e:
        read_events(trunc)
    assert str(trunc) in _one_line(e)

    with pytest.raises(DataError) as e:
        iter_events(tmp_path / "absent.h5")
    assert "no such file" in _one_line(e)


@pytest.mark.parametrize(
    ("row", "col", "value", "field"),
    [(3, 0, -5.0, "pT"), (10, 1, np.nan, "eta"), (0, 2, np.inf, "phi"), (6, 3, 4.0, "class"), (12, 3, 7.0, "class")],
)
def test_invalid_values_name_event_and_field(tmp_path, row, col, value, field):
    p = random_events(300, seed=3)
    p[123, row, col] = value
    if col != 3:
        p[123, row, 3] = next(c for c, f, k in GROUPS if f <= row < f + k)
        p[123, row, 0] = max(p[123, row, 0], 1.0) if col != 0 else p[123, row, 0]
    out = tmp_path / "bad.h5"
    with pytest.raises(DataError) as e:
        write_events(out, p)
    m = _one_line(e)
    assert "event 123" in m and f"field '{field}'" in m
    assert not out.exists() and not list(tmp_path.iterdir())  # no partial output
    # the same values in an existing file are caught on read, with the file's event index
    with h5py.File(out, "w") as f:
        f.create_dataset("Particles", data=p, chunks=(64, 19, 4))
    chunks = iter_events(out, chunk_size=100)
    with pytest.raises(DataError) as e:
        for _ in chunks:
            pass
    assert "event 123" in _one_line(e) and str(out) in str(e.value)


def test_wrong_input_shape_on_write(tmp_path):
    with pytest.raises(DataError) as e:
        write_events(tmp_path / "x.h5", np.zeros((10, 19, 3), np.float32))
    assert "(10, 19, 3)" in _one_line(e)
    assert not (tmp_path / "x.h5").exists()


def test_weights_datasets_round_trip_and_old_readers_ignore_them(tmp_path):
    """Weights / Stratum / EGammaIso are extra datasets: an ADC2021 reader that knows only 'Particles' reads the
    file as before; l1ad reads the strata table, the per-event ids and weights, and the isolation flags."""
    from l1ad.data.adc2021 import (
        EGAMMA_ISO,
        STRATUM,
        WEIGHTS,
        event_weights,
        read_egamma_iso,
        read_strata,
        read_stratum_ids,
    )

    p = random_events(300, seed=3)
    sid = np.repeat(np.array([0, 1, 1], np.int16), 100)
    prob = [0.9, 0.1]
    w = np.array([0.9 / 100, 0.1 / 200])[sid]
    iso = np.random.default_rng(0).integers(0, 4, (300, 4)).astype(np.uint8)
    table = [{"name": "soft", "probability": 0.9, "crossings": 100}, {"name": "hard", "probability": 0.1,
                                                                       "crossings": 200}]
    out = write_events(tmp_path / "w.h5", p, {"strata": table}, extras={WEIGHTS: w, STRATUM: sid, EGAMMA_ISO: iso})
    with h5py.File(out) as f:  # what any ADC2021 reader sees
        np.testing.assert_array_equal(f["Particles"][()], p)
        assert set(f) == {"Particles", "Particles_Names", "Particles_Classes", "Weights", "Stratum", "EGammaIso"}
    np.testing.assert_array_equal(read_events(out), p)
    s = read_strata(out)
    assert s.weighted and s.names == ("soft", "hard") and s.probability.tolist() == prob and s.counts.tolist() == [100, 200]
    np.testing.assert_array_equal(read_stratum_ids(out, 50, 150), sid[50:150])
    np.testing.assert_array_equal(read_egamma_iso(out, 10, 20), iso[10:20])
    np.testing.assert_allclose(event_weights(out), w)
    # a sub-range keeps each stratum's probability: 50 soft + 50 hard events -> 0.9/50 and 0.1/50
    np.testing.assert_allclose(event_weights(out, 50, 150), np.where(sid[50:150] == 0, 0.9 / 50, 0.1 / 50))
    # an old file: unweighted, no flags
    old = write_events(tmp_path / "old.h5", p)
    assert not read_strata(old).weighted and event_weights(old) is None and read_egamma_iso(old) is None
    # a file with Weights only (another tool's): one stratum per distinct weight
    only_w = write_events(tmp_path / "ow.h5", p, extras={WEIGHTS: w})
    s2 = read_strata(only_w)
    assert sorted(s2.probability.tolist()) == pytest.approx([0.1, 0.9])
    np.testing.assert_allclose(event_weights(only_w), w)


def test_bad_extra_datasets_are_refused_on_write(tmp_path):
    from l1ad.data.adc2021 import EGAMMA_ISO, WEIGHTS

    p = random_events(10)
    with pytest.raises(DataError, match="event 3: weight must be finite"):
        write_events(tmp_path / "a.h5", p, extras={WEIGHTS: np.where(np.arange(10) == 3, np.nan, 0.1)})
    with pytest.raises(DataError, match=r"'EGammaIso': shape \(10, 3\)"):
        write_events(tmp_path / "b.h5", p, extras={EGAMMA_ISO: np.zeros((10, 3), np.uint8)})
    with pytest.raises(DataError, match="unknown extra dataset"):
        write_events(tmp_path / "c.h5", p, extras={"Bogus": np.zeros(10)})
    assert not list(tmp_path.iterdir())
