"""The producer buffer's flush drains it completely, even when a send is slow.

Faust commits offsets right after this flush; returning early would commit input whose
changelog records are still in memory.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from faust.transport.producer import ProducerBuffer

from processor.flush import DrainingProducerBuffer

SLOW_S = 0.25  # each send takes longer than Faust's 0.1 s per-message patience


class SlowChannel:
    """Stands in for a topic whose sends take a while (a busy loop or a slow broker)."""

    def __init__(self) -> None:
        self.sent: list[int] = []

    async def publish_message(self, fut: Any, wait: bool = False) -> None:
        await asyncio.sleep(SLOW_S)
        self.sent.append(fut.n)


async def left_after_flush(cls: type[ProducerBuffer]) -> tuple[int, int]:
    buf = cls()
    buf.app = SimpleNamespace(conf=SimpleNamespace(producer_threaded=False))
    channel = SlowChannel()
    await buf.start()
    try:
        for i in range(4):
            buf.put(SimpleNamespace(n=i, message=SimpleNamespace(channel=channel)))
        await buf.flush()
        return buf.size, len(channel.sent)
    finally:
        buf.pending = asyncio.Queue()  # nothing left to drain on stop
        await buf.stop()


def test_draining_flush_waits_for_every_message() -> None:
    assert asyncio.run(left_after_flush(DrainingProducerBuffer)) == (0, 4)


def test_faust_flush_alone_returns_early() -> None:
    """Why the override exists: with slow sends Faust's flush leaves messages behind."""
    size, sent = asyncio.run(left_after_flush(ProducerBuffer))
    assert size > 0
    assert sent < 4


async def sent_when_flush_returns_with_traffic_behind_it() -> tuple[int, int]:
    buf = DrainingProducerBuffer()
    buf.app = SimpleNamespace(conf=SimpleNamespace(producer_threaded=False))
    channel = SlowChannel()
    await buf.start()
    try:
        def put(n: int) -> None:
            for i in range(n):
                buf.put(SimpleNamespace(n=i, message=SimpleNamespace(channel=channel)))

        put(2)
        flushing = asyncio.ensure_future(buf.flush())
        await asyncio.sleep(0.05)
        put(10)  # the agent keeps writing while a commit waits
        await flushing
        return len(channel.sent), buf.unsent
    finally:
        buf.pending = asyncio.Queue()
        buf.sent = buf.queued  # dropped above: nothing left for stop() to flush
        await buf.stop()


def test_flush_waits_for_what_was_queued_before_it_not_after() -> None:
    """Under steady load a commit must not chase records of later offsets forever."""
    sent, unsent = asyncio.run(sent_when_flush_returns_with_traffic_behind_it())
    assert sent >= 2
    assert unsent > 5
