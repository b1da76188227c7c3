"""Rate report: rich tables on the terminal, ``rates.json`` and PNG plots (numbers and plots side by side).

Plots: ``rate_vs_threshold.png`` (rate with Clopper-Pearson band, target lines, chosen thresholds),
``efficiency_vs_rate.png`` (per signal, anomaly trigger alone and gain over the menu),
``score_distributions.png`` (normalised integer-score histograms of zero bias and signals).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from l1ad.io import write_json
from l1ad.rates.summary import RatesSummary

__all__ = ["print_summary", "write_report"]


def print_summary(summary: RatesSummary, console: Any = None) -> None:
    """Threshold table, menu/pure-rate table and signal efficiencies on the terminal (rich)."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    zb = summary.zero_bias
    rm = summary.rate_model
    console.print(
        f"zero bias: {zb.n_events:,} events; collision rate {rm.collision_rate_hz / 1e6:.3f} MHz "
        f"({rm.bunch_crossing_mhz} MHz x {rm.filled_bunches}/{rm.total_bunches}); trigger = score > threshold"
    )
    rows = summary.per_threshold()
    t = Table(title="Anomaly-trigger thresholds (rates in kHz, 68% Clopper-Pearson)")
    for col in ("target", "threshold", "score value", "events", "rate", "68% CI", "pure rate", "menu OR AD"):
        # pure rate: events no menu seed fires on; menu OR AD: total L1 rate with the anomaly trigger added
        t.add_column(col, justify="right")
    for r in rows:
        tv = r["threshold_value"]
        t.add_row(
            f"{r['target_khz']:g}",
            str(r["threshold"]),
            "-" if tv is None else f"{tv:.6g}",
            f"{r['n_pass']:,}",
            f"{r['rate_khz']:.3f}",
            f"[{r['rate_lo_khz']:.3f}, {r['rate_hi_khz']:.3f}]",
            f"{r['pure_rate']['khz']:.3f}",
            f"{r['menu_or_ad_rate']['khz']:.1f}",
        )
    console.print(t)
    for r in rows:
        if r.get("fits_threshold_port") is False:
            console.print(
                f"[yellow]warning:[/] threshold {r['threshold']} for {r['target_khz']:g} kHz does not fit the "
                "firmware's threshold port (score width/signedness): the target admits every event"
            )
    menu = summary.menu()
    if not menu["seeds"]:
        console.print("no L1 menu (--menu none): pure rate = anomaly-trigger rate")
    m = Table(title="Emulated L1 menu on zero bias (kHz)")
    m.add_column("seed")
    m.add_column("events", justify="right")
    m.add_column("rate", justify="right")
    m.add_column("68% CI", justify="right")
    for name, v in [*menu["seeds"].items(), ("menu OR", menu["total"])]:
        m.add_row(name, f"{v['n']:,}", f"{v['khz']:.2f}", f"[{v['lo_khz']:.2f}, {v['hi_khz']:.2f}]")
    if menu["seeds"]:
        console.print(m)
    if summary.signals:
        s = Table(title="Signal efficiency: menu alone; per target rate: anomaly trigger alone / +gain over the menu")
        s.add_column("signal")
        s.add_column("menu", justify="right")
        for r in rows:
            s.add_column(f"{r['target_khz']:g} kHz", justify="right")
        for name in summary.signals:
            cells = [name, f"{rows[0]['signals'][name]['eff_menu'][0]:.3f}"] if rows else [name, "-"]
            for r in rows:
                e = r["signals"][name]
                cells.append(f"{e['eff_ad'][0]:.3f} / +{e['gain_over_menu'][0]:.3f}")
            s.add_row(*cells)
        console.print(s)
        console.print("cells: efficiency of the anomaly trigger alone / efficiency gained over the menu alone")


def write_report(out_dir: str | Path, summary: RatesSummary, extra: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write ``rates.json`` and the PNG plots into ``out_dir`` (which the caller creates atomically)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = summary.to_dict()
    if extra:
        data = {**extra, **data}
    paths = {"json": write_json(out / "rates.json", data)}
    paths.update(_plots(out, summary, data))
    return paths


def _plots(out: Path, summary: RatesSummary, data: dict[str, Any]) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    try:
        import mplhep

        plt.style.use(mplhep.style.CMS)
    except Exception:  # style is cosmetic
        pass
    paths: dict[str, Path] = {}

    # rate vs threshold with CP band and targets
    rc = data["rate_curve"]
    thr = np.asarray(rc["thresholds"])
    fig, ax = plt.subplots(figsize=(9, 7))
    ax.step(thr, rc["rate_khz"], where="post", label="anomaly trigger (score > T)")
    ax.fill_between(thr, rc["rate_lo_khz"], rc["rate_hi_khz"], step="post", alpha=0.3, label="68% CP")
    for c in summary.choices:
        ax.axhline(c.target_khz, ls="--", lw=0.8, color="gray")
        ax.plot([c.threshold], [max(c.rate_khz, 1e-6)], "o", color="C3")
    ax.set_yscale("log")
    ax.set_xlabel("integer score threshold T", loc="center")  # the axis offset text sits at the right
    ax.set_ylabel("rate [kHz]")
    ax.legend(fontsize=12)
    paths["rate_vs_threshold"] = _save(fig, out / "rate_vs_threshold.png")

    # efficiency vs rate per signal
    if summary.signals:
        fig, ax = plt.subplots(figsize=(9, 7))
        for i, (name, e) in enumerate(data["efficiency_curves"].items()):
            r = np.asarray(e["rate_khz"])
            ax.plot(r, e["eff_ad"], color=f"C{i}", label=f"{name} (AD)")
            ax.plot(r, e["eff_gain_over_menu"], color=f"C{i}", ls=":", label=f"{name} (gain over menu)")
            eff_menu = summary.signals[name].menu_count / summary.signals[name].n_events
            ax.axhline(eff_menu, color=f"C{i}", ls="-.", lw=0.8, label=f"{name} (menu alone)")
        for c in summary.choices:
            ax.axvline(c.target_khz, ls="--", lw=0.8, color="gray")
        ax.set_xscale("log")
        ax.set_xlabel("zero-bias rate [kHz]")
        ax.set_ylabel("signal efficiency")
        ax.legend(fontsize=10)
        paths["efficiency_vs_rate"] = _save(fig, out / "efficiency_vs_rate.png")

    # score distributions
    fig, ax = plt.subplots(figsize=(9, 7))
    samples = {"zero_bias": summary.zero_bias, **summary.signals}
    pairs = {name: sc.scores.coarse_pairs()[:2] for name, sc in samples.items() if sc.n_events}
    lo = min(int(v[0]) for v, _ in pairs.values())
    hi = max(int(v[-1]) for v, _ in pairs.values())
    edges = np.unique(np.linspace(lo, hi + 1, 201).astype(np.int64))  # common integer bins for all samples
    for i, (name, (v, n)) in enumerate(pairs.items()):
        h, _ = np.histogram(v, bins=edges, weights=n.astype(float))
        ax.stairs(h / n.sum(), edges, color=f"C{i}", label=name)
    for c in summary.choices:
        ax.axvline(c.threshold, ls="--", lw=0.8, color="gray")
    ax.set_yscale("log")
    ax.set_xlabel("integer score", loc="center")
    ax.set_ylabel("fraction of events")
    ax.legend(fontsize=12)
    paths["score_distributions"] = _save(fig, out / "score_distributions.png")
    return paths


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
