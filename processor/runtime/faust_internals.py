"""Every private name of faust-streaming that carrierwatch touches, in one place.

Pinned: faust-streaming 0.15.3 with aiokafka 0.14.0 (pyproject.toml); a test checks the
installed versions and that each name below exists (tests/unit/runtime/test_faust_internals.py),
so an upgrade fails loudly there instead of misbehaving in production.

Faust is the application: the consumer group and its co-partitioned assignment, table
declaration and changelog recovery, the web server and timers. It does not read the input
and route topics: the worker does, in batches (processor/engine/input.py). Faust still subscribes
to them, so its group assigns their partitions along with the tables' (and so the group
can commit their offsets), but never fetches them.

| private name | what for |
|---|---|
| ``Consumer._set_active_tps`` | the partitions Faust fetches: never a batch topic's |
| ``Consumer.verify_event_path`` (the aiokafka driver's) | no "no fetch" alarms for them |
| ``Consumer._commit`` | commit the worker's offsets as a member of the group (fenced) |
| ``rocksdb.Store._db_for_partition`` | the worker's own reads and writes (state.py) |
| ``GlobalTable._changelog_topic_name`` | the registry table reads its real topic |
| ``TableManager._update_channels`` and ``.recovery`` | start without Faust's 1 s sleep |
| ``TableManager.recovery.completed`` | tables recovered: the worker may start reading |
| ``App._new_consumer`` (``runtime/app.py``) | the consumer that leaves the batch topics |
| ``table.data.set_persisted_offset`` | recovery starts after what the worker wrote |
| ``table.data.get`` (``rocksdb.Store._get``) | a key of any partition, one lookup |
| ``rocksdb.Store._dbs_for_actives`` | key ranges of the partitions this worker owns |
| ``Transport._create_topic`` (the aiokafka driver's) | asked again while a node is down |
"""

from __future__ import annotations

import asyncio
import logging
import time
import types
from collections.abc import Iterable, Mapping
from typing import Any

from faust.tables import TableManager as FaustTableManager
from faust.types import TP

PINNED = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0"}
TOPIC_RETRY_S = 90.0  # how long a topic declaration is asked again while a node is down

log = logging.getLogger(__name__)


def own_batch_topics(consumer: Any, topics: Iterable[str]) -> Any:
    """Make Faust's ``consumer`` (same object, same state) leave ``topics`` to the worker.

    Its group still assigns their partitions (so the assignment is co-partitioned with the
    tables and the group can commit their offsets), but Faust never asks aiokafka for
    their records: every path that sets the partitions it fetches (assignment, table
    recovery's pause and resume, flow control) goes through ``_set_active_tps`` or
    ``resume_partitions``."""
    base = consumer.__class__
    owned = frozenset(topics)
    if getattr(base, "batch_topics", None) == owned:
        return consumer

    def _set_active_tps(self: Any, tps: Any) -> Any:
        return base._set_active_tps(self, {tp for tp in tps if tp.topic not in owned})

    def resume_partitions(self: Any, tps: Iterable[Any]) -> None:
        base.resume_partitions(self, [tp for tp in tps if tp.topic not in owned])

    def on_buffer_drop(self: Any, tp: Any) -> None:
        if tp.topic not in owned:
            base.on_buffer_drop(self, tp)

    def verify_event_path(self: Any, now: float, tp: Any) -> None:
        if tp.topic not in owned:  # Faust never fetches them: it would raise alarms
            base.verify_event_path(self, now, tp)

    consumer.__class__ = type(f"BatchOwned{base.__name__}", (base,), {
        "_set_active_tps": _set_active_tps, "resume_partitions": resume_partitions,
        "on_buffer_drop": on_buffer_drop, "verify_event_path": verify_event_path,
        "batch_topics": owned})
    return consumer


async def commit(app: Any, offsets: Mapping[tuple[str, int], int]) -> bool:
    """Commit ``offsets`` (next offset to read, per (topic, partition)) for the app's group.

    Through Faust's consumer, a member of the group: the broker refuses the commit once the
    group has rebalanced (False), so a worker whose partitions went elsewhere cannot move
    the new owner's offsets. Partitions not assigned to the worker are left out."""
    if not offsets:
        return True
    done: bool = await app.consumer._commit({TP(t, p): o for (t, p), o in offsets.items()})
    return done


def partition_db(table: Any, partition: int) -> Any:
    """The rocksdict ``Rdict`` of one partition of ``table`` (opened if need be)."""
    return table.data._db_for_partition(partition)


def set_persisted_offset(table: Any, tp: TP, offset: int) -> None:
    """Recovery of ``table``'s partition ``tp`` starts after changelog ``offset``."""
    table.data.set_persisted_offset(tp, offset)


def get_any_partition(table: Any, key: bytes) -> bytes | None:
    """``key`` from whichever partition DB of ``table`` holds it: one RocksDB lookup (a
    Faust ``table.get`` does two)."""
    value: bytes | None = table.data.get(key)
    return value


def active_partition_dbs(table: Any) -> list[Any]:
    """The rocksdict ``Rdict`` of each partition of ``table`` this worker owns (active)."""
    return list(table.data._dbs_for_actives())


def is_ready(app: Any) -> bool:
    """Tables recovered and not in a rebalance: the assignment may be processed."""
    recovery = app.tables.recovery
    return bool(recovery.completed.is_set() and not app.rebalancing)


def retry_topic_creation(transport: Any) -> None:
    """Faust declares its topics (changelogs, the assignor's) at every start by asking the
    first broker it knows for the controller and sending that node the request; with a
    node of the cluster down (killed, not yet fenced) either can be the dead one, and the
    worker failed to start. Ask again, with fresh metadata, for ``TOPIC_RETRY_S``."""
    from aiokafka.errors import (
        KafkaConnectionError,
        KafkaTimeoutError,
        NodeNotReadyError,
        NotControllerError,
        RequestTimedOutError,
    )

    transient = (KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError,
                 NotControllerError, RequestTimedOutError)
    base = type(transport)._create_topic

    async def _create_topic(self: Any, owner: Any, client: Any, topic: str,
                            *args: Any, **kwargs: Any) -> None:
        deadline = time.monotonic() + TOPIC_RETRY_S
        while True:
            try:
                await base(self, owner, client, topic, *args, **kwargs)
                return
            except transient as exc:
                if owner.should_stop or time.monotonic() > deadline:
                    raise
                log.warning("declaring topic %s: %r; asking the cluster again", topic, exc)
                await asyncio.sleep(1.0)
                await client.force_metadata_update()

    transport._create_topic = types.MethodType(_create_topic, transport)


def name_changelog(table: Any, topic: str) -> None:
    """Faust's assignor looks a global table up by its default changelog name, not the
    topic it was given, and hangs the rebalance on the KeyError: name it the real topic."""
    table._changelog_topic_name = lambda: topic


class TableManager(FaustTableManager):
    """Faust's, without its one-second sleep before the tables start.

    The sleep gives code that declares tables while the app starts time to do so; every
    table of ours is declared before the worker starts, so it only delayed every start,
    restart and rebuild by a second."""

    async def on_start(self) -> None:
        if not self.should_stop:
            await self._update_channels()
            await self.recovery.start()
