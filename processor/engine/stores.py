"""The pipeline's tables as record caches, and the keyed writes a fold leads to.

Key formats: a carrier's record under ``<carrier>``, a window under ``window_key``, a chunk
of identities under ``chunk_key``, latest calls and the call log as ``domain/latest.py``
and ``domain/calllog.py`` say, a partition's counters under ``p<n>``, and the calls being
grouped on a partition as ``grouping.py`` says (``g|``, ``q|``, ``w<n>``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from processor.domain import calllog
from processor.domain import latest as latest_calls
from processor.domain.calllog import Limits
from processor.domain.events import Sourced
from processor.domain.latest import Head
from processor.domain.model import CarrierState, WindowState
from processor.engine.sender import CARRIER_STAGE, DELETE_STAGE
from processor.engine.state import Store
from processor.io.names import partition_key
from processor.io.stored import decode_carrier, decode_doc, decode_window


def _json(value: Any) -> bytes:
    return orjson.dumps(value.to_json())


@dataclass(frozen=True)
class Stores:
    """The pipeline's view of the tables (engine/state.py)."""

    carriers: Store[CarrierState]
    windows: Store[WindowState]
    dedup: Store[bytes]  # chunks of identities (domain/dedup.py), read and written as bytes
    partitions: Store[dict[str, Any]]
    latest: Store[Head]  # heads, by carrier (domain/latest.py)
    calls: Store[list[Any]]  # the same table's chunks of calls
    grouping: Store[dict[str, Any]]  # the partitions table's calls being grouped (grouping.py)

    @classmethod
    def over(cls, tables: Any) -> Stores:
        """``tables``: an ``engine.state.Table`` per attribute (carriers, windows, dedup,
        partitions, latest)."""
        # A carrier record never reaches the changelog ahead of its flush's windows and
        # buckets, nor a delete of one ahead of the carrier record that dropped it: a
        # replay after a crash decides re-delivered events as they were (sender.py).
        return cls(
            carriers=Store(tables.carriers, decode_carrier, _json, put_stage=CARRIER_STAGE),
            windows=Store(tables.windows, decode_window, _json, delete_stage=DELETE_STAGE),
            dedup=Store(tables.dedup, bytes, bytes, delete_stage=DELETE_STAGE),
            partitions=Store(tables.partitions, decode_doc, orjson.dumps),
            latest=Store(tables.latest, latest_calls.decode_head, _json),
            calls=Store(tables.latest, orjson.loads, orjson.dumps, group=calllog.carrier_of),
            # After the outcomes and facts they sent (stage 0), like carrier records.
            grouping=Store(tables.partitions, decode_doc, orjson.dumps,
                           put_stage=CARRIER_STAGE, delete_stage=DELETE_STAGE,
                           group=lambda key: key[:2]))

    def all(self) -> tuple[Store[Any], ...]:
        # Flushed in this order: a head reaches the changelog behind the calls it counts.
        return (self.carriers, self.windows, self.dedup, self.partitions, self.calls,
                self.latest, self.grouping)


def push_calls(stores: Stores, cid: str, accepted: list[Sourced], partition: int,
               size: int, *, log: Limits | None = None, now_ms: int | None = None) -> None:
    """Add a carrier's accepted final responses to its latest calls (domain/latest.py)
    and, with ``log``, to its call log, expiring what the log no longer keeps
    (domain/calllog.py; ``now_ms``: the carrier's clock)."""
    heads, calls = stores.latest, stores.calls
    head = heads.load(partition, cid.encode())
    update = None
    if accepted:
        stored = []
        if latest_calls.needs_calls(head, size):
            stored = latest_calls.stored_calls(cid, head, lambda k: calls.get(partition, k))
        slot = latest_calls.open_slot(head, size)
        open_calls = (calls.load(partition, latest_calls.call_key(cid, slot)) or []
                      if slot is not None else [])
        update = latest_calls.push(head, accepted, size, stored, open_calls=open_calls)
        if update is not None:
            for old, chunk in update.dropped:
                calls.delete(partition, latest_calls.call_key(cid, old, chunk))
            for slot, value in update.calls.items():
                calls.save(partition, latest_calls.call_key(cid, slot), value)
    new_head = update.head if update is not None else head
    if log is not None and now_ms is not None and new_head is not None:
        new_head = _log_calls(stores, cid, partition, new_head,
                              update.fresh if update is not None else [], limits=log,
                              now_ms=now_ms)
    if new_head is not head and new_head is not None:
        heads.save(partition, cid.encode(), new_head)


def _log_calls(stores: Stores, cid: str, partition: int, head: Head, fresh: list[Sourced],
               *, limits: Limits, now_ms: int) -> Head:
    """Write the segments of ``fresh`` calls and drop what expired; the head to store."""
    cutoff = limits.cutoff(now_ms)
    log, segments = calllog.add(head.log, cid, fresh, cutoff)
    for key, value in segments.items():
        stores.calls.put(partition, key, value)
    if calllog.due(log, limits, cutoff):
        lo, hi = calllog.bounds(cid, log.oldest)
        log, dropped = calllog.trim(log, stores.calls.scan(partition, lo, hi), limits,
                                    cutoff)
        for key in dropped:
            stores.calls.delete(partition, key, stored=True)
    if log == head.log:
        return head
    # Not dataclasses.replace: it costs ~10 µs, here once per carrier and batch.
    return Head(head.seq, head.size, head.applied, head.inline, head.chunk, log)


def count_invalid(stores: Stores, partition: int, sources: list[tuple[str, int]]) -> int:
    """Count invalid input per partition, once (offset watermark like every key); returns
    the partition's count."""
    key = partition_key(partition)
    stored = stores.partitions.load(partition, key)
    doc: dict[str, Any] = ({"invalid": stored["invalid"], "ap": dict(stored["ap"])}
                           if stored else {"invalid": 0, "ap": {}})
    changed = False
    for source, offset in sources:
        if offset > doc["ap"].get(source, -1):
            doc["ap"][source] = offset
            doc["invalid"] += 1
            changed = True
    if changed:
        stores.partitions.save(partition, key, doc)
    return int(doc["invalid"])
