"""The processor end to end on the real broker, against the independent oracle.

200,000+ generated events over 200+ carriers, spanning 29 February and a month boundary,
with invalid messages, producer duplicates, late events and mis-keyed producers. After the
worker drains the input, every output topic must hold exactly the oracle's records; then
again after a restart on its own RocksDB, after a rebuild from the changelog with every
input message re-delivered, and after more traffic.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from processor.admin.produce import Message, produce
from processor.dev.generate import Traffic, generate
from processor.settings import Settings
from tests.faults.harness import input_lags
from tests.integration.outputs import TopicState, diff, expected, wait_equal
from tests.integration.procs import Proc, cli, start_worker, wait_for
from tests.oracle import Oracle
from tests.schemas import TOPIC_SCHEMA, errors

pytestmark = pytest.mark.integration

START = 1708387200000  # 2024-02-20T00:00:00Z
END = 1709424000000  # 2024-03-03T00:00:00Z


def assert_all_valid(reader: TopicState) -> None:
    """Every record the processor emitted validates against its published schema."""
    checked = 0
    for name, key, value in reader.raw:
        if value is None:
            continue
        found = errors(TOPIC_SCHEMA[name], json.loads(value))
        assert not found, f"{name} {key}: {found}"
        checked += 1
    assert checked


def dlq_values(settings: Settings) -> list[dict[str, Any]]:
    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers,
                         "group.id": "dlq-reader", "auto.offset.reset": "earliest"})
    topic = settings.topic("sip.responses.dlq")
    md = consumer.list_topics(timeout=10)
    consumer.assign([TopicPartition(topic, p, 0) for p in md.topics[topic].partitions])
    out = []
    while True:
        batch = consumer.consume(10_000, timeout=2.0)
        if not batch:
            break
        out.extend(json.loads(m.value()) for m in batch)
    consumer.close()
    return out


def rewind_group(settings: Settings) -> None:
    """Make the worker's consumer group start over: every input message is re-delivered."""
    from confluent_kafka import ConsumerGroupTopicPartitions

    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    tps = [TopicPartition(t, p, 0) for t in (settings.topic(settings.input_topic),
                                             settings.route_topic)
           for p in range(settings.partitions)]
    futures = admin.alter_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(settings.app_id, tps)])
    for fut in futures.values():
        fut.result(timeout=30)


def republished(want: dict[str, dict[str, Any]]) -> dict[str, set[str]]:
    """What a start republishes: every carrier's records and its newest hour, day and
    month (keys ``<carrier>|<window>|<ISO start>``: the newest sorts last)."""
    out: dict[str, set[str]] = {}
    for name, records in want.items():
        if name.startswith("carrier.summary.") and name != "carrier.summary.live":
            newest: dict[str, str] = {}
            for key in records:
                cid = key.split("|", 1)[0]
                newest[cid] = max(newest.get(cid, key), key)
            out[name] = set(newest.values())
        else:
            out[name] = set(records)
    return out


def restart(settings: Settings, reader: TopicState, want: dict[str, dict[str, Any]],
            log: Path) -> tuple[Proc, float, float]:
    """Start a worker, wait for its republish (each carrier's records and newest windows)
    and for outputs equal to ``want``.

    Returns the running worker, seconds until it was ready and until outputs were equal."""
    reader.poll(0.5)
    before = len(reader.raw)
    owed = republished(want)
    began = time.monotonic()
    worker = start_worker(settings, log)

    def all_republished() -> bool:
        reader.poll(0.5)
        for name, key, _ in reader.raw[before:]:
            owed.get(name, set()).discard(key)
        return not any(owed.values())

    try:
        worker.wait_log("Worker ready", timeout=300)
        ready = time.monotonic() - began
        wait_for(all_republished, 120, "every carrier's records and newest windows again")
        wait_equal(reader, want, timeout=300)
    except BaseException:
        worker.stop()
        raise
    return worker, ready, time.monotonic() - began


@pytest.fixture
def settings(isolated: Settings) -> Settings:
    s = isolated.replace(clock="stream", tick_interval_s=2.0)
    result = cli(s, "topics", "create")
    assert result.returncode == 0, result.stderr
    return s


