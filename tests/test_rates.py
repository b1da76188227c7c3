"""Tests of ``l1ad rates``: integer thresholds, rate reproduction, pure rate, local == Dask, bad inputs.

Synthetic events are written to HDF5 in the ADC2021 layout (``Particles`` (N, 19, 4)); the stand-in integer
score model and encoding below exist only in this file (they implement the ``predict`` / ``encode`` protocol
of ``l1ad.fixedpoint.FixedPointModel`` / ``l1ad.data.encoding.Encoding``). When the real modules are
importable, the tests marked so run on them too.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import h5py
import numpy as np
import pytest

from l1ad.data.layout import GROUPS, N_INPUTS, N_OBJECTS, ObjectClass
from l1ad.errors import ConfigError, DataError
from l1ad.rates import (
    RateModel,
    ScoreHistogram,
    choose_threshold,
    clopper_pearson,
    load_menu,
)
from l1ad.rates.pipeline import Emulation, SampleCounts, check_files, plan_chunks, process_chunk, run_local


def _has(mod: str) -> bool:
    try:
        return importlib.util.find_spec(mod) is not None
    except ModuleNotFoundError:
        return False


HAS_ADC = _has("l1ad.data.adc2021")
HAS_DATA = HAS_ADC and _has("l1ad.data.encoding")
HAS_FIXEDPOINT = _has("l1ad.fixedpoint")
HAS_FIRMWARE = _has("l1ad.firmware")


# --------------------------------------------------------------------------------------------------------
# synthetic ADC2021 events and tests-only stand-ins
# --------------------------------------------------------------------------------------------------------
def make_events(n: int, seed: int, hard: float = 1.0) -> np.ndarray:
    """(n, 19, 4) float32 events (pT GeV, eta, phi, class): MET + Poisson numbers of e/gamma, muons, jets.

    ``hard`` > 1 scales the pT spectra up (a stand-in signal).
    """
    rng = np.random.default_rng(seed)
    p = np.zeros((n, N_OBJECTS, 4), np.float32)
    p[:, 0, 0] = rng.exponential(12.0 * hard, n)
    p[:, 0, 2] = rng.uniform(-np.pi, np.pi, n)
    p[:, 0, 3] = int(ObjectClass.MET)
    mean = {ObjectClass.EGAMMA: (0.6, 8.0), ObjectClass.MUON: (0.3, 6.0), ObjectClass.JET: (3.0, 18.0)}
    for cls, first, k in GROUPS:
        if cls == ObjectClass.MET:
            continue
        mult, scale = mean[cls]
        m = np.minimum(rng.poisson(mult * hard, n), k)
        pt = rng.exponential(scale * hard, (n, k)) + (15.0 if cls == ObjectClass.JET else 3.0)
        pt = -np.sort(-pt, axis=1)
        present = np.arange(k)[None, :] < m[:, None]
        rows = slice(first, first + k)
        p[:, rows, 0] = np.where(present, pt, 0)
        p[:, rows, 1] = np.where(present, rng.uniform(-2.5, 2.5, (n, k)), 0)
        p[:, rows, 2] = np.where(present, rng.uniform(-np.pi, np.pi, (n, k)), 0)
        p[:, rows, 3] = np.where(present, int(cls), 0)
    return p


def write_adc(path: Path, particles: np.ndarray) -> Path:
    """Write events in the ADC2021 layout (through l1ad.data.adc2021 when it exists)."""
    if HAS_ADC:
        from l1ad.data.adc2021 import write_events

        write_events(path, particles)
        return path
    with h5py.File(path, "w") as f:
        chunks = (min(len(particles), 10_000), N_OBJECTS, 4) if len(particles) else None
        f.create_dataset("Particles", data=particles, chunks=chunks, maxshape=(None, N_OBJECTS, 4))
        f.create_dataset("Particles_Names", data=np.array([b"Pt", b"Eta", b"Phi", b"Class"]))
        f.create_dataset("Particles_Classes", data=np.array([b"MET", b"Egamma", b"Muon", b"Jet"]))
    return path


class H5Reader:
    """Tests-only ADC2021 reader (used until l1ad.data.adc2021 lands)."""

    def count(self, path: str) -> int:
        with h5py.File(path, "r") as f:
            if "Particles" not in f:
                raise DataError(f"{path}: field 'Particles': dataset missing")
            return int(f["Particles"].shape[0])

    def read(self, path: str, start: int, stop: int) -> np.ndarray:
        with h5py.File(path, "r") as f:
            return np.asarray(f["Particles"][start:stop], dtype=np.float32)


class StandInEncoding:
    """Tests-only hardware words: [pT/0.5 GeV (unsigned 11 b), eta/0.0435 (signed 8 b), phi/(2pi/144)]."""

    LSB = (0.5, 0.0435, 2 * np.pi / 144)
    LIM = ((0, 2047), (-128, 127), (-72, 71))

    def encode(self, particles: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
        w = np.zeros((particles.shape[0], N_OBJECTS, 3), np.int64)
        for j in range(3):
            w[:, :, j] = np.clip(np.round(particles[:, :, j] / self.LSB[j]), *self.LIM[j])
        return w.reshape(-1, N_INPUTS), {}

    def decode(self, words: np.ndarray) -> np.ndarray:
        w = words.reshape(-1, N_OBJECTS, 3)
        p = np.zeros((w.shape[0], N_OBJECTS, 4), np.float32)
        for j in range(3):
            p[:, :, j] = w[:, :, j] * self.LSB[j]
        cls = np.zeros(N_OBJECTS, np.float32)
        for c, first, k in GROUPS:
            cls[first : first + k] = int(c)
        p[:, :, 3] = np.where(w[:, :, 0] != 0, cls[None, :], 0)
        return p


class StandInModel:
    """Tests-only integer model with the FixedPointModel.predict protocol: 57 -> 16 -> 8, ReLU, sum of squares."""

    score_precision = (40, False, 0)

    def __init__(self, seed: int = 1) -> None:
        rng = np.random.default_rng(seed)
        self.w1 = rng.integers(-3, 4, (N_INPUTS, 16)).astype(np.int64)
        self.w1[0::3] = np.abs(self.w1[0::3])  # pT words push the score up
        self.w2 = rng.integers(-3, 4, (16, 8)).astype(np.int64)
        self.w2[:, :4] = np.abs(self.w2[:, :4])

    def predict(self, words: np.ndarray) -> np.ndarray:
        w = np.asarray(words, np.int64)
        h = np.maximum(w @ self.w1, 0) >> 4
        z = np.maximum(h @ self.w2, 0) >> 2
        return (z * z).sum(axis=1)


def reader():
    """The data helper's reader when it exists, else the tests-only one."""
    if HAS_ADC:
        from l1ad.rates.pipeline import Hdf5Reader

        return Hdf5Reader()
    return H5Reader()


def encoding():
    """The data helper's hardware encoding when it exists, else the tests-only one."""
    if HAS_DATA:
        from l1ad.data.encoding import load_encoding

        return load_encoding()
    return StandInEncoding()


def emulation(menu: bool = True, **kw) -> Emulation:
    """Coarse bins of 2**12 and an exact tail of the top 4,096 events: the bounded-memory mode is exercised."""
    kw = {"hist_shift": 12, "tail_events": 4096, **kw}
    return Emulation(StandInModel(), encoding(), load_menu() if menu else None, reader=reader(), **kw)


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("rates")
    return {
        "zb_a": write_adc(d / "zb_a.h5", make_events(150_000, seed=11)),
        "zb_b": write_adc(d / "zb_b.h5", make_events(150_000, seed=12)),
        "sig": write_adc(d / "sig.h5", make_events(20_000, seed=13, hard=1.6)),
        "zb_small": write_adc(d / "zb_small.h5", make_events(40_000, seed=14)),
        "empty": write_adc(d / "empty.h5", np.zeros((0, N_OBJECTS, 4), np.float32)),
        "zb_weighted": write_weighted(d / "zb_weighted.h5"),
    }


#: the stitched toy zero bias: a soft stratum (99 % of crossings) and a hard one (1 %), 30k + 10k events
TOY_STRATA = ((0.99, 30_000, 1.0), (0.01, 10_000, 2.5))


