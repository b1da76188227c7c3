"""The trigger bit of the shipped Verilog at the thresholds ``l1ad rates`` chose, on the zero-bias events.

Offline, a threshold T means "trigger = score > T" on the integer scores of the fixed-point description. The
firmware compares its own score register with the threshold port. This check streams the zero-bias files
through both — the NumPy emulator and the design's ``rtl/`` files compiled by Verilator (trigger wrapper
included, :mod:`l1ad.verification.rtl_emulator`) — and requires, at every chosen threshold, the same number of
triggers and the same triggering events. A difference is a failed check (exit code 1).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["check_trigger_bits"]

log = logging.getLogger(__name__)


def check_trigger_bits(
    design_dir: str | Path,
    score_model: Any,
    encoding: Any,
    reader: Any,
    files: Sequence[Path],
    thresholds: Sequence[int],
    chunk_size: int = 500_000,
    max_events: int | None = None,
) -> dict[str, Any]:
    """Offline vs shipped-RTL trigger counts at ``thresholds`` on every event of ``files`` (or the first
    ``max_events``). Returns the check's record (``passed``, per-threshold counts, first differing event)."""
    from l1ad.progress import Progress
    from l1ad.verification.rtl_emulator import compile_rtl_emulator

    emu = compile_rtl_emulator(design_dir)
    thr = [int(t) for t in thresholds]
    offline = np.zeros(len(thr), np.int64)
    rtl = np.zeros(len(thr), np.int64)
    n_events, score_mismatch, first_diff = 0, 0, None
    latency = None
    t0 = time.perf_counter()
    counts = [int(reader.count(str(p))) for p in files]
    total = sum(counts) if max_events is None else min(sum(counts), max_events)
    with Progress("rates: shipped-RTL trigger check", unit="events") as prog:
        prog.add("events", total)
        for path, n_file in zip(files, counts, strict=True):
            for start in range(0, n_file, chunk_size):
                if max_events is not None and n_events >= max_events:
                    break
                stop = min(n_file, start + chunk_size)
                if max_events is not None:
                    stop = min(stop, start + max_events - n_events)
                is_words = getattr(reader, "is_words", None)
                if is_words is not None and is_words(str(path)):  # an encoded-words file: its words
                    words = np.asarray(reader.read_encoded(str(path), start, stop, seed_bits=False).words, np.int64)
                else:
                    words = np.asarray(encoding.encode(reader.read(str(path), start, stop)).words, dtype=np.int64)
                ref = score_model.predict(words)
                run = emu.run(words, thr)
                latency = latency if latency is not None else run.latency_cycles
                if run.n_out != len(words) or run.protocol_errors:
                    score_mismatch += abs(len(words) - run.n_out) + run.protocol_errors
                m = min(len(ref), len(run.scores))
                score_mismatch += int(np.count_nonzero(ref[:m] != run.scores[:m]))
                off = ref[:m, None] > np.asarray(thr, np.int64)[None, :]
                offline += off.sum(axis=0)
                rtl += run.triggers[:m].sum(axis=0)
                if first_diff is None:
                    bad = np.argwhere(off != run.triggers[:m])
                    if len(bad):
                        e, k = (int(v) for v in bad[0])
                        first_diff = {"file": str(path), "event": start + e, "threshold": thr[k],
                                      "offline_score": int(ref[e]), "rtl_score": int(run.scores[e]),
                                      "rtl_trigger": bool(run.triggers[e, k]), "words": [int(v) for v in words[e]]}
                n_events += len(words)
                prog.advance("events", len(words))
    per = [{"threshold": t, "offline_triggers": int(a), "rtl_triggers": int(b)} for t, a, b in zip(thr, offline, rtl, strict=True)]
    passed = n_events > 0 and score_mismatch == 0 and first_diff is None and bool(np.array_equal(offline, rtl))
    return {
        "passed": passed,
        "events": n_events,
        "files": [str(p) for p in files],
        "per_threshold": per,
        "score_mismatches": score_mismatch,
        "first_difference": first_diff,
        "rtl_sources": emu.sources,
        "rtl_latency_cycles": latency,
        "seconds": round(time.perf_counter() - t0, 1),
        "events_per_s": n_events / max(time.perf_counter() - t0, 1e-9),
    }
