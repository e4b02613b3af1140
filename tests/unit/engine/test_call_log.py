"""The call log (issue 30) through the engine's harness: every range and filter answer
equals a plain filter over the fed events (an oracle written from the issue), page by
page, after a restart on the same tables, on RocksDB as in memory; old calls expire and a
carrier keeps at most ``call_log_max``."""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from processor.domain.windows import iso
from processor.ops.api import BadRequest
from processor.settings import Settings
from tests.harness import T0, Harness, Msg, rocks_tables
from tests.schemas import errors

HOUR = 3_600_000
CUSTOMERS = ["cu1", "cu2", "cu3", None]
DESTS = ["+4930123", "4930999", "+33612345678", "1212555", None]
CODES = [180, 200, 200, 404, 486, 487, 503, 503, 502, 603]


@dataclass(frozen=True)
class Fed:
    """A fed final response as the oracle keeps it."""

    ts: int
    source: str
    offset: int
    fields: dict[str, Any]


def traffic(h: Harness, rng: random.Random, n: int, now: int,
            carriers: tuple[str, ...] = ("c1", "c2")) -> tuple[list[Msg], list[Fed]]:
    """``n`` events over the 3 hours before ``now`` (some late, some provisional, some
    sent twice); the final responses the log must hold, first copies only."""
    msgs, fed, seen = [], [], set()
    for i in range(n):
        cid = rng.choice(carriers)
        code = rng.choice(CODES)
        ts = now - rng.randrange(3 * HOUR)
        fields: dict[str, Any] = {"event_id": f"e{i}", "call_id": f"call-{i}",
                                  "reason": "Busy" if code == 486 else None}
        if code == 200:
            fields["duration_ms"] = rng.randrange(1, 300_000)
        if rng.random() < 0.7:
            fields["pdd_ms"] = rng.randrange(100, 9_000)
        if (d := rng.choice(DESTS)) is not None:
            fields["destination"] = d
        if (c := rng.choice(CUSTOMERS)) is not None:
            fields["customer_id"] = c
        copies = 2 if rng.random() < 0.05 else 1
        for _ in range(copies):
            m = h.source.event(cid, code, ts=ts, **{k: v for k, v in fields.items()
                                                    if v is not None})
            msgs.append(m)
            if code >= 200 and fields["event_id"] not in seen:
                seen.add(fields["event_id"])
                fed.append(Fed(ts, f"{m.topic()}:{m.partition()}", m.offset(), {
                    "carrier": cid, "call_id": fields["call_id"], "code": code,
                    "reason": fields["reason"], "ts": iso(ts),
                    "duration_ms": fields.get("duration_ms"),
                    "pdd_ms": fields.get("pdd_ms"), "destination": fields.get("destination"),
                    "customer_id": fields.get("customer_id")}))
    return msgs, fed


def expected(fed: list[Fed], carrier: str, since: int | None = None, until: int | None = None,
             *, codes: set[int] | None = None, classes: frozenset[int] | set[int] = frozenset(),
             customer: str | None = None, destination: str | None = None,
             ) -> list[dict[str, Any]]:
    """The plain filter: the carrier's final responses in [since, until) that match,
    newest first by ts (ties: by source, then offset, newest first)."""
    out = []
    for f in fed:
        c = f.fields
        if c["carrier"] != carrier:
            continue
        if (since is not None and f.ts < since) or (until is not None and f.ts >= until):
            continue
        if codes is not None and c["code"] not in codes and c["code"] // 100 not in classes:
            continue
        if customer is not None and c["customer_id"] != customer:
            continue
        if destination is not None and not (c["destination"] or "").lstrip("+").startswith(
                destination):
            continue
        out.append(f)
    out.sort(key=lambda f: (f.ts, f.source, f.offset), reverse=True)
    return [{k: v for k, v in f.fields.items() if k != "carrier"} for f in out]


def pages(h: Harness, carrier: str, query: dict[str, str]) -> list[dict[str, Any]]:
    """Every page of the log for ``query``, followed by its cursors."""
    api, out, cursor = h.api(), [], None
    for _ in range(10_000):
        body = api.calls(carrier, {**query, **({"cursor": cursor} if cursor else {})}).body
        assert errors("calls", body) == []
        out += body["calls"]
        assert len(body["calls"]) <= int(query.get("limit", 100))
        cursor = body["next"]
        if cursor is None:
            return out
    raise AssertionError("the cursors never end")


def fed_harness(tables: Any = None, **settings: Any) -> tuple[Harness, list[Fed], int]:
    now = T0 + 5 * HOUR
    h = Harness(Settings(clock="wall", **settings), tables=tables)
    h.clock.ms = now
    rng = random.Random(30)
    msgs, fed = traffic(h, rng, 3_000, now)
    for i in range(0, len(msgs), 700):  # several batches and flushes
        h.run(msgs[i:i + 700])
        if i % 1400 == 0:
            h.flush()
    h.flush()
    return h, fed, now


