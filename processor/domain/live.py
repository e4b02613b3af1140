"""A carrier's last 24 hours in a few counters, kept in its state for live alerts and gauges.

The full live record is summed from the hourly windows at publish time; this ring only holds
what must be known on every batch without reading 24 windows: attempts, answered, short
calls, durations and the SEER counters per hour.
"""

from __future__ import annotations

from processor.domain.codes import seer_effective
from processor.domain.summary import SHORT_CALL_MS
from processor.domain.windows import HOUR_MS, LIVE_HOURS, window_start

ATTEMPTS, ANSWERED, SHORT, DURATION_MS, DURATION_N, SEER_HITS, REDIRECTS = range(7)
WIDTH = 7

Ring = dict[int, list[int]]  # hour start (ms) -> the counters above


def first_hour(now_ms: int) -> int:
    return window_start("hour", now_ms) - (LIVE_HOURS - 1) * HOUR_MS


def add(ring: Ring, ts_ms: int, now_ms: int, code: int, duration_ms: int | None) -> None:
    """Count one final response in its hour, if that hour is inside the live window."""
    hour = window_start("hour", ts_ms)
    if hour < first_hour(now_ms):
        return
    row = ring.setdefault(hour, [0] * WIDTH)
    if len(row) < WIDTH:  # a row written before the SEER counters existed
        row.extend([0] * (WIDTH - len(row)))
    answered = 200 <= code < 300
    short = answered and duration_ms is not None and duration_ms < SHORT_CALL_MS
    row[ATTEMPTS] += 1
    if seer_effective(code):
        row[SEER_HITS] += 1
    if 300 <= code < 400:
        row[REDIRECTS] += 1
    if answered:
        row[ANSWERED] += 1
        if duration_ms is not None:
            row[DURATION_MS] += duration_ms
            row[DURATION_N] += 1
        if short:
            row[SHORT] += 1


def prune(ring: Ring, now_ms: int) -> bool:
    """Drop hours that left the live window; True when something was dropped."""
    oldest = first_hour(now_ms)
    old = [h for h in ring if h < oldest]
    for h in old:
        del ring[h]
    return bool(old)


def totals(ring: Ring, now_ms: int) -> list[int]:
    oldest = first_hour(now_ms)
    out = [0] * WIDTH
    for hour, row in ring.items():
        if hour >= oldest:
            for i, v in enumerate(row):
                out[i] += v
    return out