def write_weighted(path: Path, seed: int = 21) -> Path:
    """A weighted zero-bias file as ``l1ad data generate`` writes it: strata interleaved, Weights, Stratum."""
    from l1ad.data.adc2021 import STRATUM, WEIGHTS, write_events

    ev = np.concatenate([make_events(n, seed + k, hard=h) for k, (_, n, h) in enumerate(TOY_STRATA)])
    sid = np.concatenate([np.full(n, k, np.int16) for k, (_, n, _) in enumerate(TOY_STRATA)])
    perm = np.random.default_rng(seed).permutation(len(ev))
    ev, sid = ev[perm], sid[perm]
    w = np.array([p / n for p, n, _ in TOY_STRATA])[sid]
    table = [{"name": f"s{k}", "probability": p, "crossings": n} for k, (p, n, _) in enumerate(TOY_STRATA)]
    write_events(path, ev, {"process": "zero_bias", "strata": table}, extras={WEIGHTS: w, STRATUM: sid})
    return path


def counts(paths: list[Path], emu: Emulation, chunk_size: int = 40_000) -> SampleCounts:
    n = check_files(paths, emu.reader, "zero-bias")
    return run_local(plan_chunks(paths, n, chunk_size), emu)


# --------------------------------------------------------------------------------------------------------
# rate model, Clopper-Pearson, histograms
# --------------------------------------------------------------------------------------------------------
def test_rate_model_default_and_targets():
    rm = RateModel()
    assert rm.collision_rate_hz == pytest.approx(40.08e6 * 2544 / 3564)
    assert 28.5e6 < rm.collision_rate_hz < 28.7e6
    assert rm.check_targets([10, 0.5, 1]) == (0.5, 1.0, 10.0)
    with pytest.raises(ConfigError, match="collision rate"):
        rm.check_targets([1, 30_000])
    with pytest.raises(ConfigError, match="positive"):
        rm.check_targets([0])


def test_clopper_pearson_coverage_of_known_values():
    # k = 0: upper limit solves (1-p)^n = a/2 exactly
    lo, hi = clopper_pearson(0, 100, 0.9)
    assert lo == 0 and hi == pytest.approx(1 - 0.05 ** (1 / 100))
    # k = n: lower limit solves p^n = a/2
    lo, hi = clopper_pearson(50, 50, 0.9)
    assert hi == 1 and lo == pytest.approx(0.05 ** (1 / 50))
    # large-n limit approaches the Wald interval
    lo, hi = clopper_pearson(5000, 100_000)
    sig = math.sqrt(0.05 * 0.95 / 100_000)
    assert lo == pytest.approx(0.05 - sig, rel=2e-3) and hi == pytest.approx(0.05 + sig, rel=2e-3)


def test_histogram_is_exact_and_merges_like_the_concatenation():
    rng = np.random.default_rng(0)
    parts = [rng.integers(-50, 3000, 5000), rng.integers(10**6, 10**6 + 10**5, 3000), rng.integers(0, 10**6, 4000)]
    both = np.concatenate(parts)
    for shift, k in ((0, 100), (4, 100), (12, 100), (12, 10**6)):
        h = ScoreHistogram(shift, k)
        for p in parts:
            h += ScoreHistogram.from_scores(p, shift, k)
        # any split, any order, added chunk by chunk or merged: the same counts
        assert h == ScoreHistogram.from_scores(both[::-1], shift, k)
        h2 = ScoreHistogram(shift, k)
        for p in reversed(parts):
            h2.add(p)
        assert h2 == h
        edge = h.exact_from
        assert (edge is None) == (shift == 0 or k >= both.size)
        ev, _ = h.exact_pairs()
        t = np.concatenate([ev[::37], ev - 1, [both.max(), both.max() + 5]])
        if edge is not None:
            t = np.concatenate([t, np.arange(-(1 << shift), edge, 1 << shift) - 1])  # coarse bin edges below the tail
            assert (both >= edge).sum() >= k  # the exact region holds at least tail_events events
            with pytest.raises(ValueError, match="not exact"):
                h.n_above(edge - 3)
        assert np.array_equal(h.n_above(t), [(both > x).sum() for x in t])


def test_histogram_memory_is_bounded_whatever_the_number_of_events():
    rng = np.random.default_rng(1)
    k, shift = 1000, 18  # a 40-bit score
    h = ScoreHistogram(shift, k)
    for _ in range(20):  # 2M events, ~2M distinct values
        h.add(rng.integers(0, 1 << 40, 100_000))
    bound = 8 * (1 << 22) + 16 * (k + (1 << shift))
    assert h.n_total == 2_000_000 and h.nbytes <= bound
    ev, ec = h.exact_pairs()
    assert ec.sum() >= k and ev.size < 2 * k


def test_choose_threshold_is_the_loosest_integer_cut_within_budget():
    rm = RateModel()
    rng = np.random.default_rng(3)
    s = rng.integers(0, 10**6, 200_000)
    h = ScoreHistogram.from_scores(s)
    for target in (50.0, 500.0, 5000.0):
        c = choose_threshold(h, target, rm)
        rate = lambda t: rm.collision_rate_hz / 1e3 * (s > t).sum() / s.size  # noqa: E731
        assert rate(c.threshold) <= target < rate(c.threshold - 1)
        assert c.n_pass == (s > c.threshold).sum() and c.n_pass_looser == (s > c.threshold - 1).sum()
        assert c.rate_lo_khz <= c.rate_khz <= c.rate_hi_khz


# --------------------------------------------------------------------------------------------------------
# the pipeline on synthetic files
# --------------------------------------------------------------------------------------------------------
def test_rates_are_the_firmware_comparison_on_the_same_events(samples):
    """rate at T from the streamed histograms == count of (predict(words) > T) on the events (the Verilog rule)."""
    emu = emulation()
    zb = counts([samples["zb_a"]], emu, chunk_size=33_333)
    parts = reader().read(str(samples["zb_a"]), 0, 150_000)
    words, _ = emu.encoding.encode(parts)
    s = emu.model.predict(words)
    fired = emu.menu.evaluate(parts)
    q = np.quantile(s, [0.5, 0.9, 0.99, 0.999]).astype(np.int64)
    # exact in the tail (top 4,096 events) and at coarse bin edges (T + 1 = k * 2**12) below it
    t = np.concatenate([q[2:], ((q[:2] >> 12) << 12) - 1, q[2:] - 1])
    assert zb.scores.exact_from is not None and np.all(zb.scores.is_exact(t))
    assert np.array_equal(zb.scores.n_above(t), [(s > x).sum() for x in t])
    menu_off = ~fired.any(axis=1)
    assert np.array_equal(zb.scores_menu_off.n_above(t), [((s > x) & menu_off).sum() for x in t])
    assert np.array_equal(zb.seed_counts, fired.sum(axis=0)) and zb.menu_count == fired.any(axis=1).sum()


def test_threshold_reproduces_target_rate_on_an_independent_sample(samples):
    """Thresholds chosen on sample A give the target rate on independent sample B within 3 sigma."""
    rm = RateModel()
    emu = emulation(menu=False)
    a, b = counts([samples["zb_a"]], emu), counts([samples["zb_b"]], emu)
    f = rm.collision_rate_hz / 1e3
    for target in (20.0, 60.0, 200.0):  # kHz: 100-1000 of the 150k events pass
        c = choose_threshold(a.scores, target, rm)
        assert c.rate_khz <= target
        step = (c.n_pass_looser - c.n_pass) / a.n_events * f
        assert step < 0.05 * target, "integer grid too coarse for this check"
        p = target / f
        sigma = f * math.sqrt(p * (1 - p) * (1 / a.n_events + 1 / b.n_events))
        rate_b = f * int(b.scores.n_above(c.threshold)) / b.n_events
        assert abs(rate_b - target) < 3 * sigma + step, (target, rate_b, sigma)


