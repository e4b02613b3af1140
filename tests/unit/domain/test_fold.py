"""The per-carrier fold: properties over generated event streams, plus worked examples."""

from __future__ import annotations

import dataclasses
import itertools
from array import array
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from processor.domain import dedup, live
from processor.domain.alerts import ShortCallRule
from processor.domain.carrier import chunks_needed, fold
from processor.domain.codes import ROUTE_FAILURES
from processor.domain.events import SipEvent, Sourced
from processor.domain.model import CarrierState, FoldResult, Policy, WindowState
from processor.domain.windows import DAY_MS, HOUR_MS, KINDS, window_start

T0 = 1_709_164_800_000  # 2024-02-29T00:00:00Z
CODES = [100, 180, 183, 200, 202, 302, 404, 408, 480, 486, 487, 500, 503, 603]


class Store:
    """What the Faust tables hold, as dicts: the agent's read-fold-write loop in miniature."""

    def __init__(self, owned: bool = False, *, reload: bool = False) -> None:
        """``reload``: read the carrier record back from its JSON before each batch, as a
        worker that restarted (or took the partition over) does."""
        self.owned, self.reload = owned, reload
        self.carrier: CarrierState | None = None
        self.windows: dict[tuple[str, int], WindowState] = {}
        self.chunks: dict[tuple[int, int], bytes] = {}
        self.results = {"applied": 0, "duplicate": 0, "late": 0}
        self.alerts: list[tuple[str, str, float, int]] = []

    def apply(self, events: Sequence[Sourced], policy: Policy | None = None,
              now_ms: int | None = None) -> FoldResult:
        policy = policy or Policy()
        if self.reload and self.carrier is not None:
            self.carrier = CarrierState.from_json(self.carrier.to_json())
        stored = {c: self.chunks[c] for c in chunks_needed(self.carrier, policy)}
        res = fold("c1", self.carrier, self.windows, stored, events, policy=policy,
                   now_ms=now_ms, wall_ms=1, owned=self.owned)
        if res.carrier_changed:
            self.carrier = res.carrier
        self.windows.update(res.windows)
        for wid in res.expired:
            self.windows.pop(wid, None)
        assert not set(res.chunks) & set(self.chunks)  # append-only: never rewritten
        self.chunks.update(res.chunks)
        for c in res.expired_chunks:
            del self.chunks[c]
        for k, v in res.results.items():
            self.results[k] += v
        self.alerts += [(a.kind, a.state, a.value, a.at_ms) for a in res.alerts]
        return res


def ev(i: int, code: int, ts: int, arrival: int | None = None, **kw: object) -> Sourced:
    """Event ``i`` at offset ``i``; it arrives at ``arrival`` (default: T0 + i seconds)."""
    return Sourced(SipEvent("c1", f"call-{i}", code, ts, **kw),  # type: ignore[arg-type]
                   "in:0", i, T0 + i * 1000 if arrival is None else arrival)


