"""Reading carrierwatch's output topics back as their compacted state (last value per key)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from processor.admin.produce import Message, produce
from processor.settings import Settings
from tests.integration.procs import Proc, start_worker
from tests.oracle import Oracle, to_ms

OUTPUTS = ("carrier.consecutive-failures", "carrier.code-consistency", "carrier.summary.hourly",
           "carrier.summary.daily", "carrier.summary.monthly", "carrier.summary.live")
TIME_FIELDS = ("streak_started_at", "last_event_at", "last_connected_at", "start", "end")


class TopicState:
    """Keeps reading topics from the beginning; ``state[topic][key]`` is the latest value."""

    def __init__(self, settings: Settings, names: tuple[str, ...] = OUTPUTS) -> None:
        self.settings = settings
        self.topics = {settings.topic(n): n for n in names}
        self.consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers,
                                  "group.id": f"reader-{settings.app_id}",
                                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
        md = self.consumer.list_topics(timeout=10)
        self.consumer.assign([TopicPartition(t, p, 0) for t in self.topics
                              for p in md.topics[t].partitions])
        self.state: dict[str, dict[str, Any]] = {n: {} for n in names}
        self.raw: list[tuple[str, str, bytes | None]] = []
        self.seen = 0

    def poll(self, seconds: float = 1.0) -> int:
        got = 0
        for msg in self.consumer.consume(10_000, timeout=seconds):
            if msg.error():
                raise RuntimeError(msg.error())
            name = self.topics[msg.topic()]
            key = msg.key().decode()
            value = msg.value()
            self.raw.append((name, key, value))
            if value is None:
                self.state[name].pop(key, None)
            else:
                self.state[name][key] = json.loads(value)
            got += 1
        self.seen += got
        return got

    def close(self) -> None:
        self.consumer.close()


def normalise(record: dict[str, Any]) -> dict[str, Any]:
    """Timestamps to epoch ms, floats rounded, updated_at dropped."""
    out = {}
    for k, value in record.items():
        if k == "updated_at":
            continue
        v = to_ms(value) if k in TIME_FIELDS and isinstance(value, str) else value
        out[k] = round(v, 9) if isinstance(v, float) else v
    return out


def diff(expected: dict[str, dict[str, Any]], actual: dict[str, dict[str, Any]],
         limit: int = 5) -> list[str]:
    """Readable differences between expected and actual keyed records (empty = equal)."""
    problems = []
    for key in sorted(set(expected) | set(actual)):
        if key not in actual:
            problems.append(f"missing {key}")
        elif key not in expected:
            problems.append(f"unexpected {key}: {actual[key]}")
        else:
            e, a = normalise(expected[key]), normalise(actual[key])
            if e != a:
                fields = {f: (e.get(f), a.get(f)) for f in set(e) | set(a)
                          if e.get(f) != a.get(f)}
                problems.append(f"{key}: (expected, actual) {fields}")
        if len(problems) >= limit:
            problems.append("...")
            break
    return problems


def expected(oracle: Oracle) -> dict[str, dict[str, Any]]:
    return {
        "carrier.consecutive-failures": oracle.consecutive(),
        "carrier.code-consistency": oracle.consistency(),
        "carrier.summary.hourly": oracle.summaries("hour"),
        "carrier.summary.daily": oracle.summaries("day"),
        "carrier.summary.monthly": oracle.summaries("month"),
        "carrier.summary.live": oracle.live(),
    }


def wait_equal(reader: TopicState, want: dict[str, dict[str, Any]], timeout: float) -> float:
    """Poll until every topic named in ``want`` equals it; returns the seconds it took."""
    began = time.monotonic()
    problems: list[str] = ["not compared yet"]
    while time.monotonic() - began < timeout:
        if reader.poll(1.0):
            continue  # still moving: compare once it pauses
        problems = [f"{name}: {p}" for name in want
                    for p in diff(want[name], reader.state[name])]
        if not problems:
            return time.monotonic() - began
    pytest.fail("outputs differ from the oracle:\n  " + "\n  ".join(problems[:30]))


@contextmanager
def drained_worker(settings: Settings, messages: list[Message], log: Path,
                   timeout: float = 240) -> Iterator[tuple[Oracle, Proc]]:
    """``messages`` produced and a worker started over them, its counter and consistency
    records equal to the oracle's; the worker is stopped at the end."""
    oracle = Oracle()
    oracle.feed(messages)
    produce(settings.bootstrap_servers, settings.topic(settings.input_topic), messages,
            rate=None, progress=None)
    worker = start_worker(settings, log)
    reader = TopicState(settings, ("carrier.consecutive-failures", "carrier.code-consistency"))
    try:
        wait_equal(reader, {"carrier.consecutive-failures": oracle.consecutive(),
                            "carrier.code-consistency": oracle.consistency()}, timeout)
        reader.close()
        yield oracle, worker
    finally:
        reader.close()
        worker.stop()
