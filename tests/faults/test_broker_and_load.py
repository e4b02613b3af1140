"""The broker goes away and comes back mid-run; a backlog far larger than a batch waits
for the worker. Both end with outputs equal to the oracle."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from processor.dev import localbroker
from processor.settings import Settings
from tests.faults.harness import (
    SCALE,
    Feeder,
    input_lags,
    peak_rss_mib,
    report,
    settings_for,
    traffic,
    wait_committed,
)
from tests.integration.outputs import TopicState, expected, wait_equal
from tests.integration.procs import Proc, start_worker
from tests.oracle import Oracle

pytestmark = [pytest.mark.integration, pytest.mark.faults]

RSS_LIMIT_MIB = 1024  # a worker's memory must not grow with the backlog


def input_lag(url: str) -> int | None:
    """Sum of carrierwatch_input_lag_messages over partitions (None: not known yet)."""
    lags = input_lags(url)
    return sum(lags) if lags else None


def test_broker_restart_mid_run(isolated: Settings, broker: Settings, tmp_path: Path) -> None:
    settings = settings_for(isolated)
    messages = traffic(seed=81, events=20_000, carriers=40)
    oracle = Oracle()
    oracle.feed(messages)
    reader = TopicState(settings)
    feeder = Feeder(settings, messages, rate=1_000)
    worker = start_worker(settings, tmp_path / "w.log")
    try:
        worker.wait_log("Worker ready")
        time.sleep(4.0)
        localbroker.stop(broker)
        down = time.monotonic()
        time.sleep(8.0)
        localbroker.start(broker)
        outage = time.monotonic() - down
        feeder.join()
        took = wait_equal(reader, expected(oracle), timeout=600)
        assert worker.popen.poll() is None, "the worker exited instead of reconnecting"
    finally:
        worker.stop()
        reader.close()
    report("broker restart", outage_s=round(outage, 1), equal_after_s=round(took, 1))


def backlog(settings: Settings) -> int:
    """Input messages the worker's group has not committed yet, over every partition."""
    topic = settings.topic(settings.input_topic)
    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers,
                         "group.id": settings.app_id, "enable.auto.commit": False})
    try:
        parts = [TopicPartition(topic, p) for p in
                 sorted(consumer.list_topics(topic, timeout=10).topics[topic].partitions)]
        committed = {tp.partition: max(tp.offset, 0)
                     for tp in consumer.committed(parts, timeout=10)}
        return sum(consumer.get_watermark_offsets(tp, timeout=10)[1] - committed[tp.partition]
                   for tp in parts)
    finally:
        consumer.close()


def test_overload_builds_lag_that_drains(isolated: Settings, tmp_path: Path) -> None:
    """A backlog built while the worker is stopped (deterministic on any machine: it does
    not race the feeder) drains once it is back, with every event counted once and the
    worker's memory bounded."""
    settings = settings_for(isolated)
    warmup = traffic(seed=91, events=2_000, carriers=100, days=0.2)
    flood = traffic(seed=92, events=SCALE.overload_events, carriers=100, days=2)
    oracle = Oracle()
    oracle.feed(warmup)
    reader = TopicState(settings)
    worker = start_worker(settings, tmp_path / "w.log")
    lags: list[tuple[float, int]] = []
    rss: list[float] = []
    stop = threading.Event()

    def watch(w: Proc) -> None:
        while not stop.is_set():
            lag = input_lag(settings.web_url)
            if lag is not None:
                lags.append((time.monotonic(), lag))
            rss.append(peak_rss_mib(w.popen.pid))
            stop.wait(1.0)

    try:
        worker.wait_log("Worker ready")
        Feeder(settings, warmup, rate=None).join()
        # Drained first: the two traffics key some carriers differently (routed in one,
        # direct in the other), so only a drained warm-up fixes their relative order.
        wait_equal(reader, expected(oracle), timeout=300)
        wait_committed(settings)
        worker.stop()
        oracle.feed(flood)
        began = time.monotonic()
        Feeder(settings, flood, rate=SCALE.overload_rate).join()
        fed = time.monotonic() - began
        queued = backlog(settings)
        assert queued == len(flood), f"backlog {queued}, fed {len(flood)}"
        worker = start_worker(settings, tmp_path / "w2.log")
        watcher = threading.Thread(target=watch, args=(worker,), daemon=True)
        watcher.start()
        began = time.monotonic()
        took = wait_equal(reader, expected(oracle), timeout=900)
        wait_committed(settings)
        time.sleep(2.0)
        stop.set()
        watcher.join()
        peak = peak_rss_mib(worker.popen.pid)
    finally:
        stop.set()
        worker.stop()
        reader.close()
    assert lags, "/metrics never answered"
    assert lags[-1][1] == 0, f"the lag did not drain: {lags[-3:]}"
    assert peak < RSS_LIMIT_MIB, f"peak RSS {peak:.0f} MiB"
    report("overload", events=len(flood), fed_in_s=round(fed, 1), backlog=queued,
           max_lag_seen=max((lag for _, lag in lags), default=0),
           drained_after_s=round(took, 1), drained_per_s=round(len(flood) / took),
           peak_rss_mib=round(peak))