def _stream(rows: list[tuple[int, int, int, int, int]]) -> list[Sourced]:
    out: list[Sourced] = []
    arrival = T0
    for i, (code, dt, back, dur, gap) in enumerate(rows):
        arrival += gap  # may go back a little: producers' clocks differ
        if back and out:  # a producer re-send: an earlier event again, at a new offset
            out.append(Sourced(out[-min(back, len(out))].event, "in:0", i, arrival))
        else:
            out.append(ev(i, code, T0 + dt, arrival,
                          duration_ms=dur if 200 <= code < 300 else None,
                          pdd_ms=dur // 3, event_id=f"e{i}" if dur % 2 else None))
    return out


events_strategy = st.lists(
    st.tuples(st.sampled_from(CODES), st.integers(0, 6 * HOUR_MS) | st.integers(0, 40 * DAY_MS),
              st.integers(-4, 6).map(lambda back: max(back, 0)),  # > 0: a re-send, that far back
              st.integers(0, 20_000),
              # arrival gaps: mostly seconds, sometimes past the 10-minute window
              st.integers(-5_000, 90_000) | st.integers(0, 15 * 60_000)),
    max_size=120,
).map(_stream)


def fold_in_batches(events: list[Sourced], cuts: list[int], now_ms: int | None,
                    policy: Policy | None = None, *, owned: bool = False,
                    reload: bool = False) -> Store:
    store = Store(owned, reload=reload)
    bounds = sorted({0, len(events), *(c % (len(events) + 1) for c in cuts)})
    for a, b in itertools.pairwise(bounds):
        store.apply(events[a:b], policy=policy, now_ms=now_ms)
    return store


def snapshot(store: Store) -> tuple[object, ...]:
    c = store.carrier
    wins = {k: (w.stats.to_json()) for k, w in store.windows.items()}
    if c is None:
        return (None, wins)
    starts = sorted(s for kind_starts in c.windows.values() for s in kind_starts)
    return (c.streak, c.codes, starts, c.counts, wins, c.firing)


@settings(max_examples=150, deadline=None)
@given(events_strategy, st.lists(st.integers(0, 1000), max_size=6),
       st.sampled_from([None, T0 + 20 * DAY_MS]))
def test_any_split_into_batches_gives_the_same_state(events: list[Sourced], cuts: list[int],
                                                     now_ms: int | None) -> None:
    whole = fold_in_batches(events, [], now_ms)
    split = fold_in_batches(events, cuts, now_ms)
    assert snapshot(whole) == snapshot(split)
    one_by_one = fold_in_batches(events, list(range(len(events))), now_ms)
    assert snapshot(whole) == snapshot(one_by_one)


# Alerts that come and go within the generated streams: a short streak, a small sample and
# a short-call share over a few answered calls.
TOUCHY = Policy(threshold=3, min_sample=5,
                short_calls=ShortCallRule(fire_share=0.3, resolve_share=0.2, min_answered=2))


@settings(max_examples=150, deadline=None)
@given(events_strategy, st.lists(st.integers(0, 1000), max_size=6),
       st.sampled_from([None, T0 + 20 * DAY_MS]))
def test_any_split_into_batches_sends_the_same_alerts(events: list[Sourced], cuts: list[int],
                                                      now_ms: int | None) -> None:
    """Each alert fires and resolves at the event that crosses its line, however the
    events were batched."""
    whole = fold_in_batches(events, [], now_ms, TOUCHY)
    assert whole.alerts == fold_in_batches(events, cuts, now_ms, TOUCHY).alerts
    assert whole.alerts == fold_in_batches(events, list(range(len(events))), now_ms,
                                           TOUCHY).alerts


@settings(max_examples=150, deadline=None)
@given(events_strategy, st.integers(0, 1000), st.sampled_from([None, T0 + 20 * DAY_MS]))
def test_messages_read_again_within_one_batch_count_once(
        events: list[Sourced], cut: int, now_ms: int | None) -> None:
    """A route topic can hold a message twice (forwarded again after a restart), so one
    batch may read offsets it has just counted: they count once, in every window."""
    at = cut % (len(events) + 1)
    once = fold_in_batches(events, [], now_ms)
    again = fold_in_batches(events[:at] + events + events[at:], [], now_ms)
    assert snapshot(again) == snapshot(once)


@settings(max_examples=100, deadline=None)
@given(events_strategy, st.lists(st.integers(0, 1000), max_size=6), st.integers(0, 40),
       st.sampled_from([None, T0 + 20 * DAY_MS]))
def test_a_fold_that_owns_its_values_ends_where_a_copying_one_does(
        events: list[Sourced], cuts: list[int], inline: int, now_ms: int | None) -> None:
    """The worker lets the fold change its cached values in place (``owned``): the state,
    windows, buckets and counts must be those of the copying fold, which leaves what it
    was given as it was."""
    policy = Policy(dedup_inline=inline)
    owned = fold_in_batches(events, cuts, now_ms, policy, owned=True)
    copying = fold_in_batches(events, cuts, now_ms, policy)
    assert snapshot(owned) == snapshot(copying)
    assert owned.results == copying.results
    assert owned.chunks == copying.chunks
    if copying.carrier is not None:
        assert owned.carrier is not None
        assert owned.carrier.to_json() == copying.carrier.to_json()
        given = (copying.carrier.to_json(),
                 {k: w.to_json() for k, w in copying.windows.items()},
                 copying.carrier.seen.items() if copying.carrier.seen else None)
        again = [Sourced(e.event, "in:1", e.offset, e.arrival_ms) for e in events]
        fold("c1", copying.carrier, copying.windows, dict(copying.chunks), again,
             policy=policy, now_ms=now_ms, wall_ms=2)
        assert given == (copying.carrier.to_json(),
                         {k: w.to_json() for k, w in copying.windows.items()},
                         copying.carrier.seen.items() if copying.carrier.seen else None)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(CODES), max_size=200))
def test_counter_is_the_trailing_run_of_failures_since_the_last_2xx(codes: list[int]) -> None:
    store = Store()
    store.apply([ev(i, c, T0 + i * 1000) for i, c in enumerate(codes)], now_ms=T0)
    finals = [c for c in codes if c >= 200]
    trailing = 0
    for c in reversed(finals):
        if c < 300:
            break
        trailing += 1
    longest = run = 0
    for c in finals:
        run = 0 if c < 300 else run + 1
        longest = max(longest, run)
    count = store.carrier.streak.count if store.carrier else 0
    assert count == trailing
    assert (store.carrier.streak.max_count if store.carrier else 0) == longest


