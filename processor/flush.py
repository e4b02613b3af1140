"""A Faust producer buffer whose ``flush()`` really drains it.

Faust commits input offsets (and, on a rebalance, hands partitions over) after
``producer.flush()``. Faust's own buffer flush gives up as soon as one message takes more
than 0.1 s to leave the buffer, which happens whenever a batch keeps the event loop busy.
It then commits offsets whose table changelog records are still in memory: a worker
that takes the partition over restores state without them and never sees those events
again (and the old owner, replaying its own changelog on the rebalance, reverts its local
copy to an older value). Waiting until the buffer is empty keeps "committed" meaning
"durable in the changelog".
"""

from __future__ import annotations

import asyncio
from typing import Any

from faust.transport.producer import ProducerBuffer

WAIT_S = 1.0  # how long to wait for one message before re-checking the buffer's state


class DrainingProducerBuffer(ProducerBuffer):
    """``flush()`` returns only when every buffered message has been handed to Kafka."""

    in_flight = 0  # taken off the queue but not yet handed to the Kafka client
    # Faust pauses delivering input whenever more than this many records wait (default 100,
    # i.e. every few carriers of a batch): let a whole batch's writes queue up instead.
    max_messages = 5_000

    async def _send_pending(self, fut: Any) -> None:
        self.in_flight += 1
        try:
            await super()._send_pending(fut)
        finally:
            self.in_flight -= 1

    async def flush(self) -> None:
        while self.size or self.in_flight:
            if self.state != "running":
                raise RuntimeError(f"cannot flush {self.size} messages: producer stopped")
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
