"""Rate report: rich tables on the terminal, ``rates.json`` and PNG plots (numbers and plots side by side).

Plots: ``rate_vs_threshold.png`` (rate with its 68 % band, target lines, chosen thresholds),
``efficiency_vs_rate.png`` (per signal, anomaly trigger alone and gain over the menu),
``score_distributions.png`` (integer-score distributions of zero bias (weighted) and signals),
``menu_rates.png`` (each seed's emulated rate with its band next to its reference).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from l1ad.io import write_json
from l1ad.rates.summary import RatesSummary

__all__ = ["print_summary", "write_report"]


def print_summary(summary: RatesSummary, console: Any = None) -> None:
    """Threshold table, menu table (with the reference rates), signal efficiencies on the terminal (rich)."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    zb = summary.zero_bias
    rm = summary.rate_model
    w = summary.weights
    strata = (f", {len(w)} strata weighted to LHC crossings (effective events per rate in 'n_eff')"
              if w.weighted else "")
    console.print(
        f"zero bias: {zb.n_events:,} events{strata}; collision rate {rm.collision_rate_hz / 1e6:.3f} MHz "
        f"({rm.bunch_crossing_mhz} MHz x {rm.filled_bunches}/{rm.total_bunches}); trigger = score > threshold"
    )
    rows = summary.per_threshold()
    band = "68% bootstrap/CP" if w.weighted else "68% Clopper-Pearson"
    t = Table(title=f"Anomaly-trigger thresholds (rates in kHz, {band})")
    for col in ("target", "threshold", "score value", "events", "n_eff", "rate", "68% CI", "pure rate",
                "menu OR AD"):
        # pure rate: events no menu seed fires on; menu OR AD: total L1 rate with the anomaly trigger added
        t.add_column(col, justify="right")
    for r in rows:
        tv = r["threshold_value"]
        t.add_row(
            f"{r['target_khz']:g}",
            str(r["threshold"]),
            "-" if tv is None else f"{tv:.6g}",
            f"{r['n_pass']:,}",
            f"{r['n_eff']:,.0f}",
            f"{r['rate_khz']:.3f}",
            f"[{r['rate_lo_khz']:.3f}, {r['rate_hi_khz']:.3f}]",
            f"{r['pure_rate']['khz']:.3f} [{r['pure_rate']['lo_khz']:.3f}, {r['pure_rate']['hi_khz']:.3f}]",
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
    m = Table(title="Emulated L1 menu on zero bias (kHz): l1ad vs reference")
    for col in ("seed", "events", "n_eff", "rate", "68% CI", "reference", "ratio"):
        m.add_column(col, justify="left" if col == "seed" else "right")
    for name, v in [*menu["seeds"].items(), ("menu OR", menu["total"])]:
        ref = v.get("reference_khz")
        ratio = v.get("ratio")
        flag = "" if v.get("within_tolerance", True) else " [red]x[/]"
        m.add_row(name, f"{v['n']:,}", "-" if v["n_eff"] is None else f"{v['n_eff']:,.0f}", f"{v['khz']:.2f}",
                  f"[{v['lo_khz']:.2f}, {v['hi_khz']:.2f}]", "-" if ref is None else f"{ref:.2f}",
                  "-" if ratio is None else f"{ratio:.2f}{flag}")
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
            eff_menu = summary._frac(name, summary.signals[name].menu_by_stratum)[0]
            ax.axhline(eff_menu, color=f"C{i}", ls="-.", lw=0.8, label=f"{name} (menu alone)")
        for c in summary.choices:
            ax.axvline(c.target_khz, ls="--", lw=0.8, color="gray")
        ax.set_xscale("log")
        ax.set_xlabel("zero-bias rate [kHz]")
        ax.set_ylabel("signal efficiency")
        ax.legend(fontsize=10)
        paths["efficiency_vs_rate"] = _save(fig, out / "efficiency_vs_rate.png")

    # score distributions (zero bias weighted to LHC crossings)
    fig, ax = plt.subplots(figsize=(9, 7))
    hists = data["score_histograms"]
    for i, (name, h) in enumerate(hists.items()):
        if not h["values"]:
            continue
        v = np.asarray(h["values"], float)
        ax.stairs(h["fraction"], np.append(v, v[-1] + h["bin_width"]), color=f"C{i}", label=name)
    for c in summary.choices:
        ax.axvline(c.threshold, ls="--", lw=0.8, color="gray")
    ax.set_yscale("log")
    ax.set_xlabel("integer score", loc="center")
    ax.set_ylabel("fraction of events (zero bias: of LHC crossings)")
    ax.legend(fontsize=12)
    paths["score_distributions"] = _save(fig, out / "score_distributions.png")

    # menu: emulated rate with its band next to the reference
    seeds = data["menu"]["seeds"]
    if seeds:
        names = list(seeds)
        y = np.arange(len(names))
        fig, ax = plt.subplots(figsize=(10, 0.35 * len(names) + 2))
        khz = np.array([seeds[n]["khz"] for n in names])
        lo = np.array([seeds[n]["lo_khz"] for n in names])
        hi = np.array([seeds[n]["hi_khz"] for n in names])
        ax.errorbar(np.maximum(khz, 1e-3), y, xerr=[khz - lo, hi - khz], fmt="o", color="C0", label="l1ad")
        ref = [seeds[n].get("reference_khz") for n in names]
        if any(r is not None for r in ref):
            tol = data["menu"]["reference_tolerance"]
            r = np.array([np.nan if x is None else x for x in ref])
            ax.plot(r, y, "|", ms=14, mew=2, color="C3", label="reference")
            ax.hlines(y, r / tol, r * tol, color="C3", alpha=0.3, lw=6, label=f"reference x/÷ {tol:g}")
        ax.set_yticks(y, names, fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel("rate [kHz]")
        ax.invert_yaxis()
        ax.legend(fontsize=9)
        paths["menu_rates"] = _save(fig, out / "menu_rates.png")
    return paths


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
