"""ADC2021 reader throughput: events/s of :func:`l1ad.data.adc2021.iter_events` (chunked, validated reads)
and of encoding to hardware words, against a baseline measured in the same run: the raw HDF5 read of the same
dataset with h5py (decompression only, no validation). Target (issue 2): reader >= 1M events/s on one core.

    python -m benchmarks.bench_reader [--events N] [--chunk-size N]
"""

from __future__ import annotations

from benchmarks.harness import Bench, pin_one_thread

pin_one_thread()

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import h5py  # noqa: E402
import numpy as np  # noqa: E402

from l1ad.data.adc2021 import iter_events, write_events  # noqa: E402
from l1ad.data.encoding import load_encoding  # noqa: E402
from l1ad.data.layout import GROUPS  # noqa: E402

TARGET = 1_000_000


def _events(n: int, seed: int = 0) -> np.ndarray:
    """Zero-bias-like events: exponential pT spectra, Poisson multiplicities, zero padding."""
    rng = np.random.default_rng(seed)
    p = np.zeros((n, 19, 4), np.float32)
    for cls, first, k in GROUPS:
        mult = rng.poisson(1.0 if k > 1 else 1.0, n).clip(0 if k > 1 else 1, k)
        present = np.arange(k)[None, :] < mult[:, None]
        pt = -np.sort(-rng.exponential(15.0, (n, k)), axis=1) + 3.0
        rows = slice(first, first + k)
        p[:, rows, 0] = np.where(present, pt, 0)
        p[:, rows, 1] = np.where(present & (k > 1), rng.uniform(-2.4, 2.4, (n, k)), 0)
        p[:, rows, 2] = np.where(present, rng.uniform(-np.pi, np.pi, (n, k)), 0)
        p[:, rows, 3] = np.where(present, int(cls), 0)
    return p


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--chunk-size", type=int, default=100_000)
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "zb.h5"
        write_events(path, _events(a.events))

        def raw() -> None:
            with h5py.File(path, "r") as f:
                ds = f["Particles"]
                for i in range(0, len(ds), a.chunk_size):
                    ds[i : i + a.chunk_size]

        def reader() -> None:
            for _ in iter_events(path, chunk_size=a.chunk_size):
                pass

        enc = load_encoding()

        def read_and_encode() -> None:
            for block in iter_events(path, chunk_size=a.chunk_size):
                for j in range(0, len(block), 8192):
                    enc.encode(block[j : j + 8192])

        bench = Bench("reader")
        n = a.events
        bench.info.update(events=n, chunk_size=a.chunk_size)
        bench.time("raw", "baseline: h5py raw read", raw, n)
        bench.time("reader", "l1ad iter_events (validated)", reader, n, baseline="raw")
        bench.time("encode", "read + encode to words", read_and_encode, n, baseline="raw")
    bench.target("reader", ">=", TARGET, note="issue 2: >= 1M events/s on one core")
    return bench.finish()


if __name__ == "__main__":
    sys.exit(main())