def test_results_do_not_depend_on_chunking(samples):
    emu = emulation()
    paths = [samples["zb_small"], samples["sig"]]
    a = counts(paths, emu, chunk_size=40_000)
    assert a == counts(paths, emu, chunk_size=3_333)
    # bounded-memory histograms (2**12 bins + exact top 4,096) choose the same thresholds as exact-everywhere ones
    exact = counts(paths, emulation(hist_shift=0), chunk_size=40_000)
    assert exact.scores.exact_from is None and a.scores.exact_from is not None
    rm = RateModel()
    for target in (30.0, 300.0, 1000.0):
        assert choose_threshold(a.scores, target, rm) == choose_threshold(exact.scores, target, rm)


def test_menu_on_hardware_words_sees_the_quantized_event(samples):
    """--menu-on-words: seeds evaluated on the decoded hardware words; scores do not change."""
    emu = emulation(menu_on_words=True)
    on_floats = counts([samples["zb_small"]], emulation())
    on_words = counts([samples["zb_small"]], emu)
    assert on_words.scores == on_floats.scores
    parts = reader().read(str(samples["zb_small"]), 0, 40_000)
    decoded = emu.encoding.decode(emu.encoding.encode(parts)[0])
    assert np.array_equal(on_words.seed_counts, emu.menu.evaluate(decoded).sum(axis=0))
    # pT words round to the nearest 0.5 GeV: a muon in [21.75, 22) GeV passes SingleMu22 on words, none is lost
    i = emu.menu.seed_names.index("L1_SingleMu22")
    assert on_words.seed_counts[i] >= on_floats.seed_counts[i]
    assert on_words.seed_counts[i] <= 1.1 * on_floats.seed_counts[i]


def test_menu_object_conditions_match_a_sorted_reference():
    """k-th highest pT >= pt_min[k] (sorting reference) on toy events, for every one-condition object seed."""
    from l1ad.rates.menu import ObjectsCond

    menu = load_menu()
    p = make_events(20_000, seed=5, hard=2.0)
    got = dict(zip(menu.seed_names, menu.evaluate(p).T, strict=True))
    checked = 0
    for seed in menu.config.seeds:
        [c, *more] = seed.conditions
        if more or not isinstance(c, ObjectsCond):
            continue
        rows = next(slice(f, f + n) for cl, f, n in GROUPS if cl == c.object.object_class)
        obj = p[:, rows]
        pt = np.where(obj[:, :, 3] == int(c.object.object_class), obj[:, :, 0], 0)
        if c.eta_max is not None:
            pt = np.where(np.abs(obj[:, :, 1]) <= c.eta_max, pt, 0)
        top = -np.sort(-pt, axis=1)[:, : len(c.pt_min)]
        ref = np.all((top >= np.asarray(c.pt_min)) & (top > 0), axis=1) & (top.shape[1] == len(c.pt_min))
        assert 0 < ref.sum() < ref.size, seed.name
        assert np.array_equal(got[seed.name], ref), seed.name  # no isolation flags given: not applied
        checked += 1
    assert checked >= 10


def test_menu_seeds_follow_their_definitions():
    menu = load_menu()
    p = np.zeros((6, N_OBJECTS, 4), np.float32)
    p[:, 0, 3] = int(ObjectClass.MET)
    p[0, 5] = (22.0, 0.1, 0.0, int(ObjectClass.MUON))  # SingleMu22 at threshold (>=)
    p[1, 5] = (21.5, 0.1, 0.0, int(ObjectClass.MUON))
    p[1, 6] = (7.0, 0.1, 0.0, int(ObjectClass.MUON))  # DoubleMu_15_7 fires, SingleMu22 not
    p[2, 1] = (40.0, 2.6, 0.0, int(ObjectClass.EGAMMA))  # outside er2p5: no e/gamma seed
    p[3, 0, 0] = 100.0  # ETMHF100
    p[4, 1] = (31.0, 0.2, 0.0, int(ObjectClass.EGAMMA))  # SingleIsoEG30er2p1 only when isolated
    p[5, 1] = (29.0, 0.2, 0.0, int(ObjectClass.EGAMMA))  # LooseIsoEG28er2p1 + jet 34 Delta R >= 0.3
    p[5, 9] = (40.0, 0.2, 0.25, int(ObjectClass.JET))  # Delta R 0.25: too close
    iso = np.zeros((6, 4), np.uint8)
    d = dict(zip(menu.seed_names, menu.evaluate(p, iso).T, strict=True))
    assert d["L1_SingleMu22"].tolist() == [True, False, False, False, False, False]
    assert d["L1_DoubleMu_15_7"].tolist() == [False, True, False, False, False, False]
    assert not d["L1_SingleEG36er2p5"][2] and not d["L1_SingleIsoEG30er2p1"][2]
    assert d["L1_ETMHF100"].tolist() == [False, False, False, True, False, False]
    assert not d["L1_SingleIsoEG30er2p1"][4]  # not isolated
    iso[4, 0] = 3  # loose and tight
    iso[5, 0] = 1  # loose
    d = dict(zip(menu.seed_names, menu.evaluate(p, iso).T, strict=True))
    assert d["L1_SingleIsoEG30er2p1"][4] and not d["L1_SingleIsoEG30er2p1"][5]
    assert not d["L1_LooseIsoEG28er2p1_Jet34er2p5_dR_Min0p3"][5]
    p[5, 9, 2] = 0.35  # Delta R 0.35
    d = dict(zip(menu.seed_names, menu.evaluate(p, iso).T, strict=True))
    assert d["L1_LooseIsoEG28er2p1_Jet34er2p5_dR_Min0p3"][5]
    # per-leg isolation: DoubleEG_LooseIso22_12 needs the loose flag on a 22 GeV object, not on the 12 GeV one
    q = np.zeros((2, N_OBJECTS, 4), np.float32)
    q[:, 1] = (23.0, 0.0, 0.0, int(ObjectClass.EGAMMA))
    q[:, 2] = (13.0, 0.0, 1.0, int(ObjectClass.EGAMMA))
    qi = np.array([[0, 1, 0, 0], [1, 0, 0, 0]], np.uint8)
    i = menu.seed_names.index("L1_DoubleEG_LooseIso22_12_er2p5")
    assert menu.evaluate(q, qi)[:, i].tolist() == [False, True]


# --------------------------------------------------------------------------------------------------------
# weighted (stitched) zero bias
# --------------------------------------------------------------------------------------------------------
def _brute(path: Path, emu: Emulation) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from l1ad.data.adc2021 import read_stratum_ids

    parts = reader().read(str(path), 0, None)
    s = emu.model.predict(emu.encoding.encode(parts)[0])
    w = np.array([p / n for p, n, _ in TOY_STRATA])[read_stratum_ids(path)]
    return parts, s, w, emu.menu.evaluate(parts)


def test_weighted_rates_are_the_weighted_sums_of_the_events(samples, tmp_path):
    """Every zero-bias number of a weighted file == the sum of the weights of the events it counts; the
    thresholds are the loosest integer cuts on the weighted rate; local == Dask bit for bit."""
    from dask.distributed import LocalCluster

    from l1ad.rates.run import RatesOptions, run_rates

    emu = emulation()
    parts, s, w, fired = _brute(samples["zb_weighted"], emu)
    f = RateModel().collision_rate_hz / 1e3
    opts = dict(zero_bias=[samples["zb_weighted"]], signals=[samples["sig"]], targets_khz=(20.0, 100.0, 500.0),
                chunk_size=6_000)
    kw = dict(score_model=StandInModel(), encoding=encoding(), reader=reader(), console=False)
    local = run_rates(RatesOptions.parse(out=tmp_path / "w", **opts), **kw)
    assert local.weights.weighted and local.weights.weights == pytest.approx([0.99 / 30_000, 0.01 / 10_000])
    methods = set()
    for c in local.choices:
        rate = f * w[s > c.threshold].sum()
        assert c.rate_khz == pytest.approx(rate, rel=1e-9)
        assert rate <= c.target_khz < f * w[s > c.threshold - 1].sum()
        both = len(np.unique(w[s > c.threshold])) == 2  # both strata above the cut: a weighted sum
        assert c.interval == ("bootstrap" if both else "clopper-pearson")
        assert c.rate_lo_khz < c.rate_khz < c.rate_hi_khz and c.n_eff > 0
        methods.add(c.interval)
        pure = local.per_threshold()[local.choices.index(c)]["pure_rate"]
        assert pure["khz"] == pytest.approx(f * w[(s > c.threshold) & ~fired.any(axis=1)].sum(), rel=1e-9)
    assert methods == {"bootstrap", "clopper-pearson"}
    menu = local.menu()
    for j, name in enumerate(local.zero_bias.seed_names):
        assert menu["seeds"][name]["khz"] == pytest.approx(f * w[fired[:, j]].sum(), rel=1e-9)
        assert menu["seeds"][name]["ratio"] == pytest.approx(menu["seeds"][name]["khz"] / local.references[name][0])
    # ignoring the weights would be badly wrong here: the hard stratum is 25 % of the events, 1 % of crossings
    unweighted = f * (s > local.choices[0].threshold).mean()
    assert unweighted > 2 * local.choices[0].rate_khz
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cl:
        remote = run_rates(RatesOptions.parse(out=tmp_path / "d", scheduler=cl.scheduler_address, **opts), **kw)
    assert remote.zero_bias == local.zero_bias and remote.choices == local.choices
    a = json.loads((tmp_path / "w" / "rates.json").read_text())
    b = json.loads((tmp_path / "d" / "rates.json").read_text())
    assert a["thresholds"] == b["thresholds"] and a["menu"] == b["menu"] and a["rate_curve"] == b["rate_curve"]
    assert a["zero_bias"]["weighted"] and [x["name"] for x in a["zero_bias"]["strata"]] == ["s0", "s1"]


