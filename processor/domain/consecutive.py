"""The consecutive-failure counter: failures add one, a 2xx resets to zero, others pass."""

from __future__ import annotations

from dataclasses import dataclass

from processor.domain.codes import Outcome


@dataclass(slots=True)
class Streak:
    """Not frozen (a new one per final response; see ``SipEvent``), never changed."""

    count: int = 0
    max_count: int = 0
    started_ms: int | None = None
    last_code: int | None = None
    last_event_ms: int | None = None
    last_connected_ms: int | None = None


def step(s: Streak, code: int, ts_ms: int, outcome: Outcome) -> Streak:
    """Apply one final response in arrival order (provisional responses change nothing)."""
    if outcome is Outcome.PROVISIONAL:
        return s
    if outcome is Outcome.CONNECTED:
        return Streak(0, s.max_count, None, code, ts_ms, ts_ms)
    if outcome is Outcome.FAILURE:
        count = s.count + 1
        started = ts_ms if s.count == 0 else s.started_ms
        return Streak(count, max(s.max_count, count), started, code, ts_ms, s.last_connected_ms)
    return Streak(s.count, s.max_count, s.started_ms, code, ts_ms, s.last_connected_ms)
