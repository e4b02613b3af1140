"""``carrier.destinations`` and ``/carriers/{id}/destinations`` (issue 30) through the
engine's harness: the records equal a model of the fed events, go out at the flush (not
with the early publish), fold the quiet groups into ``other``, and the live key moves with
the hour."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from processor.domain.windows import HOUR_MS, iso
from processor.io import names
from processor.ops.api import BadRequest
from processor.settings import Settings
from tests.harness import T0, Harness

DESTS = ["+442071234567", "+4420799", "+4915112345", "+33612345678", "+12125550100", None,
         "999123", "+8613800000", "+390612345"]


def feed(h: Harness, n: int, start: int) -> Counter[str]:
    """``n`` final responses of c1 over an hour; returns attempts per expected group."""
    h.profile("c1", {"rates": [{"prefix": "4420", "per_minute": 0.01, "currency": "EUR"}]})
    want: Counter[str] = Counter()
    msgs = []
    for i in range(n):
        dest = DESTS[i % len(DESTS)] if i % 7 else DESTS[0]
        code = (200, 486, 503, 404)[i % 4]
        fields: dict[str, Any] = {"duration_ms": 30_000} if code == 200 else {}
        if dest is not None:
            fields["destination"] = dest
        msgs.append(h.source.event("c1", code, ts=start + i * 1000, **fields))
        digits = (dest or "").lstrip("+")
        want["4420" if digits.startswith("4420") else "+44" if digits.startswith("44")
             else "+49" if digits.startswith("49") else "+33" if digits.startswith("33")
             else "+1" if digits.startswith("1") else "+86" if digits.startswith("86")
             else "+39" if digits.startswith("39") else "unknown"] += 1
    h.run(msgs)
    return want


def attempts(rec: dict[str, Any]) -> dict[str, int]:
    return {d["group"]: d["attempts"] for d in rec["destinations"]}


def test_records_equal_the_model_and_go_out_at_the_flush() -> None:
    h = Harness(Settings(clock="wall", destinations_top=4))
    h.clock.ms = T0 + 30 * 60_000
    want = feed(h, 90, T0)
    h.pipeline.publisher.publish(flush=False)  # the early publish: summaries only
    assert h.output(names.LIVE)
    assert not h.output(names.DESTINATIONS)
    h.flush()
    out = h.output(names.DESTINATIONS)
    hour = out[f"c1|hour|{iso(T0)}".encode()]
    top = want.most_common()
    shown = dict(sorted(top, key=lambda kv: (-kv[1], kv[0]))[:4])
    rest = {g: n for g, n in want.items() if g not in shown}
    assert attempts(hour) == {**shown, **({"other": sum(rest.values())} if rest else {})}
    assert hour["other_groups"] == len(rest)
    summary = h.output(names.SUMMARY["hour"])[f"c1|hour|{iso(T0)}".encode()]
    assert sum(d["attempts"] for d in hour["destinations"]) == summary["attempts"]
    assert sum(d["answered"] for d in hour["destinations"]) == summary["answered"]
    assert hour["destinations"][0]["group"] == "4420"  # every 7th call goes there too
    assert hour["destinations"][0]["cost"] is not None  # priced by the card
    live = out[f"c1|live|{iso(T0 + HOUR_MS - 24 * HOUR_MS)}".encode()]
    assert attempts(live) == attempts(hour)
    # what /metrics exports per group: the live window's busiest groups, without "other"
    row = h.pipeline.step.view.rows["c1"]
    assert {g: n for g, n, _ in row.groups} == dict(shown)


def test_the_live_key_moves_with_the_hour() -> None:
    h = Harness(Settings(clock="wall"))
    h.clock.ms = T0 + 10 * 60_000
    feed(h, 10, T0)
    h.flush()
    h.clock.ms = T0 + HOUR_MS + 10 * 60_000
    feed(h, 10, T0 + HOUR_MS)
    h.flush()
    out = h.output(names.DESTINATIONS)
    old = f"c1|live|{iso(T0 + HOUR_MS - 24 * HOUR_MS)}".encode()
    new = f"c1|live|{iso(T0 + 2 * HOUR_MS - 24 * HOUR_MS)}".encode()
    assert out[old] is None  # tombstoned
    assert sum(attempts(out[new]).values()) == 20


def test_the_api_answers_per_window_busiest_first() -> None:
    h = Harness(Settings(clock="wall", destinations_top=3))
    h.clock.ms = T0 + 30 * 60_000
    want = feed(h, 60, T0)
    h.flush()
    api = h.api()
    live = api.destinations("c1", {}).body
    assert live["window"] == "live"
    groups = [d["group"] for d in live["destinations"]]
    assert groups[-1] == "other"
    assert sum(d["attempts"] for d in live["destinations"]) == sum(want.values())
    counts = [d["attempts"] for d in live["destinations"][:-1]]
    assert counts == sorted(counts, reverse=True)
    day = api.destinations("c1", {"window": "day", "from": iso(T0), "to": iso(T0 + HOUR_MS)})
    assert {d["start"] for d in day.body["destinations"]} == {iso(T0)}
    assert api.destinations("nope", {}).status == 404
    with pytest.raises(BadRequest, match=r"^window"):
        api.destinations("c1", {"window": "week"})
    with pytest.raises(BadRequest, match=r"^from"):
        api.destinations("c1", {"from": "yesterday"})


def test_records_go_out_at_most_every_interval_and_at_once_on_hand_over() -> None:
    h = Harness(Settings(clock="wall", destinations_publish_s=30))
    h.clock.ms = T0 + 10 * 60_000
    feed(h, 10, T0)
    h.flush()
    sent = len(h.broker.records(names.DESTINATIONS))
    assert sent
    h.clock.ms += 5_000
    feed(h, 10, T0 + 5 * 60_000)
    h.flush()  # 5 s later: the summaries go, the destinations wait
    assert len(h.broker.records(names.DESTINATIONS)) == sent
    summary = h.output(names.SUMMARY["hour"])[f"c1|hour|{iso(T0)}".encode()]
    assert summary["attempts"] == 20
    h.pipeline.publisher.hand_over()  # a revoke or a shutdown: nothing may wait
    assert h.pipeline.publisher.waiting
    h.flush()
    hour = h.output(names.DESTINATIONS)[f"c1|hour|{iso(T0)}".encode()]
    assert sum(attempts(hour).values()) == 20
    h.clock.ms += 30_000
    feed(h, 5, T0 + 6 * 60_000)
    h.flush()  # due again
    hour = h.output(names.DESTINATIONS)[f"c1|hour|{iso(T0)}".encode()]
    assert sum(attempts(hour).values()) == 25
