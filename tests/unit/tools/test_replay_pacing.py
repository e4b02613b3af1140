"""--speed paces a replay by recorded event time, measured on an injected clock."""

from __future__ import annotations

import pytest

from processor.investigate.recorded import Pacer, ReplayError
from processor.investigate.replay import isolated
from processor.settings import Settings


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def test_speed_divides_the_recorded_gaps() -> None:
    clock = FakeClock()
    pacer = Pacer(10.0, clock, clock.sleep)
    for ts in (0, 10_000, 10_000, 30_000):  # events 10 s and 20 s apart
        pacer.wait(1_700_000_000_000 + ts)
    assert clock.slept == [1.0, 2.0]
    assert clock.now == pytest.approx(103.0)


def test_max_speed_never_sleeps_and_late_events_do_not_wait() -> None:
    clock = FakeClock()
    Pacer(None, clock, clock.sleep).wait(5)
    pacer = Pacer(1.0, clock, clock.sleep)
    pacer.wait(60_000)
    pacer.wait(1_000)  # out of order: already due
    assert clock.slept == []


def test_bad_speed_and_names_are_refused() -> None:
    with pytest.raises(ReplayError):
        Pacer(0)
    with pytest.raises(ReplayError):
        isolated(Settings(), "bad name!")
    inv = isolated(Settings(), "incident-42")
    assert (inv.topic_prefix, inv.app_id, inv.clock) == (
        "replay-incident-42", "carrierwatch-replay-incident-42", "stream")
