"""Run the per-chunk rate computation on a Dask cluster (``l1ad rates --scheduler ADDRESS``).

The files are split into the same ``(file, start, stop)`` chunks as the local run; each worker runs
:func:`l1ad.rates.pipeline.process_chunk` and returns exact integer histograms, merged here. Histogram
merging is exact and order-independent, so thresholds and counts are identical to :func:`run_local`.
Workers must see the input files at the same paths (shared file system).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from l1ad.errors import L1adError
from l1ad.rates.pipeline import Chunk, Emulation, SampleCounts, process_chunk

__all__ = ["connect", "run_dask"]

log = logging.getLogger(__name__)


def connect(address: str, timeout: float = 10.0) -> Any:
    """A ``dask.distributed.Client`` for the scheduler at ``address`` (one clear error if unreachable)."""
    from dask.distributed import Client

    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError) as e:
        raise L1adError(f"--scheduler {address}: cannot connect to the Dask scheduler: {e}") from None


def run_dask(
    chunks: Sequence[Chunk], emu: Emulation, client: Any, batch: int = 64, progress: Any = None
) -> SampleCounts:
    """Map :func:`process_chunk` over ``chunks`` on ``client``'s cluster; merge the counts as they finish.

    At most ``batch`` chunk results are outstanding at a time, so the client's memory stays bounded.
    """
    from dask.distributed import as_completed

    [emu_future] = client.scatter([emu], broadcast=True)
    total = SampleCounts(emu.seed_names)
    todo = list(chunks)
    pending = as_completed()
    key = 0

    def submit(c: Chunk) -> None:
        nonlocal key
        key += 1
        fut = client.submit(process_chunk, c, emu_future, key=f"l1ad-rates-{id(total)}-{key}", pure=False)
        pending.add(fut)

    for c in todo[:batch]:
        submit(c)
    rest = iter(todo[batch:])
    for fut in pending:
        part = fut.result()  # re-raises a worker's L1adError here
        total.absorb(part)
        if progress is not None:
            progress(part.n_events)
        fut.release()
        nxt = next(rest, None)
        if nxt is not None:
            submit(nxt)
    log.debug("dask: merged %d chunks", len(todo))
    return total
