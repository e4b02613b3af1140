"""Intake (processor/engine/intake.py): a batch split into each carrier's events, bad input
dead-lettered with its coordinates, mis-keyed input forwarded to the carrier's partition."""

from __future__ import annotations

import orjson

from processor.engine.clock import Clock
from processor.engine.intake import Router, unwrap_routed
from processor.io import names
from processor.io.partitioning import partition_for
from processor.settings import Settings
from tests.harness import T0, FakeClock, Source


class _Sink:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None, int | None]] = []

    def send(self, topic: str, key: bytes | None, value: bytes | None,
             partition: int | None = None, stage: int = 0) -> None:
        self.sent.append((topic, key, value, partition))


def _router(clock: str = "wall") -> tuple[Router, _Sink, Source]:
    settings = Settings(clock=clock)
    sink, wall = _Sink(), FakeClock()
    router = Router(settings, sink, Clock(clock, wall))
    return router, sink, Source(settings.topic(settings.input_topic), settings.partitions, wall)


def test_events_are_grouped_by_carrier_in_arrival_order() -> None:
    router, _, src = _router()
    batch = [src.event("a", 503, ts=T0), src.event("b", 200, ts=T0),
             src.event("a", 200, ts=T0 + 5)]
    intake = router.split(batch, T0)
    assert {c: [s.event.code for s in g.items] for c, g in intake.groups.items()} == {
        "a": [503, 200], "b": [200]}
    first = intake.groups["a"].items[0]
    assert (first.source, first.offset) == (f"{src.topic}:{batch[0].partition()}", 0)


def test_the_last_offset_of_each_partition_is_returned() -> None:
    router, _, src = _router()
    batch = [src.event("a", 503, ts=T0, partition=0), src.event("a", 503, ts=T0, partition=0)]
    assert router.split(batch, T0).last == {(src.topic, 0): 1}


def test_bad_input_goes_to_the_dead_letter_topic_with_its_coordinates() -> None:
    router, sink, src = _router()
    intake = router.split([src.record(b"[1]", key=b"k", partition=2)], T0)
    assert intake.invalid == {2: [(f"{src.topic}:2", 0)]}
    [(topic, key, value, _)] = sink.sent
    doc = orjson.loads(value or b"")
    assert (topic, key, doc["error"], doc["source"]["offset"]) == (names.DLQ, b"k",
                                                                    "not-object", 0)


def test_an_event_from_the_future_is_refused_on_the_wall_clock_only() -> None:
    far = T0 + 86_400_000
    router, _, src = _router("wall")
    assert router.split([src.event("a", 200, ts=far)], T0).invalid
    router, _, src = _router("stream")  # a replay: recorded time is not the wall clock
    assert not router.split([src.event("a", 200, ts=far)], T0).invalid


def test_a_mis_keyed_event_is_forwarded_with_its_input_coordinates() -> None:
    router, sink, src = _router()
    owner = partition_for(b"a", 4)
    wrong = (owner + 1) % 4
    msg = src.event("a", 503, ts=T0, key="x", partition=wrong, arrival_ms=T0 - 7)
    assert router.split([msg], T0).groups == {}
    [(topic, key, value, partition)] = sink.sent
    assert (topic, key, partition) == (router.route_name, b"a", owner)
    assert unwrap_routed(value, 0) == (msg.value(), f"{src.topic}:{wrong}", 0, T0 - 7)
