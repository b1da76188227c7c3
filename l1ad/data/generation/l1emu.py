"""Parametrised Level-1 emulation: particles -> towers and candidates -> the 19-object L1 event.

Two steps so that pileup can be overlaid without re-running Pythia:

1. :meth:`L1Emulator.detector_response` turns each generated event into a :class:`SparseEvents` entry:
   calorimeter-tower ET deposits (per-particle energy smearing with the ECAL/HCAL/HF resolutions, looping
   soft charged particles removed, muons and neutrinos leave nothing) plus isolated e/gamma and muon
   candidates (acceptance, efficiency, pT smearing).
2. :meth:`L1Emulator.assemble` sums the deposits of all interactions of a bunch crossing (hard event plus
   pileup, each optionally rotated in phi / flipped in eta), quantises towers to the L1 LSB, computes MET
   from towers, clusters anti-kT jets on towers (fastjet) with rho*area pileup subtraction, and packs MET,
   4 e/gamma, 4 muons and 10 jets, pT-ordered and zero-padded (layout of :mod:`l1ad.data.layout`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from l1ad.data.generation.config import L1EmulationConfig, Lepton, Resolution
from l1ad.data.generation.pythia import ParticleBatch
from l1ad.data.generation.sparse import Candidates, SparseEvents, gather_ranges
from l1ad.data.layout import N_OBJECTS, ObjectClass, group_slice

__all__ = ["L1Emulator", "Piece"]


@dataclass(frozen=True)
class Piece:
    """Interactions taken from ``source`` for a set of crossings: ``source[index[k]]`` goes to ``crossing[k]``,
    rotated by ``phi_shift[k]`` tower bins and mirrored in eta where ``flip[k]``."""

    source: SparseEvents
    index: np.ndarray
    crossing: np.ndarray
    phi_shift: np.ndarray | None = None
    flip: np.ndarray | None = None


def _sigma(res: Resolution, e: np.ndarray) -> np.ndarray:
    e = np.maximum(e, 1e-3)
    return np.sqrt(res.stochastic**2 / e + (res.noise_gev / e) ** 2 + res.constant**2)


def _wrap(phi: np.ndarray) -> np.ndarray:
    return (phi + np.pi) % (2 * np.pi) - np.pi


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Silence C-level stdout (fastjet prints a banner on first use)."""
    fd = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        os.dup2(fd, 1)
        os.close(fd)