def test_skipped_training_events_renormalise_each_stratum(samples):
    """Skipping the first events (a model's training split) keeps every stratum's probability: the weights
    follow the events actually used, so the rate of a cut is unbiased."""
    from l1ad.data.adc2021 import read_stratum_ids
    from l1ad.rates.run import RatesOptions, run_rates

    emu = emulation()
    _, s, _, _ = _brute(samples["zb_weighted"], emu)
    sid = read_stratum_ids(samples["zb_weighted"])
    first = 17_000
    summary = run_rates(RatesOptions.parse(zero_bias=[samples["zb_weighted"]], targets_khz=(100.0,), menu=None,
                                           zb_first=[first]),
                        score_model=StandInModel(), encoding=encoding(), reader=reader(), console=False)
    n_used = np.bincount(sid[first:], minlength=2)
    assert summary.weights.n_events.tolist() == n_used.tolist()
    w = np.array([p for p, _, _ in TOY_STRATA]) / n_used
    t = summary.choices[0].threshold
    f = RateModel().collision_rate_hz / 1e3
    assert summary.choices[0].rate_khz == pytest.approx(f * w[sid[first:]][s[first:] > t].sum(), rel=1e-9)


def test_weighted_intervals_cover_the_truth():
    """The 68 % intervals (scaled Clopper-Pearson for one stratum, bootstrap for several) cover the true
    fraction in ~68 % of pseudo-experiments, and n_eff is the precision the estimate has."""
    from l1ad.rates.weights import StratumWeights

    rng = np.random.default_rng(4)
    prob, n = np.array([0.9, 0.09, 0.01]), np.array([2000, 1000, 500])
    truth_p = np.array([0.002, 0.02, 0.3])  # per-stratum passing probability
    truth = float((prob * truth_p).sum())
    sw = StratumWeights(("a", "b", "c"), prob, n)
    c = rng.binomial(n[:, None], truth_p[:, None], size=(3, 400))
    iv = sw.interval(c, replicas=600)
    cover = np.mean((iv.lo <= truth) & (truth <= iv.hi))
    assert 0.6 < cover < 0.76, cover
    est = sw.fraction(c)
    assert np.std(est) == pytest.approx(truth / np.sqrt(np.median(iv.n_eff)), rel=0.15)
    # one contributing stratum: exactly the scaled Clopper-Pearson interval
    one = sw.interval(np.array([0, 0, 7]))
    lo, hi = clopper_pearson(7, 500)
    assert (one.lo, one.hi, one.method) == (pytest.approx(0.01 * lo), pytest.approx(0.01 * hi), "clopper-pearson")
    # nothing passes: 0 with the loosest single-stratum upper limit
    zero = sw.interval(np.array([0, 0, 0]))
    assert zero.value == 0 and zero.hi == pytest.approx(max(p * clopper_pearson(0, k)[1] for p, k in zip(prob, n, strict=False)))
    # equal weights: Clopper-Pearson on the summed counts (an unweighted sample split in two)
    eq = StratumWeights(("x", "y"), np.array([0.5, 0.5]), np.array([1000, 1000]))
    iv2 = eq.interval(np.array([3, 4]))
    lo, hi = clopper_pearson(7, 2000)
    assert (iv2.lo, iv2.hi) == (pytest.approx(lo), pytest.approx(hi))


def test_bad_weights_are_refused(samples, tmp_path):
    """Broken weight metadata is an input error naming the file and dataset/attribute, never silently used."""
    import shutil

    from l1ad.data.adc2021 import read_strata

    assert read_strata(samples["zb_weighted"]).weighted
    assert not read_strata(samples["zb_small"]).weighted  # an old file: one stratum, unweighted

    def table(p0: float, n0: int) -> str:
        return "json:" + json.dumps([{"name": "s0", "probability": p0, "crossings": n0},
                                     {"name": "s1", "probability": 0.01, "crossings": 10_000}])

    cases = {
        "sum": (lambda f: f.attrs.__setitem__("strata", table(0.5, 30_000)), "sum to 1"),
        "count": (lambda f: f.attrs.__setitem__("strata", table(0.99, 3)), "declares 3 crossings"),
        "ids": (lambda f: f["Stratum"].__setitem__(5, 7), "event 5: stratum 7"),
        "attr": (lambda f: f.attrs.__delitem__("strata"), "attribute 'strata'"),
    }
    for name, (breaker, needle) in cases.items():
        bad = tmp_path / f"{name}.h5"
        shutil.copy(samples["zb_weighted"], bad)
        with h5py.File(bad, "r+") as f:
            breaker(f)
        with pytest.raises(DataError, match=needle) as e:
            read_strata(bad)
        assert str(bad) in str(e.value)


def test_menu_reference_check_fails_the_run_with_exit_code_1(cli, samples, tmp_path):
    """--check-menu: a seed outside its reference tolerance is a failed check (exit 1), after the report is
    written; with references matching the emulation the same run passes."""
    import yaml

    from l1ad.config import CONFIG_DIR
    from l1ad.errors import CheckFailed
    from l1ad.rates.run import RatesOptions, run_rates

    menu = yaml.safe_load((CONFIG_DIR / "menu.yaml").read_text())
    menu["seeds"] = menu["seeds"][:3]
    emu = emulation()
    _, _, w, fired = _brute(samples["zb_weighted"], emu)
    f = RateModel().collision_rate_hz / 1e3
    for j, seed in enumerate(menu["seeds"]):
        seed["reference"]["khz"] = float(f * w[fired[:, j]].sum() * 1.3)  # within x/÷ 2
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(menu))
    kw = dict(score_model=StandInModel(), encoding=encoding(), reader=reader(), console=False)
    run_rates(RatesOptions.parse(zero_bias=[samples["zb_weighted"]], targets_khz=(100.0,), menu=str(good),
                                 check_menu=True), **kw)
    menu["seeds"][1]["reference"]["khz"] *= 10  # fault: a reference 10x off
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(menu))
    with pytest.raises(CheckFailed, match=menu["seeds"][1]["name"]):
        run_rates(RatesOptions.parse(zero_bias=[samples["zb_weighted"]], targets_khz=(100.0,), menu=str(bad),
                                     check_menu=True, out=tmp_path / "o"), **kw)
    assert (tmp_path / "o" / "rates.json").is_file()  # the report documents the failure
    assert CheckFailed.exit_code == 1