@settings(max_examples=100, deadline=None)
@given(events_strategy)
def test_window_sums_equal_the_all_time_tallies_inside_retention(events: list[Sourced]) -> None:
    # Squeeze the events into the 6 days before "now": inside every retention.
    recent = [Sourced(SipEvent(s.event.carrier_id, s.event.call_id, s.event.code,
                               T0 + 34 * DAY_MS + s.event.ts_ms % (6 * DAY_MS),
                               event_id=s.event.event_id), s.source, s.offset, s.arrival_ms)
              for s in events]
    store = Store()
    store.apply(recent, now_ms=T0 + 40 * DAY_MS)
    codes = store.carrier.codes if store.carrier else {}
    for kind in KINDS:
        summed: dict[int, int] = {}
        for (k, _), w in store.windows.items():
            if k == kind:
                for code, n in w.stats.codes.items():
                    summed[code] = summed.get(code, 0) + n
        assert summed == codes, kind


@settings(max_examples=150, deadline=None)
@given(events_strategy, st.lists(st.integers(0, 1000), max_size=6), st.integers(1, 40),
       st.sampled_from([None, T0 + 20 * DAY_MS]))
def test_identities_kept_in_the_record_or_in_chunks_decide_alike(
        events: list[Sourced], cuts: list[int], inline: int, now_ms: int | None) -> None:
    """Sparse carriers keep their identities in their own record's tail, dense ones seal
    them into chunks; a worker that reads the carrier back (a restart) builds its table
    from them. The decisions (and so every count) equal those of one batch with every
    identity in chunks, however the events are batched; the tail stays under the limit
    and the chunks stored are those the carrier lists."""
    table_only = fold_in_batches(events, [], now_ms, Policy(dedup_inline=0))
    mixed = fold_in_batches(events, cuts, now_ms, Policy(dedup_inline=inline), reload=True)
    assert snapshot(mixed) == snapshot(table_only)
    assert mixed.results == table_only.results
    if mixed.carrier is not None:
        c = mixed.carrier
        assert len(c.tail) < 3 * inline
        assert c.arrival_ms is None or all(
            a >= c.arrival_ms - dedup.DEFAULT_WINDOW_MS for a in c.tail[2::3])
        assert set(mixed.chunks) == set(dedup.chunks_needed(c.chunks, []))
        assert table_only.carrier is not None
        assert not table_only.carrier.tail


@settings(max_examples=100, deadline=None)
@given(events_strategy, st.integers(0, 120))
def test_redelivery_changes_nothing_even_after_dedup_state_is_gone(
        events: list[Sourced], upto: int) -> None:
    store = fold_in_batches(events, [7, 19, 40], None)
    before = snapshot(store)
    store.chunks.clear()  # the identities have long left the dedup window
    if store.carrier is not None:
        store.carrier = dataclasses.replace(store.carrier, chunks={}, tail=array("Q"),
                                            seen=None)
    store.apply(events[:upto])
    assert snapshot(store) == before


@settings(max_examples=100, deadline=None)
@given(events_strategy.filter(bool))
def test_redelivered_events_mark_their_records_for_publishing_again(
        events: list[Sourced]) -> None:
    """A crash may have lost the records of applied events: re-delivery sends them again."""
    store = fold_in_batches(events, [5, 30], None)
    res = store.apply(events)
    assert res.republish_carrier
    assert not res.windows  # nothing counted again
    stored = set(store.windows)
    touched = {(kind, window_start(kind, s.event.ts_ms)) for s in events
               if s.event.code >= 200 for kind in KINDS}
    assert res.republish == touched & stored


def test_dead_route_counts_thousands_then_a_2xx_resets() -> None:
    store = Store()
    store.apply([ev(i, 503, T0 + i) for i in range(2500)], now_ms=T0)
    assert store.carrier is not None
    assert store.carrier.streak.count == 2500
    assert store.carrier.streak.started_ms == T0
    store.apply([ev(2500, 200, T0 + 3000)], now_ms=T0)
    s = store.carrier.streak
    assert (s.count, s.max_count, s.started_ms, s.last_connected_ms) == (0, 2500, None, T0 + 3000)


