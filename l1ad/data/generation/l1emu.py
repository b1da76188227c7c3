"""Parametrised Level-1 emulation: particles -> tower deposits and muons -> the 19-object L1 event.

Two steps so that pileup can be overlaid without re-running Pythia, and so that every crossing is measured
afresh (nothing random is frozen into a reused interaction):

1. :meth:`L1Emulator.detector_response` turns each generated interaction into a :class:`SparseEvents` entry,
   deterministically: the true transverse energy each trigger tower receives, split into an electromagnetic
   part (electrons, photons - among them the photons of pi0 decays inside jets) and a hadronic part, with
   soft charged particles that loop in the 3.8 T field removed and muons/neutrinos leaving nothing; plus the
   muons that reach the muon system.
2. :meth:`L1Emulator.assemble` builds bunch crossings from many interactions (each rotated in phi / mirrored
   in eta) and measures them: per tower and crossing it draws how much of the hadronic energy showers in the
   ECAL and smears the ECAL/HCAL/HF energies with their resolutions (log-normal: positive, unbiased); it quantises the EM and hadronic tower E_T to the
   trigger LSB separately and forms, as the CMS Level-1 calorimeter trigger does,

   * e/gamma candidates from EM clusters around local maxima (cluster EM E_T, H/E veto, isolation energy in a
     window around the cluster minus the pileup density rho x area, loose and tight isolation flags), so
     pi0-rich jets fake e/gamma at the rate the cluster shapes allow;
   * jets (anti-kT axes, tower sum within R of the axis minus rho x area);
   * the missing E_T over all towers up to |eta| = 5 with a tower threshold per |eta| band (ETMHF-like);

   measures the muons (efficiency, q/pT resolution with a non-Gaussian tail) and packs MET, 4 e/gamma, 4 muons
   and 10 jets, pT-ordered and zero-padded (layout of :mod:`l1ad.data.layout`), plus the e/gamma isolation
   flags (:data:`ISO_LOOSE`, :data:`ISO_TIGHT`) in a separate (n, 4) array.

   Crossings are assembled :attr:`L1Emulator.BLOCK` at a time; the loops over deposits, towers and objects are
   compiled (:mod:`l1ad.data.generation.kernels`), the anti-kT clustering included (FastJet's algorithm,
   the same jets), and so is the generator of the tower measurement's normal numbers (xoshiro256** + ziggurat,
   seeded per block from the caller's ``numpy`` generator).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from l1ad.data.generation import kernels
from l1ad.data.generation.config import L1EmulationConfig
from l1ad.data.generation.pythia import ParticleBatch
from l1ad.data.generation.sparse import Candidates, SparseEvents, gather_ranges
from l1ad.data.layout import N_OBJECTS, ObjectClass, group_slice

__all__ = ["ISO_LOOSE", "ISO_TIGHT", "Crossings", "L1Emulator", "Piece"]

#: e/gamma isolation flags (bits of the (n, 4) uint8 array beside the events)
ISO_LOOSE = 1
ISO_TIGHT = 2


@dataclass(frozen=True)
class Piece:
    """Interactions taken from ``source`` for a set of crossings: ``source[index[k]]`` goes to ``crossing[k]``,
    rotated by ``phi_shift[k]`` tower bins and mirrored in eta where ``flip[k]``."""

    source: SparseEvents
    index: np.ndarray
    crossing: np.ndarray
    phi_shift: np.ndarray | None = None
    flip: np.ndarray | None = None


@dataclass
class Crossings:
    """Assembled crossings: the (n, 19, 4) float32 L1 events and the (n, 4) uint8 e/gamma isolation flags."""

    events: np.ndarray
    egamma_iso: np.ndarray


def _wrap(phi: np.ndarray) -> np.ndarray:
    return (phi + np.pi) % (2 * np.pi) - np.pi


class L1Emulator:
    #: crossings whose dense (crossing, eta, phi) grids are built and searched together (they stay in the cache)
    BLOCK = 64
    #: crossings whose deposits are summed together on a dense (crossing, tower) array (1 MB: in the cache)
    SUM_BLOCK = 8

    def __init__(self, cfg: L1EmulationConfig):
        self.cfg = cfg
        t = cfg.towers
        self.n_eta, self.n_phi = t.n_eta, t.n_phi
        self.n_towers = self.n_eta * self.n_phi
        self.eta_edge = self.n_eta * t.deta / 2
        self.dphi = 2 * np.pi / self.n_phi
        self.eta_c = (np.arange(self.n_eta) + 0.5) * t.deta - self.eta_edge
        self.phi_c = (np.arange(self.n_phi) + 0.5) * self.dphi - np.pi
        # per tower index: 1/cosh(eta) and the squared resolution terms of its EM and hadronic measurement
        self._inv_cosh = (1.0 / np.cosh(np.repeat(self.eta_c, self.n_phi))).astype(np.float32)
        hf = np.repeat(np.abs(self.eta_c) >= t.hf_eta_min, self.n_phi)
        cal = cfg.calorimetry

        def terms(res: Any) -> tuple[np.ndarray, ...]:
            return tuple(np.where(hf, getattr(cal.hf, k) ** 2, getattr(res, k) ** 2).astype(np.float32)
                         for k in ("stochastic", "noise_gev", "constant"))

        self._res_em, self._res_had = terms(cal.ecal), terms(cal.hcal)
        self._res_em_t, self._res_had_t = np.stack(self._res_em), np.stack(self._res_had)  # (3, n_towers)
        # a tower without hadronic deposit measures E_T = 1e-6 GeV + z sigma: when sigma is below 1/20 LSB (HCAL
        # and HF noise 0, as configured) it reads 0 (z >= 20 never happens), and no number is drawn for it
        sigma0 = np.sqrt(self._res_had_t[0] * 1e-6 * self._inv_cosh + self._res_had_t[1] * self._inv_cosh**2
                         + self._res_had_t[2] * 1e-12).max()
        self._had_quiet = bool(20 * sigma0 < t.et_lsb_gev)
        aeta = np.abs(self.eta_c)
        thr = np.full(self.n_eta, np.inf)
        lo = 0.0
        for band in cfg.met.thresholds:
            thr[(aeta >= lo) & (aeta < band.eta_max)] = band.tower_et_min_gev
            lo = band.eta_max
        thr[aeta >= cfg.met.eta_max] = np.inf
        self._met_thr = thr  # per eta row
        self._buf: dict[str, np.ndarray] | None = None
        self._tower_directions = (np.cos(self.phi_c), np.sin(self.phi_c), np.sinh(self.eta_c), np.cosh(self.eta_c))
        self._met_plan: tuple[Any, ...] | None = None
        self._rho_plan: tuple[np.ndarray, np.ndarray] | None = None
        self._disc_offsets: tuple[np.ndarray, np.ndarray] | None = None

    # ------------------------------------------------------------------------------------ step 1
    def detector_response(self, b: ParticleBatch) -> SparseEvents:
        """True E_T deposits per tower (EM and hadronic apart) and the muons reaching the muon system."""
        t = self.cfg.towers
        pt, eta, phi = b.pt, b.eta, b.phi
        ev = b.event
        apid = np.abs(b.pid)
        charged = b.charge != 0
        looping = charged & (pt < t.curl_pt_gev) & (np.abs(eta) < t.curl_eta_max)
        calo = b.visible & (apid != 13) & ~looping & (np.abs(eta) < self.eta_edge) & (pt > 0)
        et = b.e[calo] / np.cosh(eta[calo])
        em = np.isin(apid[calo], (11, 22))
        ieta = np.clip(((eta[calo] + self.eta_edge) / t.deta).astype(np.int64), 0, self.n_eta - 1)
        iphi = ((phi[calo] + np.pi) / self.dphi).astype(np.int64) % self.n_phi
        key = ev[calo].astype(np.int64) * self.n_towers + ieta * self.n_phi + iphi
        ukey, inv = np.unique(key, return_inverse=True)
        tem = np.bincount(inv, weights=np.where(em, et, 0.0), minlength=len(ukey)).astype(np.float32)
        thad = np.bincount(inv, weights=np.where(em, 0.0, et), minlength=len(ukey)).astype(np.float32)
        tev = ukey // self.n_towers
        counts = np.bincount(tev, minlength=b.n_events)
        mc = self.cfg.muon
        mu = (apid == 13) & (np.abs(eta) < mc.eta_max) & (pt * np.cosh(eta) >= mc.reach_p_min_gev)
        return SparseEvents(
            n_events=b.n_events,
            tower_offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            tower_index=(ukey % self.n_towers).astype(np.int32),
            tower_em=tem,
            tower_had=thad,
            muons=Candidates.from_flat(b.n_events, ev[mu], pt[mu], eta[mu], phi[mu]),
            pthat=np.asarray(b.pthat, np.float32) if len(b.pthat) == b.n_events
            else np.zeros(b.n_events, np.float32),
        )

    # ------------------------------------------------------------------------------------ step 2
    def _tower_parts(self, src: SparseEvents) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(iphi, tower, mirrored tower) of every deposit of ``src`` (tower = ieta * n_phi + iphi; mirrored: the
        eta row reflected), as intp, cached on it."""
        cached = getattr(src, "_l1emu_towers", None)
        if cached is None:
            t = src.tower_index.astype(np.intp)
            ieta, iphi = t // self.n_phi, t % self.n_phi
            cached = (iphi, t, (self.n_eta - 1 - ieta) * self.n_phi + iphi)
            src._l1emu_towers = cached  # type: ignore[attr-defined]
        return cached

    def _prepare(self, pieces: Sequence[Piece]) -> list[tuple[Any, ...]]:
        """Per non-empty piece: its source, and its interactions sorted by crossing (stable: within a tower the
        deposits are added in the order of the pieces and of the interactions in each piece) - crossing, source
        event, phi shift, flip - plus the source's cached tower parts."""
        prepared = []
        for p in pieces:
            if len(p.index) == 0:
                continue
            order = np.argsort(p.crossing, kind="stable")
            k = len(p.index)
            shift = (p.phi_shift if p.phi_shift is not None else np.zeros(k, np.intp))[order].astype(np.intp)
            flip = (p.flip if p.flip is not None else np.zeros(k, bool))[order]
            prepared.append((p.source, p.crossing[order].astype(np.intp), p.index[order].astype(np.intp), shift, flip,
                             self._tower_parts(p.source)))
        return prepared

    def _buffers(self) -> dict[str, np.ndarray]:
        """Work arrays of one block, kept between blocks and calls: freshly allocated multi-MB arrays cost a page
        fault per 4 kB touched, which on a busy machine took as much time as the computation."""
        if self._buf is None:
            size = self.BLOCK * self.n_towers
            self._buf = {"dep": np.zeros((2, self.SUM_BLOCK * self.n_towers)), "em": np.empty(size, np.float32),
                         "had": np.empty(size, np.float32), "grid": np.empty(size, np.float32)}
        return self._buf

    def _measure_block(self, prepared: list[tuple[Any, ...]], lo: int, hi: int, state: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The measured (crossing - lo, eta, phi) EM, hadronic and total E_T grids of crossings ``lo .. hi - 1``
        (views of the work arrays): the true deposits summed per tower ``SUM_BLOCK`` crossings at a time (so that
        the dense sums stay in the CPU cache), then every tower hit measured (:func:`kernels.measure_dense`, random
        numbers from the xoshiro256** ``state``)."""
        nt = self.n_towers
        buf = self._buffers()
        dep = buf["dep"]
        frac = self.cfg.calorimetry.hadron_em_fraction
        lsb = np.float32(self.cfg.towers.et_lsb_gev)
        em, had, grid = (buf[k][: (hi - lo) * nt] for k in ("em", "had", "grid"))
        for sub in range(lo, hi, self.SUM_BLOCK):
            sub_hi = min(hi, sub + self.SUM_BLOCK)
            for src, cs, idx, shift, flip, (iphi, t0, t1) in prepared:
                a, b = np.searchsorted(cs, (sub, sub_hi))
                kernels.add_deposits(src.tower_offsets, t0, t1, iphi, src.tower_em, src.tower_had, idx[a:b],
                                     cs[a:b] - sub, shift[a:b], flip[a:b], self.n_phi, nt, dep)
            kernels.measure_dense(dep, (sub_hi - sub) * nt, (sub - lo) * nt, nt, self._inv_cosh, self._res_em_t,
                                  self._res_had_t, np.float32(frac.mean), np.float32(frac.sd), lsb,
                                  not self._had_quiet, state, em, had, grid)
        shape = (hi - lo, self.n_eta, self.n_phi)
        return em.reshape(shape), had.reshape(shape), grid.reshape(shape)

    def _muon_parts(self, pieces: Sequence[Piece]) -> list[tuple[np.ndarray, ...]]:
        """(crossing, pT, eta, phi) of the true muons of every piece, rotated / mirrored with their interaction."""
        mu: list[tuple[np.ndarray, ...]] = []
        for p in pieces:
            c = p.source.muons
            if len(p.index) == 0 or c.offsets[-1] == 0:
                continue
            cpos, cown = gather_ranges(c.offsets, p.index)
            if len(cpos):
                shift = p.phi_shift if p.phi_shift is not None else np.zeros(len(p.index), np.int32)
                flip = p.flip if p.flip is not None else np.zeros(len(p.index), bool)
                ceta = np.where(flip[cown], -c.eta[cpos], c.eta[cpos])
                cphi = _wrap(c.phi[cpos] + shift[cown] * self.dphi)
                mu.append((p.crossing[cown], c.pt[cpos], ceta, cphi))
        return mu

    def assemble(self, pieces: Sequence[Piece], n_crossings: int, rng: np.random.Generator) -> Crossings:
        """The L1 events of ``n_crossings`` crossings built from ``pieces`` (each measured afresh).

        ``BLOCK`` crossings at a time: their deposits are summed per tower, every tower hit is measured, and the
        objects are found on the block's dense (crossing, eta, phi) grids; the muons of all crossings last. ``rng``
        gives one 64-bit seed per block (drawn first, all blocks at once) for the compiled generator of the tower
        measurement, then the muons' numbers, so a result depends on the seed, the pieces and ``BLOCK`` (a
        constant), not on anything else. One emulator serves one thread (it keeps its work arrays)."""
        n = n_crossings
        prepared = self._prepare(pieces)
        events = np.zeros((n, N_OBJECTS, 4), dtype=np.float32)
        iso = np.zeros((n, group_slice(ObjectClass.EGAMMA).stop - group_slice(ObjectClass.EGAMMA).start), np.uint8)
        jets: list[tuple[np.ndarray, ...]] = []
        egs: list[tuple[np.ndarray, ...]] = []
        flags: list[np.ndarray] = []
        seeds = rng.integers(0, 2**64, size=(n + self.BLOCK - 1) // self.BLOCK, dtype=np.uint64)
        for lo in range(0, n, self.BLOCK):
            m = min(self.BLOCK, n - lo)
            em, had, grid = self._measure_block(prepared, lo, lo + m, kernels.rng_state(int(seeds[lo // self.BLOCK])))
            self._met(grid, events[lo : lo + m])
            j, rho_of = self._jets(grid)
            jets.append((j[0] + lo, *j[1:]))
            eg, fl = self._egamma(em, had, grid, rho_of)
            egs.append((eg[0] + lo, *eg[1:]))
            flags.append(fl)
        if jets:
            self._pack(events, ObjectClass.JET, [tuple(np.concatenate([j[i] for j in jets]) for i in range(4))])
            self._pack(events, ObjectClass.EGAMMA, [tuple(np.concatenate([e[i] for e in egs]) for i in range(4))],
                       flags=np.concatenate(flags), flag_out=iso)
        self._pack(events, ObjectClass.MUON, self._measure_muons(self._muon_parts(pieces), rng))
        return Crossings(events, iso)

    # ------------------------------------------------------------------------------------ objects
    def _met_layout(self) -> tuple[Any, ...]:
        """The ETMHF summation plan: per-row thresholds of the single towers (inf for rows not summed, the HF
        included), the HF block rows (first row of each, its threshold) and the directions of towers and blocks."""
        mc = self.cfg.met
        hf_rows = np.abs(self.eta_c) >= self.cfg.towers.hf_eta_min
        thr_row = np.where(hf_rows, np.inf, self._met_thr)
        be, bp = mc.hf_tower_block
        npf = (self.n_phi // bp) * bp
        row0, thr = [], []
        for rows in (np.flatnonzero(hf_rows & (self.eta_c < 0)), np.flatnonzero(hf_rows & (self.eta_c > 0))):
            ne = (len(rows) // be) * be
            if ne == 0:
                continue
            r = rows[:ne] if self.eta_c[rows[0]] > 0 else rows[len(rows) - ne:]
            row0 += list(r[::be])
            thr += list(self._met_thr[r].reshape(ne // be, be).min(axis=1))
        phi_b = self.phi_c[:npf].reshape(npf // bp, bp).mean(axis=1)
        return (thr_row, np.cos(self.phi_c), np.sin(self.phi_c), np.asarray(row0, np.int64),
                np.asarray(thr, np.float64), be, bp, np.cos(phi_b), np.sin(phi_b))

    def _met(self, grid: np.ndarray, events: np.ndarray) -> None:
        """Missing E_T: towers above their |eta| band's threshold (inf outside met.eta_max) summed as vectors; in
        the HF (|eta| >= hf_eta_min) blocks of ``hf_tower_block`` trigger towers form one tower first, as the
        HF's towers are larger than the 0.087 grid (a forward jet would else split into sub-threshold towers)."""
        if self._met_plan is None:
            self._met_plan = self._met_layout()
        mex, mey = kernels.met_sums(grid, *self._met_plan)
        met = np.hypot(mex, mey)
        events[:, 0, 0] = met
        events[:, 0, 2] = np.where(met > 0, np.arctan2(mey, mex), 0.0)
        events[:, 0, 3] = np.where(met > 0, int(ObjectClass.MET), 0)

    def _rho_bands(self, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per crossing and |eta| band: median E_T density (GeV per unit eta-phi area) of square tower patches;
        returns (band upper edges, rho (n, n_bands)). Bands separate barrel/endcap/HF, whose pileup differs."""
        jc = self.cfg.jets
        k = jc.rho_patch_towers
        npf = (self.n_phi // k) * k
        area = k * self.cfg.towers.deta * k * self.dphi
        edges = np.asarray(jc.rho_eta_bands, np.float64)
        if self._rho_plan is None:
            half = self.n_eta // 2
            row0 = np.zeros((len(edges), 2), np.int64)
            n_rows = np.zeros((len(edges), 2), np.int64)
            lo_edge = 0.0
            for b, hi_edge in enumerate(edges):
                rows = np.flatnonzero((np.abs(self.eta_c) >= lo_edge) & (np.abs(self.eta_c) < hi_edge))
                for side, r in enumerate((rows[rows < half], rows[rows >= half])):
                    if len(r):
                        row0[b, side], n_rows[b, side] = r[0], (len(r) // k) * k
                lo_edge = hi_edge
            self._rho_plan = (row0, n_rows)
        return edges, kernels.patch_medians(grid, *self._rho_plan, k, npf) / area

    def _disc(self) -> tuple[np.ndarray, np.ndarray]:
        """Tower offsets (d_ieta, d_iphi) within Delta R < R of a tower centre (computed once)."""
        if self._disc_offsets is None:
            self._disc_offsets = self._disc_layout()
        return self._disc_offsets

    def _disc_layout(self) -> tuple[np.ndarray, np.ndarray]:
        r = self.cfg.jets.radius
        ne = int(np.ceil(r / self.cfg.towers.deta))
        npf = int(np.ceil(r / self.dphi))
        de, dp = np.meshgrid(np.arange(-ne, ne + 1), np.arange(-npf, npf + 1), indexing="ij")
        inside = (de * self.cfg.towers.deta) ** 2 + (dp * self.dphi) ** 2 < r**2
        return de[inside], dp[inside]

    def _window_sum(self, grid: np.ndarray, ev: np.ndarray, ie: np.ndarray, ip: np.ndarray, size: tuple[int, int]
                    ) -> tuple[np.ndarray, np.ndarray]:
        """Sum of ``grid`` over a (d_eta x d_phi) window centred on each (ev, ie, ip); also the towers inside."""
        return kernels.window_sums(grid, ev, ie, ip, size[0] // 2, size[1] // 2)

    def _jets(self, grid: np.ndarray) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, np.ndarray]]:
        """Anti-kT on towers above ``tower_threshold_gev`` gives the jet axes (:func:`kernels.anti_kt`: FastJet's
        ``antikt_algorithm`` and N2Tiled strategy, the same jets); the jet ET is the sum of all towers within
        Delta R < R of the axis (like the CMS L1 tower sum around a seed) minus rho * area. Also returns the
        per-crossing rho bands (reused by the e/gamma isolation)."""
        jc = self.cfg.jets
        edges, rho = self._rho_bands(grid)
        towers = kernels.towers_above(grid, np.abs(self.eta_c) < jc.eta_max, jc.tower_threshold_gev,
                                      *self._tower_directions)
        jev, px, py, pz = kernels.anti_kt(*towers, jc.radius, jc.tower_threshold_gev)
        jpt_axis = np.hypot(px, py)
        jeta = np.arcsinh(pz / np.maximum(jpt_axis, 1e-9))
        jphi = np.arctan2(py, px)
        # disc sum of the (LSB-quantised) towers within R of the axis; a tower belongs to one jet only: jets are
        # served in order of their anti-kT E_T (to 0.1 MeV; equal E_T, frequent for single-tower jets on the 0.5 GeV
        # grid: lower eta, then lower phi first, whatever order the clustering found them in) and skip towers an
        # earlier jet of the crossing took (two anti-kT jets can be as close as R, and their discs would count the
        # shared core twice); returned in that order, which also decides between jets of equal final E_T
        de, dp = self._disc()
        je = np.clip(((jeta + self.eta_edge) / self.cfg.towers.deta).astype(np.int64), 0, self.n_eta - 1)
        jp = ((jphi + np.pi) / self.dphi).astype(np.int64) % self.n_phi
        order = kernels.serving_order(jev, -np.round(jpt_axis, 4), jeta, jphi)  # = np.lexsort((jphi, jeta, -pt, jev))
        jpt, n_towers = kernels.disc_sums(grid, jev, je, jp, order, de, dp)
        if jc.pileup_subtraction:
            area = n_towers * self.cfg.towers.deta * self.dphi
            jpt = jpt - self._rho_at(edges, rho, jeta, jev) * area
        jpt = jpt * jc.calibration
        ok = order[(jpt[order] >= jc.pt_min_gev) & (np.abs(jeta[order]) < jc.eta_max)]  # in serving order
        return (jev[ok], jpt[ok], jeta[ok], jphi[ok]), (edges, rho)

    @staticmethod
    def _rho_at(edges: np.ndarray, rho: np.ndarray, eta: np.ndarray, event: np.ndarray) -> np.ndarray:
        band = np.minimum(np.searchsorted(edges, np.abs(eta), side="right"), len(edges) - 1)
        return rho[event, band]

    def _egamma(self, em: np.ndarray, had: np.ndarray, grid: np.ndarray, rho: tuple[np.ndarray, np.ndarray]
                ) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
        """EM clusters around local maxima of EM E_T: cluster E_T (the window's EM E_T), H/E veto (the window's
        hadronic over EM E_T), isolation flags."""
        c = self.cfg.egamma
        rows = np.flatnonzero(np.abs(self.eta_c) < c.eta_max)  # contiguous: eta_c ascends
        ev, ie, ip = kernels.local_maxima(em, max(c.seed_et_gev, 1e-9), int(rows[0]), int(rows[-1]) + 1)
        cl_em, _ = self._window_sum(em, ev, ie, ip, c.cluster_towers)
        cl_had, _ = self._window_sum(had, ev, ie, ip, c.cluster_towers)
        et = cl_em
        ok = (et >= c.pt_min_gev) & ((cl_had <= c.h_over_e_max * cl_em) | (et >= c.h_over_e_max_et_gev))
        ev, ie, ip, cl_em, et = ev[ok], ie[ok], ip[ok], cl_em[ok], et[ok]
        keep = self._not_overlapping(ev, ie, ip, et, c.cluster_towers)
        ev, ie, ip, cl_em, et = ev[keep], ie[keep], ip[keep], cl_em[keep], et[keep]
        win, n_win = self._window_sum(grid, ev, ie, ip, c.iso_towers)
        _, n_cl = self._window_sum(grid, ev, ie, ip, c.cluster_towers)
        eta_w = self.eta_c[ie]
        area = (n_win - n_cl) * self.cfg.towers.deta * self.dphi
        iso_et = win - et - self._rho_at(*rho, eta_w, ev) * area
        flags = np.where(iso_et < np.maximum(c.loose.abs_gev, c.loose.rel * et), ISO_LOOSE, 0)
        flags |= np.where(iso_et < np.maximum(c.tight.abs_gev, c.tight.rel * et), ISO_TIGHT, 0)
        # position: EM-energy-weighted over the cluster's eta rows and phi columns
        eta = eta_w + self._offset(em, ev, ie, ip, c.cluster_towers, axis=0) * self.cfg.towers.deta
        phi = _wrap(self.phi_c[ip] + self._offset(em, ev, ie, ip, c.cluster_towers, axis=1) * self.dphi)
        inside = np.abs(eta) < c.eta_max  # the weighted position may leave the acceptance of its seed row
        return (ev[inside], et[inside], eta[inside], phi[inside]), flags[inside].astype(np.uint8)

    def _not_overlapping(self, ev: np.ndarray, ie: np.ndarray, ip: np.ndarray, et: np.ndarray, size: tuple[int, int]
                         ) -> np.ndarray:
        """Keep a cluster unless a higher-E_T cluster of the same crossing overlaps its window (each tower
        belongs to one e/gamma cluster, as the Stage-2 clustering assigns towers once)."""
        keep = np.ones(len(ev), dtype=bool)
        if len(ev) < 2:
            return keep
        order = np.lexsort((-et, ev))
        ev_s = ev[order]
        starts = np.searchsorted(ev_s, ev_s, side="left")
        # every pair (i, j) of clusters of one crossing with j ranked higher (earlier) than i
        n_higher = np.arange(len(ev_s)) - starts
        i = np.repeat(np.arange(len(ev_s)), n_higher)
        first = np.cumsum(n_higher) - n_higher
        j = starts[i] + (np.arange(len(i)) - first[i])
        ie_s, ip_s = ie[order], ip[order]
        dphi = np.abs(ip_s[i] - ip_s[j])
        dphi = np.minimum(dphi, self.n_phi - dphi)
        hit = (np.abs(ie_s[i] - ie_s[j]) < size[0]) & (dphi < size[1])
        drop = np.zeros(len(ev_s), dtype=bool)
        drop[np.unique(i[hit])] = True
        keep[order] = ~drop
        return keep

    def _offset(self, em: np.ndarray, ev: np.ndarray, ie: np.ndarray, ip: np.ndarray, size: tuple[int, int],
                axis: int) -> np.ndarray:
        """EM-weighted mean offset (in towers) of the cluster along eta (axis 0) or phi (axis 1)."""
        he, hp = size[0] // 2, size[1] // 2
        de, dp = np.meshgrid(np.arange(-he, he + 1), np.arange(-hp, hp + 1), indexing="ij")
        de, dp = de.ravel(), dp.ravel()
        te = ie[:, None] + de[None, :]
        valid = (te >= 0) & (te < self.n_eta)
        vals = np.multiply(em[ev[:, None], np.clip(te, 0, self.n_eta - 1), (ip[:, None] + dp[None, :]) % self.n_phi],
                           valid, dtype=np.float64)
        d = (de if axis == 0 else dp)[None, :]
        tot = vals.sum(axis=1)
        return np.divide((vals * d).sum(axis=1), tot, out=np.zeros_like(tot), where=tot > 0)

    def _measure_muons(self, parts: list[tuple[np.ndarray, ...]], rng: np.random.Generator
                       ) -> list[tuple[np.ndarray, ...]]:
        """Per crossing: duplicates where two track finders overlap, efficiency, q/pT smeared with a Gaussian core
        or (with ``tail_fraction``) a wider tail, then the candidate threshold. Smearing q/pT, not pT, is what
        makes a soft muon look hard."""
        if not parts:
            return []
        mc = self.cfg.muon
        ev, pt, eta, phi = (np.concatenate([p[i] for p in parts]) for i in range(4))
        lo, hi = mc.duplicate_eta
        aeta = np.abs(eta)
        dup = np.flatnonzero((aeta >= lo) & (aeta < hi) & (rng.random(len(pt)) < mc.duplicate_fraction))
        if len(dup):
            ev, pt, eta, phi = (np.concatenate([a, a[dup]]) for a in (ev, pt, eta, phi))
        r = mc.resolution
        sigma = np.where(rng.random(len(pt)) < r.tail_fraction, r.tail, r.core)
        inv = (1.0 + sigma * rng.standard_normal(len(pt))) / pt
        meas = np.divide(1.0, np.abs(inv), out=np.full(len(pt), np.inf), where=inv != 0)
        meas = np.minimum(meas, 1e4)
        ok = (rng.random(len(pt)) < mc.efficiency) & (meas >= mc.pt_min_gev)
        return [(ev[ok], meas[ok], eta[ok], phi[ok])]

    @staticmethod
    def _pack(events: np.ndarray, cls: ObjectClass, parts: list[tuple[np.ndarray, ...]],
              flags: np.ndarray | None = None, flag_out: np.ndarray | None = None) -> None:
        """Write the pT-leading objects of each crossing into the rows of ``cls`` (zero padding stays); per-object
        ``flags`` (aligned with the single part) go to ``flag_out`` (n, rows)."""
        if not parts:
            return
        ev, pt, eta, phi = (np.concatenate([p[i] for p in parts]) for i in range(4))
        if len(ev) == 0:
            return
        order = np.lexsort((-pt, ev))
        ev, pt, eta, phi = ev[order], pt[order], eta[order], phi[order]
        rank = np.arange(len(ev)) - np.searchsorted(ev, ev, side="left")
        rows = group_slice(cls)
        keep = rank < (rows.stop - rows.start)
        r = rows.start + rank[keep]
        e = ev[keep]
        events[e, r, 0] = pt[keep]
        events[e, r, 1] = eta[keep]
        events[e, r, 2] = phi[keep]
        events[e, r, 3] = int(cls)
        if flags is not None and flag_out is not None:
            flag_out[e, rank[keep]] = flags[order][keep]
