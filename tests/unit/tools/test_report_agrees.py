"""Replay's report and the worker share one carrier step (processor/engine/step.py), so they
agree on a failure streak, here one long enough for hour windows to expire under it (the
report's own copy of the fold once dropped the expired windows)."""

from __future__ import annotations

from processor.domain.windows import HOUR_MS, iso
from processor.engine.profiles import default_policy
from processor.investigate.report import streak_timeline
from processor.io import names
from processor.settings import Settings
from tests.harness import T0, Harness, Msg

DAYS = 9  # hour windows are kept 7 days: the first ones expire during the streak


def _traffic(h: Harness) -> tuple[list[Msg], int, int]:
    """A connected call, a failure every hour for DAYS days (each sent twice: a producer
    duplicate), a connected call, then 5 failures. Returns the messages, the length of the
    first streak and the start of the second, as the contract counts them (§1, §2)."""
    msgs, ts = [], T0

    def send(code: int, copies: int = 1) -> None:
        nonlocal ts
        ts += HOUR_MS
        first = h.source.event("a", code, ts=ts, arrival_ms=ts, call_id=f"c{ts}")
        msgs.append(first)
        for n in range(1, copies):
            msgs.append(h.source.record(first.value(), key=b"a", arrival_ms=ts + n))

    send(200)
    for _ in range(DAYS * 24):
        send(503, copies=2)
    send(200)
    second = ts + HOUR_MS
    for _ in range(5):
        send(486)
    return msgs, DAYS * 24, second


def test_the_report_and_the_worker_agree_on_a_streak_that_expires_windows() -> None:
    h = Harness(Settings(clock="stream"))
    msgs, first_peak, second_start = _traffic(h)
    for i in range(0, len(msgs), 37):
        h.run(msgs[i:i + 37])
        h.flush()
    worker = h.output(names.CONSECUTIVE)[b"a"]
    first_hour = names.window_key("a", "hour", T0 + 2 * HOUR_MS).encode()
    assert h.output(names.SUMMARY["hour"])[first_hour] is None  # expired under the streak

    lines = [(m.value() or b"", m.timestamp()[1]) for m in msgs]
    spans = streak_timeline(lines, lambda _c: default_policy(h.settings), min_peak=1)

    assert [(s.peak, s.ended_by) for s in spans] == [(first_peak, 200), (5, None)]
    assert (worker["max_consecutive_failures"], worker["consecutive_failures"]) == (
        max(s.peak for s in spans), spans[-1].peak)
    assert worker["streak_started_at"] == spans[-1].started_at == iso(second_start)
