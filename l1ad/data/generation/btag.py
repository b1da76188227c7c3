"""Jet-level sample for b-tagging: truth anti-kT jets with up to 16 charged tracks and a b/light label.

Jets: anti-kT R=0.4 (fastjet) on visible final-state particles of bb-bar and light-flavour QCD events.
Label 1 (b) if a B hadron with pT > 5 GeV lies within Delta R < 0.4 of the jet axis, 0 (light) if no B and
no C hadron does; charm jets are dropped so the two classes are clean. Tracks: the jet's charged
constituents passing a parametrised tracker (pT, |eta|, efficiency, production radius) with impact
parameters computed from the Pythia production vertex (straight-line extrapolation in the transverse
plane, lifetime-signed with respect to the jet axis) and smeared with sigma = a (+) b / pT.

File: ``Tracks`` (N, max_tracks, F) float32, ``Label`` (N,) int8, ``Jets`` (N, 3) float32 (pT, eta, phi);
attribute ``Track_Features`` names the F features.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from l1ad.data.generation.config import BtagConfig
from l1ad.data.generation.pythia import ParticleBatch
from l1ad.errors import DataError
from l1ad.io import atomic_file

__all__ = ["TRACK_FEATURES", "JetSample", "read_btag", "select_jets", "write_btag"]

TRACK_FEATURES = ("pt", "deta", "dphi", "d0", "d0_sig", "z0", "z0_sig", "charge")


class JetSample:
    def __init__(self, tracks: np.ndarray, labels: np.ndarray, jets: np.ndarray):
        self.tracks, self.labels, self.jets = tracks, labels, jets

    def __len__(self) -> int:
        return len(self.labels)

    @staticmethod
    def concat(parts: list[JetSample]) -> JetSample:
        return JetSample(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("tracks", "labels", "jets")))


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

def _wrap(phi: np.ndarray) -> np.ndarray:
    return (phi + np.pi) % (2 * np.pi) - np.pi


def select_jets(b: ParticleBatch, cfg: BtagConfig, rng: np.random.Generator) -> JetSample:
    """Cluster jets in every event of ``b``, label them and build their track arrays."""
    import awkward as ak
    import fastjet

    vis = np.flatnonzero(b.visible)
    ev = b.event[vis]
    counts = np.bincount(ev, minlength=b.n_events)
    voff = np.concatenate([[0], np.cumsum(counts)])
    rec = ak.zip({"px": b.px[vis], "py": b.py[vis], "pz": b.pz[vis], "E": b.e[vis]})
    with _quiet_stdout():
        cs = fastjet.ClusterSequence(ak.unflatten(rec, counts),
                                     fastjet.JetDefinition(fastjet.antikt_algorithm, cfg.jet_radius))
        jets = cs.inclusive_jets(cfg.jet_pt_min_gev)
        const = cs.constituent_index(cfg.jet_pt_min_gev)
    njet = ak.to_numpy(ak.num(jets))
    jev = np.repeat(np.arange(b.n_events), njet)
    jpx, jpy, jpz = (ak.to_numpy(ak.flatten(jets[f])) for f in ("px", "py", "pz"))
    jpt = np.hypot(jpx, jpy)
    jeta = np.arcsinh(jpz / np.maximum(jpt, 1e-9))
    jphi = np.arctan2(jpy, jpx)
    # constituents -> global particle index; inclusive_jets and constituent_index share the jet order
    cflat = ak.flatten(const, axis=1)  # per jet: list of indices
    ncon = ak.to_numpy(ak.num(cflat))
    con_jet = np.repeat(np.arange(len(jpt)), ncon)
    con_idx = vis[voff[jev[con_jet]] + ak.to_numpy(ak.flatten(cflat))]

    label = _labels(b, cfg, jev, jeta, jphi)
    keep_jet = (np.abs(jeta) < cfg.jet_eta_max) & (label >= 0)

    tr = cfg.tracking
    pt, eta, phi = b.pt[con_idx], b.eta[con_idx], b.phi[con_idx]
    vx, vy, vz = b.vx[con_idx], b.vy[con_idx], b.vz[con_idx]
    ok = (
        (b.charge[con_idx] != 0) & (pt > tr.pt_min_gev) & (np.abs(eta) < tr.eta_max)
        & (np.hypot(vx, vy) < tr.max_production_radius_mm) & (rng.random(len(con_idx)) < tr.efficiency)
        & keep_jet[con_jet]
    )
    j = con_jet[ok]
    pt, eta, phi, vx, vy, vz = pt[ok], eta[ok], phi[ok], vx[ok], vy[ok], vz[ok]
    ux, uy = np.cos(phi), np.sin(phi)
    along = vx * ux + vy * uy  # transverse distance along the track to the point of closest approach
    pcax, pcay = vx - along * ux, vy - along * uy
    sign = np.where(pcax * np.cos(jphi[j]) + pcay * np.sin(jphi[j]) >= 0, 1.0, -1.0)
    d0 = sign * np.hypot(pcax, pcay)
    z0 = vz - along * np.sinh(eta)
    s_d0 = np.hypot(tr.d0_resolution_mm, tr.d0_resolution_ms_mm_gev / pt)
    s_z0 = np.hypot(tr.z0_resolution_mm, tr.z0_resolution_ms_mm_gev / pt)
    d0 = d0 + s_d0 * rng.standard_normal(len(d0))
    z0 = z0 + s_z0 * rng.standard_normal(len(z0))
    feats = np.stack([pt, eta - jeta[j], _wrap(phi - jphi[j]), d0, d0 / s_d0, z0, z0 / s_z0,
                      b.charge[con_idx][ok]], axis=1).astype(np.float32)

    # order tracks within each jet, keep the first max_tracks
    key = -np.abs(feats[:, 4]) if cfg.sort_by == "d0_significance" else -feats[:, 0]
    order = np.lexsort((key, j))
    j, feats = j[order], feats[order]
    rank = np.arange(len(j)) - np.searchsorted(j, j, side="left")
    sel_jets = np.flatnonzero(keep_jet)
    row = np.full(len(jpt), -1)
    row[sel_jets] = np.arange(len(sel_jets))
    tracks = np.zeros((len(sel_jets), cfg.max_tracks, len(TRACK_FEATURES)), dtype=np.float32)
    m = rank < cfg.max_tracks
    tracks[row[j[m]], rank[m]] = feats[m]
    jet_kin = np.stack([jpt, jeta, jphi], axis=1)[sel_jets].astype(np.float32)
    return JetSample(tracks, label[sel_jets].astype(np.int8), jet_kin)


def _labels(b: ParticleBatch, cfg: BtagConfig, jev: np.ndarray, jeta: np.ndarray, jphi: np.ndarray) -> np.ndarray:
    """1 = B hadron in cone, 0 = neither B nor C hadron in cone, -1 = charm only (dropped)."""
    has_b = np.zeros(len(jev), dtype=bool)
    has_c = np.zeros(len(jev), dtype=bool)
    hsel = b.hf_pt > cfg.hadron_pt_min_gev
    for flav, out in ((5, has_b), (4, has_c)):
        h = np.flatnonzero(hsel & (b.hf_flavour == flav))
        if len(h) == 0 or len(jev) == 0:
            continue
        # pairs (jet, hadron) in the same event
        same = jev[:, None] == b.hf_event[None, h]
        dr2 = (jeta[:, None] - b.hf_eta[None, h]) ** 2 + _wrap(jphi[:, None] - b.hf_phi[None, h]) ** 2
        out |= np.any(same & (dr2 < cfg.match_dr**2), axis=1)
    return np.where(has_b, 1, np.where(has_c, -1, 0))


def write_btag(path: str | os.PathLike[str], sample: JetSample, attrs: dict[str, Any]) -> Path:
    """Write the jet sample atomically (gzip-compressed, chunked)."""
    import h5py

    path = Path(path)
    with atomic_file(path, suffix=".h5") as tmp:
        with h5py.File(tmp, "w") as f:
            n = len(sample)
            chunk = max(1, min(n, 4096))
            f.create_dataset("Tracks", data=sample.tracks, chunks=(chunk, *sample.tracks.shape[1:]),
                             compression="gzip", shuffle=True)
            f.create_dataset("Label", data=sample.labels, chunks=(chunk,), compression="gzip")
            f.create_dataset("Jets", data=sample.jets, chunks=(chunk, 3), compression="gzip")
            f.attrs["Track_Features"] = list(TRACK_FEATURES)
            f.attrs["Jet_Features"] = ["pt", "eta", "phi"]
            for k, v in attrs.items():
                f.attrs[k] = v if isinstance(v, (str, int, float, np.integer, np.floating)) else json.dumps(v)
    return path


def read_btag(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(tracks (N, T, F) float32, labels (N,) int8, feature names) of a b-tagging file."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            tracks = f["Tracks"][...]
            labels = f["Label"][...]
            names = [str(x) for x in f.attrs["Track_Features"]]
    except (OSError, KeyError) as e:
        raise DataError(f"{path}: not a b-tagging file with datasets 'Tracks' and 'Label' ({e})") from None
    if tracks.ndim != 3 or tracks.shape[2] != len(names) or len(labels) != len(tracks):
        raise DataError(f"{path}: dataset 'Tracks': wrong shape {tracks.shape} for {len(labels)} labels")
    return tracks, labels, names
