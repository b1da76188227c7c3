"""``l1ad build`` benchmark: the NumPy integer emulator against hls4ml's C-simulation ``predict`` on the same
model and events in one run (the baseline), with identical outputs required, plus the build's wall time split
by stage. Target (issue 4): emulator >= 100x faster than hls4ml.

    python -m benchmarks.bench_build [--model ARTIFACT] [--events N] [--data FILE.h5]

Without ``--model`` it builds an AXOL1TL-sized QKeras model (57 -> 32 -> 16 -> 8, 6-bit weights, score sum
mu^2) with random weights.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path


def _random_artifact(d: Path) -> Path:

    from l1ad import _compat
    from l1ad.data.encoding import load_encoding

    keras, qk = _compat.keras(), _compat.qkeras()
    keras.utils.set_random_seed(0)
    L = keras.layers
    wq = dict(kernel_quantizer=qk.quantized_bits(6, 2, alpha=1), bias_quantizer=qk.quantized_bits(6, 2, alpha=1))
    inp = L.Input((57,), name="inputs")
    x = qk.QActivation(qk.quantized_bits(8, 3, alpha=1), name="inq")(inp)
    for i, h in enumerate((32, 16)):
        x = qk.QDense(h, name=f"dense{i}", **wq)(x)
        x = qk.QActivation(qk.quantized_relu(10, 6), name=f"relu{i}")(x)
    x = qk.QDense(8, name="mu", **wq)(x)
    model = keras.Model(inp, x, name="bench_vae")
    d.mkdir(parents=True)
    model.save(d / "trigger.h5")
    import dataclasses

    fields = [dataclasses.asdict(f) for f in load_encoding().fields]
    meta = {
        "name": "bench_vae", "kind": "vae", "input": {"shape": [57], "fields": fields},
        "preprocessing": {"offset": [0] * 57, "shift": [4] * 57},
        "input_quantizer": {"bits": 8, "integer": 3, "signed": True}, "score": {"type": "sum_squares"},
    }
    (d / "model.json").write_text(json.dumps(meta))
    return d


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--data", type=Path, action="append", default=[])
    a = ap.parse_args(argv)
    from l1ad.firmware.build import build

    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        model = a.model or _random_artifact(t / "artifact")
        rep = build(model, "vu13p", out_root=t / "fw", hls_root=t / "hls", events=a.events, data=a.data or None)
    b = rep["benchmark"]
    print(f"model {rep['model']}, {b['events']:,} events")
    print(f"  baseline hls4ml C-sim predict : {b['hls4ml_events_per_s']:>12,.0f} events/s")
    print(f"  NumPy integer emulator        : {b['emulator_events_per_s']:>12,.0f} events/s  "
          f"(x{b['speedup']:.0f} of baseline; target >= x100: {'met' if b['speedup'] >= 100 else 'NOT met'})")
    print(f"  QKeras predict                : {b['qkeras_events_per_s']:>12,.0f} events/s  "
          f"(x{b['qkeras_events_per_s'] / max(b['hls4ml_events_per_s'], 1e-9):.0f} of baseline)")
    exact = all(p["mismatches"] == 0 for p in rep["bitexact"])
    print(f"  outputs identical across {', '.join(p['a'] + '=' + p['b'] for p in rep['bitexact'])}: {exact}")
    print("  build wall time by stage [s]: " + ", ".join(f"{k} {v:.1f}" for k, v in rep["timings_s"].items()))
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