class L1Emulator:
    def __init__(self, cfg: L1EmulationConfig):
        self.cfg = cfg
        t = cfg.towers
        self.n_eta, self.n_phi = t.n_eta, t.n_phi
        self.n_towers = self.n_eta * self.n_phi
        self.eta_edge = self.n_eta * t.deta / 2
        self.dphi = 2 * np.pi / self.n_phi
        self.eta_c = (np.arange(self.n_eta) + 0.5) * t.deta - self.eta_edge
        self.phi_c = (np.arange(self.n_phi) + 0.5) * self.dphi - np.pi
        self._jetdef = None

    # ------------------------------------------------------------------------------------ step 1
    def detector_response(self, b: ParticleBatch, rng: np.random.Generator) -> SparseEvents:
        """Tower deposits (calorimeter energy smeared here) and truth-level isolated lepton candidates."""
        t, cal = self.cfg.towers, self.cfg.calorimetry
        pt, eta, phi = b.pt, b.eta, b.phi
        ev = b.event
        apid = np.abs(b.pid)
        charged = b.charge != 0
        looping = charged & (pt < t.curl_pt_gev) & (np.abs(eta) < t.curl_eta_max)
        calo = b.visible & (apid != 13) & ~looping & (np.abs(eta) < self.eta_edge) & (pt > 0)
        e = b.e[calo]
        aeta = np.abs(eta[calo])
        em = np.isin(apid[calo], (11, 22))
        sig = np.where(aeta >= t.hf_eta_min, _sigma(cal.hf, e), np.where(em, _sigma(cal.ecal, e), _sigma(cal.hcal, e)))
        e_meas = np.clip(e * (1.0 + sig * rng.standard_normal(len(e))), 0.0, None)
        et = e_meas / np.cosh(eta[calo])
        ieta = np.clip(((eta[calo] + self.eta_edge) / t.deta).astype(np.int64), 0, self.n_eta - 1)
        iphi = ((phi[calo] + np.pi) / self.dphi).astype(np.int64) % self.n_phi
        key = ev[calo].astype(np.int64) * self.n_towers + ieta * self.n_phi + iphi
        ukey, inv = np.unique(key, return_inverse=True)
        tet = np.bincount(inv, weights=et).astype(np.float32)
        tev = ukey // self.n_towers
        counts = np.bincount(tev, minlength=b.n_events)
        return SparseEvents(
            n_events=b.n_events,
            tower_offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            tower_index=(ukey % self.n_towers).astype(np.int32),
            tower_et=tet,
            egamma=self._candidates(b, (apid == 11) | (apid == 22), self.cfg.egamma),
            muons=self._candidates(b, apid == 13, self.cfg.muon),
        )

    def _candidates(self, b: ParticleBatch, sel: np.ndarray, cfg: Lepton) -> Candidates:
        """Truth leptons/photons in acceptance (pT > half the L1 threshold) passing generator-level isolation."""
        pt, eta, phi = b.pt, b.eta, b.phi
        sel = sel & (np.abs(eta) < cfg.eta_max) & (pt > 0.5 * cfg.pt_min_gev)
        idx = np.flatnonzero(sel)
        if cfg.iso_max < 1e5 and len(idx):
            vis = b.visible
            ev = b.event
            keep = np.ones(len(idx), dtype=bool)
            for k, i in enumerate(idx):
                lo, hi = b.offsets[ev[i]], b.offsets[ev[i] + 1]
                deta = eta[lo:hi] - eta[i]
                dphi = _wrap(phi[lo:hi] - phi[i])
                near = (deta**2 + dphi**2 < cfg.iso_cone**2) & vis[lo:hi]
                near[i - lo] = False
                keep[k] = pt[lo:hi][near].sum() < cfg.iso_max * pt[i]
            idx = idx[keep]
        return Candidates.from_flat(b.n_events, b.event[idx], pt[idx], eta[idx], phi[idx])

    @staticmethod
    def _measure(cfg: Lepton, parts: list[tuple[np.ndarray, ...]], rng: np.random.Generator
                 ) -> list[tuple[np.ndarray, ...]]:
        """Efficiency, pT smearing and threshold, drawn per crossing (so reused pool events vary)."""
        if not parts:
            return []
        ev, pt, eta, phi = (np.concatenate([p[i] for p in parts]) for i in range(4))
        pt = pt * np.clip(1.0 + cfg.resolution * rng.standard_normal(len(pt)), 0.0, None)
        ok = (rng.random(len(pt)) < cfg.efficiency) & (pt >= cfg.pt_min_gev)
        return [(ev[ok], pt[ok], eta[ok], phi[ok])]

    # ------------------------------------------------------------------------------------ step 2
    def _tower_parts(self, src: SparseEvents) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(iphi, ieta * n_phi, mirrored ieta * n_phi) of every deposit of ``src`` as int32, cached on it."""
        cached = getattr(src, "_l1emu_parts", None)
        if cached is None:
            t = src.tower_index.astype(np.int32)
            ieta = t // self.n_phi
            cached = (t % self.n_phi, ieta * self.n_phi, (self.n_eta - 1 - ieta) * self.n_phi)
            src._l1emu_parts = cached  # type: ignore[attr-defined]
        return cached

    def assemble(self, pieces: Sequence[Piece], n_crossings: int, rng: np.random.Generator) -> np.ndarray:
        """The (n_crossings, 19, 4) float32 L1 events of crossings built from ``pieces``."""
        n = n_crossings
        dense: np.ndarray | None = None
        eg: list[tuple[np.ndarray, ...]] = []
        mu: list[tuple[np.ndarray, ...]] = []
        for p in pieces:
            pos, owner = gather_ranges(p.source.tower_offsets, p.index)
            iphi, base, base_flip = self._tower_parts(p.source)
            phi_i = iphi.take(pos)
            if p.phi_shift is not None:
                phi_i += p.phi_shift.astype(np.int32).take(owner)
                phi_i -= self.n_phi * (phi_i >= self.n_phi)
            if p.flip is not None:
                key = np.where(p.flip.take(owner), base_flip.take(pos), base.take(pos))
            else:
                key = base.take(pos)
            key += phi_i
            key += p.crossing.astype(np.int32).take(owner) * np.int32(self.n_towers)
            add = np.bincount(key, weights=p.source.tower_et.take(pos), minlength=n * self.n_towers)
            if dense is None:
                dense = add
            else:
                dense += add
            shift = p.phi_shift if p.phi_shift is not None else np.zeros(len(p.index), np.int32)
            flip = p.flip if p.flip is not None else np.zeros(len(p.index), bool)
            for cands, out in ((p.source.egamma, eg), (p.source.muons, mu)):
                cpos, cown = gather_ranges(cands.offsets, p.index)
                if len(cpos):
                    ceta = np.where(flip[cown], -cands.eta[cpos], cands.eta[cpos])
                    cphi = _wrap(cands.phi[cpos] + shift[cown] * self.dphi)
                    out.append((p.crossing[cown], cands.pt[cpos], ceta, cphi))
        if dense is None:
            dense = np.zeros(n * self.n_towers)
        lsb = self.cfg.towers.et_lsb_gev
        dense *= 1.0 / lsb
        np.floor(dense, out=dense)
        dense *= lsb
        grid = dense.reshape(n, self.n_eta, self.n_phi)

        events = np.zeros((n, N_OBJECTS, 4), dtype=np.float32)
        self._met(grid, events)
        self._pack(events, ObjectClass.EGAMMA, self._measure(self.cfg.egamma, eg, rng))
        self._pack(events, ObjectClass.MUON, self._measure(self.cfg.muon, mu, rng))
        self._pack(events, ObjectClass.JET, [self._jets(grid)])
        return events

    def _met(self, grid: np.ndarray, events: np.ndarray) -> None:
        m = np.abs(self.eta_c) < self.cfg.met.eta_max
        g = grid[:, m, :]
        if self.cfg.met.tower_threshold_gev > 0:
            g = np.where(g >= self.cfg.met.tower_threshold_gev, g, 0.0)
        mex = -np.einsum("nep,p->n", g, np.cos(self.phi_c))
        mey = -np.einsum("nep,p->n", g, np.sin(self.phi_c))
        met = np.hypot(mex, mey)
        events[:, 0, 0] = met
        events[:, 0, 2] = np.where(met > 0, np.arctan2(mey, mex), 0.0)
        events[:, 0, 3] = np.where(met > 0, int(ObjectClass.MET), 0)

    def _rho(self, grid: np.ndarray, jet_eta: np.ndarray, jet_event: np.ndarray) -> np.ndarray:
        """Median ET density (GeV per unit eta-phi area) of square tower patches in the |eta| band of each jet.

        Bands (``rho_eta_bands``, upper |eta| edges) separate barrel/endcap/HF, whose pileup densities differ.
        """
        jc = self.cfg.jets
        k = jc.rho_patch_towers
        npf = (self.n_phi // k) * k
        area = k * self.cfg.towers.deta * k * self.dphi
        n = len(grid)
        half = self.n_eta // 2
        lo_edge = 0.0
        rho = np.zeros(len(jet_eta))
        for hi_edge in jc.rho_eta_bands:
            rows = np.flatnonzero((np.abs(self.eta_c) >= lo_edge) & (np.abs(self.eta_c) < hi_edge))
            pos, neg = rows[rows >= half], rows[rows < half]
            blocks = []
            for r in (neg, pos):
                ne = (len(r) // k) * k
                if ne == 0:
                    continue
                g = grid[:, r[0] : r[0] + ne, :npf]
                blocks.append(g.reshape(n, ne // k, k, npf // k, k).sum(axis=(2, 4)).reshape(n, -1))
            in_band = (np.abs(jet_eta) >= lo_edge) & (np.abs(jet_eta) < hi_edge)
            if blocks and in_band.any():
                med = np.median(np.concatenate(blocks, axis=1), axis=1) / area
                rho[in_band] = med[jet_event[in_band]]
            lo_edge = hi_edge
        return rho

    def _disc(self) -> tuple[np.ndarray, np.ndarray]:
        """Tower offsets (d_ieta, d_iphi) within Delta R < R of a tower centre."""
        r = self.cfg.jets.radius
        ne = int(np.ceil(r / self.cfg.towers.deta))
        npf = int(np.ceil(r / self.dphi))
        de, dp = np.meshgrid(np.arange(-ne, ne + 1), np.arange(-npf, npf + 1), indexing="ij")
        inside = (de * self.cfg.towers.deta) ** 2 + (dp * self.dphi) ** 2 < r**2
        return de[inside], dp[inside]

    def _jets(self, grid: np.ndarray) -> tuple[np.ndarray, ...]:
        """Anti-kT (fastjet) on towers above ``tower_threshold_gev`` gives the jet axes; the jet ET is the sum of
        all towers within Delta R < R of the axis (like the CMS L1 tower sum around a seed) minus rho * area."""
        import awkward as ak
        import fastjet

        jc = self.cfg.jets
        n = len(grid)
        in_eta = np.abs(self.eta_c) < jc.eta_max
        ev, ie, ip = np.nonzero((grid >= jc.tower_threshold_gev) & in_eta[None, :, None])
        et = grid[ev, ie, ip]
        eta, phi = self.eta_c[ie], self.phi_c[ip]
        counts = np.bincount(ev, minlength=n)
        rec = ak.zip({"px": et * np.cos(phi), "py": et * np.sin(phi), "pz": et * np.sinh(eta),
                      "E": et * np.cosh(eta)})
        if self._jetdef is None:
            self._jetdef = fastjet.JetDefinition(fastjet.antikt_algorithm, jc.radius)
        with _quiet_stdout():
            cs = fastjet.ClusterSequence(ak.unflatten(rec, counts), self._jetdef)
            jets = cs.inclusive_jets(jc.tower_threshold_gev)
        njet = ak.to_numpy(ak.num(jets))
        jev = np.repeat(np.arange(n), njet)
        px, py, pz = (ak.to_numpy(ak.flatten(jets[f])) for f in ("px", "py", "pz"))
        jpt_axis = np.hypot(px, py)
        jeta = np.arcsinh(pz / np.maximum(jpt_axis, 1e-9))
        jphi = np.arctan2(py, px)
        # disc sum of all (LSB-quantised) towers around the axis tower
        de, dp = self._disc()
        je = np.clip(((jeta + self.eta_edge) / self.cfg.towers.deta).astype(np.int64), 0, self.n_eta - 1)
        jp = ((jphi + np.pi) / self.dphi).astype(np.int64) % self.n_phi
        te = je[:, None] + de[None, :]
        tp = (jp[:, None] + dp[None, :]) % self.n_phi
        valid = (te >= 0) & (te < self.n_eta)
        vals = grid[jev[:, None], np.clip(te, 0, self.n_eta - 1), tp] * valid
        jpt = vals.sum(axis=1)
        if jc.pileup_subtraction:
            area = valid.sum(axis=1) * self.cfg.towers.deta * self.dphi
            jpt = jpt - self._rho(grid, jeta, jev) * area
        ok = (jpt >= jc.pt_min_gev) & (np.abs(jeta) < jc.eta_max)
        return jev[ok], jpt[ok], jeta[ok], jphi[ok]

    @staticmethod
    def _pack(events: np.ndarray, cls: ObjectClass, parts: list[tuple[np.ndarray, ...]]) -> None:
        """Write the pT-leading objects of each crossing into the rows of ``cls`` (zero padding stays)."""
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
