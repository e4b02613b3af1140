"""The batch pipeline: decode, route, fold and cache a batch of input records; flush.

No Faust here: records come as confluent-kafka messages (processor/engine/input.py), state goes
to the record cache (processor/engine/state.py), records to the ``Sender``. An event on the wrong
partition for its carrier (mis-keyed or unkeyed input) is forwarded to the route topic at
the carrier's partition, so one partition, and so one worker, owns each carrier.

``process`` folds a batch into the cache; ``flush`` (once per commit interval) writes each
changed key once and builds each changed output record once, in the sender's stage order,
and returns the tracker that says when all of it is acknowledged (processor/engine/checkpoint.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from processor.domain import codes, records
from processor.domain import latest as latest_calls
from processor.domain.alerts import ShortCallRule
from processor.domain.carrier import (
    CarrierState,
    FoldResult,
    Policy,
    WindowState,
    buckets_needed,
    fold,
    keys_needed,
)
from processor.domain.events import SipEvent, Sourced
from processor.domain.latest import Head
from processor.domain.windows import HOUR_MS, Retention, window_key
from processor.engine.profiles import Profiles
from processor.engine.publish import Publisher
from processor.engine.sender import CARRIER_STAGE, DELETE_STAGE, Sender, Tracker
from processor.engine.state import Store
from processor.engine.view import CarrierView
from processor.io import codec
from processor.io.partitioning import partition_for
from processor.io.stored import decode_carrier, decode_doc, decode_window
from processor.settings import Settings

log = logging.getLogger(__name__)

# Ticks once went through the route topic; old ones are skipped.
TICK_KEY = b"\x00tick"
# A routed value: b"R2|<topic:partition>|<offset>|<arrival ms>|" + the original bytes
# (R1, from before arrivals were kept, has no arrival: the route record's timestamp is).
ROUTED = b"R2|"
ROUTED_V1 = b"R1|"
# A batch is folded in slices of about this long; the worker's event loop serves HTTP
# requests (/metrics, the API) between them.
SLICE_S = 0.02
OUTPUTS = ("carrier.consecutive-failures", "carrier.code-consistency", "carrier.summary.live",
           "carrier.summary.hourly", "carrier.summary.daily", "carrier.summary.monthly",
           "carrier.alerts")


def now_ms() -> int:
    return int(time.time() * 1000)


def default_policy(settings: Settings) -> Policy:
    return Policy(
        failures=codes.failure_set(settings.failure_set),
        threshold=settings.consecutive_failure_threshold,
        min_sample=settings.min_sample,
        retention=Retention(settings.retention_hour_days, settings.retention_day_days,
                            settings.retention_months),
        dedup_window_ms=settings.dedup_window_s * 1000,
        counted_once=settings.counted_once,
        short_calls=ShortCallRule(settings.short_call_alert_share,
                                  settings.short_call_resolve_share,
                                  settings.short_call_min_answered),
    )


def _json(value: Any) -> bytes:
    return orjson.dumps(value.to_json())


@dataclass(frozen=True)
class Stores:
    """The pipeline's view of the tables (engine/state.py)."""

    carriers: Store[CarrierState]
    windows: Store[WindowState]
    dedup: Store[dict[str, Any]]
    partitions: Store[dict[str, Any]]
    latest: Store[Head]  # heads, by carrier (domain/latest.py)
    calls: Store[list[Any]]  # the same table's chunks of calls

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
            dedup=Store(tables.dedup, decode_doc, orjson.dumps, delete_stage=DELETE_STAGE),
            partitions=Store(tables.partitions, decode_doc, orjson.dumps),
            latest=Store(tables.latest, latest_calls.decode_head, _json),
            calls=Store(tables.latest, orjson.loads, orjson.dumps))

    def all(self) -> tuple[Store[Any], ...]:
        # Flushed in this order: a head reaches the changelog behind the calls it counts.
        return (self.carriers, self.windows, self.dedup, self.partitions, self.calls,
                self.latest)


@dataclass
class _Group:
    partition: int  # of the newest event of this carrier: that partition owns the carrier
    items: list[Sourced] = field(default_factory=list)