# --------------------------------------------------------------------------------------------------------
# Dask: a real LocalCluster gives identical results
# --------------------------------------------------------------------------------------------------------
def test_dask_local_cluster_gives_identical_results(samples, tmp_path):
    from dask.distributed import LocalCluster

    from l1ad.rates.run import RatesOptions, run_rates

    opts = dict(zero_bias=[samples["zb_small"]], signals=[samples["sig"]], targets_khz=(20.0, 60.0, 200.0),
                menu="menu.yaml", chunk_size=7_000)
    kw = dict(score_model=StandInModel(), encoding=encoding(), reader=reader(), console=False)
    local = run_rates(RatesOptions.parse(out=tmp_path / "local", **opts), **kw)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cl:
        remote = run_rates(RatesOptions.parse(out=tmp_path / "dask", scheduler=cl.scheduler_address, **opts), **kw)
    assert remote.zero_bias == local.zero_bias
    assert remote.signals == local.signals
    assert remote.choices == local.choices
    a = json.loads((tmp_path / "local" / "rates.json").read_text())
    b = json.loads((tmp_path / "dask" / "rates.json").read_text())
    assert a["thresholds"] == b["thresholds"] and a["menu"] == b["menu"]
    assert b["inputs"]["backend"].startswith("dask")


def test_report_files_and_pure_rate_bookkeeping(samples, tmp_path):
    from l1ad.rates.run import RatesOptions, run_rates

    out = tmp_path / "out"
    summary = run_rates(
        RatesOptions.parse(zero_bias=[samples["zb_small"]], signals=[samples["sig"]], targets_khz=(0.5, 1, 2, 5, 10),
                           menu="menu.yaml", out=out),
        score_model=StandInModel(), encoding=encoding(), reader=reader(), console=False,
    )
    assert {p.name for p in out.iterdir()} == {
        "rates.json",
        "rate_vs_threshold.png",
        "efficiency_vs_rate.png",
        "score_distributions.png",
        "menu_rates.png",
    }
    data = json.loads((out / "rates.json").read_text())
    assert [r["target_khz"] for r in data["thresholds"]] == [0.5, 1, 2, 5, 10]
    for r in data["thresholds"]:
        assert isinstance(r["threshold"], int)
        assert r["pure_rate"]["n"] <= r["ad_rate"]["n"] == r["n_pass"]
        e = r["signals"]["sig"]
        assert e["gain_over_menu"][0] <= e["eff_ad"][0]
        assert e["eff_menu_or_ad"][0] == pytest.approx(e["eff_menu"][0] + e["gain_over_menu"][0])
    assert data["menu"]["total"]["n"] == summary.zero_bias.menu_count > 0
    assert data["rate_model"]["collision_rate_khz"] == pytest.approx(28_610, rel=1e-3)
    rc = data["rate_curve"]
    assert all(lo <= r <= hi for lo, r, hi in zip(rc["rate_lo_khz"], rc["rate_khz"], rc["rate_hi_khz"], strict=True))
    assert np.all(np.diff(rc["n_pass"]) <= 0)


def _meta(data: dict | None) -> dict:
    """A minimal valid model.json (l1ad.models.artifact.ArtifactMeta) with the given ``data`` record."""
    meta = {"name": "m", "kind": "imported", "input": {"shape": [1], "fields": [{"name": "x", "width": 8, "signed": True}]},
            "preprocessing": {"offset": [0], "shift": [0]}, "score": {"type": "identity"}}
    return {**meta, "data": data} if data is not None else meta


def test_thresholds_skip_the_zero_bias_the_model_was_trained_on(samples, tmp_path):
    """model.json records the training file's sha256 and its train/validation ranges; rates start after them on
    that file only, and the report says so."""
    import hashlib

    from l1ad.rates.pipeline import held_out_first_event
    from l1ad.rates.run import RatesOptions, run_rates

    sha = hashlib.sha256(samples["zb_small"].read_bytes()).hexdigest()
    art = tmp_path / "artifact"
    art.mkdir()
    bkg = {"path": str(samples["zb_small"]), "sha256": sha, "train": [0, 25_000], "validation": [25_000, 30_000],
           "test": [30_000, 40_000]}
    (art / "model.json").write_text(json.dumps(_meta({"background": bkg})))
    first = held_out_first_event(art, [samples["zb_small"], samples["zb_b"]])
    assert first == [30_000, 0]
    out = tmp_path / "out"
    kw = dict(score_model=StandInModel(), encoding=encoding(), reader=reader(), console=False)
    s = run_rates(RatesOptions.parse(zero_bias=[samples["zb_small"]], targets_khz=(10,), menu=None, out=out,
                                     zb_first=first[:1]), **kw)
    assert s.zero_bias.n_events == 10_000
    assert json.loads((out / "rates.json").read_text())["inputs"]["zero_bias_first_event"] == [30_000]
    # the chunk plan from event 30,000 on covers exactly the held-out events
    n = check_files([samples["zb_small"]], reader(), "zero-bias")
    ref = run_local(plan_chunks([samples["zb_small"]], n, 4_000, [30_000]), emulation(menu=False))
    assert ref.n_events == 10_000
    # every event used for training -> one clear error, nothing written
    bkg.update(train=[0, 35_000], validation=[35_000, 40_000])
    (art / "model.json").write_text(json.dumps(_meta({"background": bkg})))
    with pytest.raises(DataError, match="no zero-bias events left"):
        run_rates(RatesOptions.parse(zero_bias=[samples["zb_small"]], targets_khz=(10,), menu=None,
                                     out=tmp_path / "o2", zb_first=held_out_first_event(art, [samples["zb_small"]])),
                  **kw)
    assert not (tmp_path / "o2").exists()
    # no provenance: an error when asked for explicitly, nothing skipped otherwise
    (art / "model.json").write_text(json.dumps(_meta(None)))
    with pytest.raises(DataError, match="data.background"):
        held_out_first_event(art, [samples["zb_small"]])
    assert held_out_first_event(art, [samples["zb_small"]], required=False) == [0]


# --------------------------------------------------------------------------------------------------------
# bad inputs: one clear line each
# --------------------------------------------------------------------------------------------------------
def test_bad_inputs_library_errors(samples, tmp_path):
    r = reader()
    with pytest.raises(DataError, match="not found"):
        check_files([tmp_path / "nope.h5"], r, "zero-bias")
    with pytest.raises(DataError, match="has no events"):
        check_files([samples["empty"]], r, "zero-bias")
    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as f:
        f.create_dataset("Particles", data=np.zeros((10, 19, 3), np.float32))
    with pytest.raises(DataError, match=r"Particles.*\(N, 19, 4\)"):
        check_files([bad], r, "zero-bias")
    emu = emulation()
    with pytest.raises(DataError, match="Particles"):
        process_chunk(plan_chunks([bad], [10], 5)[0], emu)


@pytest.mark.skipif(not HAS_DATA, reason="l1ad.data.adc2021 not available yet")
def test_bad_inputs_cli_one_line(cli, samples, tmp_path):
    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as f:
        f.create_dataset("Particles", data=np.zeros((10, 19, 3), np.float32))
    tracks = tmp_path / "btag.h5"  # a file of another layout (b-tag tracks, no Particles)
    with h5py.File(tracks, "w") as f:
        f.create_dataset("Tracks", data=np.zeros((10, 16, 6), np.float32))
    base = ["rates", "--model", str(tmp_path), "--out", str(tmp_path / "o")]
    cases = {
        "tracks": (["--zero-bias", str(samples["zb_a"]), "--signal", str(tracks)], "btag.h5"),
        "missing": (["--zero-bias", str(tmp_path / "missing.h5")], "missing.h5"),
        "layout": (["--zero-bias", str(bad)], "bad.h5"),
        "empty": (["--zero-bias", str(samples["empty"])], "no events"),
        "target": (["--zero-bias", str(samples["zb_a"]), "--targets", "1,40000"], "collision rate"),
    }
    for name, (args, needle) in cases.items():
        code, out, err = cli(*base, *args)
        assert code == 2, name
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], (name, err)
        assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------------------------------------
