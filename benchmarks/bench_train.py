"""Training throughput of the default AXOL1TL-style VAE (quantized and float twin), in events per second.

    python -m benchmarks.bench_train [--events N] [--epochs E] [--batch-size B]

Inputs are random GT-like words preprocessed with the fitted integer offsets/shifts; the throughput of
``fit`` does not depend on the values. Reports events/s = training events x epochs / wall time of ``fit``
(all cores TensorFlow chooses to use).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=1024)
    a = ap.parse_args(argv)
    from l1ad.models.preprocessing import fit_word_preprocessing
    from l1ad.models.pruning import PruningConfig
    from l1ad.models.quantizers import QuantConfig
    from l1ad.models.vae import VaeConfig, build_vae
    from l1ad.training.config import TrainingParams
    from l1ad.training.loop import fit_model

    rng = np.random.default_rng(0)
    n = a.events
    words = np.stack([rng.exponential(20, (n, 19)).astype(np.int64), rng.integers(-100, 100, (n, 19)),
                      rng.integers(0, 144, (n, 19))], axis=2).reshape(n, 57)
    q = QuantConfig()
    x = fit_word_preprocessing(words, q.input).apply(words)
    y = np.asarray(q.input.qkeras()(x))
    params = TrainingParams(epochs=a.epochs, batch_size=a.batch_size, early_stopping=None)
    n_val = n // 10
    for label, qv in (("quantized", q), ("float", None)):
        built = build_vae(VaeConfig(), qv)
        r = fit_model(built, x[n_val:], y[n_val:], x[:n_val], y[:n_val], params, PruningConfig(), label)
        print(f"vae {label:<9}: {r.events_per_second:10.0f} events/s  ({n - n_val} events x {r.epochs_run} "
              f"epochs in {r.seconds:.1f} s, batch {a.batch_size})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
