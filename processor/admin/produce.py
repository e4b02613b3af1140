"""Producing records to Kafka (generated traffic, replays, the registry), paced or as fast
as possible."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TextIO

from processor.admin.progress import Progress
from processor.errors import BrokerUnreachable
from processor.io.connection import client_config
from processor.settings import Settings


@dataclass(frozen=True, slots=True)
class Message:
    key: bytes | None
    value: bytes
    valid: bool
    carrier_id: str | None
    duplicate: bool = False  # a producer re-send of an earlier valid message
    # When it arrives (epoch ms): sent as the record's timestamp, or in the replay's
    # arrival header; None: when it is produced.
    arrival_ms: int | None = None


def producer_config(target: str | Settings) -> dict[str, object]:
    """librdkafka's murmur2_random = the Java/aiokafka partitioner, so keyed events land on
    the partition that owns their carrier (null keys still go to a random partition).

    ``target``: the settings (with their TLS/SASL options) or a plain bootstrap address."""
    conn = client_config(target) if isinstance(target, Settings) else {
        "bootstrap.servers": target}
    return {**conn, "partitioner": "murmur2_random",
            "linger.ms": 20, "compression.type": "lz4",
            "acks": "all", "enable.idempotence": True,  # 2 replicas hold it on a cluster
            "queue.buffering.max.messages": 500_000,
            "message.max.bytes": 4 * 1024 * 1024}  # the broker's per-topic limit decides


def produce(target: str | Settings, topic: str, messages: Iterable[Message], *, rate: float | None,
            progress: TextIO | None = sys.stderr, clock: Callable[[], float] = time.monotonic,
            sleep: Callable[[float], None] = time.sleep, label: str = "generate",
            total: int | None = None, arrival_in_header: bool = False) -> int:
    """Send ``messages``; ``rate`` events/s (None = as fast as possible). Returns the count.

    A message's ``arrival_ms`` becomes its record timestamp, or with ``arrival_in_header``
    the replay's arrival header (the record keeps the time it is sent: the topic's
    retention then never sees traffic recorded weeks ago as expired)."""
    from confluent_kafka import Producer

    from processor.io.codec import ARRIVAL_HEADER

    producer = Producer(producer_config(target))
    errors: list[str] = []

    def on_delivery(err: object, _msg: object) -> None:
        if err is not None:
            errors.append(str(err))

    began = clock()
    shown = Progress(f"{label}: sent", total, progress) if progress is not None else None
    sent = 0
    for m in messages:
        while True:
            try:
                if m.arrival_ms is None:
                    producer.produce(topic, key=m.key, value=m.value, on_delivery=on_delivery)
                elif arrival_in_header:
                    producer.produce(topic, key=m.key, value=m.value, on_delivery=on_delivery,
                                     headers=[(ARRIVAL_HEADER, b"%d" % m.arrival_ms)])
                else:
                    producer.produce(topic, key=m.key, value=m.value, on_delivery=on_delivery,
                                     timestamp=m.arrival_ms)
                break
            except BufferError:
                producer.poll(0.05)
        sent += 1
        producer.poll(0)
        if rate:
            ahead = began + sent / rate - clock()
            if ahead > 0:
                sleep(ahead)
        if shown is not None:
            shown.update(sent)
    remaining = producer.flush(60)
    if shown is not None:
        shown.close()
    if remaining or errors:
        raise BrokerUnreachable(f"{remaining} messages undelivered, {len(errors)} delivery errors: "
                           f"{errors[:3]}")
    return sent