# the real bit-exact model (l1ad.fixedpoint) behind `l1ad rates --design`
# --------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fp_model(samples):
    """A small VAE encoder (57 -> 4 -> 2, sum of mu^2, default quantizers, random weights) as the real
    bit-exact FixedPointModel; small so that its Verilator build stays short."""
    if not (HAS_FIXEDPOINT and HAS_DATA and _has("l1ad.models")):
        pytest.skip("l1ad.fixedpoint / l1ad.models / l1ad.data.encoding not available yet")
    from l1ad import _compat
    from l1ad.data.encoding import load_encoding
    from l1ad.fixedpoint import FixedPointModel, InputField
    from l1ad.models.preprocessing import fit_word_preprocessing
    from l1ad.models.quantizers import QuantConfig
    from l1ad.models.vae import VaeConfig, build_vae

    _compat.keras().utils.set_random_seed(0)
    q = QuantConfig()
    built = build_vae(VaeConfig(encoder=[4], latent=2, decoder=[4]), q)
    enc = load_encoding()
    words = enc.encode(reader().read(str(samples["zb_b"]), 0, 20_000)).words
    pre = fit_word_preprocessing(words, q.input)
    inputs = [InputField(f.name, f.width, f.signed) for f in enc.fields]
    trigger = built.trigger_model()
    fp = FixedPointModel.from_keras(trigger, pre.to_json(), built.score, inputs, name="vae_tiny")
    # the same model as a minimal artifact directory (the files `l1ad rates --model` reads)
    art = samples["zb_a"].parent / "vae_tiny_artifact"
    art.mkdir()
    trigger.save(art / "trigger.h5")
    (art / "model.json").write_text(json.dumps({
        "name": "vae_tiny", "kind": "vae", "input": {"shape": [N_INPUTS], "fields": [f.name for f in enc.fields]},
        "preprocessing": pre.to_json(), "score": {"type": built.score},
        "input_quantizer": {"bits": q.input.bits, "integer": q.input.integer, "signed": q.input.signed},
    }))
    fp.artifact_dir = art  # type: ignore[attr-defined]
    return fp


@pytest.fixture(scope="module")
def design_dir(tmp_path_factory, fp_model) -> Path:
    """The model written as `l1ad build` writes a design (fixedpoint.json, da4ml network + trigger wrapper
    under rtl/, design.json): the Verilog that `l1ad rates --design` checks the trigger bit of."""
    from l1ad.firmware.build import write_design

    d = tmp_path_factory.mktemp("design") / "vae_tiny-vu13p"
    d.mkdir()
    write_design(fp_model, d, d, "vae_tiny_trigger", "vae_tiny_net", "xcvu13p-flga2577-2-e", 25.0, 8, 50.0)
    return d


def test_cli_end_to_end_on_a_design_thresholds_are_firmware_integers(cli, design_dir, fp_model, samples, tmp_path):
    """`l1ad rates --design`: tables, JSON, PNGs; n_pass at each integer threshold == #(score > T) of the
    bit-exact model on the same events (the wrapper's `trigger = score > threshold`)."""
    from l1ad.data.encoding import load_encoding
    from l1ad.fixedpoint import FixedPointModel

    out = tmp_path / "rates"
    code, stdout, err = cli(
        "rates", "--design", design_dir, "--zero-bias", samples["zb_a"], "--signal", samples["sig"],
        "--out", out, "--chunk-size", "40000",
    )
    assert code == 0, err
    for needle in ("thresholds", "menu OR", "L1_SingleMu22", "sig", "pure rate", "shipped RTL trigger check"):
        assert needle in stdout, needle
    data = json.loads((out / "rates.json").read_text())
    chk = data["rtl_check"]
    assert chk["passed"] and chk["events"] == 150_000 and chk["score_mismatches"] == 0
    assert [p["threshold"] for p in chk["per_threshold"]] == [r["threshold"] for r in data["thresholds"]]
    assert all(p["offline_triggers"] == p["rtl_triggers"] for p in chk["per_threshold"])
    assert {p.name for p in out.glob("*.png")} >= {"rate_vs_threshold.png", "score_distributions.png"}

    # the same model given as an artifact (emulated via FixedPointModel.from_artifact): same thresholds
    code, _, err = cli(
        "rates", "--model", fp_model.artifact_dir, "--zero-bias", samples["zb_a"], "--signal", samples["sig"],
        "--out", tmp_path / "from_artifact",
    )
    assert code == 0, err
    other = json.loads((tmp_path / "from_artifact" / "rates.json").read_text())
    assert [r["threshold"] for r in other["thresholds"]] == [r["threshold"] for r in data["thresholds"]]
    assert other["menu"] == data["menu"]

    fp = FixedPointModel.load(design_dir / "fixedpoint.json")
    parts = reader().read(str(samples["zb_a"]), 0, 150_000)
    scores = fp.predict(load_encoding().encode(parts).words)
    f = RateModel().collision_rate_hz / 1e3
    for r in data["thresholds"]:
        t = r["threshold"]
        assert isinstance(t, int) and r["fits_threshold_port"]
        assert r["n_pass"] == int((scores > t).sum())
        assert r["rate_khz"] == pytest.approx(f * r["n_pass"] / scores.size)
        assert r["rate_khz"] <= r["target_khz"] < f * int((scores > t - 1).sum()) / scores.size


def test_offline_trigger_counts_equal_the_shipped_verilog_on_a_million_events(design_dir, fp_model, tmp_path):
    """The acceptance check of `l1ad rates --design`: at every chosen threshold, the offline trigger count
    equals the trigger-bit count of the design's shipped rtl/ (Verilator, wrapper included) on 1,000,000
    zero-bias events; independently recounted here from the harness and the emulator."""
    from l1ad.data.encoding import load_encoding
    from l1ad.verification.rtl_emulator import compile_rtl_emulator

    big = write_adc(tmp_path / "zb_1m.h5", make_events(1_000_000, seed=21))
    from l1ad.rates.run import RatesOptions, run_rates

    summary = run_rates(
        RatesOptions.parse(zero_bias=[big], targets_khz=(20.0, 100.0, 500.0), menu=None, out=tmp_path / "r",
                           rtl_design=design_dir, chunk_size=250_000),
        score_model=fp_model, encoding=load_encoding(), reader=reader(), console=False)
    chk = json.loads((tmp_path / "r" / "rates.json").read_text())["rtl_check"]
    assert chk["passed"] and chk["events"] == 1_000_000
    thr = [c.threshold for c in summary.choices]
    assert [p["threshold"] for p in chk["per_threshold"]] == thr
    words = load_encoding().encode(reader().read(str(big), 0, 200_000)).words
    run = compile_rtl_emulator(design_dir).run(words, thr)
    assert np.array_equal(run.scores, fp_model.predict(words))
    for k, c in enumerate(summary.choices):  # the rates' own counts (held-out = all events here) agree too
        assert c.n_pass == chk["per_threshold"][k]["offline_triggers"] == chk["per_threshold"][k]["rtl_triggers"]
        assert int(run.triggers[:, k].sum()) == int((fp_model.predict(words) > c.threshold).sum())


def test_a_trigger_comparator_that_differs_from_the_offline_rule_fails_rates(design_dir, samples, tmp_path, cli):
    """Fault injection: the shipped wrapper compares with >= instead of > -> exit 1 naming an event whose
    score equals the threshold (the scores themselves still agree)."""
    import shutil

    bad = tmp_path / "bad_cmp"
    shutil.copytree(design_dir, bad)
    top = bad / "rtl" / "vae_tiny_trigger.v"
    text = top.read_text()
    assert text.count("> $signed(threshold)") + text.count("score_w > threshold") == 1
    top.write_text(text.replace("> $signed(threshold)", ">= $signed(threshold)").replace("score_w > threshold",
                                                                                       "score_w >= threshold"))
    code, out, err = cli("rates", "--design", bad, "--zero-bias", samples["zb_a"], "--menu", "none",
                         "--out", tmp_path / "r", "--targets", "20,100,500")
    assert code == 1 and len(err.strip().splitlines()) == 1 and "trigger bit differs" in err
    chk = json.loads((tmp_path / "r" / "rates.json").read_text())["rtl_check"]
    d = chk["first_difference"]
    assert not chk["passed"] and chk["score_mismatches"] == 0
    assert d["offline_score"] == d["rtl_score"] == d["threshold"] and d["rtl_trigger"] is True
    assert any(p["rtl_triggers"] > p["offline_triggers"] for p in chk["per_threshold"])


