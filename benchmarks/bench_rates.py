"""Rate-emulation throughput: bit-exact integer scores per second per core, and the time for 10^8 events.

    python -m benchmarks.bench_rates [--events N] [--artifact DIR | --design DIR] [--json FILE]

Measured on one core (BLAS and OpenMP pinned to one thread before NumPy loads; rates are events per
CPU-second of this process, median of ``--repeat`` >= 5 passes after a warm-up):

* ``model``    - ``FixedPointModel.predict`` on encoded zero-bias words, one call per 100,000-event chunk
  as ``l1ad rates`` does (the NumPy path of the issue; predict batches internally);
* ``model, 8k calls`` - the same called on 8,192-event slices (shows the per-call overhead);
* ``baseline`` - a plain float64 NumPy forward pass of the same shape (x @ W1, ReLU, @ W2, ReLU, @ W3,
  sum of squares) on the whole array, measured in the same run: the ratio model/baseline compares
  across machines;
* ``pipeline`` - ``l1ad.rates.pipeline.process_chunk`` on an ADC2021 HDF5 file (read + validate +
  encode + model + menu + histograms), i.e. what one ``l1ad rates`` worker does;
* ``pipeline_words`` - the same on the file's ``l1ad data encode`` output (int16 words + the menu's seed bits:
  read + model + histograms), with identical counts (checked); target >= 2 M events/s/core (issue 15).

Without ``--artifact``/``--design`` the default-size model (AXOL1TL-style VAE encoder 57 -> 32 -> 16 -> 8,
score sum of mu^2, ``l1ad.models`` default quantizers) is built with random (Glorot) weights; the integer
arithmetic and hence the speed do not depend on the weight values.
"""

from __future__ import annotations

from benchmarks.harness import Bench, pin_one_thread

pin_one_thread()

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

TARGET_EV_PER_S = 2e6  # issue 6: >= 2M events/s per core on the NumPy path
EXTRAPOLATE_EVENTS = 10**8


def toy_zero_bias(n: int, seed: int = 0) -> np.ndarray:
    """(n, 19, 4) float32 events in the ADC2021 layout with falling pT spectra (speed test input only)."""
    from l1ad.data.layout import GROUPS, N_OBJECTS, ObjectClass

    rng = np.random.default_rng(seed)
    p = np.zeros((n, N_OBJECTS, 4), np.float32)
    p[:, 0, 0] = rng.exponential(12.0, n)
    p[:, 0, 2] = rng.uniform(-np.pi, np.pi, n)
    p[:, 0, 3] = int(ObjectClass.MET)
    spec = {ObjectClass.EGAMMA: (0.6, 8.0, 3.0), ObjectClass.MUON: (0.3, 6.0, 3.0), ObjectClass.JET: (3.0, 18.0, 15.0)}
    for cls, first, k in GROUPS:
        if cls == ObjectClass.MET:
            continue
        mult, scale, pt0 = spec[cls]
        m = np.minimum(rng.poisson(mult, n), k)
        pt = -np.sort(-(rng.exponential(scale, (n, k)) + pt0), axis=1)
        present = np.arange(k)[None, :] < m[:, None]
        rows = slice(first, first + k)
        p[:, rows, 0] = np.where(present, pt, 0)
        p[:, rows, 1] = np.where(present, rng.uniform(-2.5, 2.5, (n, k)), 0)
        p[:, rows, 2] = np.where(present, rng.uniform(-np.pi, np.pi, (n, k)), 0)
        p[:, rows, 3] = np.where(present, int(cls), 0)
    return p


def default_model(words: np.ndarray) -> Any:
    """The default-size trigger model with random weights, as a FixedPointModel (preprocessing fitted)."""
    from l1ad.data.encoding import load_encoding
    from l1ad.fixedpoint import FixedPointModel, InputField
    from l1ad.models.preprocessing import fit_word_preprocessing
    from l1ad.models.quantizers import QuantConfig
    from l1ad.models.vae import VaeConfig, build_vae

    q = QuantConfig()
    built = build_vae(VaeConfig(), q)
    pre = fit_word_preprocessing(words, q.input)
    inputs = [InputField(f.name, f.width, f.signed) for f in load_encoding().fields]
    return FixedPointModel.from_keras(built.trigger_model(), pre.to_json(), built.score, inputs, name="vae_random")


