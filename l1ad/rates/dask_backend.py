"""Run the per-chunk rate computation on a Dask cluster (``l1ad rates --scheduler ADDRESS`` or ``--workers N``).

The files are split into the same ``(file, start, stop)`` chunks as the local run; each worker runs
:func:`l1ad.rates.pipeline.process_chunk` and returns exact integer histograms, merged here. Histogram
merging is exact and order-independent, so thresholds and counts are identical to :func:`run_local`.
Workers must see the input files at the same paths (shared file system).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from l1ad.errors import L1adError
from l1ad.rates.pipeline import Chunk, Emulation, SampleCounts, process_chunk

__all__ = ["connect", "local_cluster", "run_dask"]

log = logging.getLogger(__name__)


def connect(address: str, timeout: float = 10.0) -> Any:
    """A ``dask.distributed.Client`` for the scheduler at ``address`` (one clear error if unreachable)."""
    from dask.distributed import Client

    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError) as e:
        raise L1adError(f"--scheduler {address}: cannot connect to the Dask scheduler: {e}") from None
    except (ValueError, TypeError) as e:  # e.g. "missing port number in address"
        raise L1adError(f"--scheduler: not a Dask scheduler address: {e} (value {address!r})") from None


def local_cluster(workers: int) -> tuple[Any, Any]:
    """(LocalCluster, Client): ``workers`` single-threaded worker processes on this machine (``--workers N``).

    Not the default: on the 2-core CI machines starting the processes (each imports NumPy, h5py and l1ad and
    receives the model) takes longer than the whole local run of the default zero-bias sample."""
    from dask.distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        return cluster, Client(cluster)
    except BaseException:
        cluster.close()
        raise


def run_dask(
    samples: Mapping[str, Sequence[Chunk]],
    emu: Emulation,
    client: Any,
    batch: int | None = None,
    progress: Any = None,
) -> dict[str, SampleCounts]:
    """Map :func:`process_chunk` over every sample's chunks on ``client``'s cluster; merge as they finish.

    All samples share one task stream (no barrier between zero bias and signals). At most ``batch``
    chunk results are outstanding at a time (default: 2 per worker thread, at least 4), so the client's
    memory stays bounded by ``batch`` chunk results plus the merged histograms.
    """
    from dask.distributed import as_completed

    if batch is None:
        threads = sum(client.nthreads().values()) or 1
        batch = max(4, 2 * threads)
    # hash=False: a fresh key per run, so a previous run's released copy can never be picked up
    [emu_future] = client.scatter([emu], broadcast=True, hash=False)
    totals = {name: SampleCounts(emu.seed_names, chunks[0].n_strata if chunks else 1)
              for name, chunks in samples.items()}
    todo = iter([(name, c) for name, chunks in samples.items() for c in chunks])
    run_id = uuid.uuid4().hex[:12]
    pending = as_completed()
    sample_of: dict[str, str] = {}
    n_submitted = 0

    def submit_next() -> None:
        nonlocal n_submitted
        item = next(todo, None)
        if item is None:
            return
        name, c = item
        n_submitted += 1
        key = f"l1ad-rates-{run_id}-{n_submitted}"
        sample_of[key] = name
        pending.add(client.submit(process_chunk, c, emu_future, key=key, pure=False))

    for _ in range(batch):
        submit_next()
    try:
        for fut in pending:
            part = fut.result()  # re-raises a worker's L1adError here
            totals[sample_of.pop(fut.key)].absorb(part)
            if progress is not None:
                progress(part.n_events)
            fut.release()
            submit_next()
    finally:
        emu_future.release()
    log.debug("dask: merged %d chunks", n_submitted)
    return totals
