"""Catching up after an assignment: progress lines while behind, one line when done."""

from __future__ import annotations

from processor.engine.catch_up import CatchUp


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_nothing_before_the_first_assignment() -> None:
    c = CatchUp(Clock())
    assert c.observe({0, 1}, {0: 0, 1: 0}, 0) is None


def test_caught_up_once_every_owned_partition_is_known_and_at_zero() -> None:
    clock = Clock()
    c = CatchUp(clock, every_s=10.0)
    c.begin(processed=500)  # events of an earlier assignment do not count
    clock.now = 1.0
    assert c.observe({0, 1}, {0: 0}, 600) is None  # partition 1 not started yet
    clock.now = 2.0
    assert c.observe({0, 1}, {0: 0, 1: 3}, 700) is None
    clock.now = 3.5
    line = c.observe({0, 1}, {0: 0, 1: 0}, 2_500)
    assert line == ("caught up with the input (2 partitions): 2,000 events processed "
                    "in 3.5 s since the assignment")
    clock.now = 4.0
    assert c.observe({0, 1}, {0: 0, 1: 0}, 2_500) is None  # said once
    assert c.observe({0, 1}, {0: 9, 1: 0}, 2_500) is None  # until the next assignment


def test_progress_lines_at_most_every_interval_while_behind() -> None:
    clock = Clock()
    c = CatchUp(clock, every_s=10.0)
    c.begin(processed=0)
    lines = []
    for second in range(1, 26):
        clock.now = float(second)
        lag = {0: 1_000 - 40 * second, 1: 5}
        line = c.observe({0, 1, 2}, lag, 40 * second)
        if line:
            lines.append(line)
    assert lines == [
        "catching up with the input: 605 messages behind (1 partition not started yet); "
        "400 events processed in 10 s (40/s)",
        "catching up with the input: 205 messages behind (1 partition not started yet); "
        "800 events processed in 20 s (40/s)"]


def test_a_new_assignment_starts_over() -> None:
    clock = Clock()
    c = CatchUp(clock)
    c.begin(0)
    assert c.observe({0}, {0: 0}, 10) is not None
    clock.now = 50.0
    c.begin(10)
    assert not c.done
    clock.now = 52.0
    assert c.observe({3}, {3: 0}, 15) == ("caught up with the input (1 partition): "
                                          "5 events processed in 2.0 s since the assignment")
    assert c.observe(set(), {}, 15) is None
