"""The call log on running workers (issue 30): range and filter answers equal a plain
filter over the fed events, through a worker restart, a rebalance to a second worker
(answers routed to the owner) and that worker taking over alone; the CLI streams every
page; a 10,000-call range exports as CSV (its time is reported)."""

from __future__ import annotations

import csv
import io
import json
import random
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest

from processor.admin.produce import Message, produce
from processor.domain.windows import iso
from processor.settings import Settings
from tests.faults.harness import report
from tests.integration.procs import cli, free_port, start_worker, wait_for
from tests.integration.test_two_workers import carriers_in_metrics

pytestmark = pytest.mark.integration

END = 1_764_000_000_000  # the stream's newest ts (2025-11-24T16:00:00Z)
HOUR = 3_600_000
CARRIERS = ["big", *(f"c{i}" for i in range(11))]
CODES = [200, 200, 200, 404, 486, 487, 503, 503, 480, 603, 183]


def traffic(seed: int = 30, events: int = 40_000) -> tuple[list[Message], list[dict[str, Any]]]:
    """Events over the 30 hours up to END (the log keeps the last 24 of each carrier's
    stream clock: each has a call at END), "big" with most of them, 5 % sent twice; and
    the final responses as fed (first copies)."""
    rng = random.Random(seed)
    msgs, fed = [], []
    for i in range(events):
        if i < len(CARRIERS):
            cid, code, ts = CARRIERS[i], 200, END
        else:
            cid = "big" if rng.random() < 0.45 else rng.choice(CARRIERS[1:])
            code, ts = rng.choice(CODES), END - rng.randrange(30 * HOUR)
        doc: dict[str, Any] = {"carrier_id": cid, "call_id": f"call-{i}", "code": code,
                               "ts": ts, "event_id": f"e{i}",
                               "destination": rng.choice(["+4930123", "33612", "1212"]),
                               "customer_id": rng.choice(["cu1", "cu2", "cu3"])}
        if code == 200:
            doc["duration_ms"] = rng.randrange(1, 200_000)
        m = Message(cid.encode(), orjson.dumps(doc), True, cid)
        msgs += [m, m] if rng.random() < 0.05 else [m]
        if code >= 200:
            fed.append(doc)
    return msgs, fed


def expected(fed: list[dict[str, Any]], carrier: str, since: int, until: int,
             codes: set[int] | None = None) -> list[tuple[str, str, int]]:
    """The plain filter: (ts, call_id, code), newest first (the arrival order breaks ties
    of ts: call ids are numbered as produced)."""
    rows = [d for d in fed if d["carrier_id"] == carrier and since <= d["ts"] < until
            and (codes is None or d["code"] in codes)]
    rows.sort(key=lambda d: (d["ts"], int(d["call_id"][5:])), reverse=True)
    return [(iso(d["ts"]), d["call_id"], d["code"]) for d in rows]


def get(url: str, path: str, params: dict[str, str]) -> Any:
    with urllib.request.urlopen(f"{url}{path}?{urllib.parse.urlencode(params)}",
                                timeout=60) as resp:
        return resp.read()


def log_of(url: str, carrier: str, params: dict[str, str]) -> list[tuple[str, str, int]]:
    """Every page of the call log, followed by its cursors."""
    out, cursor = [], None
    while True:
        doc = json.loads(get(url, f"/carriers/{carrier}/calls",
                             {**params, **({"cursor": cursor} if cursor else {})}))
        out += [(c["ts"], c["call_id"], c["code"]) for c in doc["calls"]]
        cursor = doc["next"]
        if cursor is None:
            return out


QUERIES: list[tuple[str, dict[str, str], tuple[int, int, set[int] | None]]] = [
    ("big", {"limit": "1000"}, (END - 24 * HOUR, END + 1, None)),
    ("big", {"from": iso(END - 3 * HOUR), "to": str(END - HOUR), "code": "5xx"},
     (END - 3 * HOUR, END - HOUR, {503})),
    ("c3", {"code": "404,486"}, (END - 24 * HOUR, END + 1, {404, 486})),
    ("c7", {"from": str(END - 25 * HOUR), "limit": "7"}, (END - 24 * HOUR, END + 1, None)),
]


def check(url: str, fed: list[dict[str, Any]]) -> None:
    for carrier, params, (since, until, codes) in QUERIES:
        assert log_of(url, carrier, params) == expected(fed, carrier, since, until, codes), (
            url, carrier, params)


def test_the_log_holds_through_restart_and_rebalance(isolated: Settings,
                                                     tmp_path: Path) -> None:
    base = isolated.replace(clock="stream", tick_interval_s=2.0)
    assert cli(base, "topics", "create").returncode == 0
    msgs, fed = traffic()
    produce(base.bootstrap_servers, base.topic(base.input_topic), msgs, rate=None,
            progress=None)
    a = base.replace(data_dir=tmp_path / "a", web_port=free_port())
    b = base.replace(data_dir=tmp_path / "b", web_port=free_port())
    want_big = expected(fed, "big", END - 24 * HOUR, END + 1)

    def caught_up(url: str) -> bool:
        try:
            return log_of(url, "big", {"limit": "5000"}) == want_big
        except OSError:
            return False

    wa = start_worker(a, tmp_path / "a1.log")
    try:
        wa.wait_log("Worker ready")
        wait_for(lambda: caught_up(a.web_url), 180, "worker a to log every call")
        check(a.web_url, fed)
        started = time.monotonic()
        text = get(a.web_url, "/carriers/big/calls", {"format": "csv"}).decode()
        export_s = time.monotonic() - started
        rows = list(csv.DictReader(io.StringIO(text)))
        assert [(r["ts"], r["call_id"], int(r["code"])) for r in rows] == want_big
        assert len(rows) >= 10_000
        out = cli(a, "calls", "big", "--from", iso(END - 3 * HOUR), "--code", "5xx",
                  "--format", "json", "--page-size", "50", "--api", a.web_url)
        assert out.returncode == 0, out.stderr
        streamed = [json.loads(line) for line in out.stdout.splitlines()]
        assert [(c["ts"], c["call_id"], c["code"]) for c in streamed] == expected(
            fed, "big", END - 3 * HOUR, END + 1, {503})
    finally:
        wa.stop()
    wa = start_worker(a, tmp_path / "a2.log")  # a restart on the same data dir
    try:
        wa.wait_log("Worker ready")
        wait_for(lambda: caught_up(a.web_url), 120, "the restarted worker to answer")
        check(a.web_url, fed)
        wb = start_worker(b, tmp_path / "b1.log")  # a rebalance: b takes partitions over
        try:
            wb.wait_log("Worker ready")
            wait_for(lambda: bool(carriers_in_metrics(a.web_url))
                     and bool(carriers_in_metrics(b.web_url)), 120,
                     "both workers to own carriers")
            wait_for(lambda: caught_up(b.web_url), 120, "the second worker to answer")
            check(a.web_url, fed)  # each answers for every carrier (routed to its owner)
            check(b.web_url, fed)
        finally:
            wa.stop()
        wait_for(lambda: len(carriers_in_metrics(b.web_url)) == len(CARRIERS), 120,
                 "b to own every carrier")
        check(b.web_url, fed)  # what a owned came back from the changelog
    finally:
        wb.stop()
        wa.stop()
    report("call-log", calls_exported=len(rows), csv_export_s=round(export_s, 3))
