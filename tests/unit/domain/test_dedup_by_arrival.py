"""Duplicates by arrival (issue 16): a copy arriving within the window of the counted one is
counted once, whatever its ``ts`` and in whatever order events come; one arriving later
counts again. The expectation is a plain model of that sentence, not the processor's code."""

from __future__ import annotations

import itertools

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.domain import dedup
from processor.domain.events import SipEvent, Sourced
from processor.domain.model import CarrierState, Policy
from tests.unit.domain.test_fold import T0, Store

DAY = 86_400_000
CODES = [200, 404, 486, 503, 180]


def model(messages: list[Sourced], window_ms: int) -> tuple[int, dict[int, int]]:
    """(duplicates, final-code tallies): the carrier's arrival clock is the newest record
    timestamp so far; an identity is remembered from the arrival of the copy counted."""
    clock: int | None = None
    counted_at: dict[str, int] = {}
    duplicates, codes = 0, {}
    for m in messages:
        clock = m.arrival_ms if clock is None else max(clock, m.arrival_ms)
        ev = m.event
        key = ev.event_id if ev.event_id is not None else f"{ev.call_id}|{ev.code}|{ev.ts_ms}"
        if key in counted_at and clock - counted_at[key] <= window_ms:
            duplicates += 1
            continue
        counted_at[key] = clock
        if ev.code >= 200:
            codes[ev.code] = codes.get(ev.code, 0) + 1
    return duplicates, codes


@st.composite
def traffic(draw: st.DrawFn) -> list[Sourced]:
    """Events in random ``ts`` order over a day (some days and weeks late), copies back to
    back or many messages later, arrival gaps from nothing to beyond the window."""
    n = draw(st.integers(1, 80))
    out: list[Sourced] = []
    arrival = T0 + 30 * DAY
    for i in range(n):
        arrival += draw(st.sampled_from([0, 1, 500, 20_000, 61_000, 300_000, 700_000])
                        | st.integers(-3_000, 900_000))
        if out and draw(st.integers(0, 3)) == 0:  # a copy of an earlier event
            back = draw(st.sampled_from([1, 1, 2, 5]) | st.integers(1, len(out)))
            event = out[-min(back, len(out))].event
        else:
            late = draw(st.sampled_from([0, 0, 3_600_000, 3 * DAY, 21 * DAY])
                        | st.integers(0, DAY))
            code = draw(st.sampled_from(CODES))
            use_id = draw(st.booleans())
            event = SipEvent("c1", f"call-{i}", code, T0 + 30 * DAY - late,
                             event_id=f"e{i}" if use_id else None,
                             duration_ms=1000 if code == 200 else None)
        out.append(Sourced(event, "in:0", i, arrival))
    return out


@settings(max_examples=300, deadline=None)
@given(traffic(), st.sampled_from([600_000, 60_000]), st.sampled_from([0, 3, 32]),
       st.lists(st.integers(0, 100), max_size=5), st.booleans())
def test_a_copy_within_the_window_counts_once_and_after_it_again(
        messages: list[Sourced], window_ms: int, inline: int, cuts: list[int],
        reload: bool) -> None:
    policy = Policy(dedup_window_ms=window_ms, dedup_inline=inline)
    store = Store(reload=reload)
    bounds = sorted({0, len(messages), *(c % (len(messages) + 1) for c in cuts)})
    for a, b in itertools.pairwise(bounds):
        store.apply(messages[a:b], policy=policy, now_ms=T0 + 31 * DAY)
    duplicates, codes = model(messages, window_ms)
    assert store.results["duplicate"] == duplicates
    assert store.carrier is not None
    assert store.carrier.codes == codes
    # the daily windows (kept 92 days, so every event is inside) agree with the tallies
    days: dict[int, int] = {}
    for (kind, _), w in store.windows.items():
        if kind == "day":
            for code, count in w.stats.codes.items():
                days[code] = days.get(code, 0) + count
    assert days == codes


def test_dedup_state_is_bounded_by_the_window() -> None:
    """Identities older than the window are dropped as the arrival clock moves on."""
    policy = Policy(dedup_inline=4)
    store = Store()
    for i in range(2_000):  # one event a second for 2,000 s: the window holds ~600 of them
        store.apply([Sourced(SipEvent("c1", f"k{i}", 200, T0 + i * 1000), "in:0", i,
                             T0 + i * 1000)], policy=policy, now_ms=T0 + DAY)
    stored = sum((len(raw) - 8) // 16 for raw in store.chunks.values())
    assert store.carrier is not None
    assert store.carrier.seen is not None
    stored += len(store.carrier.tail) // 3
    assert 600 <= stored <= 600 + 60 + 1  # the window plus at most one bucket
    # In memory: the window, and as much again at most before a rebuild drops the rest.
    assert 600 <= len(store.carrier.seen) <= 2 * (600 + 60 + 1)


def test_identities_stored_before_chunks_are_still_remembered() -> None:
    """A record written by the version before chunks (identities as JSON, inline and in a
    bucket of the dedup table): copies of both kinds are still told, the old JSON goes
    and the identities live on in the compact form."""
    arrived = T0 + 30 * DAY
    bucket = arrived - arrived % 60_000
    old_record = {"id": "c1", "s": [0, 0, None, 200, arrived, arrived], "c": {"200": 2},
                  "ap": {"in:0": 1}, "w": {"hour": [], "day": [], "month": []},
                  "b": [bucket], "m": arrived, "n": {"applied": 2, "duplicate": 0, "late": 0},
                  "u": 1, "a": arrived, "i": {str(bucket): {"e:inline": f"in:0@0#{arrived}"}}}
    store = Store()
    store.carrier = CarrierState.from_json(orjson.loads(orjson.dumps(old_record)))
    store.chunks[(bucket, dedup.LEGACY)] = orjson.dumps({"e:bucketed": "in:0@1"})
    copies = [Sourced(SipEvent("c1", "x", 200, arrived, event_id=name), "in:0", 2 + i,
                      arrived + 1000) for i, name in enumerate(["inline", "bucketed", "new"])]
    res = store.apply(copies, policy=Policy(dedup_inline=0), now_ms=arrived)
    assert store.results == {"applied": 1, "duplicate": 2, "late": 0}
    assert (bucket, dedup.LEGACY) in res.expired_chunks
    assert (bucket, dedup.LEGACY) not in store.chunks
    c = CarrierState.from_json(orjson.loads(orjson.dumps(store.carrier.to_json())))
    assert (c.ids, c.buckets) == ({}, [])
    again = [Sourced(SipEvent("c1", "x", 200, arrived, event_id=name), "in:0", 5 + i,
                     arrived + 2000) for i, name in enumerate(["inline", "bucketed", "new"])]
    store.reload = True
    store.apply(again, policy=Policy(dedup_inline=0), now_ms=arrived)
    assert store.results == {"applied": 1, "duplicate": 5, "late": 0}
