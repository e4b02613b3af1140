"""The record cache over the worker's tables: RocksDB and changelog, once per key per flush.

Faust stays the owner of the tables: it declares them and their changelog topics, opens
and closes each partition's RocksDB on rebalances, recovers them from the changelog and
serves them to the HTTP API. The worker reads and writes their partitions here, the way
Kafka Streams' record cache sits in front of its stores (``ThreadCache``): a write only
marks the key dirty with its new value; ``flush`` (once per commit interval) encodes each
dirty key once, writes them to the partition's RocksDB in one ``WriteBatch`` and queues
one changelog record per key. A key written by 30 events in an interval costs one
encode, one RocksDB write and one changelog record. Reads see the dirty values.

Each store also keeps the decoded values it read or wrote last (``load``/``save``), so a
carrier seen again a batch later costs no RocksDB read and no JSON decode. The worker is
the only writer of a partition it owns, and every write goes through here, so the copy
can only go stale when the partition changes hands: ``drop`` it then. A value from
``load`` may be changed in place by its one user, the fold, which ``save``s every value it
changed; a dirty value is encoded at the flush, so the newest change is what is written.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, Protocol, TypeVar

from processor.engine.ports import Sink

T = TypeVar("T")
CACHE_KEYS = 20_000  # decoded values kept per store and partition (the oldest quarter goes)


class Table(Protocol):
    """What the cache needs of one table: its changelog topic, reads and batched writes of
    a partition's store, and where recovery starts. ``runtime/tables.py`` adapts Faust's
    RocksDB tables; ``engine/memory.py`` keeps them in dicts (replay reports, tests)."""

    @property
    def changelog(self) -> str: ...

    def get(self, partition: int, key: bytes) -> bytes | None:
        """The stored bytes of ``key`` (None: absent)."""

    def write(self, partition: int, writes: Iterable[tuple[bytes, bytes | None]]) -> None:
        """Store every (key, value) at once (None: delete the key)."""

    def keys(self, partition: int) -> Iterator[bytes]:
        """Every key stored in ``partition`` (ours only: no framework bookkeeping)."""

    def scan(self, partition: int, lo: bytes, hi: bytes) -> Iterator[bytes]:
        """The keys stored in ``partition`` from ``lo`` (included) to ``hi`` (excluded), in
        order."""

    def persisted(self, partition: int, offset: int) -> None:
        """Recovery of ``partition`` starts after this changelog offset."""


class Store(Generic[T]):
    """One table: ``load``/``save``/``put``/``delete`` in a given partition.

    ``put_stage`` and ``delete_stage`` say when a flush's changelog records of this table go
    out (processor/engine/sender.py); a key written both ways in one interval goes at the later
    stage of the two, as it would have behind its earlier record."""

    def __init__(self, table: Table, decode: Callable[[bytes], T], encode: Callable[[T], bytes],
                 cache_keys: int = CACHE_KEYS, *, put_stage: int = 0,
                 delete_stage: int = 0, group: Callable[[bytes], bytes] | None = None) -> None:
        """``group``: the group of a key (its carrier) for ``scan`` to find the keys
        ``put`` since the flush by (none: ``scan`` lists stored keys only)."""
        self._table = table
        self._group = group
        self._fresh: dict[int, dict[bytes, list[bytes]]] = {}  # partition -> group -> keys
        self.changelog = table.changelog
        self._decode, self._encode = decode, encode
        self._put_stage, self._delete_stage = put_stage, delete_stage
        self._cache_keys = max(4, cache_keys)
        self._cache: dict[int, dict[bytes, T | None]] = {}  # partition -> key -> value
        # Dirty keys: partition -> key -> new value (bytes: encoded, None: deleted, else a
        # decoded value, encoded at the flush) and the stage of its changelog record.
        self._dirty: dict[int, dict[bytes, Any]] = {}
        self._stages: dict[int, dict[bytes, int]] = {}

    @property
    def dirty_keys(self) -> int:
        return sum(len(d) for d in self._dirty.values())

    def get(self, partition: int, key: bytes) -> bytes | None:
        """The stored bytes of ``key`` (None: absent), dirty value included."""
        dirty = self._dirty.get(partition)
        if dirty is not None and key in dirty:
            value = dirty[key]
            return value if value is None or isinstance(value, bytes) else self._encode(value)
        return self._table.get(partition, key)

    def load(self, partition: int, key: bytes) -> T | None:
        """The decoded value of ``key`` (None: absent), from the cache when it is there."""
        cache = self._cache.get(partition)
        if cache is None:
            cache = self._cache[partition] = {}
        elif key in cache:
            return cache[key]
        dirty = self._dirty.get(partition)
        if dirty is not None and key in dirty and not isinstance(dirty[key], bytes):
            value: T | None = dirty[key]
        else:
            raw = self.get(partition, key)
            value = self._decode(raw) if raw else None
        self._remember(cache, key, value)
        return value

    def save(self, partition: int, key: bytes, value: T, *, stage: int | None = None) -> None:
        """Store ``value`` (encoded at the flush); a later ``load`` returns it as is.
        ``stage``: its changelog record's, when not the store's ``put_stage``."""
        self._mark(partition, key, value, self._put_stage if stage is None else stage)
        self._remember(self._cache.setdefault(partition, {}), key, value)

    def put(self, partition: int, key: bytes, value: bytes) -> None:
        """Store already encoded bytes."""
        self._mark(partition, key, value, self._put_stage)
        if self._group is not None:
            self._fresh.setdefault(partition, {}).setdefault(self._group(key), []).append(key)
        cache = self._cache.get(partition)
        if cache is not None:
            cache.pop(key, None)

    def delete(self, partition: int, key: bytes, *, stored: bool = False) -> None:
        """Remove ``key``; its tombstone goes to the changelog only if it is there (a read,
        skipped when the caller knows it is: ``stored``)."""
        if stored or self.get(partition, key) is not None:
            self._mark(partition, key, None, self._delete_stage)
        cache = self._cache.get(partition)
        if cache is not None:
            self._remember(cache, key, None)

    def _mark(self, partition: int, key: bytes, value: Any, stage: int) -> None:
        dirty = self._dirty.get(partition)
        if dirty is None:
            dirty = self._dirty[partition] = {}
        dirty[key] = value
        stages = self._stages.get(partition)
        if stage or (stages is not None and key in stages):
            if stages is None:
                stages = self._stages[partition] = {}
            stages[key] = max(stage, stages.get(key, 0))

    def write_dirty(self, sender: Sink) -> int:
        """Write every dirty key: to its partition's store (one batch each: a RocksDB
        ``WriteBatch``) and its changelog record to ``sender``. Returns how many keys were
        written."""
        dirty, self._dirty = self._dirty, {}
        stages, self._stages = self._stages, {}
        self._fresh = {}
        n = 0
        for partition, writes in dirty.items():
            self._table.write(partition, self._encoded(partition, writes,
                                                       stages.get(partition, {}), sender))
            n += len(writes)
        return n

    def _encoded(self, partition: int, writes: dict[bytes, Any], staged: dict[bytes, int],
                 sender: Sink) -> Iterator[tuple[bytes, bytes | None]]:
        """Each dirty key's bytes, sent to the changelog as they are made: the table
        takes them one at a time, so a flush holds one encoded value at once, not all."""
        encode, changelog, send = self._encode, self.changelog, sender.send
        for key, value in writes.items():
            encoded = value if value is None or isinstance(value, bytes) else encode(value)
            send(changelog, key, encoded, partition, staged.get(key, 0))
            yield key, encoded

    def discard(self) -> None:
        """Forget every dirty key and decoded value (the interval is processed again)."""
        self._dirty, self._stages, self._cache, self._fresh = {}, {}, {}, {}

    def drop(self, partitions: Iterable[int]) -> None:
        """Forget the decoded values of ``partitions`` (they changed hands: a rebalance)."""
        for partition in partitions:
            self._cache.pop(partition, None)

    def _remember(self, cache: dict[bytes, T | None], key: bytes, value: T | None) -> None:
        cache.pop(key, None)  # re-inserted at the end: oldest read or written first
        cache[key] = value
        if len(cache) > self._cache_keys:
            for old in list(cache)[: len(cache) // 4]:
                del cache[old]

    def cached(self) -> Iterator[T]:
        """The decoded values held in memory (what the cache costs: the bench weighs it)."""
        for cache in self._cache.values():
            yield from (v for v in cache.values() if v is not None)

    def keys(self, partition: int) -> list[bytes]:
        """Every key stored for ``partition`` on this worker (a scan of the store), dirty
        keys included."""
        dirty = self._dirty.get(partition, {})
        keys = {k for k, v in dirty.items() if v is not None}
        keys.update(k for k in self._table.keys(partition) if dirty.get(k, b"") is not None)
        return sorted(keys)

    def scan(self, partition: int, lo: bytes, hi: bytes) -> Iterator[bytes]:
        """The keys in [lo, hi), in order, dirty ones included. With ``group``, ``lo`` and
        ``hi`` are of one group; without, keys written since the flush are not listed."""
        dirty = self._dirty.get(partition, {})
        stored = (k for k in self._table.scan(partition, lo, hi)
                  if dirty.get(k, b"") is not None)
        if self._group is None:
            yield from stored
            return
        fresh = sorted({k for k in self._fresh.get(partition, {}).get(self._group(lo), ())
                        if lo <= k < hi and dirty.get(k) is not None})
        last = None
        for key in heapq.merge(stored, fresh):
            if key != last:
                yield key
            last = key

    def persisted(self, partition: int, offset: int) -> None:
        """Recovery of the partition starts after this changelog offset."""
        self._table.persisted(partition, offset)


def persist_offsets(stores: Iterable[Store[Any]], delivered: dict[tuple[str, int], int],
                    partitions: set[int]) -> None:
    """Record the newest delivered changelog offset of each (table, partition) still
    owned. Once per table: two stores may share one (the latest calls and their heads)."""
    by_topic = {s.changelog: s for s in stores}
    for (topic, partition), offset in delivered.items():
        store = by_topic.get(topic)
        if store is not None and partition in partitions:
            store.persisted(partition, offset)
