"""The hourly tick (processor/engine/ticks.py) through the harness, with no broker: once per
hour per partition, a first tick that republishes, retention for carriers without traffic."""

from __future__ import annotations

from processor.domain.windows import HOUR_MS
from processor.io import names
from processor.io.partitioning import partition_for
from tests.harness import T0, Harness


def _sent(h: Harness, name: str) -> int:
    return len(h.broker.records(h.settings.topic(name)))


def _one_carrier(h: Harness) -> int:
    """A carrier "a" with one failure at T0, flushed; returns its partition."""
    h.run(h.source.event("a", 503, ts=T0))
    h.flush()
    return partition_for(b"a", h.settings.partitions)


def test_a_partition_ticks_once_per_hour() -> None:
    h = Harness()
    p = _one_carrier(h)
    h.tick(p)
    h.flush()
    after_first = _sent(h, names.LIVE)
    h.clock.advance(HOUR_MS // 2)  # T0 is on the hour: still the same one
    h.tick(p)
    h.flush()
    assert _sent(h, names.LIVE) == after_first
    h.clock.advance(HOUR_MS)
    h.tick(p)
    h.flush()
    assert _sent(h, names.LIVE) == after_first + 1


def test_the_first_tick_republishes_the_carrier_and_its_newest_windows() -> None:
    h = Harness()
    p = _one_carrier(h)
    before = {n: _sent(h, n) for n in (names.CONSECUTIVE, names.SUMMARY["hour"],
                                       names.SUMMARY["day"], names.SUMMARY["month"])}
    h.tick(p)
    h.flush()
    assert {n: _sent(h, n) - k for n, k in before.items()} == dict.fromkeys(before, 1)


def test_the_live_window_moves_on_with_the_hour() -> None:
    h = Harness()
    p = _one_carrier(h)
    h.tick(p)
    h.clock.advance(25 * HOUR_MS)  # the failure is older than the live 24 h now
    h.tick(p)
    h.flush()
    assert h.output(names.LIVE)[b"a"]["attempts"] == 0


def test_a_tick_expires_the_windows_of_a_carrier_without_traffic() -> None:
    h = Harness()
    p = _one_carrier(h)
    h.tick(p)
    h.clock.advance(8 * 24 * HOUR_MS)  # past the 7 days hour windows are kept
    h.tick(p)
    h.flush()
    assert h.output(names.SUMMARY["hour"])[names.window_key("a", "hour", T0).encode()] is None


def test_a_partition_that_comes_back_ticks_as_a_first_again() -> None:
    h = Harness()
    p = _one_carrier(h)
    h.tick(p)
    h.flush()
    h.pipeline.forget({p})
    h.tick(p)  # the same hour, but a new assignment: republished
    h.flush()
    assert _sent(h, names.SUMMARY["hour"]) == 3  # the batch, the first tick, this one
