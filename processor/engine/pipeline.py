"""The batch pipeline: decode, route, fold and cache a batch of input records; flush.

No Faust here: records come as confluent-kafka messages (input.py), are split per carrier
(intake.py), folded (domain/carrier.py) into the record cache (state.py, stores.py), and
records go to the ``Sender``.

``process`` folds a batch into the cache; ``flush`` (once per commit interval) writes each
changed key once and builds each changed output record once, in the sender's stage order,
and returns the tracker that says when all of it is acknowledged (checkpoint.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator, Sequence

import orjson
from confluent_kafka import Message

from processor.domain import records
from processor.domain.carrier import buckets_needed, fold, keys_needed
from processor.domain.events import Sourced
from processor.domain.model import CarrierState, FoldResult, Policy
from processor.domain.windows import HOUR_MS
from processor.engine import ticks
from processor.engine.clock import Clock, now_ms
from processor.engine.intake import Router
from processor.engine.profiles import Profiles
from processor.engine.publish import Publisher
from processor.engine.sender import Sender, Tracker
from processor.engine.stores import Stores, count_invalid, push_latest
from processor.engine.view import CarrierView
from processor.io import names
from processor.io.names import bucket_key, window_key
from processor.settings import Settings

log = logging.getLogger(__name__)

# A batch is folded in slices of about this long; the worker's event loop serves HTTP
# requests (/metrics, the API) between them.
SLICE_S = 0.02


class Pipeline:
    """Folds batches into the record cache of one worker and flushes it."""

    def __init__(self, settings: Settings, stores: Stores, sender: Sender,
                 profiles: Profiles) -> None:
        self.settings = settings
        self.stores = stores
        self.sender = sender
        self.profiles = profiles
        self.clock = Clock(settings.clock)
        self.router = Router(settings, sender)
        self.outputs = {name: settings.topic(name) for name in names.OUTPUTS}
        # A carrier's policy, looked up once per batch: a registry read through Faust's
        # global table scans every partition DB, and each carrier needs its policy twice.
        self._policies: dict[str, Policy] = {}
        self.publisher = Publisher(self._send_output, stores.carriers, stores.windows,
                                   self.policy_for, self.now_for)
        self.view = CarrierView()
        self._last_tick_hour: dict[int, int] = {}
        self.processed = 0  # events processed since the start
        self.unflushed = 0  # of those, since the last flush

    # -- clocks -------------------------------------------------------------------------
    def reference_now(self) -> int | None:
        """The reference clock for retention: wall clock, or None for stream time."""
        return self.clock.now()

    def policy_for(self, carrier_id: str) -> Policy:
        policy = self._policies.get(carrier_id)
        if policy is None:
            policy = self._policies[carrier_id] = self.profiles.policy_for(carrier_id)
        return policy

    def now_for(self, state: CarrierState) -> int | None:
        return self.clock.now(state.max_ts_ms)

    def _send_output(self, name: str, key: bytes, value: bytes | None) -> None:
        self.sender.send(self.outputs[name], key, value)

    # -- the cache ----------------------------------------------------------------------
    @property
    def dirty_keys(self) -> int:
        return sum(s.dirty_keys for s in self.stores.all())

    def flush(self) -> Tracker:
        """Write every changed key and output record once; the records of everything
        processed since the last flush are counted by the returned tracker."""
        self.publisher.publish()
        for store in self.stores.all():
            store.write_dirty(self.sender)
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
    def process(self, batch: Sequence[Message]) -> dict[tuple[str, int], int]:
        """Decode, route and fold ``batch`` (confluent-kafka messages) into the cache;
        never raises on bad input. Returns the last offset of each (topic, partition)."""
        steps = self.steps(batch)
        while True:
            try:
                next(steps)
            except StopIteration as done:
                last: dict[tuple[str, int], int] = done.value
                return last

    def steps(self, batch: Sequence[Message]) -> Generator[None, None, dict[tuple[str, int], int]]:
        """``process``, pausing (a ``yield``) every SLICE_S between carriers, so that the
        worker's event loop serves HTTP requests while a large batch is folded. Returns
        the last offset of each (topic, partition)."""
        self._policies = {}  # registry changes apply from the next batch on
        wall = now_ms()
        intake = self.router.split(batch, wall)
        groups, invalid, last = intake.groups, intake.invalid, intake.last
        began = time.perf_counter()
        for cid, grp in groups.items():
            self._fold_carrier(cid, grp.items, wall, grp.partition)
            if time.perf_counter() - began >= SLICE_S:
                yield
                began = time.perf_counter()
        for partition, coordinates in invalid.items():
            self.view.invalid[partition] = count_invalid(self.stores, partition, coordinates)
        self.processed += len(batch)
        self.unflushed += len(batch)
        return last

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
                w = s.windows.load(partition, window_key(cid, kind, start).encode())
                if w is not None:
                    windows[(kind, start)] = w
        buckets = {}
        for b in buckets_needed(state, policy):
            bucket = s.dedup.load(partition, bucket_key(cid, b))
            if bucket:
                buckets[b] = bucket
        # The cache's values are the fold's to change (state.py): every one it changes is
        # saved back by ``_write``.
        res = fold(cid, state, windows, buckets, items, policy=policy, now_ms=self.reference_now(),
                   wall_ms=wall, owned=True)
        self.write(cid, res, wall, partition)
        self.view.update(partition, res.carrier, res.windows)
        push_latest(self.stores, cid, res.accepted, partition, self.settings.latest_calls)

    def write(self, cid: str, res: FoldResult, wall: int, partition: int) -> None:
        s, p = self.stores, partition
        if res.alerts:
            # Sent before the state that records them as sent reaches the changelog: a
            # crash cannot leave the "firing" state there without its alert on the topic.
            contacts = self.profiles.contacts(cid)
            for a in res.alerts:
                self._send_output(names.ALERTS, cid.encode(),
                                  orjson.dumps(records.alert(cid, a, contacts, wall)))
        if res.carrier_changed:
            s.carriers.save(p, cid.encode(), res.carrier)
        for (kind, start), w in res.windows.items():
            s.windows.save(p, window_key(cid, kind, start).encode(), w)
        for kind, start in res.expired:  # listed by the carrier, so stored: no read
            s.windows.delete(p, window_key(cid, kind, start).encode(), stored=True)
        for b, bucket in res.buckets.items():
            s.dedup.save(p, bucket_key(cid, b), bucket)
        for b in res.expired_buckets:
            s.dedup.delete(p, bucket_key(cid, b), stored=True)
        if (res.carrier_changed or res.windows or res.expired or res.republish_carrier
                or res.republish):
            self.publisher.mark(cid, p, [*res.windows.keys(), *res.republish], res.expired,
                                state=res.carrier, written=res.windows)

    # -- the hourly tick ----------------------------------------------------------------
    def tick(self, partition: int, tick_ms: int) -> None:
        for _ in self.tick_steps(partition, tick_ms):
            pass

    def tick_steps(self, partition: int, tick_ms: int) -> Generator[None, None, None]:
        """Hourly work for one partition (engine/ticks.py), once per hour of ``tick_ms``."""
        hour = tick_ms // HOUR_MS
        if self._last_tick_hour.get(partition) == hour:
            return
        first = partition not in self._last_tick_hour
        self._last_tick_hour[partition] = hour
        yield from ticks.tick_steps(self, partition, tick_ms, first)