def test_emulation_with_the_real_model_survives_pickling_for_dask_workers(fp_model, samples):
    """What --scheduler ships to worker processes (model, encoding, menu, reader) pickles and gives the same counts."""
    import pickle

    from l1ad.data.encoding import load_encoding

    emu = Emulation(fp_model, load_encoding(), load_menu(), reader=reader())
    chunk = plan_chunks([samples["sig"]], [20_000], 20_000)[0]
    clone = pickle.loads(pickle.dumps(emu))
    assert process_chunk(chunk, clone) == process_chunk(chunk, emu)


def test_design_whose_score_port_disagrees_with_its_fixedpoint_description_is_refused(cli, design_dir, samples, tmp_path):
    import shutil

    bad = tmp_path / "bad_design"
    shutil.copytree(design_dir, bad)
    meta = json.loads((bad / "design.json").read_text())
    meta["score"]["width"] += 1
    (bad / "design.json").write_text(json.dumps(meta))
    code, _, err = cli("rates", "--design", bad, "--zero-bias", samples["zb_small"], "--out", tmp_path / "o")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "field 'score'" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_rates_on_a_design_built_by_l1ad_build(cli, fp_model, samples, tmp_path):
    """`l1ad build` (da4ml Verilog, no HLS) then `l1ad rates --design` on its output: the shipped-RTL trigger
    check passes at every threshold."""
    code, _, err = cli("build", "--board", "vu13p", "--model", fp_model.artifact_dir, "--out", tmp_path / "fw",
                       "--hls-dir", tmp_path / "hls", "--no-hls", "--events", "2000")
    assert code == 0, err
    [built] = list((tmp_path / "fw").iterdir())
    code, _, err = cli("rates", "--design", built, "--zero-bias", samples["zb_small"], "--out", tmp_path / "r",
                       "--menu", "none", "--targets", "20,100,500")
    assert code == 0, err
    data = json.loads((tmp_path / "r" / "rates.json").read_text())
    assert data["rtl_check"]["passed"] and data["rtl_check"]["events"] == 40_000
    for r, p in zip(data["thresholds"], data["rtl_check"]["per_threshold"], strict=True):
        assert r["threshold"] == p["threshold"] and p["offline_triggers"] == p["rtl_triggers"]


def test_readme_rate_tables_come_from_the_report_and_check_detects_staleness(samples, tmp_path, capsys):
    """``python -m l1ad.rates.readme`` writes README's rate section from a real rates.json + metrics.json:
    every seed with its reference and ratio, every threshold with its interval; --check fails once a number
    changes; a missing input is one line, exit 2, README untouched."""
    from l1ad.rates import readme
    from l1ad.rates.run import RatesOptions, run_rates

    out = tmp_path / "out"
    run_rates(RatesOptions.parse(zero_bias=[samples["zb_small"]], signals=[samples["sig"]], menu="menu.yaml", out=out),
              score_model=StandInModel(), encoding=encoding(), reader=reader(), console=False)
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"signals": {"sig": {"ratio_quantized_over_float_uncertainty": {  # as l1ad evaluate
        "1kHz": {"ratio": 0.9, "binomial": 0.1, "bootstrap_68": None, "n_pass_num": 9, "n_pass_den": 10}}}}}))
    md = tmp_path / "README.md"
    md.write_text(f"# t\n\n{readme.BEGIN}\nstale table\n{readme.END}\ntail\n")
    args = ["--rates", str(out / "rates.json"), "--metrics", str(metrics), "--readme", str(md)]
    assert readme.main([*args, "--check"]) == 1
    assert readme.main(args) == 0 and readme.main([*args, "--check"]) == 0
    text = md.read_text()
    assert text.startswith("# t\n\n") and text.endswith(f"{readme.END}\ntail\n") and "stale table" not in text
    data = json.loads((out / "rates.json").read_text())
    for name, s in data["menu"]["seeds"].items():
        assert f"`{name}` | {readme._interval(s['khz'], s['lo_khz'], s['hi_khz'])}" in text
    for t in data["thresholds"]:
        assert f"| {t['target_khz']:g} | {t['threshold']:,} |" in text
    assert "0.90 ± 0.10 (9 / 10 events)" in text
    data["thresholds"][0]["threshold"] += 1  # fault: the report changed, README is stale
    (out / "rates.json").write_text(json.dumps(data))
    assert readme.main([*args, "--check"]) == 1
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        readme.main(["--rates", str(tmp_path / "nope.json"), "--metrics", str(metrics), "--readme", str(md)])
    assert e.value.code == 2 and "nope.json" in capsys.readouterr().err
    assert md.read_text() == text


# --------------------------------------------------------------------------------------------------------
# encoded-words files (`l1ad data encode`) as inputs of `l1ad rates`
# --------------------------------------------------------------------------------------------------------
def _encode(src: Path, out: Path, menu: str | None = "menu.yaml", **kw) -> Path:
    from l1ad.data.encoding import load_encoding
    from l1ad.data.words import write_words

    write_words(src, out, load_encoding(), load_menu(menu) if menu else None, menu_path=menu, **kw)
    return out


def _without_paths(rates_json: Path) -> dict:
    d = json.loads(rates_json.read_text())
    d.pop("inputs")
    return d


@pytest.mark.skipif(not HAS_DATA, reason="l1ad.data not available")
@pytest.mark.parametrize("menu_on_words", [False, True])
def test_encoded_words_files_give_identical_rates(samples, tmp_path, menu_on_words):
    """Weighted zero bias + a signal, from the event files and from their `l1ad data encode` output: thresholds,
    rates, counts, histograms and rates.json (but the input paths) identical."""
    from l1ad.rates.run import RatesOptions, run_rates

    zb = _encode(samples["zb_weighted"], tmp_path / "zb.words.h5", chunk_size=5_000)
    sig = _encode(samples["sig"], tmp_path / "sig.words.h5")
    with h5py.File(zb) as f:
        assert f["Words"].dtype == np.int16 and f["SeedBits"].shape == (40_000, 3) and "Stratum" in f
    kw = dict(score_model=StandInModel(), encoding=encoding(), reader=reader(), console=False)
    opts = dict(targets_khz=(20.0, 100.0, 500.0), chunk_size=6_000, menu_on_words=menu_on_words)
    ev = run_rates(RatesOptions.parse(zero_bias=[samples["zb_weighted"]], signals=[samples["sig"]],
                                      out=tmp_path / "ev", **opts), **kw)
    wd = run_rates(RatesOptions.parse(zero_bias=[zb], signals=[sig], out=tmp_path / "wd", **opts), **kw)
    assert wd.zero_bias == ev.zero_bias and wd.signals.keys() == {"sig"} and wd.choices == ev.choices
    assert wd.signals["sig"] == ev.signals["sig"]
    assert ev.zero_bias.menu_count > 0 and ev.zero_bias.n_strata == 2
    assert _without_paths(tmp_path / "wd" / "rates.json") == _without_paths(tmp_path / "ev" / "rates.json")


@pytest.mark.skipif(not HAS_DATA, reason="l1ad.data not available")
def test_encoded_words_keep_the_training_provenance(samples, tmp_path):
    """The words file records its source's sha256: the model's training events are skipped as on the source."""
    import hashlib

    from l1ad.rates.pipeline import held_out_first_event

    w = _encode(samples["zb_small"], tmp_path / "zb.words.h5", menu=None)
    sha = hashlib.sha256(samples["zb_small"].read_bytes()).hexdigest()
    art = tmp_path / "artifact"
    art.mkdir()
    bkg = {"path": "x", "sha256": sha, "train": [0, 25_000], "validation": [25_000, 30_000], "test": [30_000, 40_000]}
    (art / "model.json").write_text(json.dumps(_meta({"background": bkg})))
    assert held_out_first_event(art, [w, samples["zb_small"], samples["zb_b"]]) == [30_000, 30_000, 0]
    # chunks on whole HDF5 chunks (8,192 events), results as with any other chunking
    n = check_files([w], reader(), "zero-bias")
    chunks = plan_chunks([w], n, 20_000, [30_000], align=[8192])
    assert [(c.start, c.stop) for c in chunks] == [(30_000, 32_768), (32_768, 40_000)]
    emu = emulation(menu=False)
    assert run_local(chunks, emu) == run_local(plan_chunks([samples["zb_small"]], n, 3_000, [30_000]), emu)


