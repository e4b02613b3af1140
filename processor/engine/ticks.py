"""The hourly tick of a partition: retention for carriers without traffic, and the live
views republished as the hour moves on.

The first tick of a partition (at its assignment) also republishes every carrier's records
and its newest hour, day and month, for consumers that missed them. Records a crash left
unsent need no such scan: their input was not committed, so it is read again, and a
re-delivered event republishes what it had changed (``fold``).
"""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import TYPE_CHECKING

from processor.domain.carrier import fold
from processor.domain.model import CarrierState, WindowState
from processor.engine.clock import now_ms
from processor.io.names import partition_key, window_key

if TYPE_CHECKING:
    from processor.engine.pipeline import Pipeline


def tick_steps(p: Pipeline, partition: int, tick_ms: int,
               first: bool) -> Generator[None, None, None]:
    """Expire and republish every carrier of ``partition``, pausing every ``SLICE_S``."""
    from processor.engine.pipeline import SLICE_S

    wall = now_ms()
    if first:
        p.view.drop_partition(partition)
        doc = p.stores.partitions.load(partition, partition_key(partition))
        p.view.invalid[partition] = doc["invalid"] if doc else 0
    began = time.perf_counter()
    for key in p.stores.carriers.keys(partition):
        if time.perf_counter() - began >= SLICE_S:
            yield
            began = time.perf_counter()
        cid = key.decode()
        state = p.stores.carriers.load(partition, key)
        if state is None:
            continue
        res = fold(cid, state, {}, {}, (), policy=p.policy_for(cid),
                   now_ms=p.reference_now(), wall_ms=wall)
        p.write(cid, res, wall, partition)
        newest = latest_windows(p, res.carrier, partition) if first else {}
        p.view.update(partition, res.carrier, newest)
        p.publisher.mark(cid, partition, list(newest), written=newest)


def latest_windows(p: Pipeline, state: CarrierState,
                   partition: int) -> dict[tuple[str, int], WindowState]:
    """The newest hour, day and month window of a carrier, as stored."""
    out = {}
    for kind, starts in state.windows.items():
        if starts:
            start = max(starts)
            key = window_key(state.carrier_id, kind, start).encode()
            w = p.stores.windows.load(partition, key)
            if w is not None:
                out[(kind, start)] = w
    return out



