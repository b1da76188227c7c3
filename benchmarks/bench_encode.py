"""Encoding ADC2021 events into the 57 GT words (``Encoding.encode``) against the raw HDF5 read of the same events.

    python -m benchmarks.bench_encode [--data FILE.h5] [--events N] [--json FILE]

On one core (CPU time, median of 5 after a warm-up), block by block as a rates worker reads them: blocks of the
file's HDF5 chunk (``data/zero_bias.h5`` from ``make demo``; else synthetic zero bias written to a temporary
file with the same chunking).

* ``read`` (baseline) - h5py reads of the ``Particles`` dataset, chunk by chunk (gzip decompression only);
* ``encode`` - ``encode`` of the same blocks, already in memory, into int64 words;
* ``encode_int16`` - the same into int16 words (``dtype=encoding.word_dtype``);
* ``read_encode`` - both, as a reader that encodes each chunk it reads.

Targets (issue 15: the rates pipeline must reach >= 2 M events/s/core, so encoding must not be what limits it):
``encode`` >= 3 M events/s/core (1.5x the pipeline's target) and >= 1.5x the raw read of the same events.
"""

from __future__ import annotations

from benchmarks.harness import Bench, pin_one_thread

pin_one_thread()

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import h5py  # noqa: E402
import numpy as np  # noqa: E402

TARGET = 3e6
TARGET_RATIO = 1.5


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="ADC2021 file (default data/zero_bias.h5)")
    ap.add_argument("--events", type=int, default=500_000, help="events per timed pass (at most the file's)")
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers to this JSON file")
    a = ap.parse_args(argv)

    from benchmarks.samples import DATA
    from l1ad.data.encoding import load_encoding

    enc = load_encoding()
    with tempfile.TemporaryDirectory() as tmp:
        path = a.data or DATA / "zero_bias.h5"
        if not path.is_file():
            from benchmarks.samples import zero_bias
            from l1ad.data.adc2021 import write_events

            path = Path(tmp) / "zero_bias.h5"
            write_events(path, zero_bias(a.events)[0])
        with h5py.File(path, "r") as f:
            ds = f["Particles"]
            n = min(a.events, len(ds))
            step = int(ds.chunks[0]) if ds.chunks else 8192
            events = ds[:n]
        blocks = [events[i : i + step] for i in range(0, n, step)]
        print(f"{path}: {n:,} events in blocks of {step:,} (the file's chunking); word dtype {enc.word_dtype}")

        def read() -> None:
            with h5py.File(path, "r") as f:
                ds = f["Particles"]
                for i in range(0, n, step):
                    ds[i : i + step]

        def read_encode() -> None:
            with h5py.File(path, "r") as f:
                ds = f["Particles"]
                for i in range(0, n, step):
                    enc.encode(ds[i : i + step])

        def encode(dtype: type) -> Callable[[], None]:
            def f() -> None:
                for b in blocks:  # each block's words are used and dropped, as a reader does
                    enc.encode(b, dtype=dtype)

            return f

        bench = Bench("encode")
        bench.info.update(data=str(path), events=n, block=step, word_dtype=str(enc.word_dtype))
        bench.time("read", "baseline: h5py raw read", read, n)
        bench.time("encode", "Encoding.encode, int64 words", encode(np.int64), n, baseline="read")
        bench.time("encode_int16", f"Encoding.encode, {enc.word_dtype} words", encode(enc.word_dtype), n,
                   baseline="read")
        bench.time("read_encode", "read + encode (int64 words)", read_encode, n, baseline="read")
    whole = enc.encode(events).words
    same = np.array_equal(np.concatenate([enc.encode(b, dtype=enc.word_dtype).words for b in blocks]), whole)
    bench.target("encode", ">=", TARGET, note="issue 15: well above the pipeline's 2 M events/s/core")
    bench.target("encode", ">=", TARGET_RATIO, "ratio", note="encoding at least 1.5x as fast as reading the same events")
    bench.require("identical", same, "block-wise int16 words = whole-array int64 words")
    return bench.finish(a.json)


if __name__ == "__main__":
    sys.exit(main())