@pytest.mark.skipif(not HAS_DATA, reason="l1ad.data not available")
def test_encoded_words_from_another_encoding_or_menu_are_refused(cli, samples, tmp_path):
    """A words file whose encoding, menu or event count is not this run's: exit 2, one line naming the file
    and the field, nothing written."""
    import shutil

    good = _encode(samples["zb_small"], tmp_path / "good.h5")
    cases = {}

    def variant(name: str, edit) -> Path:
        p = tmp_path / f"{name}.h5"
        shutil.copy(good, p)
        with h5py.File(p, "a") as f:
            edit(f)
        return p

    cases["encoding_sha256"] = variant("enc", lambda f: f.attrs.__setitem__("encoding_sha256", "0" * 64))
    cases["menu_sha256"] = variant("menu", lambda f: f.attrs.__setitem__("menu_sha256", "1" * 64))
    cases["n_events"] = variant("count", lambda f: f.attrs.__setitem__("n_events", 39_999))
    cases["SeedBits"] = _encode(samples["zb_small"], tmp_path / "nomenu.h5", menu=None)
    cases["format_version"] = variant("ver", lambda f: f.attrs.__setitem__("format_version", 7))
    # a menu that differs by one threshold
    menu_yaml = tmp_path / "menu2.yaml"
    from l1ad.config import config_path

    text = config_path("menu.yaml").read_text()
    menu_yaml.write_text(text.replace("met_min: ", "met_min: 1", 1))
    assert menu_yaml.read_text() != text
    for field, path in cases.items():
        code, _, err = cli("rates", "--model", tmp_path / "no_model", "--zero-bias", path, "--out", tmp_path / "o")
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and str(path) in lines[0] and f"'{field}'" in lines[0], (field, err)
        assert not (tmp_path / "o").exists()
    code, _, err = cli("rates", "--model", tmp_path / "no_model", "--zero-bias", good, "--menu", menu_yaml,
                       "--out", tmp_path / "o")
    assert code == 2 and "'menu_sha256'" in err and str(good) in err, err
    # the untouched file passes these checks (and fails only later, on the missing model)
    code, _, err = cli("rates", "--model", tmp_path / "no_model", "--zero-bias", good, "--out", tmp_path / "o")
    assert code == 2 and "no_model" in err and "good.h5" not in err
    # library: the same checks in run_rates, and a file with tampered words length
    from l1ad.rates.run import RatesOptions, run_rates

    with pytest.raises(DataError, match="encoding_sha256"):
        run_rates(RatesOptions.parse(zero_bias=[cases["encoding_sha256"]], out=tmp_path / "o2"),
                  score_model=StandInModel(), encoding=encoding(), reader=reader(), console=False)
    assert not (tmp_path / "o2").exists()


@pytest.mark.skipif(not HAS_DATA, reason="l1ad.data not available")
def test_local_worker_processes_give_identical_results(samples, tmp_path):
    """`--workers 2`: a Dask LocalCluster of two worker processes, same counts and thresholds as in-process; with
    --scheduler as well it is a usage error."""
    from l1ad.rates.run import RatesOptions, run_rates

    w = _encode(samples["zb_small"], tmp_path / "zb.words.h5")
    opts = dict(zero_bias=[w], signals=[samples["sig"]], targets_khz=(20.0, 60.0), chunk_size=10_000)
    kw = dict(score_model=StandInModel(), encoding=encoding(), reader=reader(), console=False)
    local = run_rates(RatesOptions.parse(out=tmp_path / "l", **opts), **kw)
    multi = run_rates(RatesOptions.parse(out=tmp_path / "m", workers=2, **opts), **kw)
    assert multi.zero_bias == local.zero_bias and multi.signals == local.signals and multi.choices == local.choices
    assert json.loads((tmp_path / "m" / "rates.json").read_text())["inputs"]["backend"].startswith("dask local")
    with pytest.raises(ConfigError, match="workers"):
        RatesOptions.parse(workers=2, scheduler="tcp://127.0.0.1:1", **opts)


def test_default_workers_start_a_local_cluster_only_for_large_samples(samples, tmp_path, monkeypatch):
    """Without --workers: in this process below AUTO_CLUSTER_EVENTS, one worker per core at or above it (on a
    multi-core machine), with the same results either way."""
    import os

    import l1ad.rates.run as run_mod
    from l1ad.rates.run import RatesOptions, auto_workers, run_rates

    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1}, raising=False)
    assert auto_workers(run_mod.AUTO_CLUSTER_EVENTS - 1) == 1 and auto_workers(run_mod.AUTO_CLUSTER_EVENTS) == 2
    opts = dict(zero_bias=[samples["zb_small"]], targets_khz=(20.0, 60.0), chunk_size=10_000, menu=None)
    kw = dict(score_model=StandInModel(), encoding=encoding(), reader=reader(), console=False)
    small = run_rates(RatesOptions.parse(out=tmp_path / "s", **opts), **kw)
    assert json.loads((tmp_path / "s" / "rates.json").read_text())["inputs"]["backend"] == "local"
    monkeypatch.setattr(run_mod, "AUTO_CLUSTER_EVENTS", 1)  # every sample is "large" now
    big = run_rates(RatesOptions.parse(out=tmp_path / "b", **opts), **kw)
    assert json.loads((tmp_path / "b" / "rates.json").read_text())["inputs"]["backend"] == \
        "dask local cluster, 2 worker processes"
    assert big.zero_bias == small.zero_bias and big.choices == small.choices


def test_cli_rates_on_encoded_words_with_the_shipped_rtl_check(cli, design_dir, samples, tmp_path):
    """`l1ad data encode` then `l1ad rates --design` on the words files: the shipped-RTL check streams the stored
    words, and rates.json is the event files' but for the input paths."""
    zb, sig = tmp_path / "zb_small.words.h5", tmp_path / "sig.words.h5"
    for src, dst in ((samples["zb_small"], zb), (samples["sig"], sig)):
        code, _, err = cli("data", "encode", src, "--out", dst)
        assert code == 0, err
    res = {}
    for tag, (z, s) in {"ev": (samples["zb_small"], samples["sig"]), "wd": (zb, sig)}.items():
        code, _, err = cli("rates", "--design", design_dir, "--zero-bias", z, "--signal", s, "--out", tmp_path / tag,
                           "--targets", "20,60")
        assert code == 0, err
        res[tag] = json.loads((tmp_path / tag / "rates.json").read_text())
    chk = res["wd"]["rtl_check"]
    assert chk["passed"] and chk["events"] == 40_000 and chk["score_mismatches"] == 0
    a, b = (_without_paths(tmp_path / t / "rates.json") for t in ("ev", "wd"))
    for d in (a, b):  # input paths and timings
        for k in ("files", "events_per_s", "seconds"):
            d["rtl_check"].pop(k, None)
    assert a == b


def test_a_model_that_does_not_take_the_encodings_words_is_refused_before_any_work(samples, tmp_path):
    """A model with another input width (a user's 10-input net) is one DataError (exit 2) naming the zero-bias
    file, the word count and the model's inputs, before any event is read; nothing is written. The same model
    with 57 inputs runs."""
    from l1ad.errors import DataError
    from l1ad.rates.run import RatesOptions, run_rates

    class Narrow(StandInModel):
        name, n_inputs = "narrow", 10

    opts = RatesOptions.parse(zero_bias=[samples["zb_small"]], targets_khz=(20.0,), menu=None, out=tmp_path / "o")
    kw = dict(encoding=encoding(), reader=reader(), console=False)
    with pytest.raises(DataError, match=r"zb_small\.h5: the events encode to 57 words .*'narrow' takes 10 inputs"):
        run_rates(opts, score_model=Narrow(), **kw)
    assert DataError.exit_code == 2 and not (tmp_path / "o").exists()
    Narrow.n_inputs = N_INPUTS
    run_rates(opts, score_model=Narrow(), **kw)
    assert (tmp_path / "o" / "rates.json").is_file()
