"""Producer duplicates of late events (issue 16), through a real worker and through `replay`.

The traffic is an SBC flushing a buffer: events in random event-time order over a day, some
days and weeks late; copies right after their original and 50-400 messages later (inside
the 10-minute window of arrival or past it). Every output, /metrics' duplicate count, the
latest calls and both replays' reports equal the oracle, which decides duplicates by
arrival as the contract words it.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from processor.admin.produce import produce
from processor.settings import Settings
from tests.integration.outputs import TopicState, diff, expected, wait_equal
from tests.integration.procs import cli, start_worker
from tests.integration.test_api import get_json, scrape
from tests.late_traffic import late_traffic
from tests.oracle import Oracle, file_arrivals, to_ms

pytestmark = pytest.mark.integration

HOUR = 3_600_000


def report_matches(oracle: Oracle, report: dict[str, object]) -> None:
    assert not diff(oracle.consistency(), report["consistency"])  # type: ignore[arg-type]
    assert not diff(oracle.consecutive(), report["consecutive"])  # type: ignore[arg-type]
    days = {f"{r['carrier_id']}|day|{r['start']}": r
            for r in report["daily"]}  # type: ignore[attr-defined]
    assert not diff(oracle.summaries("day"), days)


def test_late_copies_count_once_within_the_arrival_window(isolated: Settings,
                                                          tmp_path: Path) -> None:
    settings = isolated.replace(clock="stream", tick_interval_s=2.0)
    assert cli(settings, "topics", "create").returncode == 0
    now = int(time.time() * 1000)
    # 6,000 messages over four hours: 2.4 s apart, so copies 50-400 messages later arrive
    # 2-16 minutes after their original, on both sides of the window.
    messages = late_traffic(seed=16, carriers=8, events=6_000, arrive_from_ms=now - 4 * HOUR,
                            arrive_to_ms=now)
    copies = [m for m in messages if m.duplicate]
    assert len(copies) >= 80
    oracle = Oracle()
    oracle.feed(messages)
    duplicates = sum(c.results["duplicate"] for c in oracle.carriers.values())
    assert 0 < duplicates < len(copies)  # some copies arrive past the window: counted again

    produce(settings, settings.topic(settings.input_topic), messages, rate=None, progress=None)
    reader = TopicState(settings)
    worker = start_worker(settings, tmp_path / "worker.log")
    try:
        wait_equal(reader, expected(oracle), timeout=180)
        metrics = scrape(settings)
        assert metrics[("carrierwatch_events_total", (("result", "duplicate"),))] == duplicates
        for cid in ("late-000", "late-005"):
            calls = get_json(settings, f"/carriers/{cid}/latest-calls?limit=20")["calls"]
            assert [(c["call_id"], c["code"], to_ms(c["ts"])) for c in calls] == \
                [(d["call_id"], d["code"], to_ms(d["ts"])) for d in oracle.latest(cid, 20)]
    finally:
        worker.stop()
        reader.close()

    # A replay of the recorded topic range decides every copy as the live run did.
    name = f"l{uuid.uuid4().hex[:6]}"
    out = tmp_path / "range"
    result = cli(settings, "replay", "--from-topic", settings.input_topic, "--since",
                 str(now - 5 * HOUR), "--until", str(int(time.time() * 1000) + 1000),
                 "--name", name, "--out", str(out), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report_matches(oracle, json.loads((out / "report.json").read_text()))
    assert cli(settings, "replay", "--cleanup", name).returncode == 0

    # A file has no record timestamps: its lines arrive on the file's own clock.
    path = tmp_path / "flush.jsonl"
    path.write_bytes(b"".join(m.value + b"\n" for m in messages))
    by_file = Oracle()
    by_file.feed(file_arrivals(messages))
    name = f"f{uuid.uuid4().hex[:6]}"
    out = tmp_path / "file"
    result = cli(settings, "replay", str(path), "--name", name, "--out", str(out), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report_matches(by_file, json.loads((out / "report.json").read_text()))
    assert cli(settings, "replay", "--cleanup", name).returncode == 0
