"""The compiled crossing assembly (l1ad.data.generation.kernels) against plain NumPy references, on synthetic
interactions (no Pythia needed)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from l1ad.data.generation import kernels, load_emulation_config
from l1ad.data.generation.l1emu import L1Emulator, Piece, _standard_normal
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
    n = 2 * emu.BLOCK + 5  # several blocks, the last one partial
    counts = rng.poisson(20, n)
    total = int(counts.sum())
    crossing = np.repeat(np.arange(n), counts)
    p = Piece(src, rng.integers(0, 50, total), rng.permutation(crossing), rng.integers(0, emu.n_phi, total),
              rng.random(total) < 0.5)
    prepared = emu._prepare([p])
    em = np.zeros(n * emu.n_towers)
    had = np.zeros(n * emu.n_towers)
    for lo in range(0, n, emu.BLOCK):
        key, e, h = emu._block_deposits(prepared, lo, min(n, lo + emu.BLOCK))
        assert np.all(np.diff(key) > 0)
        em[key + lo * emu.n_towers], had[key + lo * emu.n_towers] = e, h
    ref_em, ref_had = _reference_sums(emu, p, n)
    np.testing.assert_allclose(em, ref_em, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(had, ref_had, rtol=1e-12, atol=1e-9)
    # fault injection: rotating the wrong way round gives other sums
    bad_em, _ = _reference_sums(emu, p, n, shift_sign=-1)
    assert not np.allclose(em, bad_em)


def _measure(emu: L1Emulator, src: SparseEvents, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Measured EM and hadronic E_T (crossing, tower) of ``n`` crossings with one interaction of ``src`` each,
    through the same steps as assemble."""
    prepared = emu._prepare([Piece(src, np.arange(n) % src.n_events, np.arange(n))])
    key, em_t, had_t = emu._block_deposits(prepared, 0, n)
    rng = np.random.default_rng(seed)
    n_hit, n_had = len(key), int(np.count_nonzero(had_t > 0))
    n_hz = n_had if emu._had_quiet else n_hit
    z = _standard_normal(rng, n_had + n_hit + n_hz)
    em = np.zeros(n * emu.n_towers, np.float32)
    had = np.zeros(n * emu.n_towers, np.float32)
    frac = emu.cfg.calorimetry.hadron_em_fraction
    kernels.measure_into(key, em_t, had_t, z[:n_had], z[n_had : n_had + n_hit], z[n_had + n_hit :],
                         not emu._had_quiet, emu.n_towers, emu._inv_cosh, emu._res_em_t, emu._res_had_t,
                         np.float32(frac.mean), np.float32(frac.sd), np.float32(emu.cfg.towers.et_lsb_gev), em, had)
    return em, had


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


def test_standard_normal_is_standard_normal_and_a_wrong_width_is_rejected() -> None:
    z = _standard_normal(np.random.default_rng(11), 300_001)
    assert z.dtype == np.float32 and len(z) == 300_001
    assert abs(float(z.mean())) < 0.01 and abs(float(z.std()) - 1) < 0.01
    assert stats.kstest(z, "norm").pvalue > 1e-3
    assert abs(stats.kurtosis(z)) < 0.05
    assert stats.kstest(z * 1.02, "norm").pvalue < 1e-3  # the same check rejects a 2 % wider distribution
    # reproducible from the generator's state
    assert np.array_equal(_standard_normal(np.random.default_rng(4), 1001), _standard_normal(np.random.default_rng(4), 1001))


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
    ev, ie, ip = kernels.local_maxima(sub, 2.0)
    pad = np.pad(sub, ((0, 0), (1, 1), (0, 0)))
    cand = sub >= 2.0
    for dn, dp in ((-1, -1), (-1, 0), (-1, 1), (0, -1)):
        cand &= sub >= np.roll(pad, (-dn, -dp), axis=(1, 2))[:, 1:-1, :]
    for dn, dp in ((1, 1), (1, 0), (1, -1), (0, 1)):
        cand &= sub > np.roll(pad, (-dn, -dp), axis=(1, 2))[:, 1:-1, :]
    ref = np.nonzero(cand)
    assert len(ev) > 10
    assert all(np.array_equal(a, b) for a, b in zip((ev, ie, ip), ref, strict=True))


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
