"""One carrier's step (processor/engine/step.py) on in-memory tables, with no broker: what
it stores, deletes and marks for publishing. Expected figures come from the contract."""

from __future__ import annotations

from processor.domain.events import Sourced
from processor.domain.windows import HOUR_MS
from processor.io import codec, names
from tests.harness import T0, Harness

DAY_MS = 24 * HOUR_MS


def _events(h: Harness, carrier: str, *codes: int, ts: int = T0) -> list[Sourced]:
    """The carrier's events as intake hands them to the step (decoded, with coordinates)."""
    out = []
    for i, code in enumerate(codes):
        msg = h.source.event(carrier, code, ts=ts + i)
        ev = codec.decode(msg.value(), None)
        assert not isinstance(ev, codec.Rejected)
        out.append(Sourced(ev, f"{msg.topic()}:{msg.partition()}", msg.offset(), ts + i))
    return out


def test_a_step_stores_the_folded_carrier_and_its_windows() -> None:
    h = Harness()
    res = h.pipeline.step(0, "c1", _events(h, "c1", 503, 503, 100, 503), T0)
    assert res is not None
    assert res.carrier.streak.count == 3  # three failures; a provisional 100 changes nothing
    h.flush()
    assert h.stores.carriers.load(0, b"c1") is not None
    assert h.tables.windows.get(0, names.window_key("c1", "hour", T0).encode()) is not None
    assert h.output(names.CONSECUTIVE)[b"c1"]["consecutive_failures"] == 3
    assert h.output(names.SUMMARY["hour"])[
        names.window_key("c1", "hour", T0).encode()]["attempts"] == 3


def test_a_step_without_events_for_an_unknown_carrier_does_nothing() -> None:
    h = Harness()
    assert h.pipeline.step(0, "nobody", (), T0) is None
    assert h.pipeline.dirty_keys == 0
    assert not h.pipeline.publisher.dirty


def test_a_step_expires_windows_past_retention_and_tombstones_them() -> None:
    h = Harness()
    h.pipeline.step(0, "c1", _events(h, "c1", 200), T0)
    h.flush()
    h.clock.advance(8 * DAY_MS)  # hour windows are kept 7 days by default
    res = h.pipeline.step(0, "c1", (), h.clock())
    assert res is not None
    assert ("hour", T0) in res.expired
    h.flush()
    key = names.window_key("c1", "hour", T0).encode()
    assert h.tables.windows.get(0, key) is None
    assert h.output(names.SUMMARY["hour"])[key] is None  # the tombstone
    day = names.window_key("c1", "day", T0).encode()
    assert h.tables.windows.get(0, day) is not None  # days are kept 92 days


def test_an_alert_goes_out_with_the_carriers_contacts() -> None:
    h = Harness()
    h.profile("c1", {"consecutive_failure_threshold": 2,
                     "contacts": [{"name": "NOC", "email": "noc@example.net"}]})
    h.pipeline.step(0, "c1", _events(h, "c1", 503, 503), T0)
    alerts = [a for a in h.output(names.ALERTS).values() if a is not None]
    assert [(a["kind"], a["state"]) for a in alerts] == [("consecutive-failures", "firing")]
    assert alerts[0]["contacts"][0]["email"] == "noc@example.net"


def test_a_step_keeps_the_latest_calls_newest_first() -> None:
    h = Harness()
    h.pipeline.step(0, "c1", _events(h, "c1", 404, 200, 486), T0)
    h.flush()
    head = h.stores.latest.load(0, b"c1")
    assert head is not None
    assert head.seq == 3


def test_the_view_shows_what_the_step_folded() -> None:
    h = Harness()
    h.pipeline.step(2, "c1", _events(h, "c1", 503, 200, 503), T0)
    row = h.pipeline.view.rows["c1"]
    assert (row.partition, row.consecutive, row.codes) == (2, 1, {503: 2, 200: 1})
