"""False answer supervision end to end (issue 31): a real broker and real workers, one killed
with SIGKILL half-way; ``carrier.anomalies`` then holds the issue's figures over the fed
calls (each counted once), the FAS-like carrier is flagged and alerted, the healthy and
the low-traffic ones are not."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from processor.admin.produce import Message, produce
from processor.settings import Settings
from tests.fas_traffic import Call, fas_like, healthy, plain
from tests.integration.outputs import TopicState
from tests.integration.procs import cli, free_port, start_worker, wait_for
from tests.schemas import errors

pytestmark = pytest.mark.integration

HOUR = 3_600_000
DAY = 24 * HOUR
END = 1_764_028_800_000  # 2025-11-25T00:00:00Z


def traffic() -> dict[str, list[tuple[int, Call]]]:
    rng = random.Random(5)
    live_start = END - DAY
    fed = {}
    for cid, recent, n in (("fasco", fas_like, 800), ("goodco", healthy, 800),
                           ("quietco", fas_like, 30)):
        old = healthy(rng, 2_500)
        new = recent(rng, n)
        fed[cid] = ([(END - 9 * DAY + i * (8 * DAY) // len(old), c) for i, c in enumerate(old)]
                    + [(live_start + i * DAY // len(new), c) for i, c in enumerate(new)])
    return fed


def messages(fed: dict[str, list[tuple[int, Call]]]) -> list[Message]:
    timed = sorted((ts, cid, i, c) for cid, calls in fed.items()
                   for i, (ts, c) in enumerate(calls))
    out = []
    for ts, cid, i, c in timed:
        doc: dict[str, Any] = {"carrier_id": cid, "call_id": f"{cid}-{i}", "code": c.code,
                               "ts": ts}
        for k, v in (("duration_ms", c.duration_ms), ("pdd_ms", c.pdd_ms),
                     ("answer_ms", c.answer_ms), ("ringing", c.ringing)):
            if v is not None:
                doc[k] = v
        out.append(Message(cid.encode(), orjson.dumps(doc), True, cid))
    return out


def test_fas_figures_survive_a_kill(broker: Settings, tmp_path: Path) -> None:
    settings = broker.replace(topic_prefix="fas", app_id="cw-fas", data_dir=tmp_path / "data",
                              web_port=free_port(), clock="stream",
                              destinations_publish_s=0.0)
    assert cli(settings, "topics", "create").returncode == 0
    fed = traffic()
    msgs = messages(fed)
    half = len(msgs) // 2
    topic = settings.topic(settings.input_topic)
    produce(settings, topic, msgs[:half], rate=None, progress=None)
    reader = TopicState(settings, ("carrier.anomalies", "carrier.alerts"))
    worker = start_worker(settings, tmp_path / "w1.log")
    try:
        wait_for(lambda: reader.poll(0.5) >= 0 and len(reader.state["carrier.anomalies"]) == 3,
                 180, "anomalies of every carrier from the first worker")
        produce(settings, topic, msgs[half:], rate=None, progress=None)
        time.sleep(1.0)
    finally:
        worker.kill()  # SIGKILL, mid-stream
    worker = start_worker(settings, tmp_path / "w2.log")
    want = {}
    for cid, calls in fed.items():
        newest = max(ts for ts, _ in calls)
        first = newest - newest % HOUR - 23 * HOUR
        want[cid] = plain([c for ts, c in calls if ts >= first])

    def equal() -> bool:
        reader.poll(0.5)
        shown = reader.state["carrier.anomalies"]
        return all(cid in shown and all(
            shown[cid]["signals"][k] == pytest.approx(v) for k, v in want[cid].items())
            for cid in want)

    try:
        wait_for(equal, 240, "carrier.anomalies equal to the issue's figures")
    finally:
        worker.stop()
        reader.poll(1.0)
        reader.close()
    shown = reader.state["carrier.anomalies"]
    assert {cid: r["verdict"] for cid, r in shown.items()} == {
        "fasco": "fas-suspect", "goodco": "ok", "quietco": "insufficient-data"}
    assert all(errors("anomalies", r) == [] for r in shown.values())
    last: dict[str, str] = {}
    for name, _, value in reader.raw:
        if name == "carrier.alerts" and value:
            a = orjson.loads(value)
            if a["kind"] == "fas-suspect":
                last[a["carrier_id"]] = a["state"]
    assert {c for c, st in last.items() if st == "firing"} == {"fasco"}
    assert "goodco" not in last