class Pipeline:
    """Folds batches into the record cache of one worker and flushes it."""

    def __init__(self, settings: Settings, stores: Stores, sender: Sender,
                 profiles: Profiles) -> None:
        self.settings = settings
        self.stores = stores
        self.sender = sender
        self.profiles = profiles
        self.input_name = settings.topic(settings.input_topic)
        self.route_name = settings.route_topic
        self.dlq_name = settings.topic("sip.responses.dlq")
        self.outputs = {name: settings.topic(name) for name in OUTPUTS}
        # A carrier's policy, looked up once per batch: a registry read through Faust's
        # global table scans every partition DB, and each carrier needs its policy twice.
        self._policies: dict[str, Policy] = {}
        self.publisher = Publisher(self._send_output, stores.carriers, stores.windows,
                                   self.policy_for, self.now_for)
        self.view = CarrierView()
        self._last_tick_hour: dict[int, int] = {}
        self.processed = 0  # events processed since the start
        self.unflushed = 0  # of those, since the last flush
        self._sources: dict[tuple[str, int], str] = {}  # "topic:partition", made once

    # -- clocks -------------------------------------------------------------------------
    def _now(self) -> int | None:
        """The reference clock for retention: wall clock, or None for stream time."""
        return now_ms() if self.settings.clock == "wall" else None

    def policy_for(self, carrier_id: str) -> Policy:
        policy = self._policies.get(carrier_id)
        if policy is None:
            policy = self._policies[carrier_id] = self.profiles.policy_for(carrier_id)
        return policy

    def now_for(self, state: CarrierState) -> int | None:
        return now_ms() if self.settings.clock == "wall" else state.max_ts_ms

    def _send_output(self, name: str, key: bytes, value: bytes | None) -> None:
        self.sender.send(self.outputs[name], key, value)

    # -- the cache ----------------------------------------------------------------------
    @property
    def dirty_keys(self) -> int:
        return sum(s.dirty_keys for s in self.stores.all())

    def flush(self) -> Tracker:
        """Write every changed key and output record once; the records of everything
        processed since the last flush are counted by the returned tracker."""
        self.publisher.flush()
        for store in self.stores.all():
            store.flush(self.sender)
        self.unflushed = 0
        return self.sender.seal()

    def discard(self) -> None:
        """Forget what was processed since the last flush (it is read again)."""
        for store in self.stores.all():
            store.discard()
        self.publisher.discard()
        self.unflushed = 0

    def forget(self, partitions: set[int]) -> None:
        """The partitions changed hands (after a flush made durable)."""
        self.publisher.forget()
        for store in self.stores.all():
            store.drop(partitions)
        for p in partitions:
            self._last_tick_hour.pop(p, None)
            self.view.drop_partition(p)

    # -- the batch ----------------------------------------------------------------------
    def process(self, batch: Sequence[Any]) -> dict[tuple[str, int], int]:
        """Decode, route and fold ``batch`` (confluent-kafka messages) into the cache;
        never raises on bad input. Returns the last offset of each (topic, partition)."""
        steps = self.steps(batch)
        while True:
            try:
                next(steps)
            except StopIteration as done:
                last: dict[tuple[str, int], int] = done.value
                return last

    def steps(self, batch: Sequence[Any]) -> Generator[None, None, dict[tuple[str, int], int]]:
        """``process``, pausing (a ``yield``) every SLICE_S between carriers, so that the
        worker's event loop serves HTTP requests while a large batch is folded. Returns
        the last offset of each (topic, partition)."""
        self._policies = {}  # registry changes apply from the next batch on
        wall = now_ms()
        groups, invalid, last = self._group(batch, wall)
        began = time.perf_counter()
        for cid, grp in groups.items():
            self._fold_carrier(cid, grp.items, wall, grp.partition)
            if time.perf_counter() - began >= SLICE_S:
                yield
                began = time.perf_counter()
        for partition, coordinates in invalid.items():
            self._count_invalid(partition, coordinates)
        self.processed += len(batch)
        self.unflushed += len(batch)
        return last

    def _group(self, batch: Sequence[Any], wall: int) -> tuple[
            dict[str, _Group], dict[int, list[tuple[str, int]]], dict[tuple[str, int], int]]:
        """Decode ``batch`` into each carrier's events; route the mis-keyed ones and
        dead-letter the invalid ones (whose coordinates are returned, per partition)."""
        check_future = self.settings.clock == "wall"
        arrival_wall = wall if check_future else None
        groups: dict[str, _Group] = {}
        invalid: dict[int, list[tuple[str, int]]] = {}
        n = self.settings.partitions
        input_name = self.input_name
        last: dict[tuple[str, int], int] = {}
        sources = self._sources
        for msg in batch:
            topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
            last[topic, partition] = offset
            raw = msg.value()
            is_input = topic == input_name
            if not is_input and msg.key() == TICK_KEY:
                continue
            source = sources.get((topic, partition))
            if source is None:
                source = sources[topic, partition] = f"{topic}:{partition}"
            ts_type, ts = msg.timestamp()
            arrival = codec.arrival_ms(ts if ts_type else None, msg.headers(), arrival_wall)
            routed = None if is_input else _unwrap_routed(raw, arrival)
            decoded: SipEvent | codec.Rejected
            if not is_input and routed is None:
                decoded = codec.Rejected("bad-route-message", "not a routed event")
            else:
                if routed is not None:
                    raw, source, offset, arrival = routed
                decoded = codec.decode(raw, wall if (check_future and is_input) else None)
            if isinstance(decoded, codec.Rejected):
                self._dead_letter(msg, decoded)
                invalid.setdefault(partition, []).append((source, offset))
                continue
            cid = decoded.carrier_id
            owner = partition_for(cid.encode(), n)
            if is_input and owner != partition:
                # Keep the original coordinates: a re-forwarded copy (after a restart) then
                # carries the same source offset and is skipped like any re-delivery.
                wrapped = b"%s%s|%d|%d|%s" % (ROUTED, source.encode(), offset, arrival, raw)
                self.sender.send(self.route_name, cid.encode(), wrapped, owner)
                continue
            grp = groups.get(cid)
            if grp is None:
                grp = groups[cid] = _Group(partition)
            grp.partition = partition
            grp.items.append(Sourced(decoded, source, offset, arrival))
        return groups, invalid, last

    def _dead_letter(self, msg: Any, rejected: codec.Rejected) -> None:
        ts_type, ts = msg.timestamp()
        record = codec.dlq_record(
            rejected, topic=msg.topic(), partition=msg.partition(), offset=msg.offset(),
            timestamp_ms=ts if ts_type else None, key=msg.key(), value=msg.value())
        self.sender.send(self.dlq_name, msg.key(), record)

    def _fold_carrier(self, cid: str, items: list[Sourced], wall: int, partition: int) -> None:
        s = self.stores
        key = cid.encode()
        state = s.carriers.load(partition, key)
        policy = self.policy_for(cid)
        # A carrier's state lists every window and dedup bucket stored for it: the ones it
        # does not list need no read.
        windows = {}
        for kind, start in keys_needed(items):
            if state is None or start in state.windows[kind]:
                w = self._window(partition, cid, kind, start)
                if w is not None:
                    windows[(kind, start)] = w
        buckets = {}
        for b in buckets_needed(state, policy):
            bucket = s.dedup.load(partition, _bucket_key(cid, b))
            if bucket:
                buckets[b] = bucket
        # The cache's values are the fold's to change (state.py): every one it changes is
        # saved back by ``_write``.
        res = fold(cid, state, windows, buckets, items, policy=policy, now_ms=self._now(),
                   wall_ms=wall, owned=True)
        self._write(cid, res, wall, partition)
        self.view.update(partition, res.carrier, res.windows)
        self._push_latest(cid, res.accepted, partition)

    def _push_latest(self, cid: str, accepted: list[Sourced], partition: int) -> None:
        heads, calls, size = self.stores.latest, self.stores.calls, self.settings.latest_calls
        head = heads.load(partition, cid.encode())
        stored = []
        if latest_calls.needs_calls(head, size):
            stored = latest_calls.stored_calls(cid, head, lambda k: calls.get(partition, k))
        slot = latest_calls.open_slot(head, size)
        open_calls = (calls.load(partition, latest_calls.call_key(cid, slot)) or []
                      if slot is not None else [])
        update = latest_calls.push(head, accepted, size, stored, open_calls=open_calls)
        if update is None:
            return
        for old, chunk in update.dropped:
            calls.delete(partition, latest_calls.call_key(cid, old, chunk))
        for slot, value in update.calls.items():
            calls.save(partition, latest_calls.call_key(cid, slot), value)
        heads.save(partition, cid.encode(), update.head)

    def _write(self, cid: str, res: FoldResult, wall: int, partition: int) -> None:
        s, p = self.stores, partition
        if res.alerts:
            # Sent before the state that records them as sent reaches the changelog: a
            # crash cannot leave the "firing" state there without its alert on the topic.
            contacts = self.profiles.contacts(cid)
            for a in res.alerts:
                self._send_output("carrier.alerts", cid.encode(),
                                  orjson.dumps(records.alert(cid, a, contacts, wall)))
        if res.carrier_changed:
            s.carriers.save(p, cid.encode(), res.carrier)
        for (kind, start), w in res.windows.items():
            s.windows.save(p, window_key(cid, kind, start).encode(), w)
        for kind, start in res.expired:  # listed by the carrier, so stored: no read
            s.windows.delete(p, window_key(cid, kind, start).encode(), stored=True)
        for b, bucket in res.buckets.items():
            s.dedup.save(p, _bucket_key(cid, b), bucket)
        for b in res.expired_buckets:
            s.dedup.delete(p, _bucket_key(cid, b), stored=True)
        if (res.carrier_changed or res.windows or res.expired or res.republish_carrier
                or res.republish):
            self.publisher.mark(cid, p, [*res.windows.keys(), *res.republish], res.expired,
                                state=res.carrier, written=res.windows)

    def _count_invalid(self, partition: int, sources: list[tuple[str, int]]) -> None:
        """Invalid input per partition, counted once (offset watermark like every key)."""
        key = f"p{partition}".encode()
        stored = self.stores.partitions.load(partition, key)
        doc: dict[str, Any] = ({"invalid": stored["invalid"], "ap": dict(stored["ap"])}
                               if stored else {"invalid": 0, "ap": {}})
        changed = False
        for source, offset in sources:
            if offset > doc["ap"].get(source, -1):
                doc["ap"][source] = offset
                doc["invalid"] += 1
                changed = True
        if changed:
            self.stores.partitions.save(partition, key, doc)
        self.view.invalid[partition] = doc["invalid"]

    def tick(self, partition: int, tick_ms: int) -> None:
        for _ in self.tick_steps(partition, tick_ms):
            pass

    def tick_steps(self, partition: int, tick_ms: int) -> Generator[None, None, None]:
        """Hourly work for one partition: expire windows, republish every live view. The
        first tick of a partition (at its assignment) republishes every carrier's records
        and its newest hour, day and month, for consumers that missed them. Records a
        crash left unsent need no such scan: their input was not committed, so it is read
        again, and a re-delivered event republishes what it had changed (``fold``)."""
        hour = tick_ms // HOUR_MS
        if self._last_tick_hour.get(partition) == hour:
            return
        first = partition not in self._last_tick_hour
        self._last_tick_hour[partition] = hour
        wall = now_ms()
        if first:
            self.view.drop_partition(partition)
            doc = self.stores.partitions.load(partition, f"p{partition}".encode())
            self.view.invalid[partition] = doc["invalid"] if doc else 0
        began = time.perf_counter()
        for key in self.stores.carriers.keys(partition):
            if time.perf_counter() - began >= SLICE_S:
                yield
                began = time.perf_counter()
            cid = key.decode()
            state = self.stores.carriers.load(partition, key)
            if state is None:
                continue
            res = fold(cid, state, {}, {}, (), policy=self.policy_for(cid),
                       now_ms=self._now(), wall_ms=wall)
            self._write(cid, res, wall, partition)
            newest = self._latest_windows(res.carrier, partition) if first else {}
            self.view.update(partition, res.carrier, newest)
            self.publisher.mark(cid, partition, list(newest), written=newest)

    def _window(self, partition: int, cid: str, kind: str, start: int) -> WindowState | None:
        return self.stores.windows.load(partition, window_key(cid, kind, start).encode())

    def _latest_windows(self, state: CarrierState,
                        partition: int) -> dict[tuple[str, int], WindowState]:
        """The newest hour, day and month window of a carrier, as stored."""
        out = {}
        for kind, starts in state.windows.items():
            if starts:
                start = max(starts)
                w = self._window(partition, state.carrier_id, kind, start)
                if w is not None:
                    out[(kind, start)] = w
        return out


def _bucket_key(cid: str, bucket: int) -> bytes:
    return f"{cid}|{bucket}".encode()


def _unwrap_routed(value: bytes | None,
                   route_arrival: int) -> tuple[bytes, str, int, int] | None:
    """The original bytes, input coordinates and arrival of a routed message (None:
    malformed). A v1 message carries no arrival: the route record's stands for it."""
    if not value:
        return None
    try:
        if value.startswith(ROUTED):
            _, source, offset, arrival, raw = value.split(b"|", 4)
            return raw, source.decode(), int(offset), int(arrival)
        if value.startswith(ROUTED_V1):
            _, source, offset, raw = value.split(b"|", 3)
            return raw, source.decode(), int(offset), route_arrival
    except ValueError:
        return None
    return None

