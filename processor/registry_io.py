"""Reading and writing the carrier registry topic (``carrier.registry``, compacted).

``carrierwatch registry import FILE`` makes the topic equal to the file: every profile is
published, and a carrier on the topic but not in the file gets a tombstone. A file with any
error changes nothing.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import orjson

from processor.domain.registry import Profile, parse_registry, profile_to_json
from processor.settings import Settings


class RegistryFileError(ValueError):
    """The import file cannot be used; ``errors`` lists every problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def load_file(path: Path) -> dict[str, Profile]:
    """Parse a YAML or JSON registry file; raises RegistryFileError with every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryFileError([f"{path}: {exc}"]) from None
    doc: Any
    try:
        if path.suffix.lower() == ".json":
            doc = json.loads(text)
        else:
            import yaml

            doc = yaml.safe_load(text)
    except Exception as exc:  # noqa: BLE001 - any parse failure is reported the same way
        raise RegistryFileError([f"{path}: not valid {path.suffix.lstrip('.') or 'YAML'}: "
                                 f"{exc}"]) from None
    profiles, errors = parse_registry(doc)
    if errors:
        raise RegistryFileError(errors)
    return profiles


def current_keys(settings: Settings, timeout_s: float = 30.0) -> dict[str, bytes]:
    """The registry topic's compacted state: carrier_id -> latest value (tombstones dropped)."""
    from confluent_kafka import Consumer, TopicPartition

    topic = settings.topic("carrier.registry")
    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers,
                         "group.id": "carrierwatch-registry-reader",
                         "enable.auto.commit": False})
    try:
        md = consumer.list_topics(topic, timeout=timeout_s)
        if md.topics[topic].error is not None:
            raise RuntimeError(f"{topic}: {md.topics[topic].error}")
        ends = {p: _high_watermark(consumer, TopicPartition(topic, p), timeout_s)
                for p in md.topics[topic].partitions}
        consumer.assign([TopicPartition(topic, p, 0) for p, high in ends.items() if high > 0])
        state: dict[str, bytes] = {}
        remaining = {p for p, high in ends.items() if high > 0}
        deadline = time.monotonic() + timeout_s
        while remaining and time.monotonic() < deadline:
            for msg in consumer.consume(1000, timeout=0.5):
                if msg.error():
                    raise RuntimeError(str(msg.error()))
                key = (msg.key() or b"").decode()
                value = msg.value()
                if value is None:
                    state.pop(key, None)
                else:
                    state[key] = value
            # Positions, not the last offset seen: compaction may have removed that record.
            for tp in consumer.position([TopicPartition(topic, p) for p in remaining]):
                if tp.offset >= ends[tp.partition]:
                    remaining.discard(tp.partition)
        if remaining:
            raise RuntimeError(f"{topic}: could not read partitions {sorted(remaining)} to the "
                               f"end within {timeout_s:.0f} s")
        return state
    finally:
        consumer.close()


def _high_watermark(consumer: Any, tp: Any, timeout_s: float) -> int:
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


def publish(settings: Settings, profiles: dict[str, Profile]) -> tuple[int, list[str]]:
    """Make the topic equal to ``profiles``; returns (profiles written, carriers removed)."""
    from confluent_kafka import Producer

    from processor.produce import producer_config

    topic = settings.topic("carrier.registry")
    existing = current_keys(settings)
    removed = sorted(set(existing) - set(profiles))
    producer = Producer(producer_config(settings.bootstrap_servers))
    failures: list[str] = []

    def on_delivery(err: object, msg: Any) -> None:
        if err is not None:
            failures.append(f"{msg.key()!r}: {err}")

    for cid, profile in profiles.items():
        producer.produce(topic, key=cid.encode(), value=orjson.dumps(profile_to_json(profile)),
                         on_delivery=on_delivery)
    for cid in removed:
        producer.produce(topic, key=cid.encode(), value=None, on_delivery=on_delivery)
    left = producer.flush(30)
    if left or failures:
        raise RuntimeError(f"registry publish incomplete: {left} undelivered, {failures[:3]}")
    return len(profiles), removed