def test_outputs_equal_the_oracle_through_restarts_and_rebuilds(settings: Settings,
                                                                  tmp_path: Path) -> None:
    traffic = Traffic(seed=7, carriers=220, events=200_000, start_ms=START, end_ms=END)
    messages = list(generate(traffic))
    oracle = Oracle()
    oracle.feed(messages)
    assert len({m.carrier_id for m in messages}) >= 200
    topic = settings.topic(settings.input_topic)
    produce(settings.bootstrap_servers, topic, messages, rate=None, progress=None)
    want = expected(oracle)
    assert want["carrier.summary.hourly"]
    assert want["carrier.summary.monthly"]

    reader = TopicState(settings)
    began = time.monotonic()
    worker = start_worker(settings, tmp_path / "w1.log")
    try:
        took = wait_equal(reader, want, timeout=600)
        # The worker says when its backlog is gone (what the benchmark times).
        worker.wait_log("caught up with the input", timeout=60)
        caught = re.search(r"caught up with the input \((\d+) partitions\): ([\d,]+) events",
                           worker.log())
        assert caught
        assert int(caught[1]) == settings.partitions
        assert int(caught[2].replace(",", "")) > 0
        assert input_lags(settings.web_url) == [0] * settings.partitions
    finally:
        worker.stop()
    elapsed = time.monotonic() - began
    print(f"\nfirst run: {len(messages)} events, outputs equal after {elapsed:.1f} s "
          f"({len(messages) / elapsed:.0f} events/s incl. start-up; compare {took:.1f} s)")

    assert_all_valid(reader)
    dlq = dlq_values(settings)
    assert all(not errors("dlq-record", d) for d in dlq)
    assert Counter(base64.b64decode(d["value_b64"]) for d in dlq) == Counter(oracle.invalid)
    assert all(d["error"] and d["detail"] and d["source"]["topic"] == topic for d in dlq)

    # 1. Restart on the same data dir: state from RocksDB, outputs unchanged.
    worker, ready, equal = restart(settings, reader, want, tmp_path / "w2.log")
    worker.stop()
    print(f"restart on local RocksDB: ready in {ready:.1f} s, equal after {equal:.1f} s")

    # 2. Empty data dir, and every input message re-delivered: state comes back from the
    #    changelog and the per-key offsets skip everything already counted.
    rewind_group(settings)
    rebuilt = settings.replace(data_dir=tmp_path / "empty-data")
    worker, ready, equal = restart(rebuilt, reader, want, tmp_path / "w3.log")
    try:
        print(f"rebuild from changelog + full re-delivery: ready in {ready:.1f} s, "
              f"equal after {equal:.1f} s")

        # 3. More traffic afterwards is counted exactly once.
        more = list(generate(Traffic(seed=8, carriers=220, events=20_000, start_ms=END,
                                     end_ms=END + 86_400_000)))
        oracle.feed(more)
        produce(settings.bootstrap_servers, topic, more, rate=None, progress=None)
        wait_equal(reader, expected(oracle), timeout=300)
    finally:
        worker.stop()
        reader.close()


def test_unkeyed_messages_are_routed_to_their_carrier(settings: Settings, tmp_path: Path) -> None:
    """Null keys land on random partitions; the carrier's counts must not be split."""
    msgs = [Message(None, json.dumps({"carrier_id": f"u-{i % 5}", "call_id": f"x{i}",
                                      "code": 503 if i % 5 else 200,
                                      "ts": START + i * 1000}).encode(), True, f"u-{i % 5}")
            for i in range(2_000)]
    oracle = Oracle()
    oracle.feed(msgs)
    produce(settings.bootstrap_servers, settings.topic(settings.input_topic), msgs, rate=None,
            progress=None)
    reader = TopicState(settings, ("carrier.code-consistency", "carrier.summary.daily"))
    worker = start_worker(settings, tmp_path / "w.log")
    try:
        wait_equal(reader, {"carrier.code-consistency": oracle.consistency(),
                            "carrier.summary.daily": oracle.summaries("day")}, timeout=180)
        assert_all_valid(reader)
        # All of u-1..u-4's responses are failures, so order cannot matter for them.
        cf = TopicState(settings, ("carrier.consecutive-failures",))
        wait_for(lambda: cf.poll(0.5) >= 0 and len(cf.state["carrier.consecutive-failures"])
                 == 5, 60, "counters")
        for i in range(1, 5):
            rec = cf.state["carrier.consecutive-failures"][f"u-{i}"]
            assert rec["consecutive_failures"] == 400
        cf.close()
    finally:
        worker.stop()
        reader.close()


def test_wall_clock_run_with_the_generate_command(isolated: Settings, tmp_path: Path) -> None:
    """A normal run: `carrierwatch generate` traffic of the last minutes, live on the wall
    clock, and an event from the future dead-lettered as ts-future."""
    settings = isolated.replace(tick_interval_s=2.0)
    assert cli(settings, "topics", "create").returncode == 0
    start_ms = int(time.time() * 1000) - 15 * 60_000
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start_ms / 1000))
    gen = cli(settings, "generate", "--events", "3000", "--carriers", "20", "--seed", "5",
              "--start", start, "--span", "600", "--late-share", "0")
    assert gen.returncode == 0, gen.stderr
    start_ms = start_ms // 1000 * 1000
    oracle = Oracle()
    oracle.feed(generate(Traffic(seed=5, carriers=20, events=3000, start_ms=start_ms,
                                 end_ms=start_ms + 600_000, late_share=0.0)))
    future = {"carrier_id": "c-00001", "call_id": "f", "code": 200,
              "ts": int(time.time() * 1000) + 2 * 3_600_000}
    produce(settings.bootstrap_servers, settings.topic(settings.input_topic),
            [Message(b"c-00001", json.dumps(future).encode(), False, "c-00001")], rate=None,
            progress=None)
    oracle.invalid.append(json.dumps(future).encode())
    reader = TopicState(settings)
    worker = start_worker(settings, tmp_path / "w.log")
    try:
        deadline = time.monotonic() + 180
        problems = ["not compared"]
        while problems and time.monotonic() < deadline:
            reader.poll(1.0)
            want = {"carrier.consecutive-failures": oracle.consecutive(),
                    "carrier.code-consistency": oracle.consistency(),
                    "carrier.summary.daily": oracle.summaries("day"),
                    "carrier.summary.live": oracle.live(int(time.time() * 1000))}
            problems = [p for name, exp in want.items() for p in diff(exp, reader.state[name])]
        assert not problems, problems
    finally:
        worker.stop()
        reader.close()
    dlq = dlq_values(settings)
    assert Counter(base64.b64decode(d["value_b64"]) for d in dlq) == Counter(oracle.invalid)
    assert [d["error"] for d in dlq if d["key"] == "c-00001" and d["error"] == "ts-future"]
