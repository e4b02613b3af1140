"""Reading topics to their end: compacted state (latest value per key) and consumer lag."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson

from processor.connection import client_config
from processor.settings import Settings


def read_to_end(settings: Settings, names: list[str], timeout_s: float = 120.0,
                ) -> dict[str, list[tuple[str, Any]]]:
    """Every record of each topic (contract names), in order; values parsed (None = tombstone)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({**client_config(settings),
                         "group.id": f"carrierwatch-reader-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False})
    real = {settings.topic(n): n for n in names}
    out: dict[str, list[tuple[str, Any]]] = {n: [] for n in names}
    try:
        md = consumer.list_topics(timeout=30)
        ends: dict[tuple[str, int], int] = {}
        for topic in real:
            if topic not in md.topics:
                raise RuntimeError(f"{topic}: no such topic (run `carrierwatch topics create`)")
            for p in md.topics[topic].partitions:
                high = high_watermark(consumer, TopicPartition(topic, p), timeout_s)
                if high > 0:
                    ends[(topic, p)] = high
        consumer.assign([TopicPartition(t, p, 0) for (t, p) in ends])
        deadline = time.monotonic() + timeout_s
        while ends and time.monotonic() < deadline:
            for msg in consumer.consume(10_000, timeout=0.5):
                if msg.error():
                    raise RuntimeError(str(msg.error()))
                value, topic = msg.value(), msg.topic() or ""
                out[real[topic]].append(((msg.key() or b"").decode(),
                                               orjson.loads(value) if value else None))
            for tp in consumer.position([TopicPartition(t, p) for (t, p) in ends]):
                if tp.offset >= ends[(tp.topic, tp.partition)]:
                    del ends[(tp.topic, tp.partition)]
        if ends:
            raise RuntimeError(f"could not read {sorted(ends)} to the end in {timeout_s:.0f} s")
    finally:
        consumer.close()
    return out


def high_watermark(consumer: Any, tp: Any, timeout_s: float) -> int:
    """The partition's end offset, waiting out a leader election (new topic, broker restart)."""
    from confluent_kafka import KafkaException

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            _, high = consumer.get_watermark_offsets(tp, timeout=timeout_s)
            return int(high)
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def latest(records: list[tuple[str, Any]]) -> dict[str, Any]:
    """A compacted topic's state: the last value of each key, tombstones removing it."""
    state: dict[str, Any] = {}
    for key, value in records:
        if value is None:
            state.pop(key, None)
        else:
            state[key] = value
    return state


def group_lag(settings: Settings, topics: list[str]) -> int:
    """Messages the app's consumer group has not committed yet on ``topics`` (real names)."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({**client_config(settings), "group.id": settings.app_id})
    try:
        md = c.list_topics(timeout=30)
        tps = [TopicPartition(t, p) for t in topics if t in md.topics
               for p in md.topics[t].partitions]
        total = 0
        for tp in c.committed(tps, timeout=30):
            _, high = c.get_watermark_offsets(tp, timeout=30)
            total += high - max(tp.offset, 0)
        return total
    finally:
        c.close()
