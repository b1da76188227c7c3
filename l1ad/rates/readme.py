"""README's rate tables, generated from a rate report and an evaluation (so README's numbers name their command).

    python -m l1ad.rates.readme [--rates out/demo/rates/rates.json]
                                [--metrics out/demo/evaluate/axol1tl_vae/metrics.json] [--readme README.md] [--check]

Rewrites the section between ``<!-- rates:begin -->`` and ``<!-- rates:end -->`` of README: the menu's seeds
next to their reference rates, the anomaly thresholds with their 68 % intervals and effective event counts,
pure rates, signal efficiencies and gains over the menu, and the quantized/float efficiency ratios with their
uncertainties. ``--check`` exits 1 when README's section is not what the files give. Exit 2 on a missing or
unreadable input, naming the file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from l1ad.errors import DataError
from l1ad.io import generated_section

BEGIN, END = "<!-- rates:begin -->", "<!-- rates:end -->"
DEFAULT_RATES = Path("out/demo/rates/rates.json")
DEFAULT_METRICS = Path("out/demo/evaluate/axol1tl_vae/metrics.json")
SIGNAL_TARGETS_KHZ = (1.0, 10.0)


def _khz(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3g}" if abs(x) < 100 else f"{x:.0f}"


def _interval(v: float | None, lo: float | None, hi: float | None) -> str:
    return f"{_khz(v)} [{_khz(lo)}, {_khz(hi)}]"


def _pct(triple: list[float] | None) -> str:
    if not triple:
        return "-"
    v, lo, hi = triple
    return f"{100 * v:.2f} [{100 * lo:.2f}, {100 * hi:.2f}]"


def menu_table(r: dict[str, Any]) -> list[str]:
    menu = r.get("menu")
    if not menu:
        return ["(no menu in this report)"]
    tol = menu.get("reference_tolerance", 2.0)
    lines = [f"| seed | l1ad rate, kHz [68 % interval] | n_eff | reference, kHz | ratio | within x{tol:g} |",
             "|---|---|---|---|---|---|"]
    for name, s in menu["seeds"].items():
        ratio = s.get("ratio")
        lines.append(f"| `{name}` | {_interval(s['khz'], s['lo_khz'], s['hi_khz'])} | {s['n_eff']:,.0f} | "
                     f"{_khz(s.get('reference_khz'))} | {'-' if ratio is None else f'{ratio:.2f}'} | "
                     f"{'yes' if s.get('within_tolerance') else 'NO'} |")
    t = menu["total"]
    lines.append(f"| **menu (OR of all seeds)** | {_interval(t['khz'], t['lo_khz'], t['hi_khz'])} | "
                 f"{t['n_eff']:,.0f} | | | |")
    return lines


def threshold_table(r: dict[str, Any]) -> list[str]:
    lines = ["| target, kHz | integer threshold | AD rate, kHz [68 %] | ± (half-width / rate) | n_eff | "
             "pure rate (not fired by the menu), kHz [68 %] |", "|---|---|---|---|---|---|"]
    for t in r["thresholds"]:
        a, p = t["ad_rate"], t["pure_rate"]
        half = (a["hi_khz"] - a["lo_khz"]) / 2 / a["khz"] if a["khz"] else float("nan")
        lines.append(f"| {t['target_khz']:g} | {t['threshold']:,} | {_interval(a['khz'], a['lo_khz'], a['hi_khz'])} | "
                     f"{100 * half:.0f} % | {a['n_eff']:,.1f} | {_interval(p['khz'], p['lo_khz'], p['hi_khz'])} |")
    return lines


def signal_table(r: dict[str, Any]) -> list[str]:
    lines = ["| signal | AD rate, kHz | AD efficiency, % [68 %] | menu efficiency, % | menu OR AD, % | "
             "gain over the menu, % [68 %] |", "|---|---|---|---|---|---|"]
    for t in r["thresholds"]:
        if not any(abs(t["target_khz"] - k) < 1e-9 for k in SIGNAL_TARGETS_KHZ):
            continue
        for name, s in t.get("signals", {}).items():
            lines.append(f"| {name} | {_khz(t['ad_rate']['khz'])} | {_pct(s.get('eff_ad'))} | {_pct(s.get('eff_menu'))} | "
                         f"{_pct(s.get('eff_menu_or_ad'))} | {_pct(s.get('gain_over_menu'))} |")
    return lines


def ratio_table(m: dict[str, Any]) -> list[str]:
    sigs = m.get("anomaly", m).get("signals", {})  # l1ad evaluate's metrics.json, or training's (under "anomaly")
    wps = ["1kHz", "5kHz", "10kHz"]
    lines = ["| signal | " + " | ".join(f"quantized / float at {w}" for w in wps) + " |",
             "|---|" + "---|" * len(wps)]
    for name, s in sigs.items():
        u = s.get("ratio_quantized_over_float_uncertainty", {})
        cells = []
        for w in wps:
            e = u.get(w) or {}
            if e.get("ratio") is None:
                cells.append(f"- ({e.get('n_pass_num', 0)} / {e.get('n_pass_den', 0)} events)")
                continue
            boot = e.get("bootstrap_68")
            binom = e.get("binomial")
            err = (f"68 % [{boot[0]:.2f}, {boot[1]:.2f}]" if boot else f"± {binom:.2f}" if binom is not None
                   else "(too few events for an error)")
            cells.append(f"{e['ratio']:.2f} {err} ({e['n_pass_num']} / {e['n_pass_den']} events)")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def section(rates: dict[str, Any], metrics: dict[str, Any], rates_path: Path, metrics_path: Path) -> str:
    zb = rates["zero_bias"]
    strata = zb.get("strata") or []
    what = (f"{zb['n_events']:,} held-out zero-bias crossings"
            + (f" of {len(strata)} weighted strata" if zb.get("weighted") else " (unweighted)"))
    model = rates.get("model", {})
    src = model.get("design") or model.get("artifact") or "?"
    lines = [BEGIN, "",
             f"Generated by `python -m l1ad.rates.readme` from `{rates_path}` (`l1ad rates` on {what}, model `{src}`)",
             f"and `{metrics_path}` (`l1ad evaluate`); both are written by `make demo`.", "",
             "**Menu seeds against their references** (`configs/menu.yaml`; rates from the weighted zero bias):", "",
             *menu_table(rates), "",
             "**Anomaly thresholds** (trigger = score > threshold; intervals: Clopper-Pearson for one stratum, "
             "bootstrap of the per-stratum counts otherwise):", "",
             *threshold_table(rates), "",
             "**Signal efficiency and gain over the menu** (gain = fired by the anomaly trigger and by no menu seed):",
             "", *signal_table(rates), "",
             "**Quantized / float efficiency** of the VAE at equal zero-bias rate (held-out weighted zero bias; "
             "binomial ± or bootstrap 68 % interval; events passing quantized / float):", "",
             *ratio_table(metrics), "", END]
    return "\n".join(lines)


def _load(path: Path, what: str) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise SystemExit(_usage(f"{path}: no {what} (run make demo)")) from None
    except (OSError, json.JSONDecodeError) as e:
        raise SystemExit(_usage(f"{path}: unreadable {what} ({e})")) from None


def _usage(msg: str) -> int:
    print(f"l1ad.rates.readme: {msg}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", type=Path, default=DEFAULT_RATES)
    ap.add_argument("--metrics", type=Path, default=DEFAULT_METRICS)
    ap.add_argument("--readme", type=Path, default=Path("README.md"))
    ap.add_argument("--check", action="store_true", help="exit 1 if README's section is not what the files give")
    a = ap.parse_args(argv)
    rates, metrics = _load(a.rates, "rate report"), _load(a.metrics, "evaluation metrics")
    try:
        body = section(rates, metrics, a.rates, a.metrics)
    except (KeyError, TypeError, ZeroDivisionError) as e:
        return _usage(f"{a.rates}: not a rate report of this l1ad version (field {e})")
    try:
        rc = generated_section(a.readme, BEGIN, END, body, check=a.check)
    except DataError as e:
        return _usage(str(e))
    if a.check:
        return rc
    print(f"{a.readme}: rate tables from {a.rates} and {a.metrics}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