QUERIES: list[tuple[dict[str, str], dict[str, Any]]] = [
    ({}, {}),
    ({"limit": "37"}, {}),
    ({"code": "503"}, {"codes": {503}}),
    ({"code": "5xx", "limit": "10"}, {"codes": set(), "classes": {5}}),
    ({"code": "404,486,6xx"}, {"codes": {404, 486}, "classes": {6}}),
    ({"customer": "cu2", "limit": "50"}, {"customer": "cu2"}),
    ({"destination": "+49"}, {"destination": "49"}),
    ({"destination": "4930", "code": "200"}, {"destination": "4930", "codes": {200}}),
]


@pytest.mark.parametrize(("query", "oracle"), QUERIES)
def test_every_page_together_is_the_plain_filter(query: dict[str, str],
                                                 oracle: dict[str, Any]) -> None:
    h, fed, now = fed_harness()
    for carrier in ("c1", "c2"):
        assert pages(h, carrier, query) == expected(fed, carrier, **oracle)
    since, until = now - 2 * HOUR + 12_345, now - HOUR + 7
    ranged = {**query, "from": iso(since), "to": str(until)}
    assert pages(h, "c1", ranged) == expected(fed, "c1", since, until, **oracle)


def test_the_log_is_the_same_after_a_restart_and_on_rocksdb(tmp_path: Path) -> None:
    tables = rocks_tables(tmp_path)
    h, fed, now = fed_harness(tables)
    want = expected(fed, "c1", now - 150 * 60_000, now - 20 * 60_000)
    query = {"from": str(now - 150 * 60_000), "to": str(now - 20 * 60_000), "limit": "200"}
    assert pages(h, "c1", query) == want
    again = Harness(Settings(clock="wall"), tables=tables, clock=h.clock)  # a new worker
    assert pages(again, "c1", query) == want
    assert pages(again, "c1", {"code": "487"}) == expected(fed, "c1", codes={487})


def test_a_whole_range_exports_as_csv() -> None:
    h, fed, _now = fed_harness()
    body = h.api().calls("c2", {"code": "2xx"}, whole=True).body
    assert body["next"] is None
    want = expected(fed, "c2", codes=set(), classes={2})
    assert body["calls"] == want
    assert len(want) > 100  # more than one page


def test_old_calls_expire_and_the_log_keeps_at_most_its_maximum() -> None:
    h, fed, now = fed_harness(call_log_hours=2, call_log_max=400)
    shown = pages(h, "c1", {"limit": "1000"})
    assert len(shown) <= 400
    # The oldest go first, by the minute: every call of a later minute than the oldest
    # kept is kept, in the order of the plain filter.
    want = expected(fed, "c1", now - 2 * HOUR)
    oldest_minute = min(c["ts"] for c in shown)[:16]
    newer = [c for c in want if c["ts"][:16] > oldest_minute]
    assert shown[:len(newer)] == newer
    assert all(c in want for c in shown)
    assert len(shown) > 400 - 60  # at most a segment's worth under the maximum
    h.clock.advance(HOUR)
    h.run(h.source.event("c1", 200, ts=h.clock.ms))
    h.flush()
    kept = pages(h, "c1", {"limit": "1000"})
    assert min(c["ts"] for c in kept) >= iso(h.clock.ms - 2 * HOUR)[:16]
    stored = [k for data in h.tables.latest.data.values() for k in data
              if k.startswith(b"c1|t")]
    newest_expired = (h.clock.ms - 2 * HOUR) // 60_000 * 60_000 - 60_000
    assert all(int(k[4:17]) > newest_expired for k in stored)


def test_a_call_is_shown_once_when_a_crash_left_its_segment_twice() -> None:
    h, fed, _now = fed_harness()
    copied = 0
    for data in h.tables.latest.data.values():
        for key, value in list(data.items()):
            if key.startswith(b"c1|t"):  # as if re-delivered calls went to a new segment
                minute, _seq, n = key[4:].split(b".")
                data[b"c1|t" + minute + b".9999999999." + n] = value
                copied += 1
    assert copied
    assert pages(h, "c1", {}) == expected(fed, "c1")


@pytest.mark.parametrize(("query", "field"), [
    ({"code": "5x"}, "code"), ({"code": "99"}, "code"), ({"from": "yesterday"}, "from"),
    ({"to": "2026-01-01T00:00:00"}, "to"), ({"cursor": "nope"}, "cursor"),
    ({"destination": "+49abc"}, "destination"), ({"limit": "0"}, "limit"),
    ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "from"),
])
def test_a_bad_parameter_is_named(query: dict[str, str], field: str) -> None:
    h, _, _ = fed_harness()
    with pytest.raises(BadRequest, match=f"^{field}"):
        h.api().calls("c1", query)


def test_csv_columns_are_the_latest_calls_fields() -> None:
    from processor.ops import formats
    h, fed, _ = fed_harness()
    rows = h.api().calls("c1", {}, whole=True).body["calls"]
    text = formats.to_csv(rows, formats.LATEST_COLUMNS)
    read = list(csv.DictReader(io.StringIO(text)))
    assert len(read) == len(expected(fed, "c1"))
    assert read[0]["call_id"] == expected(fed, "c1")[0]["call_id"]
