"""The worker's own reader of its input and route partitions: confluent-kafka, in batches.

Faust's group decides which partitions a worker owns; this consumer is not a member of
the group: it is assigned those partitions explicitly, from the group's committed offsets,
and never commits (the worker commits as a member, processor/engine/checkpoint.py). librdkafka
fetches in its own threads, outside the GIL; ``poll`` hands over what it queued, up to a
batch, without waiting: the worker's event loop never blocks on the broker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from confluent_kafka import Message

from processor.io.connection import client_config
from processor.settings import Settings

log = logging.getLogger(__name__)

Key = tuple[str, int]  # (topic, partition)
TIMEOUT_S = 10.0
# librdkafka does not flag these as retriable for committed(), yet they pass on their own.
COORDINATOR_MOVING = {14, 15, 16}  # load in progress, not available, not coordinator


class InputReader:
    """Reads the assigned (topic, partition)s; one instance per worker."""

    def __init__(self, settings: Settings, consumer: Any = None) -> None:
        """``consumer``: a confluent-kafka ``Consumer`` to use (tests); by default one is
        made from ``settings``."""
        from confluent_kafka import Consumer

        self._consumer = consumer if consumer is not None else Consumer({
            **client_config(settings),
            "group.id": settings.app_id,  # to read the group's committed offsets only
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 100,  # live traffic: a fetch answers within 0.1 s
        })
        self.assigned: dict[Key, int] = {}  # key -> offset reading started at

    def committed(self, keys: Iterable[Key]) -> dict[Key, int | None]:
        """The group's committed offset of each key (None: none yet). Blocking; retries
        while the group's coordinator loads or moves, raises after TIMEOUT_S."""
        from confluent_kafka import KafkaException, TopicPartition

        tps = [TopicPartition(t, p) for t, p in keys]
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            try:
                found = self._consumer.committed(tps, timeout=TIMEOUT_S)
                return {(tp.topic, tp.partition): tp.offset if tp.offset >= 0 else None
                        for tp in found}
            except KafkaException as exc:
                err = exc.args[0]
                transient = err.retriable() or err.code() in COORDINATOR_MOVING
                if not transient or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def assign(self, starts: Mapping[Key, int | None]) -> None:
        """Read exactly these keys, each from its offset (None: the log's start)."""
        from confluent_kafka import OFFSET_BEGINNING, TopicPartition

        self._consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING if o is None else o)
                               for (t, p), o in sorted(starts.items())])
        self.assigned = {k: 0 if o is None else o for k, o in starts.items()}

    def seek(self, positions: Mapping[Key, int]) -> None:
        """Read these keys again from these offsets (after a failed batch)."""
        from confluent_kafka import TopicPartition

        self._consumer.assign([TopicPartition(t, p, positions.get((t, p), o))
                               for (t, p), o in sorted(self.assigned.items())])

    def unassign(self) -> None:
        self._consumer.unassign()
        self.assigned = {}

    def poll(self, max_messages: int) -> list[Message]:
        """Up to ``max_messages`` records librdkafka has fetched, without waiting. Errors
        that are not records (a broker away) are logged and left out: librdkafka retries
        on its own. (Partition ends are not reported: ``enable.partition.eof`` is off.)"""
        if not self.assigned:
            return []
        batch: list[Message] = self._consumer.consume(max_messages, 0)
        if batch and any(m.error() is not None for m in batch):
            for m in batch:
                if m.error() is not None:
                    log.warning("reading %s[%s]: %s", m.topic(), m.partition(), m.error())
            return [m for m in batch if m.error() is None]
        return batch

    def high_watermark(self, key: Key) -> int | None:
        """The end of the log of ``key`` as of the last fetch (None: not fetched yet)."""
        from confluent_kafka import TopicPartition

        try:
            _, high = self._consumer.get_watermark_offsets(TopicPartition(*key), cached=True)
        except Exception:  # noqa: BLE001 - not known yet is all it can mean here
            return None
        return high if high is not None and high >= 0 else None

    def close(self) -> None:
        self._consumer.close()
