"""Direct reads of input partitions, independent of Faust's consumer.

Used for the two things the processor cannot learn from Faust reliably: where consumption
of a partition starts (the group's committed offset, else the log start) and the messages
of a gap Faust left (processor/frontier.py). One confluent-kafka consumer, never a member
of the group: it only reads committed offsets and fetches by explicit assignment.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from processor.connection import client_config
from processor.settings import Settings

log = logging.getLogger(__name__)

TIMEOUT_S = 10.0
ENDS_TIMEOUT_S = 2.0

Key = tuple[str, int]  # (topic, partition)

# librdkafka does not flag these as retriable for committed(), yet they pass on their own.
COORDINATOR_MOVING = {14, 15, 16}  # load in progress, not available, not coordinator


@dataclass(frozen=True)
class Record:
    """The fields of a Faust message the processor reads."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float | None  # seconds, as Faust gives it
    generation_id: int | None = None  # Faust's consumer generation; None: read directly
    headers: list[tuple[str, bytes]] | None = None


@dataclass(frozen=True)
class Fetched:
    """Stands in for a Faust event around a message read directly."""

    message: Record


class PartitionReader:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._consumer: Any = None
        self._ends_client: Any = None  # log_ends runs on a thread: a client of its own

    def _new_client(self) -> Any:
        from confluent_kafka import Consumer

        return Consumer({**client_config(self._settings), "group.id": self._settings.app_id,
                         "enable.auto.commit": False, "enable.partition.eof": True})

    def _client(self) -> Any:
        if self._consumer is None:
            self._consumer = self._new_client()
        return self._consumer

    def log_ends(self, keys: Iterable[Key]) -> dict[Key, int]:
        """The end of the log of each key, asked of the broker (Faust's highwater is only
        as fresh as its last fetch of the partition). Blocking: call it off the event
        loop. Keys the broker did not answer for are left out."""
        from confluent_kafka import KafkaException, TopicPartition

        if self._ends_client is None:
            self._ends_client = self._new_client()
        out = {}
        for topic, partition in keys:
            try:
                _, high = self._ends_client.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=ENDS_TIMEOUT_S, cached=False)
            except KafkaException as exc:
                log.debug("no log end for %s[%d]: %s", topic, partition, exc)
                continue
            out[(topic, partition)] = high
        return out

    def starts(self, keys: Iterable[Key]) -> dict[Key, tuple[int | None, int]]:
        """(committed offset or None, log start offset) per key; empty on failure."""
        from confluent_kafka import KafkaException, TopicPartition

        keys = list(keys)
        deadline = time.monotonic() + TIMEOUT_S
        try:
            client = self._client()
            while True:  # the group's coordinator may still be loading or moving
                try:
                    committed = client.committed([TopicPartition(t, p) for t, p in keys],
                                                 timeout=TIMEOUT_S)
                    break
                except KafkaException as exc:
                    err = exc.args[0]
                    transient = err.retriable() or err.code() in COORDINATOR_MOVING
                    if not transient or time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            out: dict[Key, tuple[int | None, int]] = {}
            for tp in committed:
                low, _ = client.get_watermark_offsets(tp, timeout=TIMEOUT_S, cached=False)
                out[(tp.topic, tp.partition)] = (tp.offset if tp.offset >= 0 else None, low)
            return out
        except KafkaException as exc:
            log.warning("could not look up the start offsets of %s: %s", keys, exc)
            return {}

    def read(self, key: Key, start: int, end: int) -> list[Fetched] | None:
        """Messages ``start <= offset < end`` of ``key``, in order; None if the broker could
        not be read. Offsets missing from the log (deleted by retention) are left out."""
        from confluent_kafka import KafkaError, KafkaException, TopicPartition

        topic, partition = key
        out: list[Fetched] = []
        deadline = time.monotonic() + TIMEOUT_S
        try:
            client = self._client()
            client.assign([TopicPartition(topic, partition, start)])
            try:
                while time.monotonic() < deadline:
                    msg = client.poll(min(1.0, max(0.0, deadline - time.monotonic())))
                    if msg is None:
                        continue
                    err = msg.error()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            return out
                        raise KafkaException(err)
                    if msg.offset() >= end:
                        return out
                    ts_type, ts_ms = msg.timestamp()
                    out.append(Fetched(Record(topic, partition, msg.offset(), msg.key(),
                                              msg.value(), ts_ms / 1000 if ts_type else None,
                                              headers=msg.headers())))
                    if msg.offset() == end - 1:
                        return out
            finally:
                client.unassign()
        except KafkaException as exc:
            log.warning("could not read %s[%d] %d..%d: %s", topic, partition, start, end - 1,
                        exc)
            return None
        log.warning("timed out reading %s[%d] %d..%d", topic, partition, start, end - 1)
        return None

    def close(self) -> None:
        for client in (self._consumer, self._ends_client):
            if client is not None:
                client.close()
        self._consumer = self._ends_client = None
