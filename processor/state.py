"""The processor's own reads and writes of its Faust tables: RocksDB directly, by partition.

Faust stays the owner of the tables: it declares them and their changelog topics, opens
and closes each partition's RocksDB on rebalances, recovers them from the changelog and
serves them to the HTTP API. The hot path skips its per-key machinery (the current-event
lookup, one awaited changelog send per write): a write goes to the partition's RocksDB
and its changelog record to the batch's ``Sender``; once the batch is drained, the newest
changelog offsets are stored the way Faust does, so a restart recovers only what follows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from faust.types import TP

from processor.sender import Sender


class Store:
    """One table: ``get``/``put``/``delete`` in a given partition, changelog included."""

    def __init__(self, table: Any, sender: Sender) -> None:
        self._sender = sender
        self._data = table.data  # Faust's rocksdb Store: one Rdict per partition
        self.changelog = table.changelog_topic.get_topic_name()

    def db(self, partition: int) -> Any:
        return self._data._db_for_partition(partition)

    def get(self, partition: int, key: bytes) -> bytes | None:
        value: bytes | None = self.db(partition).get(key)
        return value

    def put(self, partition: int, key: bytes, value: bytes) -> None:
        self.db(partition)[key] = value
        self._sender.send(self.changelog, key, value, partition)

    def delete(self, partition: int, key: bytes) -> None:
        db = self.db(partition)
        if db.get(key) is not None:
            del db[key]
            self._sender.send(self.changelog, key, None, partition)

    def keys(self, partition: int) -> list[bytes]:
        """Every key stored for ``partition`` on this worker (a RocksDB scan)."""
        keys = []
        it = self.db(partition).iter()
        it.seek_to_first()
        while it.valid():
            key = it.key()
            if not key.startswith(b"__faust"):
                keys.append(key)
            it.next()
        return keys

    def persisted(self, partition: int, offset: int) -> None:
        """Faust's recovery starts after this changelog offset for the partition."""
        self._data.set_persisted_offset(TP(self.changelog, partition), offset)


def persist_offsets(stores: Iterable[Store], delivered: dict[tuple[str, int], int]) -> None:
    """Record the newest delivered changelog offset of each (table, partition)."""
    by_topic = {s.changelog: s for s in stores}
    for (topic, partition), offset in delivered.items():
        store = by_topic.get(topic)
        if store is not None:
            store.persisted(partition, offset)
