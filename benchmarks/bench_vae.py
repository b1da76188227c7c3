"""VAE integer emulator (``FixedPointModel.predict``) against the float64 BLAS bound of the same shapes.

    python -m benchmarks.bench_vae [--events N] [--artifact DIR] [--data FILE.h5] [--json FILE]

On one core (BLAS pinned to one thread; CPU time of this process, median of 5 after a warm-up), on encoded
zero-bias events (``data/zero_bias.h5`` and ``out/demo/models/axol1tl_vae`` from ``make demo``, else stand-ins):

* ``baseline`` - the float64 BLAS bound: the network's three products (57 -> 32 -> 16 -> 8) in float64 on inputs
  already preprocessed in memory, ReLU between, sum of squares; in cache-sized chunks (the fastest of 1k/2k/4k
  events, picked in the same run) - no quantization, no input conversion;
* ``model`` - ``FixedPointModel.predict`` on the int64 words ``Encoding.encode`` returns (bit-exact scores);
* ``model_int16`` - the same on int16 words (``encode(..., dtype=encoding.word_dtype)``: a quarter of the bytes);
* ``generic`` - the layer-by-layer path (what ``predict`` falls back to; also the overflow counter).

Targets (issue 15): ``model`` >= 5 M events/s/core; ``model_int16`` >= 5/6 of the float64 bound measured in the
same run (the issue: 5 M against a bound of "~6 M"); every path's scores identical. The int64 words cost ~30 ns
more per event than int16 ones only in reading them from memory (456 instead of 114 bytes an event): int64 runs
at 0.80-0.85 of the bound, int16 at 0.95-1.07 (both printed).
"""

from __future__ import annotations

from benchmarks.harness import Bench, pin_one_thread

pin_one_thread()

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

TARGET = 5e6
TARGET_RATIO = 5 / 6


def float64_bound(model: Any, words: np.ndarray) -> tuple[Callable[[], Any], int]:
    """The float64 products of the model's dense layers on preprocessed float64 inputs, in the fastest chunk."""
    from l1ad.fixedpoint.layers.dense import Dense

    ws = [lay.weights.astype(np.float64) for lay in model.layers if isinstance(lay, Dense)]
    x = np.ldexp((words - model.offset).astype(np.float64), -model.shift)

    def run(chunk: int) -> Callable[[], Any]:
        def f() -> Any:
            out = np.empty(len(x))
            for a in range(0, len(x), chunk):
                h = x[a : a + chunk]
                for i, w in enumerate(ws):
                    h = h @ w
                    if i < len(ws) - 1:
                        np.maximum(h, 0.0, out=h)
                out[a : a + chunk] = np.einsum("ij,ij->i", h, h)
            return out

        return f

    best = min((1024, 2048, 4096), key=lambda c: _cpu(run(c)))
    return run(best), best


def _cpu(f: Callable[[], Any]) -> float:
    t = time.process_time()
    f()
    return time.process_time() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=500_000, help="events per timed pass")
    ap.add_argument("--artifact", type=Path, default=None, help="VAE artifact (default out/demo/models/axol1tl_vae)")
    ap.add_argument("--data", type=Path, default=None, help="zero-bias ADC2021 file (default data/zero_bias.h5)")
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers to this JSON file")
    a = ap.parse_args(argv)

    from benchmarks.samples import vae_model, zero_bias
    from l1ad.data.encoding import load_encoding

    events, ev_src = zero_bias(a.events, a.data)
    enc = load_encoding()
    words = enc.encode(events).words
    del events
    model, model_src = vae_model(words, a.artifact)
    w16 = words.astype(enc.word_dtype)
    n = len(words)
    fast = model.fast_path
    base, chunk = float64_bound(model, words)
    print(f"model {model_src}; events {ev_src}; fast path {fast.dt.__name__ if fast else None} "
          f"chunk {fast.chunk if fast else None}; float64 bound chunk {chunk}")

    bench = Bench("vae")
    bench.info.update(events=n, model=model_src, data=ev_src, fast_dtype=fast.dt.__name__ if fast else None,
                      fast_chunk=fast.chunk if fast else None, baseline_chunk=chunk, word_dtype=str(w16.dtype))
    bench.time("baseline", "baseline: float64 BLAS, same shapes", base, n)
    out: dict[str, np.ndarray] = {}

    def keep(key: str, f: Callable[[], np.ndarray]) -> Callable[[], None]:
        def g() -> None:
            out[key] = f()

        return g

    bench.time("model", "FixedPointModel.predict, int64 words", keep("model", lambda: model.predict(words)), n,
               baseline="baseline")
    bench.time("model_int16", f"FixedPointModel.predict, {w16.dtype} words",
               keep("int16", lambda: model.predict(w16)), n, baseline="baseline")
    m = min(n, 100_000)
    bench.time("generic", "generic layer-by-layer path", keep("generic", lambda: model.predict_generic(words[:m])), m,
               baseline="baseline")
    bench.target("model", ">=", TARGET, note="issue 15: >= 5 M events/s/core")
    bench.target("model_int16", ">=", TARGET_RATIO, "ratio",
                 note="issue 15: >= 5 M where the float64 BLAS bound is ~6 M, i.e. >= 5/6 of the bound")
    same = np.array_equal(out["model"], out["int16"]) and np.array_equal(out["model"][:m], out["generic"])
    bench.require("bitexact", same, "int64 words = int16 words = generic path, every score")
    return bench.finish(a.json)


if __name__ == "__main__":
    sys.exit(main())
