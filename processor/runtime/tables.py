"""Table declarations: RocksDB-backed Faust tables of raw bytes.

Every table lives in RocksDB (rocksdict) under the data dir, with raw bytes keys and values
that we encode ourselves. Faust owns them (changelogs, recovery, rebalances); the worker
reads and writes their partitions through its record cache (processor/engine/state.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import faust
from faust.types import TP

from processor.admin.topics import min_insync_for
from processor.io.rocks import RocksTable, scan_back
from processor.runtime.faust_internals import (
    active_partition_dbs,
    get_any_partition,
    name_changelog,
    partition_db,
    set_persisted_offset,
)

# Faust's RocksDB defaults are sized for one big table: 3 x 64 MiB memtables and a 2 GiB
# block cache, per partition DB. carrierwatch opens 24 (5 tables x 4 partitions + the
# registry's), and the scale benchmark peaked at 4.2 GiB RSS for 179 MiB of state. A
# carrier's keys are small and read once per batch, so small buffers bound memory at
# 24 x (2 x 8 + 16) MiB at worst.
ROCKSDICT = {"driver": "rocksdict", "write_buffer_size": 8 * 2**20,
             "max_write_buffer_number": 2, "block_cache_size": 16 * 2**20}


def declare(app: faust.App, name: str, help_text: str) -> Any:
    """A RocksDB-backed table of raw bytes; we encode values ourselves with orjson. Its
    changelog has the app's replication and, from 3 replicas on, 2 in sync (as ``topics
    create`` gives the declared topics)."""
    in_sync = min_insync_for(app.conf.topic_replication_factor)
    return app.Table(
        name,
        default=None,
        # bytes key/value types make Faust pick the "raw" codec for the store and the
        # changelog alike (a Schema alone only covers the changelog).
        key_type=bytes,
        value_type=bytes,
        options=ROCKSDICT,
        extra_topic_configs={"min.insync.replicas": str(in_sync)},
        help=help_text,
    )


@dataclass(frozen=True)
class Tables:
    """The processor's state."""

    carriers: Any  # carrier_id -> CarrierState
    windows: Any  # "<carrier>|<kind>|<start>" -> WindowState
    dedup: Any  # "<carrier>|<bucket ms>|<n>" -> a chunk of identities (domain/dedup.py)
    partitions: Any  # "p<n>" -> per-partition counters (invalid input) and watermarks
    latest: Any  # carrier_id -> ring head; "<carrier>|k<slot>" -> calls (domain/latest.py);
    # "<carrier>|t<minute>.<seq>.<n>" -> a segment of the call log (domain/calllog.py)
    registry: Any  # GlobalTable over carrier.registry: carrier_id -> profile JSON


def faust_table(table: Any) -> RocksTable:
    """A Faust table as the record cache sees it (``engine.state.Table``)."""
    changelog: str = table.changelog_topic.get_topic_name()

    def persisted(partition: int, offset: int) -> None:
        set_persisted_offset(table, TP(changelog, partition), offset)

    return RocksTable(changelog, lambda p: partition_db(table, p), persisted)


class WholeTable:
    """A Faust table as the HTTP API and the registry read it (``io.stored.KeyValues``,
    ``OrderedKeyValues``): this worker's active partitions."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def get(self, key: bytes, /) -> bytes | None:
        return get_any_partition(self._table, key)

    def scan_back(self, lo: bytes, hi: bytes, /) -> Iterator[tuple[bytes, bytes]]:
        # A carrier's keys are all in one partition: the others have none in the range.
        for db in active_partition_dbs(self._table):
            yield from scan_back(db, lo, hi)


def for_cache(t: Tables) -> Tables:
    """The worker's tables as the record cache reads and writes them."""
    return Tables(faust_table(t.carriers), faust_table(t.windows), faust_table(t.dedup),
                  faust_table(t.partitions), faust_table(t.latest), t.registry)


def declare_all(app: faust.App, registry_topic: str) -> Tables:
    return Tables(
        carriers=declare(app, "carriers", "per-carrier counter, tallies and window index"),
        windows=declare(app, "windows", "per-carrier UTC hour/day/month window counters"),
        dedup=declare(app, "dedup", "event identities seen in the last minutes, per carrier"),
        partitions=declare(app, "partitions", "per-partition counters of invalid input"),
        latest=declare(app, "latest", "the latest final responses and the call log per carrier"),
        registry=_registry_table(app, registry_topic),
    )


def _registry_table(app: faust.App, topic: str) -> Any:
    """Every worker reads the whole registry: the compacted topic itself is the changelog."""
    table = app.GlobalTable(
        "registry", default=None, key_type=bytes, value_type=bytes, options=ROCKSDICT,
        changelog_topic=app.topic(topic, key_type=bytes, value_type=bytes,
                                  key_serializer="raw", value_serializer="raw"),
        help="carrier profiles from carrier.registry",
    )
    name_changelog(table, topic)
    return table
