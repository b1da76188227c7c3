"""``l1ad build`` benchmark: the NumPy integer emulator against hls4ml's C-simulation ``predict`` on the same
model and events in one run (the baseline, timed as hls4ml users call it, with its per-call overhead from a
one-event predict), with identical outputs required, plus the build's wall time split by stage.
Target (issue 4): emulator >= 100x faster than hls4ml. Median of 5 timed calls after a warm-up.

    python -m benchmarks.bench_build [--model ARTIFACT] [--events N] [--data FILE.h5]

Without ``--model`` it builds an AXOL1TL-sized QKeras model (57 -> 32 -> 16 -> 8, 6-bit weights, score sum
mu^2) with random weights.
"""

from __future__ import annotations

from benchmarks.harness import Bench, pin_one_thread

pin_one_thread()

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402


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
    from l1ad import _compat
    from l1ad.firmware.build import build, load_words
    from l1ad.firmware.hls import hls_config
    from l1ad.fixedpoint import FixedPointModel
    from l1ad.models import load_artifact

    bench = Bench("build")
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        model = a.model or _random_artifact(t / "artifact")
        rep = build(model, "vu13p", out_root=t / "fw", hls_root=t / "hls", events=a.events, data=a.data or None,
                    hls=False)
        fp = FixedPointModel.from_artifact(model)
        keras_model = load_artifact(model).trigger_model
        words, _ = load_words(fp, a.data or None, a.events)
        x = np.ascontiguousarray(fp.preprocess_float(words))
        # hls4ml as its users call it: convert, compile, predict (every precision from the description)
        hls4ml = _compat.hls4ml()
        hm = hls4ml.converters.convert_from_keras_model(
            keras_model, hls_config=hls_config(fp, keras_model, 4.1667), output_dir=str(t / "hls_bench"),
            backend="Vitis", io_type="io_parallel", part="xcvu13p-flga2577-2-e", clock_period=4.1667)
        hm.compile()
        n = len(words)
        bench.time("hls4ml", "baseline: hls4ml C-sim predict", lambda: hm.predict(x), n, clock="wall")
        bench.time("hls4ml_1", "hls4ml predict, one event per call", lambda: hm.predict(x[:1]), 1, clock="wall")
        bench.time("emulator", "l1ad NumPy integer emulator", lambda: fp.predict(words), n, baseline="hls4ml",
                   clock="wall")
        bench.time("qkeras", "QKeras predict (float)", lambda: keras_model.predict(x, batch_size=16384, verbose=0), n,
                   baseline="hls4ml", clock="wall")
        ref = None
        if fp.score.reference is not None:  # squared_error: the quantised inputs, from the emulator
            q, frac = fp.predict_layers(words)[fp.score.reference]
            ref = np.ldexp(q.astype(np.float64), -frac)
        same = np.array_equal(fp.score.raw_from_float(np.asarray(hm.predict(x), np.float64), ref), fp.predict(words))
    overhead = bench.rows["hls4ml_1"].median_s
    bench.info.update(model=rep["model"], events=n, hls4ml_per_call_overhead_s=overhead,
                      build_stage_seconds=rep["timings_s"], build_all_bitexact=rep["all_bitexact"])
    print(f"model {rep['model']}, {n:,} events; hls4ml per-call overhead {overhead * 1e3:.2f} ms "
          f"(one-event predict); build stages [s]: " + ", ".join(f"{k} {v:.1f}" for k, v in rep["timings_s"].items()))
    bench.target("emulator", ">=", 100.0, "ratio", note="issue 4: emulator >= 100x hls4ml C-sim predict")
    bench.require("bitexact", same and rep["all_bitexact"], "emulator = hls4ml C-sim = shipped RTL on these events")
    return bench.finish()


if __name__ == "__main__":
    sys.exit(main())
