"""The sender's stages: what a kill -9 can leave in the changelog is what a replay can mend.

librdkafka is replaced by a recorder whose deliveries the test makes: these tests are about
the order in which records are handed to it (the staging bookkeeping), not about Kafka.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from processor.engine.sender import CARRIER_STAGE, DELETE_STAGE, Sender
from processor.settings import Settings


class _Msg:
    def __init__(self, topic: str, key: bytes | None) -> None:
        self._topic, self._key = topic, key

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return 0


class _Producer:
    """Records what is produced; ``ack()`` delivers the oldest records."""

    def __init__(self) -> None:
        self.produced: list[tuple[str, bytes | None, bytes | None]] = []
        self._waiting: list[tuple[Any, _Msg]] = []

    def produce(self, topic: str, value: bytes | None, key: bytes | None, *args: Any,
                on_delivery: Any) -> None:
        self.produced.append((topic, key, value))
        self._waiting.append((on_delivery, _Msg(topic, key)))

    def ack(self, n: int | None = None) -> None:
        n = len(self._waiting) if n is None else n
        done, self._waiting = self._waiting[:n], self._waiting[n:]
        for callback, msg in done:
            callback(None, msg)

    def poll(self, timeout: float) -> int:
        return 0

    def __len__(self) -> int:
        return len(self._waiting)


def _sender() -> tuple[Sender, _Producer]:
    producer = _Producer()
    return Sender({}, producer=producer), producer


def _keys(producer: _Producer) -> list[bytes | None]:
    return [key for _, key, _ in producer.produced]


def test_carrier_records_go_after_the_batch_is_acked_and_deletes_after_them() -> None:
    sender, producer = _sender()
    sender.send("windows", b"w1", b"1")
    sender.send("carriers", b"c1", b"1", 0, CARRIER_STAGE)
    sender.send("windows", b"w0", None, 0, DELETE_STAGE)
    sender.send("out", b"o1", b"1")
    tracker = sender.seal()
    sender.poll()
    assert _keys(producer) == [b"w1", b"o1"]
    assert sender.pending() == 4
    assert not tracker.done
    producer.ack(1)
    sender.poll()
    assert _keys(producer) == [b"w1", b"o1"]  # one of the batch's records is still owed
    producer.ack()
    sender.poll()
    assert _keys(producer) == [b"w1", b"o1", b"c1"]
    producer.ack()
    sender.poll()
    assert _keys(producer) == [b"w1", b"o1", b"c1", b"w0"]
    assert not tracker.done
    producer.ack()
    sender.poll()
    assert tracker.done
    assert sender.pending() == 0


def test_a_later_batch_waits_for_the_stages_of_the_earlier_ones() -> None:
    """The carrier's changelog keeps the order of the batches even when a later batch's
    first stage is acknowledged first."""
    sender, producer = _sender()
    sender.send("windows", b"a", b"1")
    sender.send("carriers", b"c1", b"1", 0, CARRIER_STAGE)
    first = sender.seal()
    sender.send("carriers", b"c1", b"2", 0, CARRIER_STAGE)
    second = sender.seal()  # nothing at stage 0: its carrier record may go at once...
    sender.poll()
    assert _keys(producer) == [b"a"]  # ...but not before the first batch's
    producer.ack()
    sender.poll()
    assert producer.produced[1:] == [("carriers", b"c1", b"1"), ("carriers", b"c1", b"2")]
    producer.ack()
    sender.poll()
    assert first.done
    assert second.done


def test_a_record_of_a_key_held_back_waits_behind_it() -> None:
    """A window expired in one batch and written again in the next (its retention was
    lengthened meanwhile) must not be overtaken by its own delete."""
    sender, producer = _sender()
    sender.send("windows", b"new", b"1")
    sender.send("windows", b"w", None, 0, DELETE_STAGE)
    sender.seal()
    sender.send("windows", b"w", b"again")
    sender.send("windows", b"other", b"1")
    sender.seal()
    sender.poll()
    assert _keys(producer) == [b"new", b"other"]
    for _ in range(3):
        producer.ack()
        sender.poll()
    assert producer.produced[2:] == [("windows", b"w", None), ("windows", b"w", b"again")]
    assert sender.pending() == 0


def test_drain_sends_what_is_held_even_before_the_batch_is_sealed() -> None:
    sender, producer = _sender()
    sender.send("carriers", b"c1", b"1", 0, CARRIER_STAGE)

    async def drained() -> None:
        task = asyncio.ensure_future(sender.drain())
        for _ in range(20):
            await asyncio.sleep(0.02)
            producer.ack()
        await asyncio.wait_for(task, 1.0)

    asyncio.run(drained())
    assert _keys(producer) == [b"c1"]
    assert sender.pending() == 0


def test_every_producer_waits_for_the_in_sync_replicas(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    """Issue 33: the worker's producer, the one the CLI and the HEP collector share, and
    Faust's are acks=all with idempotence, so on a cluster (min.insync.replicas 2) an
    acknowledged record survives its leader and a retried one is not written twice."""
    import confluent_kafka

    from processor.admin.produce import producer_config
    from processor.runtime.app import create_app

    made: list[dict[str, object]] = []
    monkeypatch.setattr(confluent_kafka, "Producer", made.append)
    Sender({"bootstrap.servers": "127.0.0.1:1", "acks": "1"})  # a weaker config loses
    for conf in (made[0], producer_config("127.0.0.1:1")):
        assert (conf["acks"], conf["enable.idempotence"]) == ("all", True)
    app = create_app(Settings(data_dir=tmp_path), with_worker=False)
    assert app.conf.producer_acks == -1
