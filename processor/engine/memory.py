"""The engine's tables and sink kept in memory: for a carrier step that needs no broker
and no RocksDB (replay's report), and for the tests' harness (``tests/harness.py``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from processor.engine.stores import Stores


@dataclass
class MemoryTable:
    """A table (``state.Table``) as one dict per partition."""

    changelog: str
    data: dict[int, dict[bytes, bytes]] = field(default_factory=dict)
    persisted_at: dict[int, int] = field(default_factory=dict)

    def get(self, partition: int, key: bytes) -> bytes | None:
        return self.data.get(partition, {}).get(key)

    def write(self, partition: int, writes: Iterable[tuple[bytes, bytes | None]]) -> None:
        db = self.data.setdefault(partition, {})
        for key, value in writes:
            if value is None:
                db.pop(key, None)
            else:
                db[key] = value

    def keys(self, partition: int) -> Iterator[bytes]:
        return iter(list(self.data.get(partition, {})))

    def scan(self, partition: int, lo: bytes, hi: bytes) -> Iterator[bytes]:
        return iter(sorted(k for k in self.data.get(partition, {}) if lo <= k < hi))

    def persisted(self, partition: int, offset: int) -> None:
        self.persisted_at[partition] = offset


@dataclass
class MemoryTables:
    """The tables ``Stores.over`` takes, in memory."""

    carriers: MemoryTable = field(default_factory=lambda: MemoryTable("carriers-changelog"))
    windows: MemoryTable = field(default_factory=lambda: MemoryTable("windows-changelog"))
    dedup: MemoryTable = field(default_factory=lambda: MemoryTable("dedup-changelog"))
    partitions: MemoryTable = field(
        default_factory=lambda: MemoryTable("partitions-changelog"))
    latest: MemoryTable = field(default_factory=lambda: MemoryTable("latest-changelog"))

    def stores(self) -> Stores:
        return Stores.over(self)


class Discard:
    """A sink (``ports.Sink``) that drops every record: the records are not wanted."""

    def send(self, topic: str, key: bytes | None, value: bytes | None,
             partition: int | None = None, stage: int = 0) -> None:
        """Nothing to do."""
