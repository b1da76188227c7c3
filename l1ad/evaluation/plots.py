"""PNG plots (mplhep CMS-like style): ROC curves and score distributions, quantized vs float side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from l1ad.io import atomic_file
from l1ad.models.metrics import WORKING_POINTS, roc

__all__ = ["plot_ad_rocs", "plot_btag_roc", "plot_score_distributions"]


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    plt.style.use(mplhep.style.CMS)
    return plt


def _save(fig: Any, path: Path) -> Path:
    with atomic_file(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def plot_ad_rocs(bkg: dict[str, np.ndarray], sig: dict[str, dict[str, np.ndarray]], path: Path, title: str,
                 weights: np.ndarray | None = None) -> Path:
    """``bkg[variant]``, ``sig[signal][variant]``: one colour per signal, solid = quantized, dashed = float;
    ``weights``: background event weights (a stitched zero bias)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 8))
    for i, (name, per) in enumerate(sig.items()):
        for variant, style in (("quantized", "-"), ("float", "--")):
            if variant not in per:
                continue
            fpr, tpr, auc = roc(bkg[variant], per[variant], weights)
            ax.plot(fpr, tpr, style, color=f"C{i}", label=f"{name} {variant} (AUC {auc:.3f})")
    for wp, f in WORKING_POINTS.items():
        ax.axvline(f, color="grey", lw=0.8, ls=":")
        ax.text(f, 0.02, wp, rotation=90, fontsize=10, color="grey", va="bottom")
    ax.set_xscale("log")
    ax.set_xlim(1e-6, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("zero-bias FPR (rate / 28.6 MHz)")
    ax.set_ylabel("signal efficiency")
    ax.set_title(title, fontsize=16)
    ax.legend(fontsize=10, loc="upper left")
    return _save(fig, path)


def plot_score_distributions(bkg: dict[str, np.ndarray], sig: dict[str, dict[str, np.ndarray]], path: Path,
                             title: str, weights: np.ndarray | None = None) -> Path:
    plt = _plt()
    variants = [v for v in ("quantized", "float") if v in bkg]
    fig, axes = plt.subplots(1, len(variants), figsize=(9 * len(variants), 7), squeeze=False)
    for ax, variant in zip(axes[0], variants, strict=True):
        allv = np.concatenate([bkg[variant], *[s[variant] for s in sig.values()]])
        hi = float(np.quantile(allv, 0.999)) or 1.0
        bins = np.linspace(0, hi * 1.05, 60)
        ax.hist(np.clip(bkg[variant], 0, bins[-1]), bins=bins, histtype="stepfilled", alpha=0.3, color="grey",
                density=True, weights=weights, label="zero bias" + (" (weighted)" if weights is not None else ""))
        for i, (name, per) in enumerate(sig.items()):
            ax.hist(np.clip(per[variant], 0, bins[-1]), bins=bins, histtype="step", color=f"C{i}", density=True,
                    label=name)
        ax.set_yscale("log")
        ax.set_xlabel(f"anomaly score ({variant})")
        ax.set_ylabel("density")
        ax.set_title(f"{title} - {variant}", fontsize=16)
        ax.legend(fontsize=11)
    return _save(fig, path)


def plot_btag_roc(labels: np.ndarray, scores: dict[str, np.ndarray], path: Path, title: str) -> Path:
    from sklearn.metrics import roc_auc_score, roc_curve

    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 8))
    for variant, style in (("quantized", "-"), ("float", "--")):
        if variant not in scores:
            continue
        fpr, tpr, _ = roc_curve(labels, scores[variant])
        auc = roc_auc_score(labels, scores[variant])
        ax.plot(tpr, np.maximum(fpr, 1e-6), style, label=f"{variant} (AUC {auc:.3f})")
    ax.axvline(0.7, color="grey", ls=":", lw=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("b-jet efficiency")
    ax.set_ylabel("light-jet mistag rate")
    ax.set_title(title, fontsize=16)
    ax.legend(fontsize=12)
    return _save(fig, path)
