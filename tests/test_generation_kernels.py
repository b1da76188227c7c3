"""The compiled crossing assembly (l1ad.data.generation.kernels) against plain NumPy references, on synthetic
interactions (no Pythia needed)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from l1ad.data.generation import kernels, load_emulation_config
from l1ad.data.generation.l1emu import L1Emulator, Piece
from l1ad.data.generation.sparse import Candidates, SparseEvents, gather_ranges


def _source(rng: np.random.Generator, n_events: int, n_towers: int, per_event: int = 40,
            had: bool = True) -> SparseEvents:
    """Random interactions: ``per_event`` distinct towers each, EM (and hadronic) E_T of a few GeV."""
    index = np.concatenate([np.sort(rng.choice(n_towers, per_event, replace=False)) for _ in range(n_events)])
    n = len(index)
    return SparseEvents(
        n_events=n_events, tower_offsets=np.arange(0, n + 1, per_event, dtype=np.int64),
        tower_index=index.astype(np.int32), tower_em=rng.exponential(2.0, n).astype(np.float32),
        tower_had=(rng.exponential(3.0, n) if had else np.zeros(n)).astype(np.float32),
        muons=Candidates(np.zeros(n_events + 1, np.int64), *(np.zeros(0, np.float32),) * 3),
        pthat=np.zeros(n_events, np.float32))


def _reference_sums(emu: L1Emulator, p: Piece, n: int, shift_sign: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Per (crossing, tower) EM and hadronic sums by np.bincount (rotation by ``shift_sign`` * shift)."""
    pos, owner = gather_ranges(p.source.tower_offsets, p.index)
    t = p.source.tower_index[pos].astype(np.int64)
    ieta, iphi = t // emu.n_phi, t % emu.n_phi
    ieta = np.where(p.flip[owner], emu.n_eta - 1 - ieta, ieta)
    iphi = (iphi + shift_sign * p.phi_shift[owner]) % emu.n_phi
    key = p.crossing[owner] * emu.n_towers + ieta * emu.n_phi + iphi
    size = n * emu.n_towers
    return (np.bincount(key, p.source.tower_em[pos], size), np.bincount(key, p.source.tower_had[pos], size))


