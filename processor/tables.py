"""Table declarations and the small amount of Faust plumbing needed to use them in batches.

Every table lives in RocksDB (rocksdict) under the data dir, with raw bytes keys and values
that we encode ourselves. Faust picks the RocksDB partition of a read or write from the
"current event"; a batch holds events of several partitions, so the glue sets the current
event to one of the carrier's own events around its reads and writes (faust #300, #497).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import faust
from faust.streams import _current_event

ROCKSDICT = {"driver": "rocksdict"}


def declare(app: faust.App, name: str, help_text: str) -> Any:
    """A RocksDB-backed table of raw bytes; we encode values ourselves with orjson."""
    return app.Table(
        name,
        default=None,
        # bytes key/value types make Faust pick the "raw" codec for the store and the
        # changelog alike (a Schema alone only covers the changelog).
        key_type=bytes,
        value_type=bytes,
        options=ROCKSDICT,
        help=help_text,
    )


@dataclass(frozen=True)
class Tables:
    """The processor's state."""

    carriers: Any  # carrier_id -> CarrierState
    windows: Any  # "<carrier>|<kind>|<start>" -> WindowState
    dedup: Any  # "<carrier>|<minute ms>" -> {identity: "source@offset"}
    partitions: Any  # "p<n>" -> per-partition counters (invalid input) and watermarks


def declare_all(app: faust.App) -> Tables:
    return Tables(
        carriers=declare(app, "carriers", "per-carrier counter, tallies and window index"),
        windows=declare(app, "windows", "per-carrier UTC hour/day/month window counters"),
        dedup=declare(app, "dedup", "event identities seen in the last minutes, per carrier"),
        partitions=declare(app, "partitions", "per-partition counters of invalid input"),
    )


@contextmanager
def in_partition_of(event: Any) -> Iterator[None]:
    """Reads and writes inside go to ``event``'s partition of every table."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


def keys_in_partition(table: Any, partition: int) -> list[bytes]:
    """Every key of ``table`` stored for ``partition`` on this worker (RocksDB scan)."""
    db = table.data._db_for_partition(partition)  # faust has no per-partition iteration
    keys = []
    it = db.iter()
    it.seek_to_first()
    while it.valid():
        key = it.key()
        if not key.startswith(b"__faust"):
            keys.append(key)
        it.next()
    return keys
