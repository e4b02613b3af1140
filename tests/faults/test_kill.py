"""kill -9 at random moments while traffic keeps arriving: nothing lost, nothing doubled.

The worker is SIGKILLed (no shutdown, no final commit) during start-up, recovery and
processing alike, and restarted on its own data dir each time. At the end every output
topic must equal the oracle, every alert transition must have been sent and every invalid
message must be on the DLQ.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from processor.settings import Settings
from tests.faults.harness import (
    SCALE,
    Feeder,
    check_alerts,
    check_dead_letters,
    report,
    settings_for,
    traffic,
    wait_committed,
)
from tests.integration.outputs import OUTPUTS, TopicState, expected, wait_equal
from tests.integration.procs import start_worker
from tests.oracle import Oracle

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def test_kill_nine_at_random_moments(isolated: Settings, tmp_path: Path) -> None:
    # A static member: the restarted worker takes its partitions back at once instead of
    # waiting out the dead one's session, so kills land in processing, not only in joins.
    settings = settings_for(isolated).replace(group_instance_id="kill-test-worker")
    messages = traffic(seed=31, events=SCALE.events, carriers=SCALE.carriers)
    oracle = Oracle()
    oracle.feed(messages)
    rng = random.Random(31)
    reader = TopicState(settings, (*OUTPUTS, "carrier.alerts"))
    began = time.monotonic()
    feeder = Feeder(settings, messages, SCALE.rate)
    kills = 0
    worker = start_worker(settings, tmp_path / "w0.log")
    try:
        while kills < SCALE.kills:
            time.sleep(rng.uniform(*SCALE.kill_gap_s))
            reader.poll(0.1)
            worker.kill()
            kills += 1
            worker = start_worker(settings, tmp_path / f"w{kills}.log")
        feeder.join()
        took = wait_equal(reader, expected(oracle), timeout=600)
        wait_committed(settings)
    finally:
        worker.stop()
    reader.poll(2.0)
    repeats = check_alerts(reader, oracle)
    distinct, dlq_repeats = check_dead_letters(settings, oracle)
    reader.close()
    report("kill -9", kills=kills, events=len(messages), mismatches=0,
           dlq=distinct, dlq_repeats=dlq_repeats, alert_repeats=repeats,
           seconds=round(time.monotonic() - began), equal_after_last_start_s=round(took, 1))
