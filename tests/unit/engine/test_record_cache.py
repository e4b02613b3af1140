"""The record cache over a real RocksDB (processor/engine/state.py): a key written many times in
an interval is encoded, written and sent to its changelog once, at the flush."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from rocksdict import Options, Rdict

from processor.engine.memory import MemoryTable
from processor.engine.state import Store
from processor.io.rocks import RocksTable


class _Sender:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes | None, int | None, int]] = []

    def send(self, topic: str, key: bytes, value: bytes | None, partition: int | None,
             stage: int = 0) -> None:
        self.sent.append((topic, key, value, partition, stage))


def _store(tmp_path: Path, decoded: list[bytes], encoded: list[Any] | None = None,
           **stages: int) -> tuple[Store[dict[str, Any]], Rdict]:
    db = Rdict(str(tmp_path / "p0"), Options(raw_mode=True))
    table = RocksTable("t-changelog", lambda p: db)

    def decode(raw: bytes) -> dict[str, Any]:
        decoded.append(raw)
        doc: dict[str, Any] = orjson.loads(raw)
        return doc

    def encode(value: dict[str, Any]) -> bytes:
        if encoded is not None:
            encoded.append(value)
        return orjson.dumps(value)

    return Store(table, decode, encode, **stages), db


def test_writes_reach_rocksdb_and_the_changelog_at_the_flush_only(tmp_path: Path) -> None:
    store, db = _store(tmp_path, [])
    sender = _Sender()
    store.save(0, b"a", {"n": 1})
    store.put(0, b"b", b'{"n":2}')
    assert db.get(b"a") is None  # cached
    assert store.get(0, b"a") == b'{"n":1}'
    assert store.get(0, b"b") == b'{"n":2}'
    store.delete(0, b"b")
    assert store.get(0, b"b") is None
    store.delete(0, b"never")  # absent: no tombstone
    assert store.dirty_keys == 2
    assert store.write_dirty(sender) == 2  # type: ignore[arg-type]
    assert db.get(b"a") == b'{"n":1}'
    assert db.get(b"b") is None
    assert [(k, v) for _, k, v, _, _ in sender.sent] == [(b"a", b'{"n":1}'), (b"b", None)]
    assert store.dirty_keys == 0
    db.close()


def test_a_key_saved_many_times_is_encoded_and_sent_once(tmp_path: Path) -> None:
    encoded: list[Any] = []
    store, db = _store(tmp_path, [], encoded)
    sender = _Sender()
    for n in range(30):
        store.save(0, b"k", {"n": n})
    assert encoded == []
    store.write_dirty(sender)  # type: ignore[arg-type]
    assert encoded == [{"n": 29}]
    assert [(k, v) for _, k, v, _, _ in sender.sent] == [(b"k", b'{"n":29}')]
    assert db.get(b"k") == b'{"n":29}'
    db.close()


def test_a_key_deleted_then_written_again_keeps_the_later_stage(tmp_path: Path) -> None:
    """A delete goes out after the carrier records (stage 2): a value written after it in
    the same interval must not overtake that, as it would not have behind its tombstone."""
    store, db = _store(tmp_path, [], delete_stage=2)
    sender = _Sender()
    db[b"w"] = b'{"n":1}'
    store.delete(0, b"w", stored=True)
    store.save(0, b"w", {"n": 2})
    store.save(0, b"x", {"n": 3})
    store.write_dirty(sender)  # type: ignore[arg-type]
    assert {(k, v, stage) for _, k, v, _, stage in sender.sent} == {
        (b"w", b'{"n":2}', 2), (b"x", b'{"n":3}', 0)}
    db.close()


def test_a_delete_known_to_be_stored_reads_nothing(tmp_path: Path) -> None:
    store, db = _store(tmp_path, [])
    sender = _Sender()
    db[b"w"] = b'{"n":1}'
    reads: list[bytes] = []
    real_get = store.get
    store.get = lambda p, k: reads.append(k) or real_get(p, k)  # type: ignore[method-assign]
    store.delete(0, b"w", stored=True)
    assert reads == []
    store.delete(0, b"other")
    assert reads == [b"other"]
    store.write_dirty(sender)  # type: ignore[arg-type]
    assert db.get(b"w") is None
    assert [(k, v) for _, k, v, _, _ in sender.sent] == [(b"w", None)]
    db.close()


def test_decoded_values_are_kept_until_the_partition_changes_hands(tmp_path: Path) -> None:
    decoded: list[bytes] = []
    store, db = _store(tmp_path, decoded)
    db[b"k"] = b'{"n":1}'
    assert store.load(0, b"k") == {"n": 1}
    assert store.load(0, b"k") == {"n": 1}
    assert decoded == [b'{"n":1}']  # read and decoded once
    value = {"n": 2}
    store.save(0, b"k", value)
    assert store.load(0, b"k") is value
    store.write_dirty(_Sender())  # type: ignore[arg-type]
    db[b"k"] = b'{"n":3}'  # as a rebalance's recovery would
    store.drop([0])
    assert store.load(0, b"k") == {"n": 3}
    db.close()


def test_discard_forgets_the_interval(tmp_path: Path) -> None:
    store, db = _store(tmp_path, [])
    db[b"k"] = b'{"n":1}'
    store.save(0, b"k", {"n": 2})
    store.discard()
    assert store.dirty_keys == 0
    assert store.load(0, b"k") == {"n": 1}
    sender = _Sender()
    store.write_dirty(sender)  # type: ignore[arg-type]
    assert sender.sent == []
    db.close()


def test_keys_lists_stored_and_dirty_keys_without_deleted_ones(tmp_path: Path) -> None:
    store, db = _store(tmp_path, [])
    db[b"a"] = b"{}"
    db[b"b"] = b"{}"
    store.save(0, b"c", {})
    store.delete(0, b"b", stored=True)
    assert store.keys(0) == [b"a", b"c"]
    db.close()


def test_changelog_offsets_are_recorded_once_per_table_and_only_for_owned_partitions(
        ) -> None:
    from processor.engine.state import persist_offsets

    calls: list[tuple[int, int]] = []
    table = MemoryTable("latest-changelog")
    table.persisted = lambda p, o: calls.append((p, o))  # type: ignore[method-assign]
    heads = Store(table, orjson.loads, orjson.dumps)
    chunks = Store(table, orjson.loads, orjson.dumps)  # the same table, as the pipeline has
    persist_offsets([heads, chunks], {("latest-changelog", 0): 7,
                                      ("latest-changelog", 1): 9}, {0})
    assert calls == [(0, 7)]
