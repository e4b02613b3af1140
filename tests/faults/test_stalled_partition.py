"""Faust's flow control drops an input partition and never takes it back: nothing is lost.

The worker (tests/integration/apps/deaf_partition.py) is the real one with Faust's flow
control made to drop input partition 1, as a rebalance once left it. When Faust fetched
the input, the partition's lag then stayed where it was and its carriers' numbers stayed
low (until a stall check read it directly); the worker now reads its input itself, so
Faust's fetch loop cannot hold any of it back.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from processor.settings import Settings
from tests.faults.harness import Feeder, report, settings_for, traffic, wait_committed
from tests.integration.outputs import OUTPUTS, TopicState, expected, wait_equal
from tests.integration.procs import start_worker
from tests.oracle import Oracle

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def test_a_partition_faust_stops_fetching_is_still_processed(isolated: Settings,
                                                              tmp_path: Path) -> None:
    settings = settings_for(isolated)
    messages = traffic(seed=71, events=9_000, carriers=40)
    oracle = Oracle()
    oracle.feed(messages)
    reader = TopicState(settings, OUTPUTS)
    began = time.monotonic()
    worker = start_worker(settings, tmp_path / "w.log",
                          module="tests.integration.apps.deaf_partition", args=())
    try:
        worker.wait_log("test: Faust stops fetching")
        Feeder(settings, messages, rate=1_500).join()
        took = wait_equal(reader, expected(oracle), timeout=300)
        wait_committed(settings)
        log = worker.log()
    finally:
        worker.stop()
    reader.close()
    assert "test: Faust stops fetching" in log
    report("stalled partition", events=len(messages), seconds=round(time.monotonic() - began),
           equal_after_feed_s=round(took, 1))
