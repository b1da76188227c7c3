"""Physics summary of an event file: counts, multiplicities, kinematic ranges and key distributions.

Computed in one streaming pass (fixed histogram binning, so any file size works), returned as a
JSON-ready dict and drawn as PNG with matplotlib + mplhep. Used by ``l1ad data inspect``.

Derived quantities:
* HT = scalar sum of jet ET with ET > 30 GeV and |eta| < 2.4 (the CMS L1 HT definition used in the Run-2/3
  menus, CMS-TRG-17-001, JINST 15 (2020) P10017 - verify; an approximation of the firmware eta range).
* MET = the MET row's ET; leading-object ET per group (histograms filled only for events that have the
  object, normalised to all events; means are over all events with 0 for a missing object).

A weighted file (a stitched zero bias: datasets ``Weights``/``Stratum``, :mod:`l1ad.data.adc2021`) also gets
its *tails*: the leading e/gamma, muon and jet pT and the MET as fractions of LHC crossings per bin (weighted),
in total and per stratum, on a log scale with the single-object seed thresholds of the menu marked
(:func:`plot_tails`), and a weights panel (each stratum's share of crossings and of the file's events).
Unweighted files get the same tail histograms with every event counting 1/N.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from l1ad.data.adc2021 import iter_events, read_attrs, read_strata, read_stratum_ids
from l1ad.data.layout import GROUPS, ObjectClass
from l1ad.errors import DataError

__all__ = ["HISTOGRAMS", "TAILS", "plot_summaries", "plot_tails", "summarize", "summarize_tracks"]

HT_JET_ET_MIN = 30.0  # GeV, CMS L1 HT jet threshold (CMS-TRG-17-001)
HT_JET_ABS_ETA_MAX = 2.4

#: name -> (bin edges, axis label, log-y)
HISTOGRAMS: dict[str, tuple[np.ndarray, str, bool]] = {
    "leading_jet_et": (np.arange(0.0, 505.0, 5.0), "leading jet $E_T$ [GeV]", True),
    "ht": (np.arange(0.0, 1010.0, 10.0), "$H_T$ [GeV]", True),
    "met": (np.arange(0.0, 303.0, 3.0), "$E_T^{miss}$ [GeV]", True),
    "leading_egamma_et": (np.arange(0.0, 202.0, 2.0), r"leading e/$\gamma$ $E_T$ [GeV]", True),
    "leading_muon_pt": (np.arange(0.0, 202.0, 2.0), r"leading $\mu$ $p_T$ [GeV]", True),
    "object_eta": (np.linspace(-5.0, 5.0, 101), r"object $\eta$", False),
    "object_phi": (np.linspace(-np.pi, np.pi, 73), r"object $\phi$ [rad]", False),
}
#: tail histograms of a (weighted) zero bias: name -> (bin edges, axis label, row of the leading object)
TAILS: dict[str, tuple[np.ndarray, str, int]] = {
    "leading_egamma_et": (np.arange(0.0, 256.0, 4.0), r"leading e/$\gamma$ $E_T$ [GeV]", 1),
    "leading_muon_pt": (np.arange(0.0, 129.0, 2.0), r"leading $\mu$ $p_T$ [GeV]", 5),
    "leading_jet_et": (np.arange(0.0, 612.0, 12.0), "leading jet $E_T$ [GeV]", 9),
    "met": (np.arange(0.0, 306.0, 6.0), r"$E_T^{miss}$ (ETMHF) [GeV]", 0),
}
_GROUP_NAMES = {ObjectClass.MET: "met", ObjectClass.EGAMMA: "egamma", ObjectClass.MUON: "muon", ObjectClass.JET: "jet"}


class _Acc:
    """Streaming accumulators."""

    def __init__(self) -> None:
        self.n = 0
        self.hist = {k: np.zeros(len(e) - 1, np.int64) for k, (e, _, _) in HISTOGRAMS.items()}
        self.overflow = {k: 0 for k in HISTOGRAMS}
        self.sums = {k: 0.0 for k in HISTOGRAMS}
        self.mult = {c: np.zeros(n + 1, np.int64) for c, _, n in GROUPS}
        self.kin: dict[ObjectClass, dict[str, list[float]]] = {
            c: {"pT": [np.inf, -np.inf], "eta": [np.inf, -np.inf], "phi": [np.inf, -np.inf]} for c, _, _ in GROUPS
        }
        self.pt_sum = {c: 0.0 for c, _, _ in GROUPS}

    def fill(self, k: str, v: np.ndarray) -> None:
        edges = HISTOGRAMS[k][0]
        # uniform edges: the (bins, range) form takes numpy's fast path (no sort)
        self.hist[k] += np.histogram(v, bins=len(edges) - 1, range=(edges[0], edges[-1]))[0]
        self.overflow[k] += int(np.count_nonzero(v > edges[-1]))
        self.sums[k] += float(np.sum(v, dtype=np.float64))

    def add(self, p: np.ndarray) -> None:
        self.n += len(p)
        for cls, first, n in GROUPS:
            g = p[:, first : first + n]
            present = g[:, :, 0] > 0
            self.mult[cls] += np.bincount(present.sum(axis=1), minlength=n + 1)
            if present.any():
                for j, f in enumerate(("pT", "eta", "phi")):
                    vals = g[:, :, j][present]
                    lo, hi = self.kin[cls][f]
                    self.kin[cls][f] = [min(lo, float(vals.min())), max(hi, float(vals.max()))]
                self.pt_sum[cls] += float(g[:, :, 0][present].sum(dtype=np.float64))
        jets = p[:, 9:19]
        lead = jets[:, 0, 0]
        self.fill("leading_jet_et", lead[lead > 0])  # events without the object are not filled
        ht_mask = (jets[:, :, 0] > HT_JET_ET_MIN) & (np.abs(jets[:, :, 1]) < HT_JET_ABS_ETA_MAX)
        self.fill("ht", np.where(ht_mask, jets[:, :, 0], 0.0).sum(axis=1))
        self.fill("met", p[:, 0, 0])
        self.fill("leading_egamma_et", p[:, 1, 0][p[:, 1, 0] > 0])
        self.fill("leading_muon_pt", p[:, 5, 0][p[:, 5, 0] > 0])
        objs = p[:, 1:][p[:, 1:, 0] > 0]
        self.fill("object_eta", objs[:, 1])
        self.fill("object_phi", objs[:, 2])


def _json_float(x: float) -> float | None:
    return None if not np.isfinite(x) else round(float(x), 6)


class _Tails:
    """Weighted leading-object histograms per stratum (fractions of crossings per bin), and the exact weighted
    fraction above each menu threshold marked on the plot."""

    def __init__(self, n_strata: int, marks: dict[str, list[tuple[str, float]]]) -> None:
        self.k = n_strata
        self.h = {name: np.zeros((n_strata, len(e) - 1)) for name, (e, _, _) in TAILS.items()}
        self.over = {name: np.zeros(n_strata) for name in TAILS}
        self.n = {name: np.zeros((n_strata, len(e) - 1), np.int64) for name, (e, _, _) in TAILS.items()}
        self.marks = marks
        self.above = {name: np.zeros(len(m)) for name, m in marks.items()}

    def add(self, p: np.ndarray, sid: np.ndarray, w: np.ndarray) -> None:
        for name, (edges, _, row) in TAILS.items():
            v = p[:, row, 0]
            has = p[:, row, 3] > 0
            for i, (_, thr) in enumerate(self.marks.get(name, [])):
                self.above[name][i] += w[has & (v >= thr)].sum()
            idx = np.clip(np.searchsorted(edges, v, side="right") - 1, 0, len(edges) - 2)
            inside = has & (v < edges[-1])
            np.add.at(self.h[name], (sid[inside], idx[inside]), w[inside])
            np.add.at(self.n[name], (sid[inside], idx[inside]), 1)
            np.add.at(self.over[name], sid[has & (v >= edges[-1])], w[has & (v >= edges[-1])])


def summarize(path: str | os.PathLike[str], chunk_size: int = 200_000) -> dict[str, Any]:
    """One-pass summary of an ADC2021 file (or a b-tagging ``Tracks`` file, see :func:`summarize_tracks`)."""
    path = Path(path)
    if path.exists() and path.is_file():
        try:
            with h5py.File(path, "r") as f:
                if "Particles" not in f and "Tracks" in f:
                    return summarize_tracks(path)
        except OSError:
            pass  # iter_events reports unreadable files
    acc = _Acc()
    strata = read_strata(path)
    probability = strata.probability
    per_event = np.divide(probability, strata.counts, out=np.zeros(len(strata)), where=strata.counts > 0)
    tacc = _Tails(len(strata), _menu_thresholds())
    start = 0
    for block in iter_events(path, chunk_size=chunk_size):
        acc.add(block)
        sid = read_stratum_ids(path, start, start + len(block))
        tacc.add(block, sid, per_event[sid])
        start += len(block)
    n = max(acc.n, 1)
    groups = {}
    for cls, _, k in GROUPS:
        m = acc.mult[cls]
        n_obj = int((m * np.arange(k + 1)).sum())
        groups[_GROUP_NAMES[cls]] = {
            "mean_multiplicity": round(n_obj / n, 6),
            "fraction_with_object": round(1.0 - m[0] / n, 6),
            "multiplicity_counts": m.tolist(),
            "mean_pT": _json_float(acc.pt_sum[cls] / n_obj) if n_obj else None,
            **{f"{f}_range": [_json_float(v) for v in acc.kin[cls][f]] if n_obj else None for f in ("pT", "eta", "phi")},
        }
    hists = {}
    for k, (edges, label, logy) in HISTOGRAMS.items():
        counts = acc.hist[k]
        hists[k] = {"edges": [round(float(e), 6) for e in edges], "counts": counts.tolist(),
                    "overflow": acc.overflow[k], "label": label, "logy": logy}
    mean = {k: round(acc.sums[k] / n, 6) for k in ("leading_jet_et", "ht", "met")}
    tails = {}
    for k, thresholds in (("leading_jet_et", (50, 100, 200)), ("ht", (100, 200, 400)), ("met", (50, 100))):
        edges, counts = HISTOGRAMS[k][0], acc.hist[k]
        for t in thresholds:
            above = counts[edges[:-1] >= t].sum() + acc.overflow[k]
            tails[f"{k}>={t}"] = round(float(above) / n, 8)
    tail_json = {
        name: {"edges": [round(float(e), 6) for e in edges], "label": label,
               # fraction of LHC crossings per bin (weighted), in total and per stratum; raw events per bin
               "fraction": tacc.h[name].sum(axis=0).tolist(), "overflow_fraction": float(tacc.over[name].sum()),
               "fraction_by_stratum": tacc.h[name].tolist(), "events": tacc.n[name].sum(axis=0).tolist(),
               # the menu's single-object thresholds: seed, threshold, weighted fraction of crossings at or above
               "marks": [{"seed": sd, "threshold": thr, "fraction_above": float(tacc.above[name][i])}
                         for i, (sd, thr) in enumerate(tacc.marks.get(name, []))]}
        for name, (edges, label, _) in TAILS.items()
    }
    return {
        "file": str(path),
        "kind": "events",
        "n_events": acc.n,
        "weighted": strata.weighted,
        "strata": strata.to_dict(),
        "tails": tail_json,
        "attrs": read_attrs(path),
        "groups": groups,
        "means": mean,
        "tail_fractions": tails,
        "histograms": hists,
        "definitions": {"ht": f"sum jet ET, ET > {HT_JET_ET_MIN} GeV, |eta| < {HT_JET_ABS_ETA_MAX}"},
    }


def summarize_tracks(path: str | os.PathLike[str], chunk_size: int = 200_000) -> dict[str, Any]:
    """Summary of a b-tagging jet file: dataset ``Tracks`` (N, 16, F) and ``Label`` (N,)."""
    path = Path(path)
    with h5py.File(path, "r") as f:
        tr, lab = f["Tracks"], f.get("Label")
        if tr.ndim != 3:
            raise DataError(f"{path}: dataset 'Tracks': wrong shape {tr.shape}, expected (N, tracks, features)")
        names = [x.decode() if isinstance(x, bytes) else str(x) for x in tr.attrs.get("Track_Features", f.attrs.get("Track_Features", []))]
        names = names if len(names) == tr.shape[2] else [f"f{i}" for i in range(tr.shape[2])]
        n = tr.shape[0]
        lo = np.full(tr.shape[2], np.inf)
        hi = np.full(tr.shape[2], -np.inf)
        ntrk = np.zeros(tr.shape[1] + 1, np.int64)
        for a in range(0, n, chunk_size):
            x = tr[a : a + chunk_size]
            present = np.any(x != 0, axis=2)
            ntrk += np.bincount(present.sum(axis=1), minlength=tr.shape[1] + 1)
            if present.any():
                v = x[present]
                lo, hi = np.minimum(lo, v.min(axis=0)), np.maximum(hi, v.max(axis=0))
        labels = {} if lab is None else {str(k): int(c) for k, c in zip(*np.unique(lab[()], return_counts=True), strict=True)}
    return {
        "file": str(path),
        "kind": "tracks",
        "n_jets": int(n),
        "attrs": read_attrs(path),
        "labels": labels,
        "track_multiplicity_counts": ntrk.tolist(),
        "mean_tracks": round(float((ntrk * np.arange(len(ntrk))).sum()) / max(n, 1), 6),
        "feature_ranges": {nm: [_json_float(a), _json_float(b)] for nm, a, b in zip(names, lo, hi, strict=True)},
    }


def plot_summaries(summaries: list[dict[str, Any]], out_png: str | os.PathLike[str]) -> Path:
    """Normalised distributions of one or more event-file summaries, overlaid, as one PNG (atomic)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep as hep

    from l1ad.io import atomic_file

    ev = [s for s in summaries if s.get("kind") == "events"]
    keys = list(HISTOGRAMS) + ["multiplicity"]
    fig, axes = plt.subplots(2, 4, figsize=(20, 9))
    for ax, k in zip(axes.flat, keys, strict=True):
        any_positive = False
        for i, s in enumerate(ev):
            color = f"C{i % 10}"  # one colour per file in every panel
            label = s.get("attrs", {}).get("process") or Path(s["file"]).stem
            if k == "multiplicity":
                for gname, style in (("egamma", "-"), ("muon", "--"), ("jet", ":")):
                    c = np.asarray(s["groups"][gname]["multiplicity_counts"], float)
                    hep.histplot(c / max(c.sum(), 1), np.arange(len(c) + 1) - 0.5, ax=ax, ls=style,
                                 color=color, label=f"{label} {gname}")
                ax.set_xlabel("objects per event (solid e/$\\gamma$, dashed $\\mu$, dotted jets)")
                continue
            h = s["histograms"][k]
            c = np.asarray(h["counts"], float)
            any_positive |= bool(c.any())
            hep.histplot(c / max(s["n_events"], 1), np.asarray(h["edges"]), ax=ax, color=color, label=label)
        if k != "multiplicity":
            ax.set_xlabel(HISTOGRAMS[k][1])
            if HISTOGRAMS[k][2] and any_positive:  # log of an all-empty histogram is undefined
                ax.set_yscale("log")
        ax.set_ylabel("fraction of events" if k != "object_eta" and k != "object_phi" else "objects / event")
        ax.legend(fontsize=7)
    fig.suptitle("l1ad data inspect: " + ", ".join(Path(s["file"]).name for s in ev))
    fig.tight_layout()
    out = Path(out_png)
    with atomic_file(out, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)
    return out


