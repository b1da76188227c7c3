"""Event-generation throughput: zero-bias crossings per CPU-second with <mu> = 60 pileup, after the pool exists.

    python -m benchmarks.bench_generation [--pool-events N] [--crossings N] [--pileup MU]

Steps timed (process CPU time, one core; BLAS pinned to one thread):

* ``pool``    - Pythia inelastic pp + truth tower deposits per min-bias event (one-off cost, MPI init excluded);
* ``overlay`` - Poisson pileup overlay + the per-crossing measurement (hadronic shower sharing, ECAL/HCAL/HF
  resolution, trigger-primitive quantisation) + ETMHF + anti-kT jets + e/gamma clustering with
  isolation + muon measurement + packing, per crossing (what ``l1ad data generate`` does for every zero-bias
  crossing). Target (issue 15): >= 5,000 crossings/s.
"""

from __future__ import annotations

from benchmarks.harness import Bench, pin_one_thread

pin_one_thread()

import argparse  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402

TARGET_CROSSINGS_PER_S = 5000.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pool-events", type=int, default=1000)
    ap.add_argument("--crossings", type=int, default=5000)
    ap.add_argument("--pileup", type=float, default=60.0)
    args = ap.parse_args(argv)

    from l1ad.data.generation import load_emulation_config
    from l1ad.data.generation.l1emu import L1Emulator
    from l1ad.data.generation.pileup import pileup_pieces
    from l1ad.data.generation.processes import MINBIAS
    from l1ad.data.generation.pythia import generate, make_pythia

    emu = L1Emulator(load_emulation_config())
    rng = np.random.default_rng(1)
    make_pythia(MINBIAS.settings, 1, 13600.0)  # creates / loads the cached MPI init table (not timed)
    bench = Bench("generation")
    holder: dict[str, object] = {}

    def pool() -> None:
        holder["pool"] = emu.detector_response(generate(MINBIAS.settings, args.pool_events, 12345, 13600.0))

    bench.time("pool", "Pythia min-bias + truth deposits", pool, args.pool_events)
    pool_events = holder["pool"]

    def overlay() -> None:
        done = 0
        while done < args.crossings:
            n = min(1000, args.crossings - done)
            emu.assemble([pileup_pieces(pool_events, n, args.pileup, emu.n_phi, rng)], n, rng)
            done += n

    bench.time("overlay", f"overlay <mu>={args.pileup:g} + measurement + L1 emulation", overlay, args.crossings,
               unit="crossings", baseline="pool")
    bench.info.update(pool_events=args.pool_events, crossings=args.crossings, pileup=args.pileup)
    bench.target("overlay", ">=", TARGET_CROSSINGS_PER_S, note="crossings per CPU-second after the pool")
    return bench.finish()


if __name__ == "__main__":
    sys.exit(main())
