"""Every record a batch produces goes through one confluent-kafka producer, in the background.

Table changelog writes, output records, routed events and dead letters used to go through
Faust's producer: one awaited aiokafka ``send`` per record, about 100 µs each and a dozen
per event, which made it the processor's wall (see the README's Performance section).
librdkafka queues a record in a few microseconds and batches them on the wire.

Each batch's records are counted by a ``Tracker``. The agent goes on with the next batch
while they are on their way; a batch becomes committable only once its tracker is done,
i.e. the broker acknowledged every one of its records ("committed implies published", and
implies in the changelog). Idempotence keeps each partition's records in order across
retries and records are never given up on (``message.timeout.ms=0``): a broker outage only
holds commits back. A record the broker refuses for good (an authorisation or size error)
is logged and sent again, and its batch stays uncommitted until it goes through.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)

POLL_S = 0.01  # how often a waiting drain looks for delivery reports


class Tracker:
    """The records of one batch: how many were queued and how many the broker acked."""

    __slots__ = ("acked", "changelogs", "failed", "offsets", "queued")

    def __init__(self, changelogs: frozenset[str]) -> None:
        self.queued = 0
        self.acked = 0
        self.failed: list[Any] = []  # refused messages, to send again
        self.changelogs = changelogs
        self.offsets: dict[tuple[str, int], int] = {}  # changelog (topic, partition) -> max

    @property
    def done(self) -> bool:
        return self.acked == self.queued

    def delivered(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.failed.append(msg)
            return
        self.acked += 1
        topic = msg.topic()
        if topic in self.changelogs:
            key = (topic, msg.partition())
            offset = msg.offset()
            if offset > self.offsets.get(key, -1):
                self.offsets[key] = offset


class Sender:
    """Queues records for the current batch's tracker; ``seal()`` starts the next batch."""

    def __init__(self, config: dict[str, Any], changelogs: Iterable[str] = ()) -> None:
        from confluent_kafka import Producer

        self._producer = Producer({
            **config,
            "enable.idempotence": True,
            "message.timeout.ms": 0,  # never give a record up: an outage delays commits
            "linger.ms": 5,
            "queue.buffering.max.messages": 2_000_000,
            "queue.buffering.max.kbytes": 1_048_576,
            "message.max.bytes": 4 * 1024 * 1024 + 65_536,  # a whole refused 4 MiB message
            "compression.type": "lz4",
        })
        self._changelogs = frozenset(changelogs)
        self._tracker = Tracker(self._changelogs)
        self._unsettled: list[Tracker] = []
        self.sent = 0

    def send(self, topic: str, key: bytes | None, value: bytes | None,
             partition: int | None = None) -> None:
        """Queue one record (``partition`` None: librdkafka's murmur2 on the key, as Java's
        default partitioner and Faust's)."""
        self._produce(self._tracker, topic, key, value, partition)
        self.sent += 1

    def _produce(self, tracker: Tracker, topic: str, key: bytes | None, value: bytes | None,
                 partition: int | None) -> None:
        tracker.queued += 1
        while True:
            try:
                if partition is None:
                    self._producer.produce(topic, value, key, on_delivery=tracker.delivered)
                else:
                    self._producer.produce(topic, value, key, partition,
                                           on_delivery=tracker.delivered)
                return
            except BufferError:  # the local queue is full: let the broker catch up
                self._producer.poll(0.1)

    def seal(self) -> Tracker:
        """The current batch's tracker; later records count for the next batch."""
        tracker, self._tracker = self._tracker, Tracker(self._changelogs)
        self._unsettled.append(tracker)
        return tracker

    def poll(self) -> None:
        """Serve delivery reports; send refused records again (loudly)."""
        self._producer.poll(0)
        for tracker in self._unsettled:
            if tracker.failed:
                failed, tracker.failed = tracker.failed, []
                log.error("the broker refused %d records, sending them again; their batch "
                          "stays uncommitted meanwhile. First: %s[%d]: %s", len(failed),
                          failed[0].topic(), failed[0].partition(), failed[0].error())
                for msg in failed:
                    tracker.queued -= 1
                    self._produce(tracker, msg.topic(), msg.key(), msg.value(),
                                  msg.partition())
        self._unsettled = [t for t in self._unsettled if not t.done]

    def pending(self) -> int:
        """Records queued and not yet acknowledged."""
        return len(self._producer)

    async def drain(self) -> None:
        """Return once every record queued so far is acknowledged by the broker."""
        self.poll()
        while self._unsettled or not self._tracker.done:
            await asyncio.sleep(POLL_S)
            self.poll()
