"""A Faust producer buffer whose ``flush()`` really sends what was queued before it.

Faust commits input offsets (and, on a rebalance, hands partitions over) after
``producer.flush()``. Faust's own buffer flush gives up as soon as one message takes more
than 0.1 s to leave the buffer, which happens whenever a batch keeps the event loop busy.
It then commits offsets whose table changelog records are still in memory: a worker
that takes the partition over restores state without them and never sees those events
again (and the old owner, replaying its own changelog on the rebalance, reverts its local
copy to an older value). Waiting for every record queued before the flush keeps
"committed" meaning "in the changelog"; records queued after it (the agent keeps going
during a commit) belong to later offsets and are not waited for.
"""

from __future__ import annotations

import asyncio
from typing import Any

from faust.transport.producer import ProducerBuffer

WAIT_S = 1.0  # how long to wait for one message before re-checking the buffer's state


class DrainingProducerBuffer(ProducerBuffer):
    """``flush()`` returns once every record queued before the call went to the client."""

    # Faust pauses delivering input whenever more than this many records wait (default 100,
    # i.e. every few carriers of a batch): let a whole batch's writes queue up instead.
    max_messages = 5_000
    queued = 0  # records ever put in the buffer
    sent = 0  # of those, handed to the Kafka client (in queue order: one sender task)

    @property
    def unsent(self) -> int:
        return self.queued - self.sent

    def put(self, fut: Any) -> None:
        self.queued += 1
        super().put(fut)

    async def _send_pending(self, fut: Any) -> None:
        try:
            await super()._send_pending(fut)
        finally:
            self.sent += 1

    async def flush(self) -> None:
        target = self.queued
        while self.sent < target:
            if self.state != "running":
                raise RuntimeError(f"cannot flush {target - self.sent} records: producer "
                                   "stopped")
            self.message_sent.clear()
            try:
                await asyncio.wait_for(self.message_sent.wait(), timeout=WAIT_S)
            except TimeoutError:
                continue  # the broker is slow or away: committing now would lose data


def install(producer: Any) -> Any:
    """Make ``producer`` use the draining buffer (same object, same state)."""
    buffer = producer.buffer
    if not isinstance(buffer, DrainingProducerBuffer):
        buffer.__class__ = DrainingProducerBuffer
    return producer