def test_route_failure_set_leaves_busy_and_not_found_neutral() -> None:
    store = Store()
    policy = Policy(failures=ROUTE_FAILURES)
    store.apply([ev(0, 503, T0), ev(1, 486, T0 + 1), ev(2, 404, T0 + 2), ev(3, 408, T0 + 3)],
                policy=policy, now_ms=T0)
    assert store.carrier is not None
    assert store.carrier.streak.count == 2
    assert store.carrier.streak.last_code == 408
    day = store.windows[("day", T0)]
    assert (day.stats.attempts, day.stats.failed) == (4, 2)


def test_producer_duplicate_counted_once_within_ten_minutes_of_arrival_only() -> None:
    store = Store()
    arrived = T0 + 5 * DAY_MS
    newest = ev(0, 200, arrived, arrived)  # the carrier's clocks are both at ``arrived``
    # An SBC's buffered flush: an event three hours old in ``ts``, sent twice.
    first = ev(1, 200, arrived - 3 * HOUR_MS, arrived + 1000, event_id="x")
    again = Sourced(first.event, "in:0", 2, arrived + 2000)
    store.apply([newest, first, again], now_ms=arrived)
    assert store.results == {"applied": 2, "duplicate": 1, "late": 0}
    # Ten minutes after the first copy arrived it is still remembered; past that, not.
    store.apply([Sourced(first.event, "in:0", 3, arrived + 1000 + 10 * 60_000)], now_ms=arrived)
    assert store.results == {"applied": 2, "duplicate": 2, "late": 0}
    store.apply([Sourced(first.event, "in:0", 4, arrived + 1001 + 10 * 60_000)], now_ms=arrived)
    assert store.results == {"applied": 3, "duplicate": 2, "late": 0}
    assert store.windows[("hour", window_start("hour", arrived - 3 * HOUR_MS))].stats.attempts == 2


def test_with_counting_once_off_copies_and_redeliveries_count_again() -> None:
    """The benchmark's "counted once off" run: no identities read, no watermarks."""
    off = Policy(counted_once=False)
    assert chunks_needed(CarrierState("c1", chunks={T0: 2}), off) == []
    store = Store()
    first = ev(0, 200, T0, event_id="x")
    store.apply([first, Sourced(first.event, "in:0", 1, T0)], policy=off, now_ms=T0)
    store.apply([first], policy=off, now_ms=T0)  # a re-delivery of offset 0
    assert store.results == {"applied": 3, "duplicate": 0, "late": 0}
    assert store.windows[("day", T0)].stats.attempts == 3


def test_late_event_counts_all_time_but_not_in_expired_windows() -> None:
    store = Store()
    now = T0 + 10 * DAY_MS
    store.apply([ev(0, 200, T0 + 9 * DAY_MS)], now_ms=now)
    res = store.apply([ev(1, 404, T0)], now_ms=now)  # 10 days old: hour gone, day/month kept
    assert res.results == {"applied": 0, "duplicate": 0, "late": 1}
    assert store.carrier is not None
    assert store.carrier.codes == {200: 1, 404: 1}
    assert ("hour", T0) not in store.windows
    assert store.windows[("day", T0)].stats.attempts == 1


def test_windows_past_retention_expire_and_are_reported() -> None:
    store = Store()
    store.apply([ev(0, 200, T0)], now_ms=T0)
    res = store.apply([], now_ms=T0 + 7 * DAY_MS + HOUR_MS)
    assert ("hour", window_start("hour", T0)) in res.expired
    assert ("day", T0) not in res.expired
    assert store.carrier is not None
    assert store.carrier.windows["hour"] == []


def test_provisional_responses_change_no_counter() -> None:
    store = Store()
    store.apply([ev(0, 503, T0), ev(1, 180, T0 + 1), ev(2, 183, T0 + 2)], now_ms=T0)
    assert store.carrier is not None
    assert store.carrier.streak.count == 1
    assert store.carrier.codes == {503: 1}
    assert store.results["applied"] == 3


@settings(max_examples=150, deadline=None)
@given(events_strategy, st.lists(st.integers(0, 1000), max_size=6),
       st.sampled_from([None, T0 + 20 * DAY_MS]), st.booleans())
def test_the_running_live_sums_equal_the_ring_summed(events: list[Sourced], cuts: list[int],
                                                     now_ms: int | None, reload: bool) -> None:
    """The short-calls alert reads running sums of the 24-hour ring instead of summing it
    for every event: they must always equal the ring's rows summed, also after a load."""
    store = Store()
    bounds = sorted({0, len(events), *(c % (len(events) + 1) for c in cuts)})
    for a, b in itertools.pairwise(bounds):
        store.apply(events[a:b], now_ms=now_ms)
        c = store.carrier
        if c is not None:
            assert c.live_sums is None or c.live_sums == live.total(list(c.hours.values()))
            if reload:
                store.carrier = CarrierState.from_json(c.to_json())
