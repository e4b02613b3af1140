"""The commit rule, in one place: an input offset is committed once what it produced is
durable.

The worker folds events into the record cache and flushes the cache every commit interval
(engine/state.py, engine/sender.py): each flush writes every changed key once and seals
one ``Tracker`` with all the records produced since the previous flush, the changelog's,
the outputs', the dead letters' and the routed events'. The positions the
worker had processed up to at that flush are committable once that tracker, and every
earlier one, is acknowledged by the broker in full. Only then are the changelog offsets
recorded for Faust's recovery and the input offsets committed for the group.

A committed offset therefore means: every record the events before it produced is in
Kafka, the state they changed is in the changelog, and a worker that takes the partition
over (or this one after a crash) reads on from there without losing anything; what it
reads again is skipped by the per-key source offsets (counted once).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from processor.engine.input import Key
from processor.engine.sender import Tracker


class Checkpoint:
    """Where each partition stands: processed, flushed, and durable."""

    def __init__(self) -> None:
        self.processed: dict[Key, int] = {}  # next offset to process, per partition
        self.durable: dict[Key, int] = {}  # committable: its records are all acknowledged
        self._flushes: deque[tuple[Tracker, dict[Key, int]]] = deque()

    def start(self, key: Key, offset: int) -> None:
        """Processing of ``key`` starts at ``offset`` (what the group committed)."""
        self.processed[key] = self.durable[key] = offset

    def advance(self, key: Key, offset: int) -> None:
        """The event at ``offset`` of ``key`` is folded into the cache."""
        self.processed[key] = offset + 1

    def sealed(self, tracker: Tracker) -> None:
        """The cache was flushed: the records of everything processed so far are counted
        by ``tracker`` and the trackers before it."""
        self._flushes.append((tracker, dict(self.processed)))

    @property
    def in_flight(self) -> int:
        """Flushes whose records are not all acknowledged yet."""
        return len(self._flushes)

    def settle(self) -> tuple[dict[Key, int], dict[Key, int]] | None:
        """After delivery reports were served: (positions now durable, the newest changelog
        offset per changelog partition of the flushes that became durable), or None if no
        flush became durable. Flushes become durable in order."""
        positions: dict[Key, int] | None = None
        changelog: dict[Key, int] = {}
        while self._flushes and self._flushes[0][0].done:
            tracker, positions = self._flushes.popleft()
            changelog.update(tracker.offsets)
        if positions is None:
            return None
        positions = {k: o for k, o in positions.items() if k in self.processed}
        self.durable.update(positions)
        return positions, changelog

    def rewind(self) -> dict[Key, int]:
        """Forget what was processed but not flushed: reading starts again at the last
        flush (after a batch failed)."""
        last = self._flushes[-1][1] if self._flushes else self.durable
        for key in self.processed:
            if key in last:
                self.processed[key] = last[key]
        return dict(self.processed)

    def forget(self, keys: Iterable[Key]) -> None:
        """The partitions changed hands (after their last flush was made durable)."""
        for key in keys:
            self.processed.pop(key, None)
            self.durable.pop(key, None)
        self._flushes = deque((t, {k: o for k, o in p.items() if k in self.processed})
                              for t, p in self._flushes)
