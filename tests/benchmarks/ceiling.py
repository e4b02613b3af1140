"""The raw ceiling: consume a topic in batches with confluent-kafka and decode each value
with orjson, nothing else.

    python -m tests.benchmarks.ceiling BOOTSTRAP TOPIC EVENTS
"""

from __future__ import annotations

import sys
import time
import uuid

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from tests.benchmarks.common import emit

BATCH = 10_000


def main(bootstrap: str, topic: str, events: int) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"ceil-{uuid.uuid4()}",
                         "enable.auto.commit": False})
    parts = consumer.list_topics(topic, timeout=30).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
    seen = decoded = 0
    first: float | None = None
    while seen < events:
        batch = consumer.consume(BATCH, timeout=1.0)
        if batch and first is None:
            first = time.perf_counter()
        for msg in batch:
            if msg.error() is not None:
                continue
            seen += 1
            try:
                orjson.loads(msg.value())
                decoded += 1
            except orjson.JSONDecodeError:
                pass
    assert first is not None
    took = time.perf_counter() - first
    consumer.close()
    emit("ceiling", seen, took, decoded=decoded)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
