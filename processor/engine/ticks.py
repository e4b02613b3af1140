"""The hourly tick of a partition: retention for carriers without traffic, and the live
views republished as the hour moves on; a loop of ``CarrierStep`` over the partition's
carriers, with no events.

The first tick of a partition (at its assignment) also republishes every carrier's records
and its newest hour, day and month, for consumers that missed them. Records a crash left
unsent need no such scan: their input was not committed, so it is read again, and a
re-delivered event republishes what it had changed (``fold``).
"""

from __future__ import annotations

from collections.abc import Generator

from processor.domain.windows import HOUR_MS
from processor.engine.slices import Slicer
from processor.engine.step import CarrierStep
from processor.io.names import partition_key


class Ticker:
    """Runs each partition's tick once per hour of the clock it is given."""

    def __init__(self, step: CarrierStep) -> None:
        self.step = step
        self._last_hour: dict[int, int] = {}  # partition -> the hour of its last tick

    def steps(self, partition: int, tick_ms: int) -> Generator[None, None, None]:
        """The tick of ``partition`` if ``tick_ms`` is in an hour it has not ticked in,
        pausing (a ``yield``) every slice (``slices.py``)."""
        hour = tick_ms // HOUR_MS
        if self._last_hour.get(partition) == hour:
            return
        first = partition not in self._last_hour
        self._last_hour[partition] = hour
        step, stores = self.step, self.step.stores
        wall = step.clock.wall_ms()
        if first:
            step.view.drop_partition(partition)
            doc = stores.partitions.load(partition, partition_key(partition))
            step.view.invalid[partition] = doc["invalid"] if doc else 0
        slicer = Slicer()
        for key in stores.carriers.keys(partition):
            if slicer.due():
                yield
            step(partition, key.decode(), (), wall, republish=True, newest=first)

    def forget(self, partitions: set[int]) -> None:
        """These partitions left: a later assignment of one ticks as a first again."""
        for p in partitions:
            self._last_hour.pop(p, None)