def load_model(args: argparse.Namespace, words: np.ndarray) -> Any:
    from l1ad.cli.rates import load_score_model

    if args.artifact or args.design:
        return load_score_model(args.design, args.artifact)
    return default_model(words)


def float_baseline(model: Any, words: np.ndarray) -> Callable[[], Any]:
    """Plain float64 forward pass with the same matrix shapes as the model's dense layers."""
    from l1ad.fixedpoint.layers.dense import Dense

    ws = [lay.weights.astype(np.float64) for lay in model.layers if isinstance(lay, Dense)]
    x = (words - model.offset).astype(np.float64)

    def run() -> Any:
        h = x
        for i, w in enumerate(ws):
            h = h @ w
            if i < len(ws) - 1:
                h = np.maximum(h, 0.0)
        return (h * h).sum(axis=1)

    return run


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=400_000, help="events per timed pass")
    ap.add_argument("--repeat", type=int, default=5, help="timed passes per measurement (median is kept, >= 5)")
    ap.add_argument("--artifact", type=Path, default=None, help="model artifact dir (default: random weights)")
    ap.add_argument("--design", type=Path, default=None, help="built design dir (uses its fixedpoint.json)")
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers to this JSON file")
    args = ap.parse_args(argv)

    from l1ad.data.adc2021 import write_events
    from l1ad.data.encoding import load_encoding
    from l1ad.rates.menu import load_menu
    from l1ad.rates.pipeline import (
        DEFAULT_BATCH,
        Emulation,
        Hdf5Reader,
        plan_chunks,
        process_chunk,
        run_local,
    )
    from l1ad.rates.streaming import ScoreHistogram, shift_for_width

    n = args.events
    events = toy_zero_bias(n)
    enc = load_encoding()
    words = np.concatenate([enc.encode(events[a : a + DEFAULT_BATCH]).words for a in range(0, n, DEFAULT_BATCH)])
    model = load_model(args, words)
    layers = " -> ".join(str(r.get("weights", [""])[-1]) for r in model.summary() if "weights" in r)
    print(f"model {model.name}: 57 -> {layers}, score {model.score.type} {model.score_precision}; {n:,} events")

    def model_calls(step: int) -> Callable[[], Any]:
        return lambda: [model.predict(words[a : a + step]) for a in range(0, n, step)]

    bench = Bench("rates", repeat=max(5, args.repeat))
    bench.info.update(events=n, model=model.name, cores=os.cpu_count())
    bench.time("baseline", "float64 NumPy forward pass, same shapes", float_baseline(model, words), n)
    bench.time("model", "model (100k-event calls, as l1ad rates)", model_calls(100_000), n, baseline="baseline")
    bench.time("model_8k", "model (8k-event calls)", model_calls(DEFAULT_BATCH), n, baseline="baseline")

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "zero_bias.h5"
        write_events(path, events)
        shift = shift_for_width(model.score_precision[0])  # as `l1ad rates` sets it
        emu = Emulation(model, enc, load_menu(), reader=Hdf5Reader(), hist_shift=shift)
        chunks = plan_chunks([path], [n], 100_000)
        bench.time("pipeline", "pipeline (read+encode+model+menu+histograms)",
                   lambda: [process_chunk(c, emu) for c in chunks], n, baseline="baseline")
        # the same events as a stitched zero bias of 12 strata (per-stratum counting, as l1ad rates does)
        from l1ad.data.adc2021 import STRATUM, WEIGHTS

        k = 12
        sid = (np.arange(n) % k).astype(np.int16)
        table = [{"name": f"s{i}", "probability": 1 / k, "crossings": int((sid == i).sum())} for i in range(k)]
        wpath = Path(d) / "zero_bias_weighted.h5"
        write_events(wpath, events, {"strata": table}, extras={WEIGHTS: np.full(n, 1 / n), STRATUM: sid})
        wchunks = plan_chunks([wpath], [n], 100_000, strata=[k])
        bench.time("pipeline_weighted", "pipeline, weighted file (12 strata)",
                   lambda: [process_chunk(c, emu) for c in wchunks], n, baseline="baseline")

        # the same files encoded once by `l1ad data encode` (int16 words + menu seed bits): what `l1ad rates` reads
        # instead of the events; chunks on whole HDF5 chunks, as l1ad rates plans them
        from l1ad.data.words import write_words

        menu = emu.menu
        wd_path, wdw_path = Path(d) / "zero_bias.words.h5", Path(d) / "zero_bias_weighted.words.h5"
        write_words(path, wd_path, enc, menu)
        write_words(wpath, wdw_path, enc, menu)
        wd_chunks = plan_chunks([wd_path], [n], 100_000, align=[emu.reader.chunk_rows(str(wd_path))])
        wdw_chunks = plan_chunks([wdw_path], [n], 100_000, strata=[k], align=[emu.reader.chunk_rows(str(wdw_path))])
        bench.time("pipeline_words", "pipeline, encoded words (l1ad data encode)",
                   lambda: [process_chunk(c, emu) for c in wd_chunks], n, baseline="baseline")
        bench.time("pipeline_words_weighted", "pipeline, encoded words, weighted (12 strata)",
                   lambda: [process_chunk(c, emu) for c in wdw_chunks], n, baseline="baseline")
        same = (run_local(wd_chunks, emu) == run_local(chunks, emu)
                and run_local(wdw_chunks, emu) == run_local(wchunks, emu))
        bench.require("pipeline_words", same, "encoded-words counts == event-file counts (both files)")

        # where the pipeline's time goes (same steps as process_chunk)
        reader = Hdf5Reader()
        assert menu is not None
        all_scores = model.predict(words)

        def stepped(fn: Callable[[int, int], Any]) -> Callable[[], Any]:
            return lambda: [fn(a, min(a + DEFAULT_BATCH, n)) for a in range(0, n, DEFAULT_BATCH)]

        bench.time("read", "  stage: read+validate (l1ad.data.adc2021)",
                   lambda: [reader.read(str(path), c.start, c.stop) for c in chunks], n, baseline="baseline")
        bench.time("encode", "  stage: encode (l1ad.data.encoding)", stepped(lambda a, b: enc.encode(events[a:b])), n,
                   baseline="baseline")
        bench.time("menu", "  stage: menu (l1ad.rates.menu)", stepped(lambda a, b: menu.evaluate(events[a:b])), n,
                   baseline="baseline")
        bench.time("read_words", "  stage: read words+seed bits (l1ad.data.words)",
                   lambda: [reader.read_encoded(str(wd_path), c.start, c.stop) for c in wd_chunks], n,
                   baseline="baseline")
        bench.time("histograms", "  stage: histograms (l1ad.rates.streaming)",
                   lambda: [ScoreHistogram.from_scores(all_scores[c.start : c.stop], shift) for c in chunks], n,
                   baseline="baseline")

    r_model = bench.rows["model"].rate
    cores = os.cpu_count() or 1
    for key, what in (("pipeline", "event file"), ("pipeline_words", "encoded words")):
        t1 = EXTRAPOLATE_EVENTS / bench.rows[key].rate
        print(f"10^8 events through the pipeline ({what}): {t1 / 60:.1f} min on one core, {t1 / cores / 60:.1f} min "
              f"on {cores} cores")
    print(f"model alone: {EXTRAPOLATE_EVENTS / r_model / 60:.1f} min on one core")
    bench.target("model", ">=", TARGET_EV_PER_S, note="NumPy integer emulator, events/s/core")
    bench.target("pipeline_words", ">=", TARGET_EV_PER_S,
                 note="issue 15: full rates pipeline on encoded words, events/s/core")
    return bench.finish(args.json)


if __name__ == "__main__":
    sys.exit(main())