def test_overlay_sums_match_bincount_and_a_wrong_rotation_is_caught() -> None:
    emu = L1Emulator(load_emulation_config())
    rng = np.random.default_rng(3)
    src = _source(rng, 50, emu.n_towers)
    n = 2 * emu.SUM_BLOCK + 5  # several sub-blocks, the last one partial
    counts = rng.poisson(20, n)
    total = int(counts.sum())
    crossing = np.repeat(np.arange(n), counts)
    p = Piece(src, rng.integers(0, 50, total), rng.permutation(crossing), rng.integers(0, emu.n_phi, total),
              rng.random(total) < 0.5)
    (_, cs, idx, shift, flip, (iphi, t0, t1)), = emu._prepare([p])
    dep = np.zeros((2, n * emu.n_towers))
    for lo in range(0, n, emu.SUM_BLOCK):  # as _measure_block adds them: crossings lo.. on rows from 0
        a, b = np.searchsorted(cs, (lo, min(n, lo + emu.SUM_BLOCK)))
        kernels.add_deposits(src.tower_offsets, t0, t1, iphi, src.tower_em, src.tower_had, idx[a:b], cs[a:b],
                             shift[a:b], flip[a:b], emu.n_phi, emu.n_towers, dep)
    ref_em, ref_had = _reference_sums(emu, p, n)
    np.testing.assert_allclose(dep[0], ref_em, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(dep[1], ref_had, rtol=1e-12, atol=1e-9)
    # fault injection: rotating the wrong way round gives other sums
    bad_em, _ = _reference_sums(emu, p, n, shift_sign=-1)
    assert not np.allclose(dep[0], bad_em)


def _measure(emu: L1Emulator, src: SparseEvents, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Measured EM and hadronic E_T (crossing, tower) of ``n`` crossings with one interaction of ``src`` each,
    through the same steps as assemble."""
    prepared = emu._prepare([Piece(src, np.arange(n) % src.n_events, np.arange(n))])
    em, had, _ = emu._measure_block(prepared, 0, n, kernels.rng_state(seed))
    return em.reshape(n, -1).copy(), had.reshape(n, -1).copy()


def _reference_measurement(emu: L1Emulator, dep: np.ndarray, seed: int, swap: bool = False
                           ) -> tuple[np.ndarray, np.ndarray]:
    """NumPy version of kernels.measure_dense (float32, the same order of operations): per tower hit in row order
    the ECAL z, then z_f and the HCAL z if it has a hadronic deposit (``swap``: z_f and the ECAL z exchanged)."""
    em_t, had_t = dep[0], dep[1]
    hit = np.flatnonzero(em_t + had_t != 0)
    has_had = had_t[hit] > 0
    n_draw = np.where(has_had, 3, 1)
    first = np.cumsum(n_draw) - n_draw
    z = kernels.standard_normals(kernels.rng_state(seed), int(n_draw.sum())).astype(np.float32)
    z = np.concatenate([z, np.zeros(2, np.float32)])
    z_em, z_f, z_had = z[first], z[first + 1], z[first + 2]
    if swap:
        z_em, z_f = z_f, z_em
    t = hit % emu.n_towers
    em = em_t[hit].astype(np.float32)
    had = had_t[hit].astype(np.float32)
    frac = emu.cfg.calorimetry.hadron_em_fraction
    f = np.clip(z_f * np.float32(frac.sd) + np.float32(frac.mean), np.float32(0), np.float32(1)) * had
    em, had = em + f, had - f
    lsb = np.float32(emu.cfg.towers.et_lsb_gev)
    inv_e = emu._inv_cosh[t]

    def measured(e: np.ndarray, zz: np.ndarray, res: np.ndarray) -> np.ndarray:
        et = np.maximum(e, np.float32(1e-6))
        var = res[0, t] * et * inv_e + res[1, t] * inv_e * inv_e + res[2, t] * et * et
        m = np.maximum(zz * np.sqrt(var) + e, np.float32(0))
        return np.floor(m * (np.float32(1) / lsb)) * lsb

    out_em = np.zeros(dep.shape[1], np.float32)
    out_had = np.zeros(dep.shape[1], np.float32)
    out_em[hit] = measured(em, z_em, emu._res_em_t)
    out_had[hit] = np.where(has_had, measured(had, z_had, emu._res_had_t), np.float32(0))
    return out_em, out_had


def test_measurement_matches_numpy_reference_and_a_misassigned_number_is_caught() -> None:
    emu = L1Emulator(load_emulation_config())
    assert emu._had_quiet
    rng = np.random.default_rng(8)
    n = 3
    size = n * emu.n_towers
    dep = np.zeros((2, size))
    hit = rng.random(size) < 0.5
    dep[0, hit] = rng.exponential(1.0, hit.sum())
    had = hit & (rng.random(size) < 0.5)
    dep[1, had] = rng.exponential(3.0, had.sum())
    dep[0, hit & ~had & (rng.random(size) < 0.2)] = 0.0  # some towers hit by nothing (EM 0, no hadronic deposit)
    ref_em, ref_had = _reference_measurement(emu, dep, 21)
    em, hd, grid = (np.full(size + 7, np.nan, np.float32) for _ in range(3))
    frac = emu.cfg.calorimetry.hadron_em_fraction
    work = dep.copy()
    state = kernels.rng_state(21)
    kernels.measure_dense(work, size, 7, emu.n_towers, emu._inv_cosh, emu._res_em_t, emu._res_had_t,
                          np.float32(frac.mean), np.float32(frac.sd), np.float32(emu.cfg.towers.et_lsb_gev), False,
                          state, em, hd, grid)
    assert not work.any()  # the sums are zeroed for the next use
    assert not np.array_equal(state, kernels.rng_state(21))  # the state advanced
    np.testing.assert_array_equal(em[7:], ref_em)
    np.testing.assert_array_equal(hd[7:], ref_had)
    np.testing.assert_array_equal(grid[7:], ref_em + ref_had)
    assert np.isnan(em[:7]).all()  # nothing written before out_base
    assert (ref_had > 0).sum() > 1000 and (ref_em > 0).sum() > 1000
    # fault injection: the ECAL and the shower-sharing numbers swapped give other measurements
    bad_em, _ = _reference_measurement(emu, dep, 21, swap=True)
    assert not np.array_equal(em[7:], bad_em)


def test_hcal_noise_is_drawn_for_towers_without_hadronic_deposit_only_when_it_can_show() -> None:
    cfg = load_emulation_config()
    quiet = L1Emulator(cfg)
    assert quiet._had_quiet  # as configured: HCAL and HF noise 0
    src = _source(np.random.default_rng(5), 20, quiet.n_towers, per_event=200, had=False)  # EM deposits only
    em, had = _measure(quiet, src, 20, 1)
    assert em.any() and not had.any()
    noisy_cfg = cfg.model_copy(deep=True)
    noisy_cfg.calorimetry.hcal.noise_gev = 2.0
    noisy_cfg.calorimetry.hf.noise_gev = 2.0
    noisy = L1Emulator(noisy_cfg)
    assert not noisy._had_quiet
    _, had = _measure(noisy, src, 20, 1)
    lsb = cfg.towers.et_lsb_gev
    assert had.any() and np.all(had[had > 0] >= lsb)
    # fault injection: skipping the draws although the noise can reach one LSB loses that noise
    noisy._had_quiet = True
    _, had_skipped = _measure(noisy, src, 20, 1)
    assert not had_skipped.any()


def _xoshiro256ss(seed: int, n: int, rot: int = 45) -> list[int]:
    """Python-integer xoshiro256** (Blackman & Vigna's C code) seeded by SplitMix64 (``rot``: the last rotation)."""
    m = (1 << 64) - 1

    def rotl(x: int, k: int) -> int:
        return ((x << k) | (x >> (64 - k))) & m

    s, x = [], seed
    for _ in range(4):
        x = (x + 0x9E3779B97F4A7C15) & m
        z = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & m
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
        s.append(z ^ (z >> 31))
    out = []
    for _ in range(n):
        out.append(rotl((s[1] * 5) & m, 7) * 9 & m)
        t = (s[1] << 17) & m
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], rot)
    return out


def test_generator_is_xoshiro256starstar_and_a_wrong_rotation_is_caught() -> None:
    state = tuple(np.uint64(v) for v in kernels.rng_state(12345))
    got = []
    for _ in range(200):
        u, *rest = kernels._next_u64(*state)
        state = tuple(np.uint64(v) for v in rest)
        got.append(int(u))
    assert got == _xoshiro256ss(12345, 200)
    assert got != _xoshiro256ss(12345, 200, rot=44)


def test_ziggurat_layers_have_equal_area_and_a_wrong_tail_start_breaks_them() -> None:
    x, f = kernels.ZIG_X, kernels.ZIG_F
    v = kernels._ZIG_V
    areas = np.concatenate([[x[0] * f[1]], x[1:-1] * (f[2:] - f[1:-1])])
    np.testing.assert_allclose(areas, v, rtol=1e-8)
    # base layer: the rectangle under f(R) plus the tail beyond R is one layer's area
    assert abs(x[1] * f[1] + np.sqrt(np.pi / 2) * stats.norm.sf(x[1]) * 2 - v) < 1e-12
    # fault injection: a tail start for another layer count leaves the top layer's area wrong
    r_bad = kernels._ZIG_R * 1.001
    xb = [v / np.exp(-0.5 * r_bad**2), r_bad]
    for _ in range(254):
        xb.append(np.sqrt(-2 * np.log(np.exp(-0.5 * xb[-1] ** 2) + v / xb[-1])))
    assert np.isnan(xb[-1]) or abs(xb[-1] * (1 - np.exp(-0.5 * xb[-1] ** 2)) - v) > 1e-5


def test_standard_normal_is_standard_normal_and_a_wrong_width_is_rejected() -> None:
    z = kernels.standard_normals(kernels.rng_state(11), 1_000_000)
    assert abs(float(z.mean())) < 0.005 and abs(float(z.std()) - 1) < 0.005
    assert stats.kstest(z, "norm").pvalue > 1e-3
    assert abs(stats.kurtosis(z)) < 0.03 and abs(stats.skew(z)) < 0.01
    # the tail beyond R (layer 0, sampled apart) and the wedges hold their share
    r = kernels._ZIG_R
    assert abs(np.mean(np.abs(z) > r) / (2 * stats.norm.sf(r)) - 1) < 0.15
    assert stats.kstest(np.abs(z[np.abs(z) > 3]), stats.truncnorm(3, np.inf).cdf).pvalue > 1e-3
    assert stats.kstest(z * 1.02, "norm").pvalue < 1e-3  # the same check rejects a 2 % wider distribution
    # reproducible from the state; the state advances
    s = kernels.rng_state(4)
    a = kernels.standard_normals(s, 1001)
    assert np.array_equal(a, kernels.standard_normals(kernels.rng_state(4), 1001))
    assert not np.array_equal(a, kernels.standard_normals(s, 1001))


def test_compiled_objects_match_numpy_references() -> None:
    """ETMHF sums, rho medians and e/gamma seeds of the kernels against straightforward NumPy versions."""
    emu = L1Emulator(load_emulation_config())
    rng = np.random.default_rng(9)
    grid = (np.floor(rng.exponential(1.5, (6, emu.n_eta, emu.n_phi)) / 0.5) * 0.5).astype(np.float32)
    grid[:, 40:44, 10:12] += 30.0  # a jet-like cluster
    # ETMHF: single towers where not HF, 2x2 blocks in the HF
    events = np.zeros((6, 19, 4), np.float32)
    emu._met(grid, events)
    hf = np.abs(emu.eta_c) >= emu.cfg.towers.hf_eta_min
    g = np.where(grid >= emu._met_thr[None, :, None], grid, 0.0)
    g[:, hf, :] = 0.0
    mex = -(g * np.cos(emu.phi_c)).sum(axis=(1, 2))
    mey = -(g * np.sin(emu.phi_c)).sum(axis=(1, 2))
    thr_row, _, _, row0, thr_b, be, bp, cos_b, sin_b = emu._met_layout()
    for r, t in zip(row0, thr_b, strict=True):
        blk = grid[:, r : r + be, :].reshape(6, be, -1, bp).sum(axis=(1, 3))
        blk = np.where(blk >= t, blk, 0.0)
        mex -= blk @ cos_b
        mey -= blk @ sin_b
    np.testing.assert_allclose(events[:, 0, 0], np.hypot(mex, mey), rtol=1e-5)
    # rho: median of 4x4 patch sums per band
    edges, rho = emu._rho_bands(grid)
    k = emu.cfg.jets.rho_patch_towers
    row0, n_rows = emu._rho_plan
    for b in range(len(edges)):
        patches = [grid[:, r0 : r0 + nr, : (emu.n_phi // k) * k].reshape(6, nr // k, k, -1, k).sum(axis=(2, 4))
                   .reshape(6, -1) for r0, nr in zip(row0[b], n_rows[b], strict=True) if nr]
        area = k * emu.cfg.towers.deta * k * emu.dphi
        np.testing.assert_allclose(rho[:, b], np.median(np.concatenate(patches, axis=1), axis=1) / area)
    # e/gamma seeds: local maxima (>= before, > after), rows outside count as 0, phi wraps
    sub = grid[:, 10:20, :].copy()
    ev, ie, ip = kernels.local_maxima(sub, 2.0, 0, sub.shape[1])
    pad = np.pad(sub, ((0, 0), (1, 1), (0, 0)))
    cand = sub >= 2.0
    for dn, dp in ((-1, -1), (-1, 0), (-1, 1), (0, -1)):
        cand &= sub >= np.roll(pad, (-dn, -dp), axis=(1, 2))[:, 1:-1, :]
    for dn, dp in ((1, 1), (1, 0), (1, -1), (0, 1)):
        cand &= sub > np.roll(pad, (-dn, -dp), axis=(1, 2))[:, 1:-1, :]
    ref = np.nonzero(cand)
    assert len(ev) > 10
    assert all(np.array_equal(a, b) for a, b in zip((ev, ie, ip), ref, strict=True))
    # the same rows searched in place on the full grid (rows beyond them count as 0), absolute row numbers
    ev2, ie2, ip2 = kernels.local_maxima(grid, 2.0, 10, 20)
    assert np.array_equal(ev2, ev) and np.array_equal(ie2, ie + 10) and np.array_equal(ip2, ip)
    # fault injection: the neighbouring rows taken into account find other maxima
    ev3, ie3, _ = kernels.local_maxima(grid, 2.0, 9, 21)
    assert not np.array_equal(ie3[(ie3 >= 10) & (ie3 < 20)], ie + 10)


def _fastjet_jets(counts: np.ndarray, px: np.ndarray, py: np.ndarray, pz: np.ndarray, e: np.ndarray, radius: float,
                  pt_min: float) -> list[list[tuple[float, ...]]]:
    ak = pytest.importorskip("awkward")
    fastjet = pytest.importorskip("fastjet")
    rec = ak.zip({"px": px, "py": py, "pz": pz, "E": e})
    cs = fastjet.ClusterSequence(ak.unflatten(rec, counts), fastjet.JetDefinition(fastjet.antikt_algorithm, radius))
    jets = cs.inclusive_jets(pt_min)
    return [sorted(zip(*(np.round(ak.to_numpy(jets[c][f]), 6) for f in ("px", "py", "pz")), strict=True))
            for c in range(len(counts))]


def test_compiled_anti_kt_finds_fastjets_jets_and_another_radius_does_not() -> None:
    emu = L1Emulator(load_emulation_config())
    rng = np.random.default_rng(21)
    # pileup-like towers plus a few jet-like clusters, on the trigger LSB grid
    grid = (np.floor(rng.exponential(0.9, (40, emu.n_eta, emu.n_phi)) / 0.5) * 0.5).astype(np.float32)
    for c in range(40):
        for _ in range(3):
            e0, p0 = rng.integers(5, emu.n_eta - 5), rng.integers(0, emu.n_phi)
            grid[c, e0 - 2 : e0 + 3, (p0 + np.arange(-2, 3)) % emu.n_phi] += rng.exponential(4.0, (5, 5))
    towers = kernels.towers_above(grid, np.abs(emu.eta_c) < 4.959, 3.0, *emu._tower_directions)
    assert towers[0].min() > 20  # enough towers per crossing to cluster
    ref = _fastjet_jets(*towers, 0.4, 3.0)
    jev, px, py, pz = kernels.anti_kt(*towers, 0.4, 3.0)
    got = [sorted(zip(np.round(px[jev == c], 6), np.round(py[jev == c], 6), np.round(pz[jev == c], 6), strict=True))
           for c in range(40)]
    assert sum(len(j) for j in ref) > 200 and got == ref
    # fault injection: the same comparison fails for R = 0.5 (another jet definition)
    jev5, px5, py5, pz5 = kernels.anti_kt(*towers, 0.5, 3.0)
    got5 = [sorted(zip(np.round(px5[jev5 == c], 6), np.round(py5[jev5 == c], 6), np.round(pz5[jev5 == c], 6),
                       strict=True)) for c in range(40)]
    assert got5 != ref


def test_serving_order_is_numpys_lexsort_and_a_missing_tie_break_is_caught() -> None:
    rng = np.random.default_rng(5)
    n = 3000
    ev = np.sort(rng.integers(0, 64, n))
    k1 = -np.round(rng.integers(0, 6, n) * 0.5, 4)  # many equal E_T (0.5 GeV grid)
    k2 = rng.integers(-3, 4, n) * 0.087  # equal eta
    k3 = rng.integers(0, 3, n) * 0.087  # equal phi: the index decides
    ref = np.lexsort((k3, k2, k1, ev))
    np.testing.assert_array_equal(kernels.serving_order(ev, k1, k2, k3), ref)
    # fault injection: without the last key the order differs where the first two tie
    assert not np.array_equal(kernels.serving_order(ev, k1, k2, np.zeros(n)), ref)


def _jacobi_vertices(decayed: np.ndarray, mother: np.ndarray, step: np.ndarray) -> np.ndarray:
    """The NumPy reference: one generation of the decay chain per pass."""
    v = np.zeros_like(step)
    for _ in range(64):
        new = np.where(decayed[:, None], v[mother] + step[mother], 0.0)
        if np.array_equal(new, v):
            break
        v = new
    return v


def test_decay_vertices_match_the_generation_by_generation_reference_in_any_record_order() -> None:
    rng = np.random.default_rng(9)
    n = 400
    mother = np.zeros(n, np.int64)
    for i in range(1, n):  # chains: each particle's mother is an earlier one
        mother[i] = rng.integers(0, i)
    decayed = rng.random(n) < 0.7
    step = rng.normal(0, 1, (n, 3))
    ref = _jacobi_vertices(decayed, mother, step)
    np.testing.assert_array_equal(kernels.decay_vertices(decayed, mother, step), ref)
    perm = rng.permutation(n)  # daughters before their mothers: more passes, the same vertices
    inv = np.argsort(perm)
    v = kernels.decay_vertices(decayed[perm], inv[mother[perm]], step[perm])
    np.testing.assert_array_equal(v, ref[perm])
    # fault injection: the flight of the particle itself instead of its mother's gives other vertices
    assert not np.array_equal(kernels.decay_vertices(decayed, np.arange(n), step), ref)
