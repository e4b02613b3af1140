"""The data dir is lost while the worker is down: state comes back from the changelog."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from processor.settings import Settings
from tests.faults.harness import Feeder, check_dead_letters, report, settings_for, traffic
from tests.integration.outputs import TopicState, expected, wait_equal
from tests.integration.procs import start_worker
from tests.oracle import Oracle

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def test_data_dir_deleted_while_down(isolated: Settings, tmp_path: Path) -> None:
    # Static membership: the restarted worker does not wait out the dead one's session.
    settings = settings_for(isolated).replace(group_instance_id="disk-test-worker")
    first, more = traffic(seed=41, events=20_000, carriers=40), traffic(seed=42, events=5_000,
                                                                         carriers=40, days=4)
    oracle = Oracle()
    oracle.feed(first)
    reader = TopicState(settings)
    feeder = Feeder(settings, first, rate=2_000)
    worker = start_worker(settings, tmp_path / "w1.log")
    try:
        worker.wait_log("Worker ready")  # its data dir exists (a loaded machine is slow)
        time.sleep(3.0)  # mid-run: the worker dies with input still arriving
    finally:
        worker.kill()
    feeder.join()
    shutil.rmtree(settings.data_dir)
    began = time.monotonic()
    worker = start_worker(settings, tmp_path / "w2.log")
    try:
        worker.wait_log("Worker ready", timeout=300)
        ready = time.monotonic() - began
        wait_equal(reader, expected(oracle), timeout=300)
        equal = time.monotonic() - began
        oracle.feed(more)  # and it goes on counting exactly once
        Feeder(settings, more, rate=None).join()
        wait_equal(reader, expected(oracle), timeout=300)
    finally:
        worker.stop()
        reader.close()
    distinct, repeats = check_dead_letters(settings, oracle)
    report("data dir deleted", ready_s=round(ready, 1), equal_s=round(equal, 1),
           dlq=distinct, dlq_repeats=repeats)
