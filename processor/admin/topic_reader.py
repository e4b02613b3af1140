"""Reading topics to their end: compacted state (latest value per key) and consumer lag."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson

from processor.errors import BrokerUnreachable, CarrierwatchError
from processor.io.connection import client_config
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
                raise CarrierwatchError(
                    f"{topic}: no such topic (run `carrierwatch topics create`)")
            for p in md.topics[topic].partitions:
                high = high_watermark(consumer, TopicPartition(topic, p), timeout_s)
                if high > 0:
                    ends[(topic, p)] = high
        consumer.assign([TopicPartition(t, p, 0) for (t, p) in ends])
        deadline = time.monotonic() + timeout_s
        while ends and time.monotonic() < deadline:
            for msg in consumer.consume(10_000, timeout=0.5):
                if msg.error():
                    raise CarrierwatchError(f"reading {msg.topic()}: {msg.error()}")
                value, topic = msg.value(), msg.topic() or ""
                out[real[topic]].append(((msg.key() or b"").decode(),
                                               orjson.loads(value) if value else None))
            for tp in consumer.position([TopicPartition(t, p) for (t, p) in ends]):
                if tp.offset >= ends[(tp.topic, tp.partition)]:
                    del ends[(tp.topic, tp.partition)]
        if ends:
            raise BrokerUnreachable(
                f"could not read {sorted(ends)} to the end in {timeout_s:.0f} s")
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


def group_positions(settings: Settings, topics: list[str], client: Any = None,
                    ) -> dict[tuple[str, int], tuple[int, int]]:
    """(committed offset, log end) of the app's consumer group per partition of ``topics``
    (real names); nothing committed counts as 0. ``client``: a consumer of the group's id
    to ask (else one is made for the call)."""
    from confluent_kafka import Consumer, TopicPartition

    c = client or Consumer({**client_config(settings), "group.id": settings.app_id})
    try:
        md = c.list_topics(timeout=30)
        tps = [TopicPartition(t, p) for t in topics if t in md.topics
               for p in md.topics[t].partitions]
        out = {}
        for tp in c.committed(tps, timeout=30):
            _, high = c.get_watermark_offsets(tp, timeout=30, cached=False)
            out[(tp.topic, tp.partition)] = (max(tp.offset, 0), int(high))
        return out
    finally:
        if client is None:
            c.close()


class Drain:
    """Whether a worker group has committed all of a finished input and what it routed.

    The input is complete, so its lag must reach 0. Once the input is committed, which
    implies that what it routed was acknowledged, the route topic's log ends are taken,
    and the group must commit up to them (what is routed is committed once processed)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.input_topic = settings.topic(settings.input_topic)
        self.route_topic = settings.route_topic
        self.route_ends: dict[tuple[str, int], int] | None = None
        self.left = -1  # input messages not committed yet, as of the last check
        self.error: str | None = None  # the last broker error, if any
        self._client: Any = None

    def check(self) -> bool:
        """Whether it is drained now (a few broker round trips). A broker error is taken as
        "not yet" and kept in ``error``: leadership of a topic just created moves about."""
        from confluent_kafka import Consumer, KafkaException

        if self._client is None:
            self._client = Consumer({**client_config(self.settings),
                                     "group.id": self.settings.app_id})
        try:
            positions = group_positions(self.settings, [self.input_topic, self.route_topic],
                                        self._client)
        except KafkaException as exc:
            self.error = str(exc)
            return False
        self.left = sum(end - done for (topic, _), (done, end) in positions.items()
                        if topic == self.input_topic)
        if self.left:
            return False
        if self.route_ends is None:
            self.route_ends = {tp: end for tp, (_, end) in positions.items()
                               if tp[0] == self.route_topic}
        return all(positions.get(tp, (0, 0))[0] >= end for tp, end in self.route_ends.items())

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def group_lag(settings: Settings, topics: list[str]) -> int:
    """Messages the app's consumer group has not committed yet on ``topics`` (real names)."""
    return sum(end - done for done, end in group_positions(settings, topics).values())
