"""UTC calendar bucketing, retention and the summary maths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from processor.domain.consistency import verdict
from processor.domain.summary import Stats, figures
from processor.domain.windows import (
    DAY_MS,
    Retention,
    bound_iso,
    iso,
    live_hours,
    oldest_retained,
    retained,
    window_end,
    window_start,
)
from processor.io.names import window_key


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize(("kind", "ts", "start", "end"), [
    ("hour", "2024-02-29T23:59:59.999", "2024-02-29T23:00:00", "2024-03-01T00:00:00"),
    ("day", "2024-02-29T12:00:00", "2024-02-29T00:00:00", "2024-03-01T00:00:00"),
    ("month", "2024-02-29T12:00:00", "2024-02-01T00:00:00", "2024-03-01T00:00:00"),
    ("month", "2023-02-15T00:00:00", "2023-02-01T00:00:00", "2023-03-01T00:00:00"),
    ("month", "2026-12-31T23:59:59", "2026-12-01T00:00:00", "2027-01-01T00:00:00"),
    ("month", "2026-04-30T00:00:00", "2026-04-01T00:00:00", "2026-05-01T00:00:00"),
    ("day", "2026-01-01T00:00:00", "2026-01-01T00:00:00", "2026-01-02T00:00:00"),
])
def test_calendar_windows(kind: str, ts: str, start: str, end: str) -> None:
    s = window_start(kind, ms(ts))
    assert s == ms(start)
    assert window_end(kind, s) == ms(end)


def test_month_lengths_follow_the_calendar() -> None:
    lengths = [(window_end("month", ms(f"2024-{m:02d}-01T00:00:00")) -
                ms(f"2024-{m:02d}-01T00:00:00")) // DAY_MS for m in range(1, 13)]
    assert lengths == [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    assert (window_end("month", ms("2100-02-01T00:00:00")) - ms("2100-02-01T00:00:00")) \
        // DAY_MS == 28  # 2100 is not a leap year


def test_retention_rules() -> None:
    r = Retention()
    now = ms("2026-11-25T10:30:00")
    assert retained("hour", ms("2026-11-18T10:00:00"), now, r)  # ends 11:00 > now-7d
    assert not retained("hour", ms("2026-11-18T09:00:00"), now, r)  # ends 10:00 <= now-7d
    assert retained("day", ms("2026-08-25T00:00:00"), now, r)
    assert not retained("day", ms("2026-08-24T00:00:00"), now, r)
    assert retained("month", ms("2024-11-01T00:00:00"), now, r)  # 24 months before
    assert not retained("month", ms("2024-10-01T00:00:00"), now, r)
    edge = ms("2026-11-25T10:00:00")  # the hour 2026-11-18T09 ends exactly at edge - 7 d
    assert not retained("hour", ms("2026-11-18T09:00:00"), edge, r)
    assert retained("hour", ms("2026-11-18T09:00:00"), edge - 1, r)
    edge = ms("2026-11-25T00:00:00")  # the day 2026-08-24 ends exactly at edge - 92 d
    assert not retained("day", ms("2026-08-24T00:00:00"), edge, r)
    assert retained("day", ms("2026-08-24T00:00:00"), edge - 1, r)


TIMES = st.integers(min_value=0, max_value=4 * 10**12)


@given(TIMES, st.sampled_from(["hour", "day", "month"]))
def test_window_start_against_datetime(at: int, kind: str) -> None:
    """The cached month arithmetic against datetime's own truncation."""
    d = datetime.fromtimestamp(at / 1000, tz=UTC)
    fields = {"hour": {"minute": 0}, "day": {"hour": 0, "minute": 0},
              "month": {"day": 1, "hour": 0, "minute": 0}}[kind]
    want = d.replace(second=0, microsecond=0, **fields)
    assert window_start(kind, at) == int(want.timestamp()) * 1000
    assert bound_iso(window_start(kind, at)) == want.isoformat().replace("+00:00", "Z")


RETENTIONS = st.builds(Retention, hour_days=st.integers(1, 100), day_days=st.integers(1, 120),
                       months=st.integers(0, 30))


