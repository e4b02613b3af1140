"""The commit side of the worker's loop: seal a flush, settle what the broker acknowledged,
commit the input offsets that became durable, as a member of Faust's group.

The rule itself is ``engine/checkpoint.py``; this component runs it against the producer
and the group. A commit goes through Faust's consumer (``faust_internals.commit``), so a
worker that lost its place in the group cannot commit over its successor.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from processor.engine.checkpoint import Checkpoint
from processor.engine.input import Key
from processor.engine.pipeline import Pipeline
from processor.engine.sender import Sender
from processor.engine.state import Store, persist_offsets
from processor.runtime import faust_internals

log = logging.getLogger(__name__)


class Committer:
    """Seals flushes, settles acknowledged ones and commits, one commit at a time."""

    def __init__(self, app: Any, sender: Sender, pipeline: Pipeline,
                 stores: tuple[Store[Any], ...]) -> None:
        self.app, self.sender, self.pipeline, self.stores = app, sender, pipeline, stores
        self.checkpoint = Checkpoint()
        self.clock = time.monotonic
        self.last_flush = 0.0
        self._lock = asyncio.Lock()
        self._to_commit: dict[Key, int] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def in_flight(self) -> int:
        """Flushes sealed and not yet acknowledged in full."""
        return self.checkpoint.in_flight

    def on_assign(self, committed: dict[Key, int | None]) -> None:
        """Reading starts at the group's committed offsets (0: nothing committed)."""
        for key, offset in committed.items():
            self.checkpoint.start(key, offset or 0)

    def on_revoke(self) -> None:
        """The partitions left: nothing of theirs is tracked any more."""
        self.checkpoint.forget(list(self.checkpoint.processed))

    def advance(self, positions: dict[tuple[str, int], int]) -> None:
        """A batch was folded up to these offsets (the last one read, per partition)."""
        for key, offset in positions.items():
            self.checkpoint.advance(key, offset)

    def rewind(self) -> dict[Key, int]:
        """Where to read again from after a failed batch: the last flush's positions."""
        return self.checkpoint.rewind()

    def seal_flush(self) -> None:
        """Flush the record cache; its input offsets become committable once acked."""
        self.last_flush = self.clock()
        p = self.pipeline
        if p.unflushed or p.dirty_keys or p.publisher.waiting:
            self.checkpoint.sealed(p.flush())

    def settle(self, partitions: set[int]) -> None:
        """Serve delivery reports; commit what became durable (in the background)."""
        self.sender.poll()
        settled = self.checkpoint.settle()
        if settled is None:
            return
        positions, changelog = settled
        persist_offsets(self.stores, changelog, partitions)
        self._to_commit.update(positions)
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self.commit())

    async def commit(self) -> None:
        """Commit every durable position not committed yet, one commit at a time."""
        async with self._lock:
            while self._to_commit:
                positions, self._to_commit = self._to_commit, {}
                if not await faust_internals.commit(self.app, positions):
                    log.info("a commit was refused: the group is rebalancing")

    async def hand_over(self, partitions: set[int]) -> None:
        """Flush, wait until the broker acknowledged all of it, commit."""
        self.pipeline.publisher.hand_over()
        self.seal_flush()
        await self.sender.drain()
        self.settle(partitions)
        await self.commit()
