"""A second worker joins mid-run and is later killed: exact outputs, and the survivor's
/metrics covers every carrier (each worker exposes only what it owns)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from processor.settings import Settings
from tests.faults.harness import (
    Feeder,
    check_alerts,
    report,
    settings_for,
    traffic,
    wait_committed,
)
from tests.integration.outputs import OUTPUTS, TopicState, expected, wait_equal
from tests.integration.procs import free_port, start_worker, wait_for
from tests.integration.test_two_workers import carriers_in_metrics
from tests.oracle import Oracle

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def test_worker_joins_then_dies(isolated: Settings, tmp_path: Path) -> None:
    settings = settings_for(isolated)
    messages = traffic(seed=51, events=24_000, carriers=50)
    oracle = Oracle()
    oracle.feed(messages)
    a = settings.replace(data_dir=tmp_path / "a", web_port=free_port())
    b = settings.replace(data_dir=tmp_path / "b", web_port=free_port())
    reader = TopicState(settings, (*OUTPUTS, "carrier.alerts"))
    feeder = Feeder(settings, messages, rate=1_500)
    wa = start_worker(a, tmp_path / "a.log")
    try:
        wa.wait_log("Worker ready")
        time.sleep(3.0)
        wb = start_worker(b, tmp_path / "b.log")
        try:
            wb.wait_log("Worker ready")
            owned: dict[str, set[str]] = {}

            def split() -> bool:
                owned["a"], owned["b"] = carriers_in_metrics(a.web_url), carriers_in_metrics(
                    b.web_url)
                return bool(owned["a"]) and bool(owned["b"]) and not owned["a"] & owned["b"]

            wait_for(split, 120, "both workers to own carriers, disjoint")
            time.sleep(3.0)
        finally:
            wb.kill()
        feeder.join()
        wait_equal(reader, expected(oracle), timeout=600)
        wait_for(lambda: carriers_in_metrics(a.web_url) == set(oracle.carriers), 120,
                 "the survivor to expose every carrier")
        wait_committed(settings)
    finally:
        wa.stop()
    reader.poll(2.0)
    repeats = check_alerts(reader, oracle)
    reader.close()
    report("rebalance", carriers_a_then_b=(len(owned["a"]), len(owned["b"])),
           alert_repeats=repeats)
