"""The commit rule (processor/engine/checkpoint.py): an offset is committable once every record
produced before the flush that covered it is acknowledged, flushes in order."""

from __future__ import annotations

from processor.engine.checkpoint import Checkpoint
from processor.engine.sender import Tracker

IN0, IN1 = ("in", 0), ("in", 1)


def _tracker(queued: int) -> Tracker:
    t = Tracker(frozenset({"cl"}))
    t.queued = queued
    return t


def test_a_flush_is_committable_once_all_its_records_are_acked() -> None:
    cp = Checkpoint()
    cp.start(IN0, 10)
    cp.advance(IN0, 10)
    cp.advance(IN0, 11)
    t = _tracker(2)
    cp.sealed(t)
    cp.advance(IN0, 12)  # after the flush: not covered by it
    assert cp.settle() is None
    t.acked = 1
    assert cp.settle() is None
    t.acked = 2
    t.offsets[("cl", 0)] = 7
    assert cp.settle() == ({IN0: 12}, {("cl", 0): 7})
    assert cp.durable == {IN0: 12}
    assert cp.in_flight == 0


def test_flushes_become_durable_in_order() -> None:
    cp = Checkpoint()
    cp.start(IN0, 0)
    first, second = _tracker(1), _tracker(1)
    cp.advance(IN0, 0)
    cp.sealed(first)
    cp.advance(IN0, 1)
    cp.sealed(second)
    second.acked = 1  # the later one is acked first: nothing is committable yet
    assert cp.settle() is None
    first.acked = 1
    positions, _ = cp.settle() or ({}, {})
    assert positions == {IN0: 2}


def test_rewind_goes_back_to_the_last_flush_or_the_start() -> None:
    cp = Checkpoint()
    cp.start(IN0, 5)
    cp.start(IN1, 0)
    cp.advance(IN0, 5)
    assert cp.rewind() == {IN0: 5, IN1: 0}
    cp.advance(IN0, 5)
    cp.advance(IN1, 3)
    cp.sealed(_tracker(1))
    cp.advance(IN0, 6)
    assert cp.rewind() == {IN0: 6, IN1: 4}


def test_forgotten_partitions_are_never_committed() -> None:
    cp = Checkpoint()
    cp.start(IN0, 0)
    cp.start(IN1, 0)
    cp.advance(IN0, 0)
    cp.advance(IN1, 0)
    cp.sealed(_tracker(0))
    cp.forget([IN1])
    positions, _ = cp.settle() or ({}, {})
    assert positions == {IN0: 1}
