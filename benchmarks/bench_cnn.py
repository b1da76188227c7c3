"""b-tag CNN integer emulator (``FixedPointModel.predict``) against hls4ml's C-simulation ``predict`` on the same
jets, outputs required identical.

    python -m benchmarks.bench_cnn [--artifact DIR] [--jets FILE.h5] [--events N] [--json FILE]

On one core (BLAS/OpenMP pinned to one thread; CPU time of this process - hls4ml's compiled C simulation runs
in-process through ctypes - median of 5 after a warm-up). The model is ``out/demo/models/btag_cnn`` on the jets
of ``data/btag.h5`` (``make demo``), else the ``configs/models/btag_cnn.yaml`` network with random weights on
random words. The words are the firmware's inputs: the input quantizer's 8-bit codes of the track features.

* ``hls4ml`` (baseline) - hls4ml 1.3 C-simulation ``predict`` on the jets (the project converted with every
  precision from the description, as ``l1ad build`` writes it, and compiled with g++);
* ``model`` - ``FixedPointModel.predict`` on the same jets' int64 words (repeated to ``--events``);
* ``model_int8`` - the same on int8 words (the codes' own width).

Targets (issue 15): ``model`` >= 1 M events/s/core and >= 100x hls4ml; scores identical to hls4ml's.
"""

from __future__ import annotations

from benchmarks.harness import Bench, pin_one_thread

pin_one_thread()

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

TARGET = 1e6
TARGET_RATIO = 100.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artifact", type=Path, default=None, help="b-tag artifact (default out/demo/models/btag_cnn)")
    ap.add_argument("--jets", type=Path, default=None, help="b-tag jets file (default data/btag.h5)")
    ap.add_argument("--events", type=int, default=400_000, help="events per timed emulator pass")
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers to this JSON file")
    a = ap.parse_args(argv)

    from benchmarks.samples import btag
    from l1ad import _compat
    from l1ad.firmware.hls import hls_config

    fp, keras_model, jets, src = btag(a.artifact, a.jets)
    reps = -(-a.events // len(jets))
    words = np.concatenate([jets] * reps)[: a.events]
    w8 = words.astype(np.int8) if all(f.width <= 8 for f in fp.inputs) else words.astype(np.int16)
    x = np.ascontiguousarray(fp.preprocess_float(jets))
    fast = fp.fast_path
    print(f"model {src}; fast path {fast.dt.__name__ if fast else None} chunk {fast.chunk if fast else None}")

    bench = Bench("cnn")
    bench.info.update(model=src, jets=len(jets), events=len(words), fast_dtype=fast.dt.__name__ if fast else None,
                      fast_chunk=fast.chunk if fast else None)
    out: dict[str, np.ndarray] = {}

    def keep(key: str, f: Callable[[], np.ndarray]) -> Callable[[], None]:
        def g() -> None:
            out[key] = f()

        return g

    with tempfile.TemporaryDirectory() as tmp:
        hls4ml = _compat.hls4ml()
        hm = hls4ml.converters.convert_from_keras_model(
            keras_model, hls_config=hls_config(fp, keras_model, 4.1667), output_dir=str(Path(tmp) / "hls"),
            backend="Vitis", io_type="io_parallel", part="xcvu13p-flga2577-2-e", clock_period=4.1667)
        graph = dict(hm.graph)
        for layer in fp.layers:
            layer.hls_patch(graph)
        hm.compile()
        bench.time("hls4ml", "baseline: hls4ml C-sim predict", keep("hls4ml", lambda: hm.predict(x)), len(jets))
    bench.time("model", "FixedPointModel.predict, int64 words", keep("model", lambda: fp.predict(words)),
               len(words), baseline="hls4ml")
    bench.time("model_int8", f"FixedPointModel.predict, {w8.dtype} words", keep("int8", lambda: fp.predict(w8)),
               len(words), baseline="hls4ml")
    bench.target("model", ">=", TARGET, note="issue 15: >= 1 M events/s/core")
    bench.target("model", ">=", TARGET_RATIO, "ratio", note="issue 15: >= 100x hls4ml C-sim predict")
    hls_scores = fp.score.raw_from_float(np.asarray(out["hls4ml"], np.float64).reshape(len(jets), -1), None)
    same = np.array_equal(hls_scores, out["model"][: len(jets)]) and np.array_equal(out["model"], out["int8"])
    bench.require("bitexact", same, f"emulator = hls4ml C-sim on all {len(jets):,} jets; int64 = {w8.dtype} words")
    return bench.finish(a.json)


if __name__ == "__main__":
    sys.exit(main())