def _menu_thresholds() -> dict[str, list[tuple[str, float]]]:
    """Single-object seed thresholds of the default menu per tail histogram (marked on the tail plots)."""
    try:
        from l1ad.rates.menu import METCond, ObjectsCond, load_menu

        menu = load_menu()
    except Exception:  # noqa: BLE001 - the marks are a help, not a requirement
        return {}
    key = {"egamma": "leading_egamma_et", "muon": "leading_muon_pt", "jet": "leading_jet_et"}
    out: dict[str, list[tuple[str, float]]] = {k: [] for k in TAILS}
    for seed in menu.config.seeds:
        if len(seed.conditions) != 1:
            continue
        c = seed.conditions[0]
        if isinstance(c, ObjectsCond) and len(c.pt_min) == 1 and c.legs_isolation == ["none"]:
            out[key[c.object.value]].append((seed.name, float(c.pt_min[0])))
        elif isinstance(c, METCond):
            out["met"].append((seed.name, float(c.met_min)))
    return out


def plot_tails(summary: dict[str, Any], out_png: str | os.PathLike[str], collision_rate_khz: float = 28609.3) -> Path:
    """Weights and tails of one event file (PNG, atomic): per stratum its share of crossings and of the events;
    leading e/gamma, muon, jet and MET as fraction of crossings per GeV, weighted, log scale, stacked by
    stratum, with the menu's single-object thresholds and the rate above each threshold marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep as hep

    from l1ad.io import atomic_file

    strata = summary["strata"]
    names = [s["name"] for s in strata]
    fig, axes = plt.subplots(2, 3, figsize=(24, 13))
    axes = axes.ravel()
    ax = axes[0]
    x = np.arange(len(names))
    prob = np.array([s["probability"] for s in strata])
    share = np.array([s["crossings"] for s in strata], float)
    ax.bar(x - 0.2, prob, 0.4, label="fraction of LHC crossings")
    ax.bar(x + 0.2, share / max(share.sum(), 1), 0.4, label="fraction of the file's events")
    ax.set_yscale("log")
    ax.set_xticks(x, names, rotation=60, ha="right", fontsize=9)
    ax.set_title("strata: weight = crossings share / events share" if summary.get("weighted") else "unweighted")
    ax.legend(fontsize=9)
    axes[5].axis("off")
    for ax, (name, (edges, label, _)) in zip(axes[1:5], TAILS.items(), strict=True):
        t = summary["tails"][name]
        width = np.diff(edges)
        by = np.asarray(t["fraction_by_stratum"]) / width
        keep = [k for k in range(by.shape[0]) if by[k].any()]
        if keep:
            hep.histplot([by[k] for k in keep], edges, ax=ax, stack=True, histtype="fill", alpha=0.6,
                         label=[names[k] for k in keep], color=[plt.cm.tab20(k % 20) for k in keep])
        hep.histplot(by.sum(axis=0), edges, ax=ax, color="black", label="total (weighted)")
        for i, m in enumerate(t["marks"]):
            ax.axvline(m["threshold"], color="red", ls="--", lw=1)
            ax.text(m["threshold"], 0.95 - 0.12 * i, f" {m['seed']}: {m['fraction_above'] * collision_rate_khz:.1f} kHz",
                    va="top", ha="left", fontsize=9, color="red", transform=ax.get_xaxis_transform())
        if by.any():
            ax.set_yscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("fraction of crossings / GeV")
        ax.legend(fontsize=7, ncol=2)
    fig.suptitle(f"l1ad data inspect: weights and tails of {Path(summary['file']).name}")
    fig.tight_layout()
    out = Path(out_png)
    with atomic_file(out, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=70)
    plt.close(fig)
    return out
