"""Event-generation throughput: zero-bias crossings per CPU-second with <mu> = 60 pileup, after the pool exists.

    python -m benchmarks.bench_generation [--pool-events N] [--crossings N] [--pileup MU]

Steps timed (process CPU time, one core; BLAS pinned to one thread):

* ``pool``    - Pythia inelastic pp + truth tower deposits per min-bias event (one-off cost, MPI init excluded);
* ``overlay`` - Poisson pileup overlay + the per-crossing measurement (hadronic shower sharing, ECAL/HCAL/HF
  resolution, trigger-primitive quantisation) + ETMHF + anti-kT jets + e/gamma clustering with isolation +
  muon measurement + packing, per crossing (what ``l1ad data generate`` does for every zero-bias crossing).
  Target (issue 2): >= 1,000 crossings/s.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

TARGET_CROSSINGS_PER_S = 1000.0


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
    t0 = time.process_time()
    batch = generate(MINBIAS.settings, args.pool_events, 12345, 13600.0)
    pool = emu.detector_response(batch)
    t_pool = time.process_time() - t0
    emu.assemble([pileup_pieces(pool, 100, args.pileup, emu.n_phi, rng)], 100, rng)  # warm-up (fastjet banner)
    t0 = time.process_time()
    done = 0
    while done < args.crossings:
        n = min(1000, args.crossings - done)
        emu.assemble([pileup_pieces(pool, n, args.pileup, emu.n_phi, rng)], n, rng)
        done += n
    t_ovl = time.process_time() - t0
    rate = args.crossings / t_ovl
    print(f"pool    : {args.pool_events} min-bias events in {t_pool:.1f} CPU s = "
          f"{args.pool_events / t_pool:,.0f} events/s (Pythia + detector response)")
    print(f"overlay : {args.crossings} crossings at <mu> = {args.pileup:g} in {t_ovl:.1f} CPU s = "
          f"{rate:,.0f} crossings/s (target >= {TARGET_CROSSINGS_PER_S:,.0f}) -> "
          f"{1e6 / rate / 60:.1f} CPU min per million crossings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
