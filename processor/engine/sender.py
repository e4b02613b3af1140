"""Every record a batch produces goes through one confluent-kafka producer, in the background.

Table changelog writes, output records, routed events and dead letters used to go through
Faust's producer: one awaited aiokafka ``send`` per record, about 100 µs each and a dozen
per event, which made it the processor's wall (CHANGELOG.md, round 1).
librdkafka queues a record in a few microseconds and batches them on the wire.

Each batch's records are counted by a ``Tracker``. The worker goes on with the next batch
while they are on their way; a batch becomes committable only once its tracker is done,
i.e. the broker acknowledged every one of its records ("committed implies published", and
implies in the changelog). Idempotence keeps each partition's records in order across
retries and records are never given up on (``message.timeout.ms=0``): a broker outage only
holds commits back. A record the broker refuses for good (an authorisation or size error)
is logged and sent again, and its batch stays uncommitted until it goes through.

A batch's records go out in stages (``STAGES``): its carrier records only once the rest of
the batch is acknowledged, and its deletes of windows and dedup buckets only once those
are. Each changelog partition keeps its own prefix when the worker is killed, so without
stages a recovered carrier record could be a batch ahead of its windows and buckets; the
replay would then decide a re-delivered event again from the carrier's later stream time
and identities, and a window could count a producer duplicate (the kill -9 fault test
did). With them, the carrier record is never ahead of what it depends on, and a replay
from it decides every event as before (tests/unit/domain/test_crash_replay.py). Stages keep
order: a batch's stage goes only after every earlier batch's records of that stage or a
lower one, and a record of a key that is still held waits behind it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)

POLL_S = 0.01  # how often a waiting drain looks for delivery reports
# 0: queued at once (windows, buckets, latest calls, outputs); 1: once the batch's stage 0
# is acknowledged (carrier records); 2: once its stage 1 is (deletes the carrier records).
STAGES = 3
CARRIER_STAGE = 1
DELETE_STAGE = 2

Record = tuple[str, bytes | None, bytes | None, int | None]  # topic, key, value, partition


class Tracker:
    """The records of one batch: how many were queued and how many the broker acked."""

    __slots__ = ("acked", "changelogs", "failed", "held", "offsets", "queued")

    def __init__(self, changelogs: frozenset[str]) -> None:
        self.queued = 0
        self.acked = 0
        self.failed: list[Any] = []  # refused messages, to send again
        self.changelogs = changelogs
        self.offsets: dict[tuple[str, int], int] = {}  # changelog (topic, partition) -> max
        self.held: dict[int, list[Record]] = {}  # stage -> records not yet queued

    @property
    def done(self) -> bool:
        return self.acked == self.queued and not self.held

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

    def __init__(self, config: dict[str, Any], changelogs: Iterable[str] = (),
                  producer: Any = None) -> None:
        from confluent_kafka import Producer

        self._producer = producer if producer is not None else Producer({
            **config,
            # Every record waits for all in-sync replicas (min.insync.replicas on a
            # cluster): a leader that dies after acking has not lost it. Idempotence
            # needs acks=all anyway; said here so that no config can weaken it.
            "acks": "all",
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
        # topic -> key -> (highest stage, count) of the records held back
        self._held: dict[str, dict[bytes | None, tuple[int, int]]] = {}
        self.sent = 0

    def send(self, topic: str, key: bytes | None, value: bytes | None,
             partition: int | None = None, stage: int = 0) -> None:
        """Queue one record (``partition`` None: librdkafka's murmur2 on the key, as Java's
        default partitioner and Faust's), or hold it back until its ``stage``."""
        held = self._held.get(topic)
        if held is not None:
            mark = held.get(key)
            if mark is not None and mark[0] > stage:
                stage = mark[0]  # an earlier record of the key is held: stay behind it
        if stage:
            self._tracker.held.setdefault(stage, []).append((topic, key, value, partition))
            if held is None:
                held = self._held[topic] = {}
            top, n = held.get(key, (stage, 0))
            held[key] = (max(top, stage), n + 1)
        else:
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
        """Serve delivery reports; send refused records again (loudly); queue the held
        records whose stage has come."""
        self._producer.poll(0)
        self._release()
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

    def _release(self) -> None:
        """Queue each sealed batch's next stage once all its queued records are acked and
        no earlier batch holds a record of that stage or a lower one."""
        floor = STAGES  # the lowest stage an earlier batch still holds
        for tracker in self._unsettled:
            while tracker.held and tracker.acked == tracker.queued:
                stage = min(tracker.held)
                if stage >= floor:
                    break
                for topic, key, value, partition in tracker.held.pop(stage):
                    self._unhold(topic, key)
                    self._produce(tracker, topic, key, value, partition)
            if tracker.held:
                floor = min(floor, *tracker.held)

    def _unhold(self, topic: str, key: bytes | None) -> None:
        held = self._held[topic]
        top, n = held[key]
        if n == 1:
            del held[key]
            if not held:
                del self._held[topic]
        else:
            held[key] = (top, n - 1)

    def pending(self) -> int:
        """Records queued or held back, and not yet acknowledged."""
        held = sum(n for keys in self._held.values() for _, n in keys.values())
        return len(self._producer) + held

    async def drain(self) -> None:
        """Return once every record queued so far is acknowledged by the broker."""
        if self._tracker.held:  # held records go out with a sealed batch only
            self.seal()
        self.poll()
        while self._unsettled or not self._tracker.done:
            await asyncio.sleep(POLL_S)
            self.poll()
