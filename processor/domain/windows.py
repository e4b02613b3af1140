"""UTC calendar windows (hour, day, calendar month), their keys and retention."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
KINDS: tuple[str, ...] = ("hour", "day", "month")
LIVE_HOURS = 24


@dataclass(frozen=True, slots=True)
class Retention:
    """How long windows are kept, relative to the reference clock ("now")."""

    hour_days: int = 7
    day_days: int = 92
    months: int = 24  # the current month plus this many before it


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _ms(dt: datetime) -> int:
    return int(dt.timestamp()) * 1000


def window_start(kind: str, ts_ms: int) -> int:
    """Start (epoch ms) of the ``kind`` window that contains ``ts_ms``."""
    if kind == "hour":
        return ts_ms - ts_ms % HOUR_MS
    if kind == "day":
        return ts_ms - ts_ms % DAY_MS
    if kind == "month":
        return _month_of_day(ts_ms // DAY_MS)
    raise ValueError(f"unknown window kind {kind!r}")


@lru_cache(maxsize=4_096)
def _month_of_day(day: int) -> int:
    """Start of the month holding UTC day number ``day``: needed per event, few distinct."""
    d = _dt(day * DAY_MS)
    return _ms(datetime(d.year, d.month, 1, tzinfo=UTC))


@lru_cache(maxsize=4_096)
def add_months(start_ms: int, months: int) -> int:
    d = _dt(start_ms)
    index = d.year * 12 + (d.month - 1) + months
    return _ms(datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC))


def window_end(kind: str, start_ms: int) -> int:
    """Exclusive end: an hour, a day, or the first instant of the next calendar month."""
    if kind == "hour":
        return start_ms + HOUR_MS
    if kind == "day":
        return start_ms + DAY_MS
    if kind == "month":
        return add_months(start_ms, 1)
    raise ValueError(f"unknown window kind {kind!r}")


def retained(kind: str, start_ms: int, now_ms: int, r: Retention) -> bool:
    """Contract §3: hour while end > now-7d, day while end > now-92d, month: current + 24."""
    return start_ms >= oldest_retained(kind, now_ms, r)


def oldest_retained(kind: str, now_ms: int, r: Retention) -> int:
    """The earliest window start still retained at ``now_ms``: one bound to compare a
    carrier's whole list of windows with."""
    if kind == "hour":  # its end, start + 1 h, after now - 7 d
        return now_ms - r.hour_days * DAY_MS - HOUR_MS + 1
    if kind == "day":
        return now_ms - r.day_days * DAY_MS - DAY_MS + 1
    if kind == "month":
        return add_months(window_start("month", now_ms), -r.months)
    raise ValueError(f"unknown window kind {kind!r}")


@lru_cache(maxsize=1_024)
def starts_of_hour(hour: int) -> tuple[int, int, int]:
    """The hour, day and month window starts of UTC hour number ``hour``: every event
    needs all three, and events share a few hours."""
    ts = hour * HOUR_MS
    return ts, ts - ts % DAY_MS, _month_of_day(ts // DAY_MS)


@lru_cache(maxsize=1_024)
def oldest_starts(hour: int, r: Retention) -> tuple[int, int, int]:
    """``oldest_retained`` of hour, day and month for any "now" in UTC hour number
    ``hour``. Window starts are aligned to their kind, and for an aligned start the
    bound moves only when "now" enters a new hour (day, month): one lookup per event."""
    now = hour * HOUR_MS
    day = now - now % DAY_MS
    return (now - r.hour_days * DAY_MS, day - r.day_days * DAY_MS,
            add_months(_month_of_day(now // DAY_MS), -r.months))


def live_hours(now_ms: int) -> list[int]:
    """Starts of the 24 hourly windows ending with the current UTC hour, oldest first."""
    current = window_start("hour", now_ms)
    return [current - i * HOUR_MS for i in range(LIVE_HOURS - 1, -1, -1)]


def iso(ms: int) -> str:
    """RFC 3339 UTC with ``Z``, millisecond precision only when needed."""
    seconds, millis = divmod(ms, 1000)
    day, second = divmod(seconds, 86_400)
    hour, second = divmod(second, 3_600)
    minute, second = divmod(second, 60)
    text = f"{_iso_date(day)}T{hour:02d}:{minute:02d}:{second:02d}"
    return f"{text}.{millis:03d}Z" if millis else text + "Z"


@lru_cache(maxsize=4_096)
def _iso_date(day: int) -> str:
    """The date of UTC day number ``day``: formatting a date is slow next to a lookup, and
    event times (unique to the second, so no use caching whole) share a few days."""
    return _dt(day * DAY_MS).strftime("%Y-%m-%d")


@lru_cache(maxsize=65_536)
def bound_iso(start_ms: int) -> str:
    """A window bound's text: every key and record of the window repeats it."""
    return iso(start_ms)


@lru_cache(maxsize=1_024)
def stamp_iso(ms: int) -> str:
    """An ``updated_at`` stamp's text: every record a batch publishes repeats it."""
    return iso(ms)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_iso_ms(text: str) -> int:
    """Epoch ms of an RFC 3339 timestamp with an offset (exact: no float rounding)."""
    return (datetime.fromisoformat(text.replace("Z", "+00:00")) - _EPOCH) // timedelta(
        milliseconds=1)


def days(n: int) -> timedelta:
    return timedelta(days=n)
