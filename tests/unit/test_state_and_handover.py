"""The hot path's table access (buffered writes, decoded values kept) on a real RocksDB,
and the direct hand-over in Faust's fetch loop."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
from mode.services import WaitResults
from rocksdict import Options, Rdict

from processor import handover
from processor.state import Store


class _Sender:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes | None, int | None]] = []

    def send(self, topic: str, key: bytes, value: bytes | None, partition: int | None,
             stage: int = 0) -> None:
        self.sent.append((topic, key, value, partition))


def _store(tmp_path: Path, decoded: list[bytes]) -> tuple[Store[dict[str, Any]], Rdict, _Sender]:
    db = Rdict(str(tmp_path / "p0"), Options(raw_mode=True))
    data = SimpleNamespace(_db_for_partition=lambda p: db)
    table = SimpleNamespace(data=data, changelog_topic=SimpleNamespace(
        get_topic_name=lambda: "t-changelog"))
    sender = _Sender()

    def decode(raw: bytes) -> dict[str, Any]:
        decoded.append(raw)
        doc: dict[str, Any] = orjson.loads(raw)
        return doc

    return Store(table, sender, decode), db, sender  # type: ignore[arg-type]


def test_writes_reach_rocksdb_at_flush_and_reads_see_them_before(tmp_path: Path) -> None:
    decoded: list[bytes] = []
    store, db, sender = _store(tmp_path, decoded)
    store.save(0, b"a", {"n": 1}, b'{"n":1}')
    store.put(0, b"b", b'{"n":2}')
    assert db.get(b"a") is None  # buffered
    assert store.get(0, b"b") == b'{"n":2}'
    store.delete(0, b"b")
    assert store.get(0, b"b") is None
    store.delete(0, b"never")  # absent: no tombstone
    store.flush()
    assert db.get(b"a") == b'{"n":1}'
    assert db.get(b"b") is None
    assert [(k, v) for _, k, v, _ in sender.sent] == [
        (b"a", b'{"n":1}'), (b"b", b'{"n":2}'), (b"b", None)]
    db.close()


def test_a_delete_known_to_be_stored_reads_nothing(tmp_path: Path) -> None:
    store, db, sender = _store(tmp_path, [])
    db[b"w"] = b'{"n":1}'
    reads: list[bytes] = []
    real_get = store.get
    store.get = lambda p, k: reads.append(k) or real_get(p, k)  # type: ignore[method-assign]
    store.delete(0, b"w", stored=True)
    assert reads == []
    store.delete(0, b"other")
    assert reads == [b"other"]
    store.flush()
    assert db.get(b"w") is None
    assert [(k, v) for _, k, v, _ in sender.sent] == [(b"w", None)]
    db.close()


def test_decoded_values_are_kept_until_the_partition_changes_hands(tmp_path: Path) -> None:
    decoded: list[bytes] = []
    store, db, _ = _store(tmp_path, decoded)
    db[b"k"] = b'{"n":1}'
    assert store.load(0, b"k") == {"n": 1}
    assert store.load(0, b"k") == {"n": 1}
    assert decoded == [b'{"n":1}']  # read and decoded once
    value = {"n": 2}
    store.save(0, b"k", value, b'{"n":2}')
    assert store.load(0, b"k") is value
    store.flush()
    db[b"k"] = b'{"n":3}'  # as a rebalance's recovery would
    store.drop([0])
    assert store.load(0, b"k") == {"n": 3}
    db.close()


class _Base:
    """What the hand-over reads of Faust's consumer; ``wait_first`` is Faust's slow path."""

    def __init__(self) -> None:
        self.suspend_flow, self._stopped, self._crashed = (asyncio.Event() for _ in range(3))
        self.queue = asyncio.Queue(maxsize=1)  # type: ignore[var-annotated]
        self.app = SimpleNamespace(
            flow_control=SimpleNamespace(is_active=lambda: True),
            producer=SimpleNamespace(buffer=SimpleNamespace(size=0, max_messages=100)),
            topics=SimpleNamespace(_tp_to_callback_lock=asyncio.Lock(),
                                   _topics=[SimpleNamespace(_queue=self.queue)]))
        self.slow = 0

    async def wait_first(self, *coros: Any, timeout: Any = None) -> WaitResults:
        self.slow += 1
        for c in coros:
            c.close()
        return WaitResults([], [], True)


def test_a_delivery_that_cannot_block_skips_faust_wait_first() -> None:
    async def run() -> None:
        consumer = handover.install(_Base())
        delivered: list[int] = []

        async def callback(n: int) -> int:
            delivered.append(n)
            return n

        res = await consumer.wait_first(callback(1), consumer.suspend_flow.wait())
        assert (res.results, consumer.slow, delivered) == ([1], 0, [1])
        consumer.queue.put_nowait(0)  # a stream queue is full: the delivery could block
        await consumer.wait_first(callback(2), consumer.suspend_flow.wait())
        consumer.queue.get_nowait()
        consumer.suspend_flow.set()  # a rebalance
        await consumer.wait_first(callback(3), consumer.suspend_flow.wait())
        assert (consumer.slow, delivered) == (2, [1])

    asyncio.run(run())
