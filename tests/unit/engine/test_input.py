"""The worker's input reader (processor/engine/input.py) over a stand-in consumer: where it
starts, where it reads again after a failed batch, what it hands over, and the group's
committed offsets read through a coordinator that is still loading."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, TopicPartition

from processor.engine.input import InputReader
from processor.settings import Settings
from tests.harness import T0, Msg


class _Consumer:
    def __init__(self, batch: list[Any] | None = None, fail: list[int] | None = None) -> None:
        self.assigned: list[tuple[str, int, int]] = []
        self.batch = batch or []
        self.fail = fail or []  # error codes committed() raises first, one per call

    def assign(self, tps: list[TopicPartition]) -> None:
        self.assigned = [(tp.topic, tp.partition, tp.offset) for tp in tps]

    def consume(self, n: int, timeout: float) -> list[Any]:
        return self.batch[:n]

    def committed(self, tps: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        if self.fail:
            raise KafkaException(KafkaError(self.fail.pop(0)))
        return [TopicPartition(tp.topic, tp.partition, 5 if tp.partition == 0 else -1001)
                for tp in tps]


class _Error(Msg):
    def error(self) -> Any:  # type: ignore[override]
        return KafkaError(KafkaError._TRANSPORT)


def test_reading_starts_at_the_committed_offsets_or_the_logs_start() -> None:
    consumer = _Consumer()
    reader = InputReader(Settings(), consumer)
    reader.assign({("in", 0): 5, ("in", 1): None})
    assert consumer.assigned == [("in", 0, 5), ("in", 1, OFFSET_BEGINNING)]


def test_a_failed_batch_is_read_again_from_where_it_is_told() -> None:
    consumer = _Consumer()
    reader = InputReader(Settings(), consumer)
    reader.assign({("in", 0): 5, ("in", 1): 0})
    reader.seek({("in", 0): 9})
    assert consumer.assigned == [("in", 0, 9), ("in", 1, 0)]


def test_poll_leaves_errors_out_and_reads_nothing_when_unassigned() -> None:
    ok = Msg("in", 0, 5, key=b"a", value=b"{}", ts=T0)
    consumer = _Consumer([ok, _Error("in", 0, -1, key=None, value=None, ts=T0)])
    reader = InputReader(Settings(), consumer)
    assert reader.poll(10) == []
    reader.assign({("in", 0): 5})
    assert reader.poll(10) == [ok]


def test_committed_offsets_are_read_through_a_loading_coordinator() -> None:
    consumer = _Consumer(fail=[KafkaError._TRANSPORT, 14])  # 14: coordinator loading
    reader = InputReader(Settings(), consumer)
    with pytest.raises(KafkaException):  # a transport error that is not retriable
        reader.committed([("in", 0)])
    assert reader.committed([("in", 0), ("in", 1)]) == {("in", 0): 5, ("in", 1): None}
