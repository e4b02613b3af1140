"""Shared pieces of the fault suite: its scale, traffic fed at a steady pace, the checks.

``CARRIERWATCH_FAULTS=long`` selects the long run (``make faults-long``); the default is the
short one that CI runs. Every check compares the output topics with the independent oracle.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from processor.admin.produce import Message, produce
from processor.dev.generate import Traffic, generate
from processor.settings import Settings
from tests.integration.outputs import TopicState
from tests.integration.procs import cli
from tests.oracle import UNMODELLED_ALERTS, Oracle, to_ms

START = 1709251200000  # 2024-03-01T00:00:00Z


@dataclass(frozen=True)
class Scale:
    name: str
    events: int  # events in the kill -9 run
    carriers: int
    rate: int  # events/s fed while faults are injected
    kills: int
    kill_gap_s: tuple[float, float]  # a kill comes this long after the previous (re)start
    overload_rate: int  # events/s fed in the overload test, while the worker is stopped
    overload_events: int  # that many: the backlog it finds when it is back


SHORT = Scale("short", events=30_000, carriers=60, rate=1_500, kills=5, kill_gap_s=(1.0, 5.0),
              overload_rate=20_000, overload_events=60_000)
LONG = Scale("long", events=500_000, carriers=300, rate=1_500, kills=20,
             kill_gap_s=(4.0, 24.0), overload_rate=20_000, overload_events=300_000)
SCALE = LONG if os.environ.get("CARRIERWATCH_FAULTS") == "long" else SHORT


def settings_for(isolated: Settings) -> Settings:
    s = isolated.replace(clock="stream", tick_interval_s=2.0)
    result = cli(s, "topics", "create")
    assert result.returncode == 0, result.stderr
    return s


def traffic(seed: int, events: int, carriers: int, days: float = 3.0) -> list[Message]:
    return list(generate(Traffic(seed=seed, carriers=carriers, events=events, start_ms=START,
                                 end_ms=START + int(days * 86_400_000))))


class Feeder:
    """Produces messages at a steady rate in a background thread (traffic keeps arriving
    while workers die and come back)."""

    def __init__(self, settings: Settings, messages: list[Message], rate: int | None) -> None:
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True,
                                         args=(settings, messages, rate))
        self._thread.start()

    def _run(self, settings: Settings, messages: list[Message], rate: int | None) -> None:
        try:
            produce(settings.bootstrap_servers, settings.topic(settings.input_topic), messages,
                    rate=rate, progress=None)
        except Exception as exc:  # noqa: BLE001 - re-raised by join()
            self.error = exc

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float = 900.0) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the feeder did not finish"
        if self.error is not None:
            raise self.error


def dead_letters(settings: Settings) -> list[dict[str, Any]]:
    """Every record on the DLQ topic."""
    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers,
                         "group.id": f"dlq-{settings.app_id}", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    topic = settings.topic("sip.responses.dlq")
    md = consumer.list_topics(timeout=10)
    consumer.assign([TopicPartition(topic, p, 0) for p in md.topics[topic].partitions])
    out = []
    while batch := consumer.consume(10_000, timeout=2.0):
        out.extend(json.loads(m.value()) for m in batch)
    consumer.close()
    return out


def check_dead_letters(settings: Settings, oracle: Oracle) -> tuple[int, int]:
    """Every invalid message is on the DLQ (at least once); returns (distinct, repeats).

    A message re-delivered after a crash is dead-lettered again: the DLQ is at-least-once and
    its readers tell repeats apart by the source coordinates."""
    records = dead_letters(settings)
    by_source = {(d["source"]["topic"], d["source"]["partition"], d["source"]["offset"]): d
                 for d in records}
    values = Counter(base64.b64decode(d["value_b64"]) for d in by_source.values())
    assert values == Counter(oracle.invalid)
    return len(by_source), len(records) - len(by_source)


def wait_committed(settings: Settings, timeout: float = 120.0) -> dict[int, int]:
    """Wait until the worker's group has committed every input partition to its end.

    Outputs equal to the oracle say nothing about commits: commits stuck below a hole
    mean that the next start or owner processes everything since once more. Returns the
    committed offsets."""
    topic = settings.topic(settings.input_topic)
    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers,
                         "group.id": settings.app_id, "enable.auto.commit": False})
    try:
        parts = sorted(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in parts}
        deadline = time.monotonic() + timeout
        while True:
            done = {tp.partition: tp.offset for tp in consumer.committed(
                [TopicPartition(topic, p) for p in parts], timeout=10)}
            if all(done[p] >= ends[p] for p in parts) or time.monotonic() > deadline:
                break
            time.sleep(1.0)
    finally:
        consumer.close()
    assert all(done[p] >= ends[p] for p in parts), {"committed": done, "log ends": ends}
    return done


def alert_keys(reader: TopicState) -> Counter[tuple[str, str, str, int]]:
    return Counter((a["carrier_id"], a["kind"], a["state"], to_ms(a["at"]))
                   for a in (json.loads(v) for name, _, v in reader.raw
                             if name == "carrier.alerts" and v)
                   if a["kind"] not in UNMODELLED_ALERTS)


def check_alerts(reader: TopicState, oracle: Oracle) -> int:
    """Every alert transition the oracle expects was sent; returns how many were repeats."""
    got = alert_keys(reader)
    want = Counter((a["carrier_id"], a["kind"], a["state"], a["at"]) for a in oracle.alerts)
    assert set(got) == set(want), {"missing": sorted(set(want) - set(got))[:5],
                                   "unexpected": sorted(set(got) - set(want))[:5]}
    return sum(got.values()) - len(got)


def input_lags(url: str, timeout: float = 10.0) -> list[int] | None:
    """The worker's carrierwatch_input_lag_messages, one per partition it has processed
    (None: /metrics did not answer)."""
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=timeout) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    return [int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines()
            if line.startswith("carrierwatch_input_lag_messages{")]


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set (VmHWM) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


def report(name: str, **figures: Any) -> None:
    """One line of figures per fault test (shown with -s, and in the long run's log)."""
    print(f"\n[faults:{SCALE.name}] {name}: " +
          ", ".join(f"{k}={v}" for k, v in figures.items()), flush=True)


def monotonic_deadline(seconds: float) -> float:
    return time.monotonic() + seconds
