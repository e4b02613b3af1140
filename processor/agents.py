"""Thin glue between Kafka and the domain: consume, decode, fold, write, publish.

One stateful agent (concurrency 1) reads the input topic and the internal route topic in
batches. An event on the wrong partition for its carrier (mis-keyed or unkeyed input) is
forwarded to the route topic at the carrier's partition, so one partition, and so one
worker, owns each carrier. Ticks on the route topic drive retention and the hourly live
republish of the partition they arrive on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import faust
import orjson
from faust.types import TP

from processor import codec, commit_gate, tables, web
from processor.api import CarrierApi
from processor.catch_up import CatchUp
from processor.connection import client_config
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
from processor.frontier import Frontier
from processor.metrics import CarrierCollector, Exposition
from processor.partition_reader import PartitionReader
from processor.partitioning import partition_for
from processor.profiles import Profiles
from processor.publish import Publisher
from processor.sender import CARRIER_STAGE, DELETE_STAGE, POLL_S, Sender, Tracker
from processor.settings import Settings
from processor.state import Store, persist_offsets
from processor.stored import decode_carrier, decode_doc, decode_window
from processor.view import CarrierRow, CarrierView

log = logging.getLogger(__name__)

TICK_KEY = b"\x00tick"
STALL_S = 10.0  # a partition read past its frontier for this long has a gap (see _stalled)
IN_FLIGHT = 4  # batches whose records may be on their way while the next one is processed
SETTLE_S = 0.1  # delivery reports are served at least this often when idle
HOLD_S = 1.0  # a batch is held at most this long to grow while the log holds more
# While no batch came for WARM_S, /metrics lines of changed carriers are formatted ahead,
# WARM_BUDGET_S at a time (the event loop is blocked meanwhile): ~1,500 carriers a go.
WARM_S = 0.25
WARM_BUDGET_S = 0.05
# A routed value: b"R2|<topic:partition>|<offset>|<arrival ms>|" + the original bytes
# (R1, from before arrivals were kept, has no arrival: the route record's timestamp is).
ROUTED = b"R2|"
ROUTED_V1 = b"R1|"
RAW: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw",
                       "value_serializer": "raw"}


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


@dataclass
class _Group:
    partition: int  # of the newest event of this carrier: that partition owns the carrier
    items: list[Sourced] = field(default_factory=list)


@dataclass(frozen=True)
class Stores:
    """The hot path's view of the tables (processor/state.py)."""

    carriers: Store[CarrierState]
    windows: Store[WindowState]
    dedup: Store[dict[str, Any]]
    partitions: Store[dict[str, Any]]
    latest: Store[Head]  # heads, by carrier; the ring's calls are read and written raw

    def all(self) -> tuple[Store[Any], ...]:
        return (self.carriers, self.windows, self.dedup, self.partitions, self.latest)


