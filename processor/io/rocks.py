"""A table partitioned over rocksdict ``Rdict``s, as the record cache reads and writes it
(``engine.state.Table``): point reads, one ``WriteBatch`` per flush, a key scan.

The worker's ``Rdict``s are Faust's (``runtime/tables.py`` opens them through Faust);
the benchmarks' and tests' are their own."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from rocksdict import Rdict, WriteBatch

FAUST_KEYS = b"__faust"  # Faust keeps its own keys (offsets) in the same DB


class RocksTable:
    """``db_for(partition)``: that partition's ``Rdict`` (raw mode), opened if need be."""

    def __init__(self, changelog: str, db_for: Callable[[int], Rdict],
                 persisted: Callable[[int, int], None] = lambda _p, _o: None) -> None:
        self.changelog = changelog
        self._db_for = db_for
        self._persisted = persisted

    def get(self, partition: int, key: bytes) -> bytes | None:
        raw: bytes | None = self._db_for(partition).get(key)
        return raw

    def write(self, partition: int, writes: Iterable[tuple[bytes, bytes | None]]) -> None:
        batch = WriteBatch(raw_mode=True)
        for key, value in writes:
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        self._db_for(partition).write(batch)

    def keys(self, partition: int) -> Iterator[bytes]:
        it = self._db_for(partition).iter()
        it.seek_to_first()
        while it.valid():
            key: bytes = it.key()
            if not key.startswith(FAUST_KEYS):
                yield key
            it.next()

    def scan(self, partition: int, lo: bytes, hi: bytes) -> Iterator[bytes]:
        it = self._db_for(partition).iter()
        it.seek(lo)
        while it.valid():
            key: bytes = it.key()
            if key >= hi:
                return
            yield key
            it.next()

    def persisted(self, partition: int, offset: int) -> None:
        """Recovery of ``partition`` starts after this changelog offset."""
        self._persisted(partition, offset)


def scan_back(db: Rdict, lo: bytes, hi: bytes) -> Iterator[tuple[bytes, bytes]]:
    """The keys of ``db`` in [lo, hi) and their values, greatest key first."""
    it = db.iter()
    it.seek_for_prev(hi)
    while it.valid():
        key: bytes = it.key()
        if key < lo:
            return
        if key < hi:
            yield key, it.value()
        it.prev()