@given(TIMES, TIMES, st.sampled_from(["hour", "day", "month"]), RETENTIONS)
def test_retention_bound_against_the_contract_rule(at: int, now: int, kind: str,
                                                   r: Retention) -> None:
    """``oldest_retained`` (one bound per carrier and kind) against contract §3 written out
    with datetime: hour and day windows while their end is after now minus the retention,
    months while they are at most ``r.months`` months before the current one."""
    start = window_start(kind, at)
    s, n = (datetime.fromtimestamp(x / 1000, tz=UTC) for x in (start, now))
    if kind == "month":
        want = (n.year * 12 + n.month) - (s.year * 12 + s.month) <= r.months
    else:
        length, keep = {"hour": (timedelta(hours=1), r.hour_days),
                        "day": (timedelta(days=1), r.day_days)}[kind]
        want = s + length > n - timedelta(days=keep)
    assert retained(kind, start, now, r) == want
    assert (start >= oldest_retained(kind, now, r)) == want


def test_keys_and_live_hours() -> None:
    assert window_key("c-42", "day", ms("2026-11-25T00:00:00")) == "c-42|day|2026-11-25T00:00:00Z"
    hours = live_hours(ms("2026-11-25T10:30:00"))
    assert len(hours) == 24
    assert hours[-1] == ms("2026-11-25T10:00:00")
    assert hours[0] == ms("2026-11-24T11:00:00")
    assert iso(ms("2026-11-25T10:30:00") + 5) == "2026-11-25T10:30:00.005Z"


@given(st.integers(min_value=-10**12, max_value=4 * 10**12))
def test_iso_matches_isoformat(at: int) -> None:
    """The cached formatter against the standard library's own RFC 3339 rendering."""
    expected = datetime.fromtimestamp(at / 1000, tz=UTC).isoformat(
        timespec="milliseconds" if at % 1000 else "seconds").replace("+00:00", "Z")
    assert iso(at) == expected


def test_summary_figures() -> None:
    s = Stats()
    for code, dur, pdd in [(200, 3000, 1000), (200, 120000, None), (200, None, 3000),
                           (486, None, 2000), (302, None, None), (503, None, None),
                           (603, None, None), (404, None, None)]:
        s.add(code, failed=code >= 300, duration_ms=dur, pdd_ms=pdd)
    f = figures(s)
    assert (f["attempts"], f["answered"], f["failed"]) == (8, 3, 5)
    assert f["asr"] == 3 / 8
    assert f["seer"] == 5 / 7  # 3x200 + 486 + 603 over 8 - one 3xx
    assert f["duration_ms"] == 123000
    assert f["acd_s"] == 61.5
    assert f["short_calls"] == 1
    assert f["pdd_ms_avg"] == 2000
    assert f["codes"] == {"200": 3, "302": 1, "404": 1, "486": 1, "503": 1, "603": 1}


def test_empty_window_has_null_ratios() -> None:
    f = figures(Stats())
    assert (f["asr"], f["seer"], f["acd_s"], f["pdd_ms_avg"]) == (None, None, None, None)


def test_verdict() -> None:
    assert verdict(99, 0, 100) == "insufficient-data"
    assert verdict(100, 0, 100) == "no-404"
    assert verdict(100, 1, 100) == "ok"


def test_stats_round_trip_through_json() -> None:
    s = Stats()
    s.add(200, failed=False, duration_ms=5, pdd_ms=7)
    assert Stats.from_json(s.to_json()) == s


def test_merge_adds_every_counter() -> None:
    """Every int field is summed: a counter added to Stats but not to merge fails here."""
    import dataclasses

    from processor.domain.summary import Stats

    ints = [f.name for f in dataclasses.fields(Stats) if f.type in ("int", int)]
    a = Stats(**{n: i + 1 for i, n in enumerate(ints)}, codes={200: 1}, currency="EUR")
    b = Stats(**{n: 10 * (i + 1) for i, n in enumerate(ints)}, codes={200: 2, 404: 1})
    a.merge(b)
    assert {n: getattr(a, n) for n in ints} == {n: 11 * (i + 1) for i, n in enumerate(ints)}
    assert a.codes == {200: 3, 404: 1}
    assert a.currency == "EUR"


@given(st.sampled_from([100, 180, 200, 204, 302, 404, 486, 503, 603]),
       st.one_of(st.none(), st.integers(0, 120_000)))
def test_live_add_counts_what_counters_says(code: int, duration_ms: int | None) -> None:
    """The live ring's in-place add and its running sum match ``counters``, the model."""
    from processor.domain import live

    now = 1_709_164_800_000
    ring: live.Ring = {now: [1] * live.WIDTH}
    sums = [1] * live.WIDTH
    assert live.add(ring, now + 5, now + 10, code, duration_ms, sums=sums)
    want = [1 + n for n in live.counters(code, duration_ms)]
    assert ring[now] == want
    assert sums == want
    assert not live.add(ring, now - 25 * 3_600_000, now, code, duration_ms, sums=sums)
