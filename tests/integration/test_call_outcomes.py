"""Call outcomes on a real broker (issue 32): two workers share the partitions, so a call's
attempts reach several workers and are grouped on the calls topic; one worker is killed
with SIGKILL mid-stream and a new one takes its place. ``call.outcomes`` then holds every
call as its chain was made, and each carrier's failover figures (asked of either worker,
routed to the owner) equal the chains' — each call counted once."""

from __future__ import annotations

import json
import random
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest

from processor.admin.produce import Message, produce
from processor.io.partitioning import partition_for
from processor.settings import Settings
from tests.call_traffic import HOUR, events, make, pairs, per_carrier
from tests.integration.outputs import TopicState
from tests.integration.procs import cli, free_port, start_worker, wait_for
from tests.integration.test_two_workers import carriers_in_metrics
from tests.schemas import errors

pytestmark = pytest.mark.integration

START = 1_764_000_000_000
CARRIERS = [f"k{i}" for i in range(9)]


def messages(settings: Settings) -> tuple[list[Any], list[Message]]:
    rng = random.Random(32)
    made = make(rng, 2_000, CARRIERS, START, 3 * HOUR)
    msgs = [Message(c.encode(), orjson.dumps({"carrier_id": c, **fields}), True, c)
            for _, c, fields in events(made, rng)]
    # An event on every input partition well after the rest: each partition's progress,
    # and so every calls partition's event time, passes every call's settle time.
    n, i, todo = settings.partitions, 0, set(range(settings.partitions))
    while todo:
        carrier = f"zz{i}"
        if partition_for(carrier.encode(), n) in todo:
            todo.discard(partition_for(carrier.encode(), n))
            msgs.append(Message(carrier.encode(), orjson.dumps({
                "carrier_id": carrier, "call_id": carrier, "code": 486,
                "ts": START + 4 * HOUR}), True, carrier))
        i += 1
    return made, msgs


def failover(url: str, carrier: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/carriers/{carrier}/failover?window=month",
                                timeout=10) as resp:
        [month] = json.loads(resp.read())["failover"]
        return dict(month)


def test_outcomes_hold_with_two_workers_and_a_kill(isolated: Settings,
                                                    tmp_path: Path) -> None:
    base = isolated.replace(clock="stream", tick_interval_s=2.0)
    assert cli(base, "topics", "create").returncode == 0
    made, msgs = messages(base)
    topic = base.topic(base.input_topic)
    half = len(msgs) // 2
    produce(base.bootstrap_servers, topic, msgs[:half], rate=None, progress=None)
    a = base.replace(data_dir=tmp_path / "a", web_port=free_port())
    b = base.replace(data_dir=tmp_path / "b", web_port=free_port())
    reader = TopicState(base, ("call.outcomes",))
    wa, wb = start_worker(a, tmp_path / "a1.log"), start_worker(b, tmp_path / "b1.log")
    try:
        wa.wait_log("Worker ready")
        wb.wait_log("Worker ready")
        wait_for(lambda: bool(carriers_in_metrics(a.web_url))
                 and bool(carriers_in_metrics(b.web_url)), 180, "both workers own carriers")
        wait_for(lambda: reader.poll(0.5) >= 0 and len(reader.state["call.outcomes"]) > 300,
                 180, "calls ending")
        produce(base.bootstrap_servers, topic, msgs[half:], rate=None, progress=None)
        time.sleep(1.0)
        wa.kill()  # SIGKILL mid-stream
        wa = start_worker(a, tmp_path / "a2.log")  # back on its data dir
        wa.wait_log("Worker ready")
        want_keys = {m.key for m in made}
        wait_for(lambda: reader.poll(0.5) >= 0
                 and want_keys <= set(reader.state["call.outcomes"]), 240, "every call")
        got = reader.state["call.outcomes"]
        for m in made:
            rec = got[m.key]
            assert errors("call-outcome", rec) == []
            assert [(x["carrier_id"], x["code"], x["ts_ms"]) for x in rec["attempts"]] \
                == m.chain, m.key
        month = per_carrier(made, 10**15)  # one bucket: every call of the carrier
        top = pairs(made)

        def equal() -> bool:
            for c in CARRIERS:
                want = month[(c, 0)]
                shown = failover(b.web_url, c)
                if {k: shown[k] for k in want} != dict(want):
                    return False
                if [(p["answered_on"], p["calls"]) for p in shown["pairs"]] != sorted(
                        top[c].items(), key=lambda kv: (-kv[1], kv[0]))[:10]:
                    return False
            return True

        try:
            wait_for(equal, 120, "each carrier's failover figures equal to the chains")
        except TimeoutError:
            for c in CARRIERS:
                shown = failover(b.web_url, c)
                print(c, dict(month[(c, 0)]), {k: shown[k] for k in month[(c, 0)]})
            raise
        for c in CARRIERS:  # the same answers from the other worker (routed)
            assert failover(a.web_url, c) == failover(b.web_url, c)
    finally:
        reader.close()
        wa.stop()
        wb.stop()
