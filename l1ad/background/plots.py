"""Plots of the ABCD study (PNG, each with a JSON of the plotted numbers beside it)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from l1ad.io import atomic_file, write_json

__all__ = ["plot_all", "plot_closure", "plot_plane", "plot_sic"]


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    with atomic_file(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return path


def plot_plane(out: Path, pairs: dict[str, tuple[np.ndarray, np.ndarray]], thresholds: dict[str, tuple[float, float]],
               signals: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] | None = None, eff: float = 0.01,
               bins: int = 80) -> Path:
    """s1–s2 plane of held-out background per pair (log axes) with the ABCD regions at ``eff``."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(pairs), figsize=(5.2 * len(pairs), 4.6), squeeze=False)
    data: dict[str, Any] = {"eff": eff}
    for ax, (label, (s1, s2)) in zip(axes[0], pairs.items(), strict=True):
        pos = (s1 > 0) & (s2 > 0)
        lx, ly = np.log10(s1[pos]), np.log10(s2[pos])
        ex = np.linspace(*np.quantile(lx, [0.0005, 0.9999]), bins + 1)
        ey = np.linspace(*np.quantile(ly, [0.0005, 0.9999]), bins + 1)
        h, _, _ = np.histogram2d(lx, ly, bins=[ex, ey])
        ax.pcolormesh(ex, ey, np.where(h > 0, h, np.nan).T, norm="log", cmap="viridis")
        x, y = thresholds[label]
        lxx, lyy = math.log10(max(x, 1e-300)), math.log10(max(y, 1e-300))
        ax.axvline(lxx, color="r")
        ax.axhline(lyy, color="r")
        for txt, (fx, fy) in {"A": (0.93, 0.93), "B": (0.93, 0.05), "C": (0.05, 0.93), "D": (0.05, 0.05)}.items():
            ax.text(fx, fy, txt, transform=ax.transAxes, color="r", fontsize=14, weight="bold",
                    ha="center", va="center")
        for name, (t1, t2) in (signals or {}).get(label, {}).items():
            m = (t1 > 0) & (t2 > 0)
            ax.scatter(np.log10(t1[m][:300]), np.log10(t2[m][:300]), s=3, alpha=0.5, label=name)
        if signals:
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, 0.88))
        ax.set_xlabel("log10 s1 (AE1 squared error)")
        ax.set_ylabel("log10 s2 (AE2 squared error)")
        ax.set_title(f"{label}: held-out background, regions at ε={eff:g}")
        data[label] = {"x_edges_log10": ex, "y_edges_log10": ey, "counts": h, "threshold": [x, y]}
    path = _save(fig, out / "plane.png")
    write_json(out / "plane.json", data)
    return path


def plot_closure(out: Path, scans: dict[str, list[dict[str, Any]]], tolerance: float = 0.10) -> Path:
    """Closure ratio N_pred/N_obs vs background efficiency in A, per pair."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    data: dict[str, Any] = {}
    for k, (label, rows) in enumerate(scans.items()):
        split0 = rows[0]["split"] if rows else 1.0
        r = [x for x in rows if x["split"] == split0 and np.isfinite(x.get("ratio", np.nan))]
        e = np.array([x["eff"] for x in r])
        ratio = np.array([x["ratio"] for x in r])
        err = np.array([x["ratio_err"] for x in r])
        ok = np.array([bool(x.get("valid")) for x in r], dtype=bool)
        color = f"C{k}"
        if ok.any():
            ax.errorbar(e[ok] * (1 + 0.03 * k), ratio[ok], yerr=err[ok], marker="o", capsize=3, color=color,
                        label=label)
        if (~ok).any():  # a region below min_region_events: shown hollow
            ax.errorbar(e[~ok] * (1 + 0.03 * k), ratio[~ok], yerr=err[~ok], marker="o", mfc="none", ls="none",
                        capsize=3, color=color, label=f"{label} (sparse region)")
        data[label] = {"eff": e, "ratio": ratio, "ratio_err": err, "valid": ok}
    ax.axhspan(1 - tolerance, 1 + tolerance, color="grey", alpha=0.2, label=f"±{tolerance:.0%}")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("background efficiency in A")
    ax.set_ylabel("closure N_pred / N_obs")
    ax.legend()
    path = _save(fig, out / "closure.png")
    write_json(out / "closure.json", data)
    return path


def plot_sic(out: Path, sics: dict[str, dict[str, Any]]) -> Path:
    """SIC vs background efficiency per signal: cuts on s1, s2 and the ABCD region A, per pair."""
    plt = _plt()
    signals = sorted({s for v in sics.values() for s in v})
    fig, axes = plt.subplots(1, max(len(signals), 1), figsize=(4.2 * max(len(signals), 1), 3.8), squeeze=False)
    styles = ["-", "--", ":"]
    for ax, sig in zip(axes[0], signals, strict=False):
        for k, (label, per_sig) in enumerate(sics.items()):
            d = per_sig.get(sig)
            if d is None:
                continue
            ls = styles[k % len(styles)]
            ax.plot(d["s1"]["fpr"], d["s1"]["sic"], ls, color="C0", label=f"{label} s1")
            ax.plot(d["s2"]["fpr"], d["s2"]["sic"], ls, color="C1", label=f"{label} s2")
            ra = d["region_a"]
            ax.plot([r["eff"] for r in ra], [r["sic"] for r in ra], ls, color="C2", marker="o", ms=3,
                    label=f"{label} A (s1&s2)")
        ax.set_xscale("log")
        ax.set_xlabel("background efficiency")
        ax.set_ylabel("SIC = TPR/√FPR")
        ax.set_title(sig)
        ax.legend(fontsize=6)
    path = _save(fig, out / "sic.png")
    write_json(out / "sic.json", sics)
    return path


def plot_all(out: Path, results: dict[str, dict[str, Any]], scores: dict[str, Any], eff: float,
             tolerance: float) -> list[Path]:
    """The three plots for pairs ``results`` (label -> evaluate_pair output) with their ``scores``."""
    out.mkdir(parents=True, exist_ok=True)
    thr = {}
    for label, res in results.items():
        rows = [r for r in res["closure"] if "x" in r and math.isclose(r["eff"], eff)]
        thr[label] = (rows[0]["x"], rows[0]["y"]) if rows else (math.nan, math.nan)
    return [
        plot_plane(out, {k: v.background for k, v in scores.items()}, thr,
                   {k: v.signals for k, v in scores.items()}, eff),
        plot_closure(out, {k: v["closure"] for k, v in results.items()}, tolerance),
        plot_sic(out, {k: v["sic"] for k, v in results.items()}),
    ]
