"""A carrier's last 24 hours in a few counters, kept in its state for live alerts and gauges.

The full live record is summed from the hourly windows at publish time; this ring only holds
what must be known on every batch without reading 24 windows: attempts, answered, short
calls, durations and the SEER counters per hour. ``add`` and ``prune`` report what they
added and dropped, so a running sum of the ring (``CarrierState.live_sums``) stays exact
without summing 24 rows for every event.
"""

from __future__ import annotations

from processor.domain.codes import seer_effective
from processor.domain.summary import SHORT_CALL_MS
from processor.domain.windows import HOUR_MS, LIVE_HOURS

ATTEMPTS, ANSWERED, SHORT, DURATION_MS, DURATION_N, SEER_HITS, REDIRECTS = range(7)
# Calls that failed here and were answered elsewhere, and the reverse (outcomes.py)
RESCUED_ELSEWHERE, RESCUED_HERE = 7, 8
WIDTH = 9

Ring = dict[int, list[int]]  # hour start (ms) -> the counters above


def first_hour(now_ms: int) -> int:
    return now_ms - now_ms % HOUR_MS - (LIVE_HOURS - 1) * HOUR_MS


def counters(code: int, duration_ms: int | None) -> list[int]:
    """What one final response adds to its hour's row."""
    out = [0] * WIDTH
    out[ATTEMPTS] = 1
    if seer_effective(code):
        out[SEER_HITS] = 1
    if 300 <= code < 400:
        out[REDIRECTS] = 1
    if 200 <= code < 300:
        out[ANSWERED] = 1
        if duration_ms is not None:
            out[DURATION_MS] = duration_ms
            out[DURATION_N] = 1
            if duration_ms < SHORT_CALL_MS:
                out[SHORT] = 1
    return out


def add(ring: Ring, ts_ms: int, now_ms: int, code: int, duration_ms: int | None, *,
        sums: list[int] | None = None) -> bool:
    """Count one final response in its hour, if that hour is inside the live window, and
    in ``sums`` (the ring's running total) too; False when it was not counted."""
    hour = ts_ms - ts_ms % HOUR_MS
    if hour < first_hour(now_ms):
        return False
    row = ring.get(hour)
    if row is None:
        row = ring[hour] = [0] * WIDTH
    elif len(row) < WIDTH:  # a row written before the SEER counters existed
        row.extend([0] * (WIDTH - len(row)))
    # Counter by counter, in place (once per final response): as ``counters`` says.
    targets = (row,) if sums is None else (row, sums)
    seer = seer_effective(code)
    for t in targets:
        t[ATTEMPTS] += 1
        if seer:
            t[SEER_HITS] += 1
        if 300 <= code < 400:
            t[REDIRECTS] += 1
        elif 200 <= code < 300:
            t[ANSWERED] += 1
            if duration_ms is not None:
                t[DURATION_MS] += duration_ms
                t[DURATION_N] += 1
                if duration_ms < SHORT_CALL_MS:
                    t[SHORT] += 1
    return True


def add_rescues(ring: Ring, ts_ms: int, now_ms: int, elsewhere: int, here: int, *,
                sums: list[int] | None = None) -> None:
    """A call's outcome for this carrier (``outcomes.Fact``), in its hour if that hour is
    inside the live window, and in ``sums``."""
    hour = ts_ms - ts_ms % HOUR_MS
    if hour < first_hour(now_ms) or not (elsewhere or here):
        return
    row = ring.get(hour)
    if row is None:
        row = ring[hour] = [0] * WIDTH
    elif len(row) < WIDTH:
        row.extend([0] * (WIDTH - len(row)))
    for t in (row,) if sums is None else (row, sums):
        t[RESCUED_ELSEWHERE] += elsewhere
        t[RESCUED_HERE] += here


def prune(ring: Ring, now_ms: int) -> list[tuple[int, list[int]]]:
    """Drop hours that left the live window; returns them with their rows."""
    oldest = first_hour(now_ms)
    old = [h for h in ring if h < oldest]
    return [(h, ring.pop(h)) for h in old]


def total(rows: list[list[int]]) -> list[int]:
    """The rows summed, counter by counter."""
    out = [0] * WIDTH
    for row in rows:
        for i, v in enumerate(row):
            out[i] += v
    return out


def totals(ring: Ring, now_ms: int) -> list[int]:
    oldest = first_hour(now_ms)
    out = [0] * WIDTH
    for hour, row in ring.items():
        if hour >= oldest:
            for i, v in enumerate(row):
                out[i] += v
    return out