class Processor:
    """Holds the topics, tables and publisher of one worker and processes batches."""

    def __init__(self, app: faust.App, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.tables = tables.declare_all(app, settings.topic("carrier.registry"))
        self.profiles = Profiles(self.tables.registry, default_policy(settings))
        self.input_name = settings.topic(settings.input_topic)
        self.route_name = settings.route_topic
        self.source = app.topic(self.input_name, self.route_name, **RAW)
        self.route = app.topic(self.route_name, **RAW)  # declared in topics/topics.toml
        self.dlq_name = settings.topic("sip.responses.dlq")
        self.outputs = {name: settings.topic(name) for name in (
            "carrier.consecutive-failures", "carrier.code-consistency", "carrier.summary.live",
            "carrier.summary.hourly", "carrier.summary.daily", "carrier.summary.monthly",
            "carrier.alerts")}
        t = self.tables
        owned = (t.carriers, t.windows, t.dedup, t.partitions, t.latest)
        self.sender = Sender(client_config(settings),
                             {x.changelog_topic.get_topic_name() for x in owned})
        # A carrier record never reaches the changelog ahead of its batch's windows and
        # buckets, nor a delete of one ahead of the carrier record that dropped it: a
        # replay after a crash decides re-delivered events as they were (sender.py).
        self.stores = Stores(
            carriers=Store(t.carriers, self.sender, decode_carrier, put_stage=CARRIER_STAGE),
            windows=Store(t.windows, self.sender, decode_window, delete_stage=DELETE_STAGE),
            dedup=Store(t.dedup, self.sender, decode_doc, delete_stage=DELETE_STAGE),
            partitions=Store(t.partitions, self.sender, decode_doc),
            latest=Store(t.latest, self.sender, latest_calls.decode_head))
        # A carrier's policy, looked up once per batch: a registry read through Faust's
        # global table scans every partition DB, and each carrier needs its policy twice.
        self._policies: dict[str, Policy] = {}
        self.publisher = Publisher(self._send_output, self.stores.carriers,
                                   self.stores.windows, self.policy_for, self.now_for)
        self._last_tick_hour: dict[int, int] = {}
        self.view = CarrierView()
        # (topic, partition) -> next offset to process; caps Faust's commits (frontier.py)
        self.frontier: Frontier[tuple[str, int]] = Frontier()
        self.reader = PartitionReader(settings)
        self._tracked = (self.input_name, self.route_name)
        # key -> (frontier, since when, Faust's read offset): unchanged for STALL_S, a stall
        self._stall: dict[tuple[str, int], tuple[int, float, int | None]] = {}
        self.log_ends: dict[tuple[str, int], int] = {}  # asked of the broker (watch_stalls)
        # batches processed, records on their way: (tracker, frontier of each partition)
        self._in_flight: deque[tuple[Tracker, dict[tuple[str, int], int]]] = deque()
        self._durable: dict[tuple[str, int], int] = {}  # frontier of the settled batches
        self.clock = time.monotonic
        self._held: list[Any] = []  # events taken from Faust, not processed yet (offer)
        self._held_since = 0.0
        self._lock = asyncio.Lock()  # one batch at a time: the agent's or the timer's
        # The consumer generation whose messages may be processed; None while partitions
        # are being revoked (see ``current``).
        self._generation: int | None = None
        self.processed = 0  # events (and ticks) processed since the start
        self._last_batch = 0.0
        self.catch_up = CatchUp()

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

    # -- output -------------------------------------------------------------------------
    def _send_output(self, name: str, key: bytes, value: bytes | None) -> None:
        self.sender.send(self.outputs[name], key, value)

    # -- where each partition stands ------------------------------------------------------
    def contiguous(self, events: Sequence[Any]) -> list[Any]:
        """The batch with every gap Faust left filled, in partition order (frontier.py).

        A partition whose gap cannot be read now is skipped for the rest of the batch: the
        next message on it finds the gap again, and commits stay below it meanwhile."""
        self._start({(ev.message.topic, ev.message.partition) for ev in events
                     if ev.message.topic in self._tracked})
        out: list[Any] = []
        stuck: set[tuple[str, int]] = set()
        for ev in events:
            msg = ev.message
            key = (msg.topic, msg.partition)
            if msg.topic not in self._tracked:
                out.append(ev)
                continue
            if key in stuck:
                continue
            expected = self.frontier.next(key)
            if expected is not None and msg.offset > expected:
                filled = self._fill(key, expected, msg.offset, "before a later one arrived")
                if filled is None:
                    stuck.add(key)
                    continue
                out.extend(filled)
            self.frontier.admit(key, msg.offset)
            out.append(ev)
        out.extend(self._stalled())
        return out

    def _start(self, keys: set[tuple[str, int]]) -> None:
        new = {key for key in keys if not self.frontier.known(key)}
        if new:
            for key, (committed, low) in self.reader.starts(sorted(new)).items():
                at = self.frontier.start(key, committed, low)
                log.info("%s[%d]: processing starts at offset %d", key[0], key[1], at)

    def _fill(self, key: tuple[str, int], start: int, end: int, why: str) -> list[Any] | None:
        """Read ``start <= offset < end`` of ``key`` directly; the frontier moves to ``end``."""
        filled = self.reader.read(key, start, end)
        if filled is not None:
            log.warning("%s[%d]: offsets %d..%d were never handed over by the consumer (%s); "
                        "read them directly (%d messages)", key[0], key[1], start, end - 1,
                        why, len(filled))
            self.frontier.skip_to(key, end)
            commit_gate.acknowledge(self.app.consumer, TP(*key), start, end)
        return filled

    def _stalled(self) -> list[Any]:
        """Gaps with nothing after them: the log holds messages past a partition's
        frontier, yet for STALL_S none came and Faust read none. Without newer traffic no
        later message would reveal them; and after a rebalance Faust may not fetch a
        partition at all (its read offset never moves). The log end is Faust's read offset
        when that moved on, else the broker's (``log_ends``, kept fresh by a timer). A
        partition Faust is still reading (a backlog it delivers slowly) is left to it; a
        message merely slow to arrive is read twice at worst, and the watermarks skip the
        second copy. One read is at most ``batch_max`` messages; the rest follows a stall
        later, or from Faust."""
        if not is_ready(self.app):  # tables still recovering: Faust's pause is right
            return []
        reads = getattr(self.app.consumer, "_read_offset", {})
        now = self.clock()
        out: list[Any] = []
        actives = [tp for tp in self.app.assignor.assigned_actives()
                   if tp.topic in self._tracked]
        self._start({(tp.topic, tp.partition) for tp in actives
                     if reads.get(tp) is not None
                     or self.log_ends.get((tp.topic, tp.partition), 0) > 0})
        for tp in actives:
            key = (tp.topic, tp.partition)
            nxt = self.frontier.next(key)
            read = reads.get(tp)
            end = self._log_end(tp, read)
            if nxt is None or end is None or end <= nxt:
                self._stall.pop(key, None)
                continue
            since = self._stall.get(key)
            if since is None or since[0] != nxt or since[2] != read:  # progress: wait on
                self._stall[key] = (nxt, now, read)
            elif now - since[1] >= STALL_S:
                end = min(end, nxt + self.settings.batch_max)
                filled = self._fill(key, nxt, end, f"stalled {now - since[1]:.0f} s")
                out.extend(filled or ())
                self._stall.pop(key, None)
                self._refetch(tp)
        return out

    def _refetch(self, tp: Any) -> None:
        """Make Faust fetch ``tp`` again if its flow control dropped it and never took it
        back: it stops fetching a partition whose stream buffer fills up and resumes when
        the buffer drains, but a rebalance in between can leave it out for good. Faust's
        own pauses (table recovery) are left alone."""
        consumer: Any = self.app.consumer  # Faust's private flow-control state
        paused = getattr(consumer, "_paused_partitions", None)
        buffered = getattr(consumer, "_buffered_partitions", None)
        if paused is None or buffered is None or tp in paused:
            return
        active = consumer._get_active_partitions()
        if tp not in active:
            log.warning("%s[%d]: Faust had stopped fetching it (flow control); fetching it "
                        "again", tp.topic, tp.partition)
            buffered.discard(tp)
            active.add(tp)

    def _log_end(self, tp: Any, read: int | None) -> int | None:
        """How far the log of ``tp`` is known to reach (None: not known)."""
        high = self._highwater(tp)
        # Faust's read offset is the last offset read, or right after a seek the next one
        # to read: either way nothing past min(read + 1, end of log) is owed yet.
        read_end = None if read is None or high is None else min(read + 1, high)
        return _newest(self.log_ends.get((tp.topic, tp.partition)), read_end)

    def _highwater(self, tp: Any) -> int | None:
        """Faust's end of the log of ``tp``, as of its last fetch of it (None: unknown)."""
        try:
            high: int | None = self.app.consumer.highwater(tp)
        except (KeyError, AttributeError):
            return None
        return high

    async def watch_stalls(self) -> None:
        """Ask the broker for the log ends of the owned input and route partitions (off the
        event loop), then read what a stalled partition owes even if no batch comes."""
        keys = sorted((tp.topic, tp.partition) for tp in self.app.assignor.assigned_actives()
                      if tp.topic in self._tracked)
        generation = self._generation
        ends = await asyncio.get_running_loop().run_in_executor(
            None, self.reader.log_ends, keys)
        if generation is None or generation != self._generation:
            return  # a rebalance came meanwhile: the next round asks again
        self.log_ends = ends
        async with self._lock:
            if self._generation == generation:
                batch = self._stalled()
                if batch:
                    await self._run(batch)

    def commit_cap(self, tp: Any, offset: int) -> int | None:
        """How far Faust may commit ``tp``: never past a message whose batch is not yet
        processed and acknowledged by the broker in full (changelog and outputs)."""
        if tp.topic not in self._tracked:
            return offset
        key = (tp.topic, tp.partition)
        cap = self.frontier.cap(key, offset)
        durable = self._durable.get(key)
        return None if cap is None or durable is None else min(cap, durable)

    def forget(self, tps: Any) -> None:
        """Partitions revoked or (re)assigned start over from their committed offset."""
        keys = [(tp.topic, tp.partition) for tp in tps]
        self.frontier.forget(keys)
        self.publisher.forget()
        for store in self.stores.all():  # the next owner may have changed them meanwhile
            store.drop({tp.partition for tp in tps})
        for key in keys:
            self._stall.pop(key, None)
            self.log_ends.pop(key, None)
            self._durable.pop(key, None)
            for _, marks in self._in_flight:
                marks.pop(key, None)

    def track(self, batch: Sequence[Any], tracker: Tracker) -> None:
        """``batch`` is processed; it becomes committable once ``tracker`` is done."""
        marks = {}
        for ev in batch:
            msg = ev.message
            if msg.topic in self._tracked:
                key = (msg.topic, msg.partition)
                nxt = self.frontier.next(key)
                if nxt is not None:
                    marks[key] = nxt
        self._in_flight.append((tracker, marks))

    def settle(self) -> None:
        """Serve delivery reports; batches acknowledged in full (in order) become durable:
        committable, and their changelog offsets recorded for Faust's recovery."""
        self.sender.poll()
        while self._in_flight and self._in_flight[0][0].done:
            tracker, marks = self._in_flight.popleft()
            persist_offsets(self.stores.all(), tracker.offsets)
            self._durable.update(marks)

    async def drain(self) -> None:
        """Wait until every batch processed so far is durable (before a hand-over)."""
        await self.sender.drain()
        self.settle()

    # -- the batch ----------------------------------------------------------------------
    async def offer(self, events: Sequence[Any]) -> int:
        """Take Faust's batch; returns how many events were processed (0: held).

        While the log already holds enough to fill the batch up to ``batch_max`` (a
        backlog: catching up, or input faster than the worker), batches are held and
        joined, for at most HOLD_S: a bigger batch folds and publishes each carrier once
        for more of its events. Faust's batches are cut by ``batch_within_s``, and
        delivery alone fills only a fraction of ``batch_max`` in that time. Live traffic
        (little waiting) is processed at once.
        Held events are not in the frontier, so nothing of them is committed."""
        async with self._lock:
            events = self.current(events)
            if not events:
                return 0
            if not self._held:
                self._held_since = self.clock()
            self._held.extend(events)
            room = self.settings.batch_max - len(self._held)
            if (room > 0 and self._waiting(events) >= room
                    and self.clock() - self._held_since < HOLD_S):
                return 0
            return await self._process_held()

    async def flush_held(self) -> int:
        """Process what was held for HOLD_S (no more batch came to join it)."""
        async with self._lock:
            if self._held and self.clock() - self._held_since >= HOLD_S:
                return await self._process_held()
            return 0

    def revoke(self) -> None:
        """Partitions change hands: nothing fetched so far may be processed any more. What
        is held, or still in Faust's batch buffer, is read again by the partition's owner."""
        self._generation = None
        self._held = []

    def assign(self, generation: int) -> None:
        """The new assignment is in place: its messages may be processed."""
        self._generation = generation
        self.catch_up.begin(self.processed)

    def idle_s(self) -> float:
        """Seconds since the last batch, 0 while events are held for a batch."""
        return 0.0 if self._held else self.clock() - self._last_batch

    def report_catch_up(self) -> None:
        """Log progress while the assignment's backlog lasts, and when it is gone."""
        if not self.catch_up.done:
            line = self.catch_up.observe(self.owned_partitions(), self.lag(), self.processed)
            if line:
                log.info(line)

    def current(self, events: Sequence[Any]) -> Sequence[Any]:
        """``events`` without those fetched before the latest rebalance began.

        Faust skips a stale message when its stream reads it, not once it sits in
        ``take_events``' buffer; it waits for that buffer before revoking, but a batch
        handed over after ``revoke`` could hold a partition that is now another worker's.
        Processing it would write that worker's tables and changelog from this worker's
        stale state. Dropping costs nothing: a dropped event is never committed (it does
        not reach the frontier), so its partition's owner reads it again."""
        gen = self._generation
        fresh = [ev for ev in events if gen is not None and ev.message.generation_id == gen]
        if len(fresh) < len(events):
            log.info("dropped %d events fetched before the rebalance; their partitions are "
                     "read again from the committed offsets", len(events) - len(fresh))
        return fresh

    async def _process_held(self) -> int:
        batch, self._held = self._held, []
        await self.process(batch)
        return len(batch)

    def _waiting(self, events: Sequence[Any]) -> int:
        """How many messages the log holds past ``events``, on their partitions."""
        last: dict[TP, int] = {}
        for ev in events:
            msg = ev.message
            if msg.topic in self._tracked:
                last[TP(msg.topic, msg.partition)] = msg.offset
        waiting = 0
        for tp, offset in last.items():
            high = self._highwater(tp)
            if high is not None:
                waiting += max(0, high - offset - 1)
        return waiting

    async def process(self, events: Sequence[Any]) -> None:
        """Decode, route, fold and write one batch; never raises on bad input. Its records
        go out in the background while the next batches are processed (at most IN_FLIGHT
        batches ahead); it is committable once they are all acknowledged (``settle``).

        If it raises anyway (a bug, or a broken table), Faust still acks the batch: the
        frontier goes back to the batch's first offsets so nothing of it is committed, and
        the next batch reads it again."""
        await self._run(self.contiguous(events))

    async def _run(self, batch: Sequence[Any]) -> None:
        """Process ``batch``, already contiguous (see ``process``)."""
        try:
            self._process(batch)
        except Exception:
            for ev in batch:  # rewind keeps the lowest: each partition's first offset
                msg = ev.message
                if msg.topic in self._tracked:
                    self.frontier.rewind((msg.topic, msg.partition), msg.offset)
            raise
        finally:  # what went to the changelog goes to RocksDB, even from a failed batch
            for store in self.stores.all():
                store.flush()
        self.processed += len(batch)
        self._last_batch = self.clock()
        self.track(batch, self.sender.seal())
        self.settle()
        while len(self._in_flight) > IN_FLIGHT:  # the broker is slow or away: wait for it
            await asyncio.sleep(POLL_S)
            self.settle()

    def _process(self, batch: Sequence[Any]) -> None:
        self._policies = {}  # registry changes apply from the next batch on
        wall = now_ms()
        check_future = self.settings.clock == "wall"
        arrival_wall = wall if check_future else None
        groups: dict[str, _Group] = {}
        invalid: dict[int, list[tuple[str, int]]] = {}
        ticks = []
        n = self.settings.partitions
        for ev in batch:
            msg = ev.message
            if msg.topic == self.route_name and msg.key == TICK_KEY:
                ticks.append(ev)
                continue
            is_input = msg.topic == self.input_name
            raw, source, offset = msg.value, f"{msg.topic}:{msg.partition}", msg.offset
            ts = msg.timestamp
            arrival = codec.arrival_ms(None if ts is None else round(ts * 1000), msg.headers,
                                       arrival_wall)
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
                invalid.setdefault(msg.partition, []).append((source, offset))
                continue
            cid = decoded.carrier_id
            owner = partition_for(cid.encode(), n)
            if is_input and owner != msg.partition:
                # Keep the original coordinates: a re-forwarded copy (after a restart) then
                # carries the same source offset and is skipped like any re-delivery.
                wrapped = b"%s%s|%d|%d|%s" % (ROUTED, source.encode(), offset, arrival, raw)
                self.sender.send(self.route_name, cid.encode(), wrapped, owner)
                continue
            grp = groups.get(cid)
            if grp is None:
                grp = groups[cid] = _Group(msg.partition)
            grp.partition = msg.partition
            grp.items.append(Sourced(decoded, source, offset, arrival))
        for cid, grp in groups.items():
            self._fold_carrier(cid, grp.items, wall, grp.partition)
        for partition, sources in invalid.items():
            self._count_invalid(partition, sources)
        for ev in ticks:
            self._tick(ev.message.partition, orjson.loads(ev.message.value)["tick"])
        # Queued with the batch, which is drained before its offsets can be committed:
        # committed implies published.
        self.publisher.flush()

    def _dead_letter(self, msg: Any, rejected: codec.Rejected) -> None:
        ts = msg.timestamp
        record = codec.dlq_record(
            rejected, topic=msg.topic, partition=msg.partition, offset=msg.offset,
            timestamp_ms=int(ts * 1000) if ts is not None else None, key=msg.key,
            value=msg.value)
        self.sender.send(self.dlq_name, msg.key, record)

    def _fold_carrier(self, cid: str, items: list[Sourced], wall: int, partition: int) -> None:
        s = self.stores
        key = cid.encode()
        state = s.carriers.load(partition, key)
        policy = self.policy_for(cid)
        wids = keys_needed(items)
        # A carrier's state lists every window and dedup bucket stored for it (written in
        # the same batch): the ones it does not list need no read.
        windows = {}
        for kind, start in wids:
            if state is None or start in state.windows[kind]:
                w = self._window(partition, cid, kind, start)
                if w is not None:
                    windows[(kind, start)] = w
        buckets = {}
        for b in buckets_needed(state, policy):
            bucket = s.dedup.load(partition, f"{cid}|{b}".encode())
            if bucket:
                buckets[b] = bucket
        res = fold(cid, state, windows, buckets, items, policy=policy, now_ms=self._now(),
                   wall_ms=wall)
        self._write(cid, res, wall, partition)
        self.view.update(partition, res.carrier, res.windows)
        self._push_latest(cid, res.accepted, partition)

    def _push_latest(self, cid: str, accepted: list[Sourced], partition: int) -> None:
        store, size = self.stores.latest, self.settings.latest_calls
        head = store.load(partition, cid.encode())
        stored = []
        if latest_calls.needs_calls(head, size):
            stored = latest_calls.stored_calls(head, lambda slot: store.get(
                partition, latest_calls.call_key(cid, slot)))
        update = latest_calls.push(head, accepted, size, stored)
        if update is None:
            return
        for slot in update.dropped:
            store.delete(partition, latest_calls.call_key(cid, slot))
        for slot, call in update.calls.items():  # the calls first, then the head to them
            store.put(partition, latest_calls.call_key(cid, slot), orjson.dumps(call))
        store.save(partition, cid.encode(), update.head, orjson.dumps(update.head.to_json()))

    def _write(self, cid: str, res: FoldResult, wall: int, partition: int) -> None:
        s, p = self.stores, partition
        if res.alerts:
            # Queued before the state that records them as sent: a crash cannot leave the
            # "firing" state in the changelog without its alert on the topic.
            contacts = self.profiles.contacts(cid)
            for a in res.alerts:
                self._send_output("carrier.alerts", cid.encode(),
                                  orjson.dumps(records.alert(cid, a, contacts, wall)))
        if res.carrier_changed:
            s.carriers.save(p, cid.encode(), res.carrier, orjson.dumps(res.carrier.to_json()))
        for (kind, start), w in res.windows.items():
            s.windows.save(p, window_key(cid, kind, start).encode(), w,
                           orjson.dumps(w.to_json()))
        for kind, start in res.expired:  # listed by the carrier, so stored: no read
            s.windows.delete(p, window_key(cid, kind, start).encode(), stored=True)
        for b, bucket in res.buckets.items():
            s.dedup.save(p, f"{cid}|{b}".encode(), bucket, orjson.dumps(bucket))
        for b in res.expired_buckets:
            s.dedup.delete(p, f"{cid}|{b}".encode(), stored=True)
        if (res.carrier_changed or res.windows or res.expired or res.republish_carrier
                or res.republish):
            self.publisher.mark(cid, p, [*res.windows.keys(), *res.republish], res.expired,
                                state=res.carrier, written=res.windows)

    def _count_invalid(self, partition: int, sources: list[tuple[str, int]]) -> None:
        """Invalid input per partition, counted once (offset watermark like every key)."""
        key = f"p{partition}".encode()
        raw = self.stores.partitions.get(partition, key)
        doc: dict[str, Any] = orjson.loads(raw) if raw else {"invalid": 0, "ap": {}}
        changed = False
        for source, offset in sources:
            if offset > doc["ap"].get(source, -1):
                doc["ap"][source] = offset
                doc["invalid"] += 1
                changed = True
        if changed:
            self.stores.partitions.put(partition, key, orjson.dumps(doc))
        self.view.invalid[partition] = doc["invalid"]

    def _tick(self, partition: int, tick_ms: int) -> None:
        """Hourly work for one partition: expire windows, republish every live view."""
        hour = tick_ms // HOUR_MS
        if self._last_tick_hour.get(partition) == hour:
            return
        first = partition not in self._last_tick_hour
        self._last_tick_hour[partition] = hour
        wall = now_ms()
        if first:
            self.view.drop_partition(partition)
            raw = self.stores.partitions.get(partition, f"p{partition}".encode())
            self.view.invalid[partition] = orjson.loads(raw)["invalid"] if raw else 0
        for key in self.stores.carriers.keys(partition):
            cid = key.decode()
            state = self.stores.carriers.load(partition, key)
            if state is None:
                continue
            res = fold(cid, state, {}, {}, (), policy=self.policy_for(cid),
                       now_ms=self._now(), wall_ms=wall)
            self._write(cid, res, wall, partition)
            # After a start: the carrier's records and its newest hour, day and month
            # again, for consumers that missed them. Records a crash left unsent need no
            # scan: their batch was not committed, so it is read again, and a re-delivered
            # event republishes what it had changed (``fold``).
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

    def lag(self) -> dict[int, int]:
        """Input messages behind the broker's end, per owned partition (for /metrics).
        The end is Faust's highwater or the stall timer's, whichever is newer: a partition
        Faust does not fetch has a stale highwater."""
        out = {}
        for tp in self.app.assignor.assigned_actives():
            if tp.topic == self.input_name:
                high = _newest(self._highwater(tp), self.log_ends.get((tp.topic, tp.partition)))
                position = self.frontier.next((tp.topic, tp.partition))
                if high is not None and position is not None:  # known once it processed
                    out[tp.partition] = max(0, high - position)
        return out

    def owned_partitions(self) -> set[int]:
        return {tp.partition for tp in self.app.assignor.assigned_actives()
                if tp.topic == self.input_name}

    async def send_ticks(self) -> None:
        """Put a tick on every route partition this worker owns."""
        value = orjson.dumps({"tick": now_ms()})
        for tp in self.app.assignor.assigned_actives():
            if tp.topic == self.route_name:
                await self.route.send(key=TICK_KEY, value=value, partition=tp.partition)


def _newest(*ends: int | None) -> int | None:
    """The furthest of the log ends known (None: none is)."""
    return max((e for e in ends if e is not None), default=None)


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


def register(app: faust.App, settings: Settings) -> Processor:
    """Attach the processor's topics, tables, agent and timers to ``app``."""
    proc = Processor(app, settings)

    @app.agent(proc.source, concurrency=1, name="carrierwatch.process")
    async def process(stream: Any) -> None:
        last = time.perf_counter()
        async for events in stream.take_events(settings.batch_max, settings.batch_within_s):
            try:
                began, cpu = time.perf_counter(), time.thread_time()
                n = await proc.offer(events)
                if n:
                    done = time.perf_counter()
                    log.debug("batch of %d events: waited %.3f s, processed in %.3f s "
                              "(%.3f s CPU), %d records sent so far", n, began - last,
                              done - began, time.thread_time() - cpu, proc.sender.sent)
                    last = done
            except Exception:  # not bad input: log it loudly; Faust restarts the agent
                log.exception("processing a batch of %d events failed; it will be read "
                              "again", len(events))
                raise

    app.commit_cap = proc.commit_cap  # type: ignore[attr-defined]

    @app.on_partitions_revoked.connect
    async def revoked(_app: Any, /, *args: Any, signal: Any, **_: Any) -> None:
        proc.revoke()
        await proc.drain()  # the next owner recovers from a changelog holding all of it
        proc.forget(args[0])

    @app.on_partitions_assigned.connect
    async def assigned(_app: Any, /, *args: Any, signal: Any, **_: Any) -> None:
        proc.forget(args[0])
        proc.assign(app.consumer_generation_id)

    @app.timer(settings.tick_interval_s, on_leader=False)
    async def tick() -> None:
        await proc.send_ticks()

    @app.timer(SETTLE_S, on_leader=False)
    async def settle() -> None:
        try:
            await proc.flush_held()
        except Exception:  # a bug, not bad input: the frontier went back, it is read again
            log.exception("processing held events failed; they will be read again")
        proc.settle()
        proc.report_catch_up()

    @app.timer(STALL_S / 2, on_leader=False)
    async def watch_stalls() -> None:
        try:
            await proc.watch_stalls()
        except Exception:  # a bug, not bad input: the frontier went back, it is read again
            log.exception("reading a stalled partition failed; it will be read again")

    @app.on_before_shutdown.connect
    async def shutdown(_app: Any, /, *args: Any, signal: Any, **_: Any) -> None:
        try:
            await asyncio.wait_for(proc.drain(), timeout=10.0)
        except TimeoutError:
            log.warning("stopping with %d records unacknowledged: their input is not "
                        "committed and will be read again", proc.sender.pending())

    _register_http(app, proc, settings)
    _ = (process, tick, settle, revoked, assigned, shutdown, watch_stalls)
    return proc


def _register_http(app: faust.App, proc: Processor, settings: Settings) -> None:
    """``/metrics`` (formatted ahead while idle) and the carrier API."""
    @app.timer(WARM_S, on_leader=False)
    async def warm_metrics() -> None:
        if proc.idle_s() >= WARM_S:  # rows change only in batches, cached lines by the hour
            exposition.warm_idle((proc.processed, now_ms() // HOUR_MS), WARM_BUDGET_S)

    collector = CarrierCollector(
        rows=lambda: list(proc.view.owned(proc.owned_partitions())),
        invalid=lambda: sum(n for p, n in proc.view.invalid.items()
                            if p in proc.owned_partitions()),
        now_ms=lambda row: now_ms() if settings.clock == "wall" else row_stream_time(row),
        max_carriers=settings.metrics_max_carriers, lag=proc.lag)
    exposition = Exposition(collector)
    api = CarrierApi(carriers=proc.tables.carriers, windows=proc.tables.windows,
                     latest=proc.tables.latest, profiles=proc.profiles, now_for=proc.now_for,
                     default_latest=settings.latest_calls)
    web.register(app, api, carriers_table=proc.tables.carriers,
                 owned_rows=lambda: list(proc.view.owned(proc.owned_partitions())),
                 exposition=exposition, ready=lambda: is_ready(app),
                 token=settings.api_token)
    _ = warm_metrics


def row_stream_time(row: CarrierRow) -> int | None:
    """On the stream clock "now" is the carrier's newest hour with traffic."""
    return max(row.hours) if row.hours else None


def is_ready(app: faust.App) -> bool:
    """State recovered and consuming (not in a rebalance)."""
    recovery = app.tables.recovery  # type: ignore[attr-defined]
    return bool(recovery.completed.is_set() and not app.rebalancing)
